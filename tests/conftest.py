"""Shared test helpers: where the models are and how to reach the Debian tools."""

from __future__ import annotations

from pathlib import Path

import pytest

from qnms.yang.catalog import MODULES, YANG_DIR


@pytest.fixture(scope="session")
def yang_files() -> list[Path]:
    return [YANG_DIR / f"{m}.yang" for m in MODULES]
