"""What every KME module shares: the ETSI 014 Error as an exception, base64 and XOR."""

from __future__ import annotations

import base64
from typing import Any


class KmeError(Exception):
    """An ETSI GS QKD 014 Error (clause 6.5): HTTP status, message, details."""

    def __init__(
        self, status: int, message: str, details: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details or []


def xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a) ^ int.from_bytes(b)).to_bytes(len(a)) if a else b""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode(), validate=True)
