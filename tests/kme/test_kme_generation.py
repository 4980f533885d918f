"""Link key follows the physics: as many bytes as the delivered pairs allow, never more."""

from __future__ import annotations

import asyncio
from typing import Any

from qnms.service.qkd import secret_bits_per_pair
from qnms_agents.kme.kme import Kme, KmeLimits


def _generator() -> tuple[Kme, list[dict[str, Any]]]:
    sent: list[dict[str, Any]] = []

    async def send(peer: str, path: str, msg: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0)  # a real send yields to other deliveries
        sent.append(msg)
        return {"ok": True}

    kme = Kme("kme-a", limits=KmeLimits(batch_bytes=16), send=send, auto_fill=False)
    return kme, sent


def test_concurrent_deliveries_make_exactly_the_chunks_the_secret_fraction_allows() -> None:
    kme, sent = _generator()

    async def go() -> None:
        await asyncio.gather(*(kme.pairs_delivered("kme-b", 0.97) for _ in range(5000)))

    asyncio.run(go())
    secret_bytes = int(5000 * secret_bits_per_pair(0.97) // 8)
    assert len(sent) == secret_bytes // 16
    pool = kme.pools["kme-b"]
    assert pool.mine.available() + pool.theirs.available() == 16 * len(sent)


def test_a_link_above_the_qber_threshold_makes_no_key_and_says_so() -> None:
    kme, sent = _generator()
    asyncio.run(kme.pairs_delivered("kme-b", 0.8, 100_000))
    assert sent == [] and not kme.pools["kme-b"].producing
    assert kme.pools["kme-b"].qber > 0.11


def test_only_the_links_generator_makes_bits() -> None:
    kme, sent = _generator()
    kme.kme_id = "kme-z"  # sorts after its peer: the peer generates
    asyncio.run(kme.pairs_delivered("kme-b", 0.99, 100_000))
    assert sent == []
