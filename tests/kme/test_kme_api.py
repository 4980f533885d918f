"""ETSI GS QKD 014 over real HTTPS with mutual TLS: every endpoint and the bad cases."""

from __future__ import annotations

import asyncio
import base64
import ssl
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from kme_support import Chain, call, sae_client

from qnms_agents.kme.kme import KmeLimits
from qnms_agents.ss import TokenBucket

LIMITS = KmeLimits(
    max_key_count=64, max_key_per_request=8, batch_bytes=64, chunk_bytes=64, store_bytes=256
)


def run[T](coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def _enc(pki: Path, chain: Chain, slave: str = "sae-b1", **body: object) -> tuple[int, Any]:
    async with sae_client(pki, "sae-a") as s:
        return await call(
            s, "POST", f"{chain.url('kme-a')}/api/v1/keys/{slave}/enc_keys", json=body
        )


def test_status_reports_every_014_field_and_the_stored_key_count(pki: Path) -> None:
    async def go() -> None:
        async with Chain(pki, LIMITS) as chain:
            await chain.fill("kme-a", "kme-b")
            async with sae_client(pki, "sae-a") as s:
                st, body = await call(s, "GET", f"{chain.url('kme-a')}/api/v1/keys/sae-b1/status")
        assert st == 200
        assert set(body) == {
            "source_KME_ID",
            "target_KME_ID",
            "master_SAE_ID",
            "slave_SAE_ID",
            "key_size",
            "stored_key_count",
            "max_key_count",
            "max_key_per_request",
            "max_key_size",
            "min_key_size",
            "max_SAE_ID_count",
            "status_extension",
        }
        assert (body["source_KME_ID"], body["target_KME_ID"]) == ("kme-a", "kme-b")
        assert (body["master_SAE_ID"], body["slave_SAE_ID"]) == ("sae-a", "sae-b1")
        assert 0 < body["stored_key_count"] <= body["max_key_count"]

    run(go())


def test_master_gets_keys_with_enc_keys_and_the_named_slave_the_same_with_dec_keys(
    pki: Path,
) -> None:
    async def go() -> None:
        async with Chain(pki, LIMITS) as chain:
            await chain.fill("kme-a", "kme-b")
            async with sae_client(pki, "sae-a") as s:
                st, enc = await call(
                    s, "GET", f"{chain.url('kme-a')}/api/v1/keys/sae-b1/enc_keys?number=2&size=128"
                )
            assert st == 200 and len(enc["keys"]) == 2
            for k in enc["keys"]:
                uuid.UUID(k["key_ID"])
                assert len(base64.b64decode(k["key"])) == 16
            base = f"{chain.url('kme-b')}/api/v1/keys/sae-a/dec_keys"
            async with sae_client(pki, "sae-b1") as s:
                st1, one = await call(s, "GET", f"{base}?key_ID={enc['keys'][0]['key_ID']}")
                st2, two = await call(
                    s, "POST", base, json={"key_IDs": [{"key_ID": enc["keys"][1]["key_ID"]}]}
                )
                st3, again = await call(s, "GET", f"{base}?key_ID={enc['keys'][0]['key_ID']}")
        assert (st1, st2) == (200, 200)
        assert one["keys"] + two["keys"] == enc["keys"]
        assert st3 == 400 and "message" in again  # handed out once per side

    run(go())


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"number": 9}, "number above max_key_per_request"),
        ({"number": 0}, "number below 1"),
        ({"size": 100}, "size not a multiple of 8"),
        ({"size": 32}, "size below min_key_size"),
        ({"size": 2048}, "size above max_key_size"),
        ({"number": "many"}, "number not an integer"),
        ({"extension_mandatory": [{"x": 1}]}, "unsupported mandatory extension"),
        ({"additional_slave_SAE_IDs": ["sae-b2", "sae-e"]}, "more SAEs than max_SAE_ID_count"),
    ],
)
def test_bad_key_requests_get_400_with_an_error_message(pki: Path, body: dict, why: str) -> None:
    async def go() -> None:
        async with Chain(pki, LIMITS) as chain:
            await chain.fill("kme-a", "kme-b")
            st, err = await _enc(pki, chain, **body)
        assert st == 400, why
        assert set(err) <= {"message", "details"} and err["message"]

    run(go())


