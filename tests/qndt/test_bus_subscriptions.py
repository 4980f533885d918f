"""The service publishes only what some subscriber wants, and every subscriber gets what a
plain PUB socket would have sent it: the same messages, in order, byte for byte JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import zmq
from support.polling import wait_until

from qnms.qndt.bus import Service
from qnms.qndt.messages import TOPIC_PREFIX
from qnms.qndt.topologies import chain


def _drain(sock: zmq.Socket) -> list[tuple[str, dict[str, Any]]]:
    out = []
    while sock.poll(200):
        topic, body = sock.recv_multipart()
        out.append((topic.decode(), json.loads(body)))
    return out


def _sub(ctx: zmq.Context, addr: str, prefix: str) -> zmq.Socket:
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.RCVHWM, 1_000_000)
    sub.setsockopt(zmq.SUBSCRIBE, prefix.encode())
    sub.connect(addr)
    return sub


def test_subscribers_get_what_they_subscribed_to_and_nothing_else_is_encoded(
    make_engine: Any, tmp_path: Path
) -> None:
    engine = make_engine(chain(3, coherence=1e6), seed=2, telemetry_period=0.02)
    reply = engine.handle(
        {
            "type": "allocate",
            "allocation": "a1",
            "path": ["alice", "r1", "bob"],
            "duration": 1.0,
            "target-fidelity": 0.5,
        }
    )
    assert reply["ok"], reply
    ctx = zmq.Context()
    service = Service(engine, bind=f"ipc://{tmp_path}/q", speed=None, context=ctx)
    sent: list[tuple[str, dict[str, Any]]] = []  # what the engine handed to the bus
    publish = engine.sink

    def sink(topic: str, msg: dict[str, Any]) -> None:
        sent.append((TOPIC_PREFIX + topic, json.loads(json.dumps(msg))))
        publish(topic, msg)

    engine.sink = sink
    everything = _sub(ctx, service.pub_addr, TOPIC_PREFIX)
    links = _sub(ctx, service.pub_addr, TOPIC_PREFIX + "link.")
    try:
        assert wait_until(lambda: (service._read_subscriptions(), len(service.prefixes))[1] == 2)
        service.serve(until_sim=0.1)
        got_all, got_links = _drain(everything), _drain(links)
        assert sent and got_all == sent  # same messages, same order
        assert got_links == [(t, m) for t, m in sent if t.startswith(TOPIC_PREFIX + "link.")]
        assert got_links and len(got_links) < len(got_all)
        assert (service.published, service.unwanted) == (len(sent), 0)

        everything.close(0)  # the last subscriber of a prefix leaves: its results stop
        links.setsockopt(zmq.UNSUBSCRIBE, (TOPIC_PREFIX + "link.").encode())
        assert wait_until(lambda: (service._read_subscriptions(), service.prefixes)[1] == set())
        before, handed = service.published, len(sent)
        successes = sum(link.successes for link in engine.rec.links.values())
        delivered = engine.allocations["a1"].delivered
        service.serve(until_sim=0.2)
        assert service.published == before and service.unwanted > 0
        # the frequent results are not even built (their counters still advance)
        kinds = {msg["type"] for _, msg in sent[handed:]}
        assert not kinds & {"link-pair", "swap", "pair-delivered"}, kinds
        assert sum(link.successes for link in engine.rec.links.values()) > successes
        assert engine.allocations["a1"].delivered > delivered
        assert _drain(links) == []
    finally:
        service.close()
        for sock in (everything, links):
            sock.close(0)
        ctx.term()
