"""Malformed or impossible requests get an error reply and change nothing."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from qnms.qndt.topologies import chain

GOOD = {
    "type": "allocate",
    "allocation": "a",
    "path": ["alice", "r1", "bob"],
    "memories": 2,
    "duration": 0.1,
}


def with_(**kw: Any) -> dict[str, Any]:
    req = copy.deepcopy(GOOD)
    for key, value in kw.items():
        key = key.replace("_", "-")
        if value is None:
            req.pop(key, None)
        else:
            req[key] = value
    return req


BAD = [
    ("not a dict", "malformed"),
    ({"type": "dance"}, "unknown-type"),
    ({"type": "allocate", "v": 2}, "unsupported-version"),
    (with_(path="alice"), "bad-path"),
    (with_(path=["alice"]), "bad-path"),
    (with_(path=["alice", "alice"]), "bad-path"),
    (with_(path=["alice", "zed"]), "unknown-node"),
    (with_(path=["alice", "bob"]), "no-link"),
    (with_(memories=0), "bad-value"),
    (with_(memories=6), "insufficient-memory"),
    (with_(memories="two"), "bad-value"),
    (with_(target_fidelity=1.5), "bad-value"),
    (with_(duration=None), "missing-field"),
    (with_(start=0.5, end=0.2, duration=None), "bad-window"),
    (with_(max_swaps=0), "swap-depth"),
    (with_(allocation=None), "missing-field"),
    (with_(hold="yes"), "bad-value"),
    ({"type": "release", "allocation": "nope"}, "unknown-allocation"),
    ({"type": "consume", "allocation": "nope"}, "unknown-allocation"),
    ({"type": "fault", "fault": "meteor"}, "unknown-fault"),
    ({"type": "fault", "fault": "node-down", "node": "zed"}, "unknown-node"),
    ({"type": "fault", "fault": "channel-cut", "channel": "zed"}, "unknown-channel"),
    ({"type": "fault", "fault": "memory-degraded", "node": "r1", "memory": "x"}, "unknown-memory"),
    ({"type": "query", "what": "everything"}, "unknown-query"),
]


@pytest.fixture(scope="module")
def engine() -> Any:
    from qnms.qndt.engine import Engine

    eng = Engine(chain(3, size=4), seed=0)
    yield eng
    eng.close()


@pytest.mark.parametrize(("request_", "code"), BAD)
def test_bad_request_gets_error_and_changes_nothing(engine: Any, request_: Any, code: str) -> None:
    before = (
        dict(engine.allocations),
        {k: set(v) for k, v in engine.busy.items()},
        len(engine._agenda),
        len(engine.tl.events),
    )
    reply = engine.handle(request_ if not isinstance(request_, dict) else dict(request_, id=7))
    assert reply["ok"] is False
    assert reply["error"]["code"] == code, reply
    after = (
        dict(engine.allocations),
        {k: set(v) for k, v in engine.busy.items()},
        len(engine._agenda),
        len(engine.tl.events),
    )
    assert after == before


def test_decimal_strings_are_accepted_and_duplicates_refused(engine: Any) -> None:
    reply = engine.handle(with_(allocation="ok1", **{"target_fidelity": "0.8"}))
    assert reply["ok"], reply
    assert engine.handle(with_(allocation="ok1"))["error"]["code"] == "duplicate"
    assert engine.handle({"type": "release", "allocation": "ok1", "id": 3})["id"] == 3
    status = engine.handle({"type": "query"})
    assert status["ok"] and status["allocations"]["ok1"] == "released"
