"""Deprecated shim: import from ``support.agents`` instead.

Kept for one merge cycle so that test files written against the old layout, which do
``from agent_support import ...``, keep working. Fixtures are registered by the
directory's conftest.py; new tests import helpers from ``support.agents``.
"""

from support.agents import *  # noqa: F403
