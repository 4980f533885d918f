"""Trusted-node relay along key-forwarding routes: kme-a -> kme-b -> kme-c -> kme-d."""

from __future__ import annotations

import asyncio
import base64
import logging
from pathlib import Path

import pytest
from kme_support import Chain, call, sae_client

from qnms_agents.kme.kme import KmeLimits

LIMITS = KmeLimits(max_key_count=64, batch_bytes=64)


async def _enc_a_to_d(pki: Path, chain: Chain, number: int = 2) -> tuple[int, dict]:
    async with sae_client(pki, "sae-a") as s:
        return await call(
            s,
            "POST",
            f"{chain.url('kme-a')}/api/v1/keys/sae-d/enc_keys",
            json={"number": number, "size": 256},
        )


async def _dec_at_d(pki: Path, chain: Chain, ids: list[str]) -> tuple[int, dict]:
    async with sae_client(pki, "sae-d") as s:
        return await call(
            s,
            "POST",
            f"{chain.url('kme-d')}/api/v1/keys/sae-a/dec_keys",
            json={"key_IDs": [{"key_ID": i} for i in ids]},
        )


def test_a_key_relayed_over_three_trusted_nodes_is_identical_at_both_ends(
    pki: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    async def go() -> None:
        async with Chain(pki, LIMITS) as chain:
            await chain.fill_chain()
            st, enc = await _enc_a_to_d(pki, chain)
            assert st == 200
            ids = [k["key_ID"] for k in enc["keys"]]
            st2, dec = await _dec_at_d(pki, chain, ids)
            assert st2 == 200 and dec["keys"] == enc["keys"]
            # the trusted nodes relayed, but hold nothing
            for mid in ("kme-b", "kme-c"):
                assert chain.kme(mid).relayed == 2 and not chain.kme(mid).store.keys
            # no key bits in any log record of the run
            for k in enc["keys"]:
                raw = base64.b64decode(k["key"])
                for rec in caplog.records:
                    text = rec.getMessage()
                    assert k["key"] not in text and raw.hex() not in text

    asyncio.run(go())


def test_a_relay_node_failing_mid_relay_leaves_no_half_key_at_either_end(pki: Path) -> None:
    async def go() -> None:
        async with Chain(pki, LIMITS) as chain:
            await chain.fill_chain()
            await chain.servers["kme-c"].stop()  # the node beyond kme-b is down
            st, err = await _enc_a_to_d(pki, chain)
            assert st == 503 and "kme-c" in err["message"]
            assert not chain.kme("kme-d").store.keys and not chain.kme("kme-b").store.keys
            assert chain.kme("kme-a").failed_relays == 1

    asyncio.run(go())


def test_keys_relayed_but_not_committed_are_never_delivered(pki: Path) -> None:
    """The failure that matters most: the far end has the key, the commit never comes."""

    async def go() -> None:
        async with Chain(pki, LIMITS) as chain:
            await chain.fill_chain()
            kme_c = chain.kme("kme-c")
            real_settle = kme_c.settle

            async def crash(msg: dict) -> dict:
                raise RuntimeError("kme-c lost power")

            kme_c.settle = crash  # type: ignore[method-assign]
            st, _ = await _enc_a_to_d(pki, chain)
            assert st == 503
            held = list(chain.kme("kme-d").store.keys)
            assert held and not any(chain.kme("kme-d").store.keys[k].ready for k in held)
            st2, err = await _dec_at_d(pki, chain, held)
            assert st2 == 400 and "not available" in err["message"]
            kme_c.settle = real_settle  # type: ignore[method-assign]

    asyncio.run(go())
