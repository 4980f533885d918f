"""One private PKI for all KME tests (key generation is the slow part)."""

from __future__ import annotations

from pathlib import Path

import pytest
from kme_support import make_test_pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_test_pki(tmp_path_factory.mktemp("pki"))
