"""Deprecated shim: import from ``support.datastores`` instead.

Kept for one merge cycle so that test files written against the old layout, which do
``from ds_support import ...``, keep working. Fixtures are registered by the
directory's conftest.py; new tests import helpers from ``support.datastores``.
"""

from support.datastores import *  # noqa: F403
