"""Package layout that pyproject.toml cannot express alone: the qnms packages found
under src/ (data folders such as qnms/yang/ietf included as namespace packages), plus
three trees kept at the top of the repository because tools other than Python read
them: the generated bindings/ (qnms_bindings), the agents/ (qnms_agents) and the YANG
modules of yang/ (qnms_models, data only)."""

from setuptools import find_namespace_packages, setup

setup(
    package_dir={
        "": "src",
        "qnms_bindings": "bindings",
        "qnms_agents": "agents",
        "qnms_models": "yang",
    },
    packages=[*find_namespace_packages("src"), "qnms_bindings", "qnms_agents", "qnms_models"],
)
