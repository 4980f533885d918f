"""Shared test setup: the support package, ncclient's polling tick, where the models are.

Helpers and fixtures live in the ``support`` package beside this file (``tests/`` is on
``sys.path`` through ``pythonpath`` in pyproject.toml); each directory's conftest.py
imports the fixtures it uses from there.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import ncclient.transport.session
import pytest

# before any support module is imported, so that its asserts report like a test's
pytest.register_assert_rewrite("support")

from qnms.yang.catalog import MODULES, YANG_DIR  # noqa: E402

ncclient.transport.session.TICK = 0.005  # STACK-NOTES: 0.1 s polling otherwise

# compiled-schema cache (qnms.yang.schema_cache) of this run only, inherited by the agent
# processes the tests start: the suite does not write into the user's ~/.cache
if "QNMS_CACHE_DIR" not in os.environ:
    os.environ["QNMS_CACHE_DIR"] = tempfile.mkdtemp(prefix="qnms-test-cache-")
    atexit.register(shutil.rmtree, os.environ["QNMS_CACHE_DIR"], ignore_errors=True)


@pytest.fixture(scope="session")
def yang_files() -> list[Path]:
    return [YANG_DIR / f"{m}.yang" for m in MODULES]
