"""Where the YANG modules are, and which module each stratum's agent serves.

``yang/`` at the top of the repository is the source of truth for the qnms modules; it is
installed as the data-only package ``qnms_models`` (see setup.py), so the modules are found
through the import system from a checkout and from an installed wheel alike (its spec's
location: importlib.resources would cost an agent's start ~15 ms of imports). The IETF
modules they import, and those the NETCONF core serves, ship with this package in
``qnms/yang/ietf/`` (copied unchanged from pyang's module set).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"the {package} package (qnms's YANG modules) is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


YANG_DIR = _package_dir("qnms_models")
IETF_DIR = Path(__file__).with_name("ietf")

MODULES = [
    "qnms-types",
    "qnms-quantum-fabric",
    "qnms-connectivity",
    "qnms-service-stratum",
    "qnms-service",
    "qnms-network",
    "qnms-domain-abstract",
    "qnms-topology",
]

STRATUM_MODULES = {
    "ss": "qnms-service-stratum",
    "qfs": "qnms-quantum-fabric",
    "cs": "qnms-connectivity",
}


def module_file(name: str) -> Path:
    """The .yang file of a qnms module, or of an IETF module it imports."""
    own = YANG_DIR / f"{name}.yang"
    if own.exists():
        return own
    return next(IETF_DIR.glob(f"{name}@*.yang"), IETF_DIR / f"{name}.yang")


def binding_name(module: str) -> str:
    """pyangbind's Python name for a module: qnms-quantum-fabric -> qnms_quantum_fabric."""
    return module.replace("-", "_")
