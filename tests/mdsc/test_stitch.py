"""The parent's pure parts: URN prefix routing and the choice of border crossing."""

from __future__ import annotations

import pytest

from qnms.mdsc.routing import domain_of
from qnms.mdsc.stitch import crossings
from qnms.mdsc.views import DomainView, Peer, SegmentEstimate
from qnms.network.physics import werner_swap

DOMAINS = ("madqci", "quditto")


@pytest.mark.parametrize(
    ("urn", "domain"),
    [
        ("urn:qkd:madqci:ccips", "madqci"),
        ("URN:qkd:quditto:emulator:ipsec:controller", "quditto"),
        ("urn:qkd:madqci:ccips?=nonce=42", "madqci"),
        ("urn:qkd:elsewhere:x", None),
        ("not a urn", None),
    ],
)
def test_endpoints_belong_to_the_domain_their_urn_names(urn: str, domain: str | None) -> None:
    assert domain_of(urn, DOMAINS) == domain


def view(name: str, borders: dict[str, dict[str, Peer]], est: dict) -> DomainView:
    return DomainView(name, set(), borders, est)


def test_the_crossing_with_the_best_stitched_fidelity_comes_first() -> None:
    head = view(
        "a",
        {"a1": {"b1": Peer("b1", 0.95, True)}, "a2": {"b2": Peer("b2", 0.99, True)}},
        {("u1", "a1"): SegmentEstimate(0.9, 50, 3), ("u1", "a2"): SegmentEstimate(0.8, 80, 2)},
    )
    tail = view(
        "b",
        {"b1": {"a1": Peer("a1", 0.97, True)}, "b2": {"a2": Peer("a2", 0.99, True)}},
        {("u2", "b1"): SegmentEstimate(0.9, 40, 1), ("u2", "b2"): SegmentEstimate(0.9, 90, 1)},
    )
    first, second = crossings(head, tail, "u1", "u2")
    assert (first.head_border, first.tail_border) == ("a1", "b1")
    assert first.fidelity == pytest.approx(werner_swap(werner_swap(0.9, 0.95), 0.9))
    assert (first.rate, first.latency_ms) == (40, 4)
    assert second.head_border == "a2" and second.fidelity < first.fidelity


def test_a_link_down_on_either_side_or_not_reported_back_is_no_crossing() -> None:
    est_a = {("u1", "a1"): SegmentEstimate(0.9, 50, 3)}
    est_b = {("u2", "b1"): SegmentEstimate(0.9, 50, 3)}
    up, down = Peer("b1", 0.95, True), Peer("b1", 0.95, False)
    back = {"b1": {"a1": Peer("a1", 0.95, True)}}
    assert (
        crossings(view("a", {"a1": {"b1": down}}, est_a), view("b", back, est_b), "u1", "u2") == []
    )
    assert crossings(view("a", {"a1": {"b1": up}}, est_a), view("b", {}, est_b), "u1", "u2") == []
    assert (
        len(crossings(view("a", {"a1": {"b1": up}}, est_a), view("b", back, est_b), "u1", "u2"))
        == 1
    )
