"""Deprecated shim: import from ``support.processes`` instead.

Kept for one merge cycle for callers of the old layout: bench/netconf_agent.py puts
tests/interop on ``sys.path`` and does ``from agent_process import ...``, so this shim puts
tests/ there too when it is missing (under pytest it is already, from ``pythonpath``).
"""

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from support.processes import *  # noqa: E402, F403
