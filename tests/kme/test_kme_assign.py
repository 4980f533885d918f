"""The KME-to-KME assignment channel (assign.py) over real HTTPS with mutual TLS.

The master's KME holds assignments back for a linger so that many key requests share
one message; these tests stretch the linger to a minute, so anything the slave gets
within ``ASSIGN_WAIT`` (2 s) came because its KME asked for it (``/kme/v1/flush``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest
from kme_support import Chain, call, sae_client

from qnms_agents.kme import assign
from qnms_agents.kme.kme import KmeLimits

LIMITS = KmeLimits(
    max_key_count=64, max_key_per_request=8, batch_bytes=64, chunk_bytes=64, store_bytes=256
)


def run[T](coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture
def long_linger(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(assign, "ASSIGN_LINGER", 60.0)


def record_sends(chain: Chain, kid: str) -> list[tuple[str, dict[str, Any]]]:
    """Every KME-to-KME message ``kid`` sends from now on (path, body)."""
    sent: list[tuple[str, dict[str, Any]]] = []
    kme = chain.kme(kid)
    real = kme.send
    assert real is not None

    async def send(peer: str, path: str, msg: dict[str, Any]) -> dict[str, Any]:
        sent.append((path, msg))
        return await real(peer, path, msg)

    kme.send = send
    return sent


async def enc(chain: Chain, pki: Path, number: int = 1) -> list[dict[str, str]]:
    url = f"{chain.url('kme-a')}/api/v1/keys/sae-b1/enc_keys?number={number}&size=64"
    async with sae_client(pki, "sae-a") as s:
        st, body = await call(s, "GET", url)
    assert st == 200, body
    return list(body["keys"])


async def dec(chain: Chain, pki: Path, ids: list[str]) -> tuple[int, Any]:
    url = f"{chain.url('kme-b')}/api/v1/keys/sae-a/dec_keys"
    async with sae_client(pki, "sae-b1") as s:
        return await call(s, "POST", url, json={"key_IDs": [{"key_ID": k} for k in ids]})


@pytest.mark.usefixtures("long_linger")
def test_keys_of_many_requests_reach_the_slave_kme_in_one_message_when_a_slave_asks(
    pki: Path,
) -> None:
    async def go() -> None:
        async with Chain(pki, LIMITS) as chain:
            await chain.fill("kme-a", "kme-b")
            sent = record_sends(chain, "kme-a")
            keys = [k for _ in range(4) for k in await enc(chain, pki)]
            assert not [p for p, _ in sent if p == "/kme/v1/assign"]  # still lingering
            st, got = await dec(chain, pki, [keys[-1]["key_ID"]])  # right after
            assert st == 200 and got["keys"] == keys[-1:]
            st, rest = await dec(chain, pki, [k["key_ID"] for k in keys[:-1]])
            assert st == 200 and rest["keys"] == keys[:-1]
        assigns = [m for p, m in sent if p == "/kme/v1/assign"]
        assert len(assigns) == 1
        assert [k[0] for g in assigns[0]["groups"] for k in g["keys"]] == [
            k["key_ID"] for k in keys
        ]

    run(go())


@pytest.mark.usefixtures("long_linger")
def test_a_late_or_repeated_assignment_never_hands_a_key_out_twice(pki: Path) -> None:
    async def go() -> None:
        async with Chain(pki, LIMITS) as chain:
            await chain.fill("kme-a", "kme-b")
            sent = record_sends(chain, "kme-a")
            (key,) = await enc(chain, pki)
            assert (await dec(chain, pki, [key["key_ID"]]))[0] == 200
            (msg,) = [m for p, m in sent if p == "/kme/v1/assign"]
            async with sae_client(pki, "kme-a") as s:  # the same message once more
                st, body = await call(s, "POST", f"{chain.url('kme-b')}/kme/v1/assign", json=msg)
            assert st == 200 and body == {"assigned": 1}
            st, again = await dec(chain, pki, [key["key_ID"]])
        assert st == 400 and key["key_ID"] in again["message"]

    run(go())


@pytest.mark.parametrize(
    "groups",
    [
        "not a list",
        [{"master": "sae-a", "slaves": ["sae-b1"]}],  # no keys
        [{"master": "sae-a", "slaves": ["sae-b1"], "keys": [["id", "chunk", 0]]}],  # short
        [{"master": "sae-a", "slaves": 3, "keys": []}],
    ],
)
def test_a_malformed_assign_message_gets_400_and_assigns_nothing(pki: Path, groups: Any) -> None:
    async def go() -> tuple[int, Any, int]:
        async with Chain(pki, LIMITS) as chain:
            async with sae_client(pki, "kme-a") as s:
                st, body = await call(
                    s,
                    "POST",
                    f"{chain.url('kme-b')}/kme/v1/assign",
                    json={"origin": "kme-a", "groups": groups},
                )
            return st, body, len(chain.kme("kme-b").assignments)

    st, body, held = run(go())
    assert st == 400 and body["message"]
    assert held == 0


def test_only_the_kme_itself_may_ask_for_a_flush(pki: Path) -> None:
    async def go() -> list[int]:
        async with Chain(pki, LIMITS) as chain:
            url = f"{chain.url('kme-a')}/kme/v1/flush"
            async with sae_client(pki, "kme-b") as s:
                ok, _ = await call(s, "POST", url, json={"from": "kme-b"})
                forged, _ = await call(s, "POST", url, json={"from": "kme-c"})
            async with sae_client(pki, "sae-b1") as s:
                sae, _ = await call(s, "POST", url, json={"from": "sae-b1"})
        return [ok, forged, sae]

    assert run(go()) == [200, 401, 401]


def test_dec_keys_with_one_key_whose_material_is_missing_hands_out_none(pki: Path) -> None:
    """All or none: a refused dec_keys leaves every key it named with the slave's KME."""

    async def go() -> None:
        async with Chain(pki, LIMITS) as chain:
            await chain.fill("kme-a", "kme-b")
            first, second = await enc(chain, pki, number=2)
            slave_kme = chain.kme("kme-b")
            for _ in range(50):  # the assignment message, after its linger
                if second["key_ID"] in slave_kme.assignments:
                    break
                await asyncio.sleep(0.05)
            a = slave_kme.assignments[second["key_ID"]]
            segs = a.segments()
            assert segs is not None
            theirs = slave_kme.store(a.origin).theirs
            for cid, s, e in segs:  # the stores disagree: the second key's bytes are gone
                theirs.used.setdefault(cid, []).append((s, e))
            st, body = await dec(chain, pki, [first["key_ID"], second["key_ID"]])
            assert st == 503 and second["key_ID"] in body["message"]
            st, got = await dec(chain, pki, [first["key_ID"]])
        assert st == 200 and got["keys"] == [first]

    run(go())
