"""``<get>`` with a provider's stable state merged once and kept (issue 13).

The reply must be exactly what merging everything afresh gives, whatever was kept: a
new running tree, a new stable element, a caller that modifies its reply.
"""

from __future__ import annotations

import copy
import gc

from lxml import etree
from support.datastores import NS, net, node_xml

from qnms.netconf.datastore.manager import DatastoreManager
from qnms.netconf.interfaces import StableStateProvider
from qnms.yang.merge import merge_into

Q = f"{{{NS}}}"


class Split:
    """Stats of node ``a`` as the stable part (the same object until ``bump``), an
    uptime that changes at every read as the rest."""

    def __init__(self) -> None:
        self.pairs = 7
        self.reads = 0
        self.stable_calls = 0
        self._stable = self._build()

    def _build(self) -> etree._Element:
        return etree.fromstring(
            f'<network xmlns="{NS}"><node><name>a</name><stats><pairs>{self.pairs}</pairs>'
            "</stats></node></network>"
        )

    def bump(self) -> None:
        self.pairs += 1
        self._stable = self._build()

    def stable_state(self) -> list[etree._Element]:
        self.stable_calls += 1
        return [self._stable]

    def state(self) -> list[etree._Element]:
        self.reads += 1
        return [
            etree.fromstring(
                f'<network xmlns="{NS}"><statistics><uptime>{self.reads}</uptime>'
                "</statistics></network>"
            )
        ]


def afresh(manager: DatastoreManager, provider: Split) -> bytes:
    """What a ``<get>`` gives with nothing kept: running, then every state part merged."""
    data = copy.deepcopy(manager.snapshot("running"))
    provider.reads -= 1  # the same read count as the get it is compared with
    merge_into(manager.schema, None, data, [provider._stable, *provider.state()])
    return etree.tostring(data)


def stats(data: etree._Element) -> list[tuple[str, str | None]]:
    return [
        (n.findtext(Q + "name") or "", n.findtext(f"{Q}stats/{Q}pairs"))
        for n in data.findall(f"{Q}network/{Q}node")
    ]


def test_get_with_a_stable_part_equals_merging_everything_afresh(schema):
    provider = Split()
    assert isinstance(provider, StableStateProvider)
    manager = DatastoreManager(schema, state_provider=provider)
    manager.edit_config("running", net(node_xml("a") + node_xml("b")), session_id=1)
    for _ in range(3):  # a miss, then hits: each reply as if merged afresh
        data = manager.get()
        expected = afresh(manager, provider)
        assert etree.tostring(data) == expected
    assert stats(data) == [("a", "7"), ("b", None)]
    assert data.findtext(f"{Q}network/{Q}statistics/{Q}uptime") == "3"  # the rest: each time


def test_kept_merge_follows_running_and_the_stable_part(schema):
    provider = Split()
    manager = DatastoreManager(schema, state_provider=provider)
    manager.edit_config("running", net(node_xml("a")), session_id=1)
    assert stats(manager.get()) == [("a", "7")]
    manager.edit_config("running", net(node_xml("c")), session_id=1)  # a new running tree
    assert stats(manager.get()) == [("a", "7"), ("c", None)]
    provider.bump()  # a new stable element: its content, not the kept one
    assert stats(manager.get()) == [("a", "8"), ("c", None)]
    assert etree.tostring(manager.get()) == afresh(manager, provider)


def test_a_reply_modified_by_its_caller_leaves_the_next_one_whole(schema):
    """NACM pruning, with-defaults and the reply itself modify the tree they get."""
    provider = Split()
    manager = DatastoreManager(schema, state_provider=provider)
    manager.edit_config("running", net(node_xml("a")), session_id=1)
    first = manager.get()
    first.find(f"{Q}network/{Q}node/{Q}stats").clear()
    first.find(f"{Q}network").append(etree.Element(Q + "bogus"))
    second = manager.get()
    assert stats(second) == [("a", "7")]
    assert second.find(f"{Q}network/{Q}bogus") is None
    assert manager.get_config("running").find(f".//{Q}stats") is None  # running untouched


def test_live_state_reads_the_stable_part_first(schema):
    """Push (yang_push) and ``<get>`` both read all of the state through ``live_state``."""
    provider = Split()
    manager = DatastoreManager(schema, state_provider=provider)
    live = manager.live_state()
    assert live is not None and live[0] is provider._stable and len(live) == 2
    assert provider.stable_calls == 1 and provider.reads == 1


def test_a_new_running_lets_go_of_the_stable_part_it_was_merged_with(schema):
    """After a change, nothing of the datastore keeps the old stable element: with
    20,000 links it outlived their delete until the next ``<get>`` (issue 13)."""
    provider = Split()
    manager = DatastoreManager(schema, state_provider=provider)
    manager.edit_config("running", net(node_xml("a")), session_id=1)
    manager.get()
    old = provider._stable
    provider.bump()  # the provider has a new one: only the kept merge can hold the old

    def holders() -> list[object]:
        return [r for r in gc.get_referrers(old) if isinstance(r, tuple | list | dict)]

    assert holders()  # kept while running is the tree it was merged into
    manager.edit_config("running", net(node_xml("b")), session_id=1)
    assert holders() == []
