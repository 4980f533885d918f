"""Trusted-node relay along key-forwarding routes: kme-a -> b -> c -> d -> kme-e."""

from __future__ import annotations

import asyncio
import base64
import logging
from pathlib import Path

import pytest
from kme_support import Chain, call, sae_client

from qnms_agents.kme.kme import Kme, KmeLimits

LIMITS = KmeLimits(max_key_count=64, batch_bytes=64, chunk_bytes=64, store_bytes=256)


async def _enc_a_to_e(pki: Path, chain: Chain, number: int = 2) -> tuple[int, dict]:
    async with sae_client(pki, "sae-a") as s:
        return await call(
            s,
            "POST",
            f"{chain.url('kme-a')}/api/v1/keys/sae-e/enc_keys",
            json={"number": number, "size": 256},
        )


async def _dec_at_e(pki: Path, chain: Chain, ids: list[str]) -> tuple[int, dict]:
    async with sae_client(pki, "sae-e") as s:
        return await call(
            s,
            "POST",
            f"{chain.url('kme-e')}/api/v1/keys/sae-a/dec_keys",
            json={"key_IDs": [{"key_ID": i} for i in ids]},
        )


def _everything_held(kme: Kme) -> bytes:
    """Every byte a KME holds: link pools, end-to-end stores, pending chunks."""
    out = bytearray()
    for pool in [*kme.pools.values(), *kme.stores.values()]:
        for stream in (pool.mine, pool.theirs):
            for data in stream.chunks.values():
                out += data
    for _, data, _ in kme.pending.values():
        out += data
    return bytes(out)


def test_a_key_relayed_over_three_trusted_nodes_is_identical_at_both_ends(
    pki: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    async def go() -> None:
        async with Chain(pki, LIMITS) as chain:
            await chain.fill_chain()
            st, enc = await _enc_a_to_e(pki, chain)
            assert st == 200, enc
            ids = [k["key_ID"] for k in enc["keys"]]
            st2, dec = await _dec_at_e(pki, chain, ids)
            assert st2 == 200 and dec["keys"] == enc["keys"]
            # the trusted nodes relayed, and keep none of the key
            for mid in ("kme-b", "kme-c", "kme-d"):
                assert chain.kme(mid).relayed >= 1
                held = _everything_held(chain.kme(mid))
                for k in enc["keys"]:
                    assert base64.b64decode(k["key"]) not in held
            # no key bits in any log record of the run
            for k in enc["keys"]:
                raw = base64.b64decode(k["key"])
                for rec in caplog.records:
                    text = rec.getMessage()
                    assert k["key"] not in text and raw.hex() not in text

    asyncio.run(go())


def test_a_relay_node_failing_mid_relay_leaves_no_half_key_at_either_end(pki: Path) -> None:
    async def go() -> None:
        async with Chain(pki, LIMITS, auto_fill=False) as chain:
            await chain.fill_chain()
            await chain.servers["kme-c"].stop()  # the node beyond kme-b goes down
            await chain.kme("kme-a").fill_stores()
            assert chain.kme("kme-a").failed_relays >= 1
            st, err = await _enc_a_to_e(pki, chain)
            assert st == 503 and "key material" in err["message"]
            assert chain.kme("kme-a").stored_key_count("kme-e", 256) == 0
            assert not chain.kme("kme-e").pending and "kme-a" not in chain.kme("kme-e").stores

    asyncio.run(go())


def test_chunks_relayed_but_never_committed_are_never_usable(pki: Path) -> None:
    """The far end has the material, but the commit never arrives."""

    async def go() -> None:
        async with Chain(pki, LIMITS, auto_fill=False) as chain:
            await chain.fill_chain()

            async def crash(msg: dict) -> dict:
                raise RuntimeError("kme-c lost power")

            chain.kme("kme-c").settle = crash  # type: ignore[method-assign]
            await chain.kme("kme-a").fill_stores()
            assert chain.kme("kme-e").pending  # relayed, held, never committed
            st, _ = await _enc_a_to_e(pki, chain)
            assert st == 503
            kme_e = chain.kme("kme-e")
            assert "kme-a" not in kme_e.stores or not kme_e.stores["kme-a"].theirs.available()

    asyncio.run(go())
