"""Package layout that pyproject.toml cannot express alone: the qnms packages found
under src/, plus the generated bindings/ and the agents/ trees installed under the
names qnms_bindings and qnms_agents."""

from setuptools import find_packages, setup

setup(
    package_dir={"": "src", "qnms_bindings": "bindings", "qnms_agents": "agents"},
    packages=[*find_packages("src"), "qnms_bindings", "qnms_agents"],
)