def test_unknown_sae_malformed_json_and_wrong_method_are_refused(pki: Path) -> None:
    async def go() -> None:
        async with Chain(pki, LIMITS) as chain:
            await chain.fill("kme-a", "kme-b")
            st_unknown, _ = await _enc(pki, chain, slave="sae-nobody")
            base = f"{chain.url('kme-a')}/api/v1/keys/sae-b1"
            async with sae_client(pki, "sae-a") as s:
                st_json, err = await call(
                    s,
                    "POST",
                    f"{base}/enc_keys",
                    data=b"{not json",
                    headers={"Content-Type": "application/json"},
                )
                st_method, merr = await call(s, "DELETE", f"{base}/enc_keys")
                st_status, _ = await call(s, "POST", f"{base}/status")
                st_api, api = await call(s, "GET", f"{chain.url('kme-a')}/api/v1/openapi.json")
            async with sae_client(pki, "sae-stranger") as s:
                st_stranger, _ = await call(s, "GET", f"{base}/status")
        assert st_unknown == 400
        assert st_json == 400 and err["message"] == "malformed JSON"
        assert st_method == 405 and "message" in merr and st_status == 405
        assert st_stranger == 401  # a valid certificate, but not an SAE of this KME
        assert st_api == 200 and "/api/v1/keys/{slave_SAE_ID}/enc_keys" in api["paths"]

    run(go())


def test_a_slave_not_named_in_enc_keys_gets_401_from_dec_keys(pki: Path) -> None:
    async def go() -> None:
        async with Chain(pki, LIMITS) as chain:
            await chain.fill("kme-a", "kme-b")
            st, enc = await _enc(pki, chain, number=1)
            kid = enc["keys"][0]["key_ID"]
            async with sae_client(pki, "sae-b2") as s:
                st2, err = await call(
                    s, "GET", f"{chain.url('kme-b')}/api/v1/keys/sae-a/dec_keys?key_ID={kid}"
                )
        assert st == 200 and st2 == 401 and "not named" in err["message"]

    run(go())


def test_two_named_slaves_racing_for_one_key_exactly_one_wins(pki: Path) -> None:
    async def go() -> None:
        async with Chain(pki, LIMITS) as chain:
            await chain.fill("kme-a", "kme-b")
            st, enc = await _enc(pki, chain, additional_slave_SAE_IDs=["sae-b2"])
            kid = enc["keys"][0]["key_ID"]
            url = f"{chain.url('kme-b')}/api/v1/keys/sae-a/dec_keys?key_ID={kid}"
            async with sae_client(pki, "sae-b1") as s1, sae_client(pki, "sae-b2") as s2:
                results = await asyncio.gather(
                    *(call(s, "GET", url) for _ in range(5) for s in (s1, s2))
                )
        statuses = sorted(r[0] for r in results)
        assert st == 200 and statuses.count(200) == 1 and statuses[1:] == [400] * 9
        winner = next(body for code, body in results if code == 200)
        assert winner["keys"] == enc["keys"]

    run(go())


def test_missing_or_foreign_client_certificates_never_reach_the_api(pki: Path) -> None:
    async def go() -> None:
        async with Chain(pki, LIMITS) as chain:
            url = f"{chain.url('kme-a')}/api/v1/keys/sae-b1/status"
            for who, ca in ((None, None), ("sae-a", pki / "rogue")):
                async with sae_client(pki, who, ca=ca) as s:
                    with pytest.raises((aiohttp.ClientError, ssl.SSLError)):
                        await call(s, "GET", url)

    run(go())


def test_an_empty_token_bucket_gives_503_and_counts_the_rejection(pki: Path) -> None:
    bucket = TokenBucket(rate=0.0, burst=2, level=2.0, stamp=0.0)
    rejected: list[str] = []

    def limiter(sae: str) -> str | None:
        if bucket.take(0.0):
            return None
        rejected.append(sae)
        return "session-1"

    async def go() -> list[int]:
        async with Chain(pki, LIMITS, limiters={"kme-a": limiter}) as chain:
            await chain.fill("kme-a", "kme-b")
            codes = []
            for _ in range(3):
                st, body = await _enc(pki, chain)
                codes.append(st)
            assert "token bucket" in body["message"]
            return codes

    assert run(go()) == [200, 200, 503]
    assert bucket.rejected == 1 and rejected == ["sae-a"]


def test_no_key_material_gives_503_and_stored_key_count_never_passes_max(pki: Path) -> None:
    async def go() -> None:
        async with Chain(pki, LIMITS) as chain:
            st, err = await _enc(pki, chain)
            assert st == 503 and "key material" in err["message"]
            await chain.fill("kme-a", "kme-b", pairs=200_000)  # far more than fits
            async with sae_client(pki, "sae-a") as s:
                _, body = await call(s, "GET", f"{chain.url('kme-a')}/api/v1/keys/sae-b1/status")
        assert body["stored_key_count"] <= body["max_key_count"]
        assert chain.kme("kme-a").pools["kme-b"].discarded > 0

    run(go())
