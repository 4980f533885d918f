"""Deprecated shim: import from ``support.push`` instead.

Kept for one merge cycle so that test files written against the old layout, which do
``pytest_plugins = ["conftest_server", "conftest_push"]`` and
``from conftest_push import ...``, keep working. Fixtures are registered by the
directory's conftest.py; new tests import helpers from ``support.push``.
"""

from support.push import *  # noqa: F403
