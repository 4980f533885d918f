"""SSH authentication policy of the NETCONF server (RFC 6242 section 6, RFC 4252).

- Keys per user: an authorized key logs in as its own user only. The keys come from
  a directory of ``<user>.pub`` files (OpenSSH authorized_keys format each), or from
  one file whose lines are ``<user> <key-type> <base64> [comment]``.
- Exponential back-off per source address: each failed password makes that address
  wait ``base * 2**(n-1)`` seconds (capped) before its next answer, on every
  connection; a success clears it.
- A log line (logger ``qnms.netconf.protocol.auth``) per failure and per success.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

log = logging.getLogger(__name__)
_KEY_TYPES = ("ssh-", "ecdsa-", "sk-")


def load_user_keys(path: Path) -> dict[str, asyncssh.SSHAuthorizedKeys]:
    """{user: authorized keys} from a ``<user>.pub`` directory or a user-key file."""
    lines: dict[str, list[str]] = {}
    if path.is_dir():
        for pub in sorted(path.glob("*.pub")):
            text = pub.read_text(encoding="utf-8")
            lines.setdefault(pub.stem, []).extend(text.splitlines())
    else:
        for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            user, _, key = line.partition(" ")
            if user.startswith(_KEY_TYPES) or not key.strip():
                raise ValueError(
                    f"{path}:{n}: each line must start with the user the key belongs to "
                    "('<user> <key-type> <base64> [comment]')"
                )
            lines.setdefault(user, []).append(key.strip())
    out = {}
    for user, keys in lines.items():
        text = "\n".join(k for k in keys if k.strip() and not k.lstrip().startswith("#"))
        if text:
            out[user] = asyncssh.import_authorized_keys(text + "\n")
    return out


def check_passwords(users: dict[str, str]) -> None:
    """Refuse to start with an empty password (anyone could log in as that user)."""
    empty = sorted(u for u, pw in users.items() if not pw)
    if empty:
        raise ValueError(f"empty password for user(s) {', '.join(empty)}: refusing to start")


def password_matches(users: dict[str, str], username: str, password: str) -> bool:
    expected = users.get(username)
    # Compare even for unknown users so timing does not reveal valid names.
    ok = hmac.compare_digest((expected or "\0").encode(), password.encode())
    return expected is not None and ok


@dataclass
class Backoff:
    """Failed logins per source address, and when that address may be answered next."""

    base: float = 0.5
    cap: float = 30.0
    forget_after: float = 600.0  # a source quiet this long starts afresh
    _failures: dict[str, tuple[int, float]] = field(default_factory=dict)  # n, last time

    def delay(self, host: str) -> float:
        """Seconds ``host`` must still wait before its next attempt is answered."""
        n, last = self._failures.get(host, (0, 0.0))
        if n == 0:
            return 0.0
        now = time.monotonic()
        if now - last > self.forget_after:
            self._failures.pop(host, None)
            return 0.0
        return max(0.0, last + min(self.base * 2 ** (n - 1), self.cap) - now)

    def failed(self, host: str) -> int:
        n, _ = self._failures.get(host, (0, 0.0))
        self._failures[host] = (n + 1, time.monotonic())
        if len(self._failures) > 10_000:  # bounded: drop the oldest sources
            for old in sorted(self._failures, key=lambda h: self._failures[h][1])[:1000]:
                del self._failures[old]
        return n + 1

    def succeeded(self, host: str) -> None:
        self._failures.pop(host, None)

    async def check_password(self, users: dict[str, str], username: str, password: str,
                             host: str) -> bool:  # fmt: skip
        """Wait out the source's back-off, check, and on failure wait the new one."""
        await asyncio.sleep(self.delay(host))
        if password_matches(users, username, password):
            self.succeeded(host)
            log.info("password login of %r from %s accepted", username, host)
            return True
        n = self.failed(host)
        log.warning("failed password for %r from %s (failure %d from this address)",
                    username, host, n)  # fmt: skip
        await asyncio.sleep(self.delay(host))
        return False
