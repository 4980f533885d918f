"""Deprecated shim: import from ``support.servers`` instead.

Kept for one merge cycle so that test files written against the old layout, which do
``pytest_plugins = ["conftest_server"]`` and ``from conftest_server import ...``, keep
working. Fixtures are registered by the directory's conftest.py; new tests import helpers
from ``support.servers``.
"""

from support.servers import *  # noqa: F403
