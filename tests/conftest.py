"""Shared test setup: the support package, ncclient's polling tick, where the models are.

Helpers and fixtures live in the ``support`` package beside this file (``tests/`` is on
``sys.path`` through ``pythonpath`` in pyproject.toml); each directory's conftest.py
imports the fixtures it uses from there.
"""

from __future__ import annotations

from pathlib import Path

import ncclient.transport.session
import pytest

# before any support module is imported, so that its asserts report like a test's
pytest.register_assert_rewrite("support")

from qnms.yang.catalog import MODULES, YANG_DIR  # noqa: E402

ncclient.transport.session.TICK = 0.005  # STACK-NOTES: 0.1 s polling otherwise


@pytest.fixture(scope="session")
def yang_files() -> list[Path]:
    return [YANG_DIR / f"{m}.yang" for m in MODULES]
