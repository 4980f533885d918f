"""Mutual TLS for the KME: ETSI GS QKD 014 clause 5.1 (HTTPS, both sides authenticated).

The SAE_ID of a caller is the identity in its client certificate: the first DNS
subjectAltName, else the subject common name (what `qnms pki` issues carries both).
The same holds for a peer KME calling the KME-to-KME routes with its KME certificate.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any


def server_context(ca: Path, cert: Path, key: Path) -> ssl.SSLContext:
    """TLS 1.2+ server context that requires a client certificate issued by ``ca``."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(ca))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


def client_context(ca: Path, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    """Client context trusting only ``ca``, presenting ``cert`` when given."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert is not None:
        ctx.load_cert_chain(str(cert), str(key) if key else None)
    return ctx


def peer_identity(peercert: dict[str, Any] | None) -> str | None:
    """The identity a verified peer certificate names (SAN DNS first, then CN)."""
    if not peercert:
        return None
    for kind, value in peercert.get("subjectAltName", ()):
        if kind == "DNS":
            return str(value)
    for rdn in peercert.get("subject", ()):
        for name, value in rdn:
            if name == "commonName":
                return str(value)
    return None
