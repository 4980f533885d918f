"""Where the YANG modules are, and which module each stratum's agent serves.

yang/ is the source of truth; the IETF modules the qnms modules import come with pyang
(installed under the environment's share/yang/modules/ietf).
"""

from __future__ import annotations

import sys
from pathlib import Path

YANG_DIR = Path(__file__).resolve().parents[2] / "yang"
IETF_DIR = Path(sys.prefix) / "share" / "yang" / "modules" / "ietf"

MODULES = [
    "qnms-types",
    "qnms-quantum-fabric",
    "qnms-connectivity",
    "qnms-service-stratum",
    "qnms-service",
    "qnms-network",
]

STRATUM_MODULES = {
    "ss": "qnms-service-stratum",
    "qfs": "qnms-quantum-fabric",
    "cs": "qnms-connectivity",
}


def module_file(name: str) -> Path:
    """The .yang file of a qnms module, or of an IETF module it imports."""
    own = YANG_DIR / f"{name}.yang"
    return own if own.exists() else IETF_DIR / f"{name}.yang"


def binding_name(module: str) -> str:
    """pyangbind's Python name for a module: qnms-quantum-fabric -> qnms_quantum_fabric."""
    return module.replace("-", "_")
