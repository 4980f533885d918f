"""YANG-Push selections: the fast paths give exactly what ``<get>`` with the filter gives,
and YANG patches rebuild the new selection from the old one."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from qnms.netconf.datastore.manager import DatastoreManager
from qnms.netconf.push.rpcs import FilterSpec
from qnms.netconf.server import NetconfServer, ServerOptions
from qnms.yang import filters
from qnms.yang.tree import resolve_qname

FIXTURES = Path(__file__).with_name("fixtures")
EX = "urn:example:net"
ET = "urn:example:types"
CONFIG = f"""<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">
<network xmlns="{EX}" xmlns:et="{ET}"><name>lab</name>
  <node><name>a</name><memory-count>4</memory-count><role>repeater</role></node>
  <node><name>b</name><memory-count>8</memory-count></node>
  <link><src>a</src><dst>b</dst><type>et:fiber</type><length-km>1.5</length-km></link>
</network></config>"""


class Stats:
    """Deterministic live state: counters, and per-node counters under config nodes."""

    def __init__(self) -> None:
        self.values = {"pairs": 3, "swaps": 1}

    def state(self) -> list[etree._Element]:
        q = f"{{{EX}}}"
        net = etree.Element(q + "network", nsmap={None: EX})
        stats = etree.SubElement(net, q + "statistics")
        etree.SubElement(stats, q + "uptime").text = "42"
        for name, value in self.values.items():
            c = etree.SubElement(stats, q + "counter")
            etree.SubElement(c, q + "name").text = name
            etree.SubElement(c, q + "value").text = str(value)
        for name in ("a", "b"):
            node = etree.SubElement(net, q + "node")
            etree.SubElement(node, q + "name").text = name
            ns = etree.SubElement(node, q + "stats")
            etree.SubElement(ns, q + "pairs").text = str(len(name) * 10)
        return [net]


@pytest.fixture
def server(tmp_path: Path) -> NetconfServer:
    stats = Stats()
    ds = DatastoreManager.for_tests(FIXTURES, state_provider=stats)
    ds.edit_config("running", etree.fromstring(CONFIG), session_id=1)
    srv = NetconfServer(ds, options=ServerOptions(port=0, state_dir=tmp_path / "state"))
    srv.stats = stats  # type: ignore[attr-defined]
    return srv


FILTERS = [
    "<network><node><name>a</name></node></network>",  # keyed, whole entry
    "<network><node><name>b</name><stats/></node></network>",  # keyed + selection
    "<network><node><name>a</name><role>repeater</role></node></network>",  # + content
    "<network><node><name>zz</name></node></network>",  # keyed, no such entry
    "<network><link><src>a</src><dst>b</dst></link></network>",  # two keys, identityref
    "<network><node/></network>",  # structural: config and state entries merged
    "<network><node><stats/></node></network>",  # structural, state only
    "<network><node><memory-count/></node><statistics><counter/></statistics></network>",
    "<network><link/></network>",
    "<network><node><role>repeater</role></node></network>",  # content match: general
    '<network xmlns=""><node/></network>',  # unqualified: general
    '<other xmlns="urn:example:ext"/>',
]


@pytest.mark.parametrize("text", FILTERS)
def test_fast_paths_match_get(server: NetconfServer, text: str) -> None:
    el = etree.fromstring(f'<f xmlns="{EX}">{text}</f>')
    spec = FilterSpec("subtree", el)
    push = server.yang_push
    expected = filters.subtree_filter(server.datastores.get(), el, server.core.schema)
    full = push.selection.needs_protocol_state(spec)
    got: list[etree._Element] = []
    push.batch(lambda: got.append(push.selected("operational", full, spec, False)[1]))
    c14n = [etree.tostring(t, method="c14n") for t in (expected, got[0])]
    assert c14n[0] == c14n[1]
    for t in got[0].iter(f"{{{EX}}}type"):
        assert resolve_qname(t, t.text) == (ET, "fiber")  # the prefix survived the copies


def test_patch_rebuilds_the_new_selection(server: NetconfServer) -> None:
    """Applying the edits of a diff to the old selection yields the new one."""
    from qnms.netconf.push.yang_patch import diff

    push = server.yang_push
    spec = FilterSpec("subtree", etree.fromstring(f'<f xmlns="{EX}"><network/></f>'))
    old = push.selected("operational", False, spec, True)[1]
    server.stats.values = {"pairs": 4, "fusions": 2}  # type: ignore[attr-defined]
    cfg = CONFIG.replace("<memory-count>8</memory-count>", "<memory-count>9</memory-count>")
    server.datastores.edit_config("running", etree.fromstring(cfg), session_id=1)
    new = push.selected("operational", False, spec, True)[1]
    edits = diff(old, new, push.selection.child, push.namer)
    got = {(e.operation, e.target) for e in edits}
    stats = "/example-net:network/statistics"
    assert got == {
        ("replace", f"{stats}/counter=pairs/value"),
        ("delete", f"{stats}/counter=swaps"),
        ("create", f"{stats}/counter=fusions"),
        ("replace", "/example-net:network/node=b/memory-count"),
    }
    # the uptime leaf is excluded from on-change comparisons only when configured so
    assert all("uptime" not in e.target for e in edits)


def test_selection_is_reused_only_while_running_and_state_stand_still(
    server: NetconfServer,
) -> None:
    """Periodic updates of quiet data reuse the last selection (issue 13); a change of
    running or of the live state makes a new one."""
    push = server.yang_push
    spec = FilterSpec("subtree", etree.fromstring(f'<f xmlns="{EX}"><network/></f>'))

    def select() -> etree._Element:
        got: list[etree._Element] = []
        push.batch(lambda: got.append(push.selected("operational", False, spec, False)[1]))
        return got[0]

    first = select()
    assert select() is first  # nothing moved
    server.stats.values = {"pairs": 4}  # type: ignore[attr-defined]
    moved = select()
    assert moved is not first and b">4<" in etree.tostring(moved)
    cfg = CONFIG.replace("<memory-count>8</memory-count>", "<memory-count>9</memory-count>")
    server.datastores.edit_config("running", etree.fromstring(cfg), session_id=1)
    edited = select()
    assert edited is not moved and b">9<" in etree.tostring(edited)
    expected = filters.subtree_filter(server.datastores.get(), spec.element, server.core.schema)
    c14n = [etree.tostring(t, method="c14n") for t in (expected, select())]
    assert c14n[0] == c14n[1]


def test_merge_of_many_list_entries_matches_get(tmp_path: Path) -> None:
    """Config and state entries of a long list are merged by key (an index, not a
    search per entry) exactly as ``<get>`` merges them."""
    n = 300

    class ManyStats(Stats):
        def state(self) -> list[etree._Element]:
            q = f"{{{EX}}}"
            net = etree.Element(q + "network", nsmap={None: EX})
            for i in reversed(range(n)):  # another order than running's
                node = etree.SubElement(net, q + "node")
                etree.SubElement(node, q + "name").text = f"n{i}"
                etree.SubElement(etree.SubElement(node, q + "stats"), q + "pairs").text = str(i)
            return [net]

    ds = DatastoreManager.for_tests(FIXTURES, state_provider=ManyStats())
    nodes = "".join(
        f"<node><name>n{i}</name><memory-count>{i % 7 + 1}</memory-count></node>"
        for i in range(0, n, 2)
    )
    cfg = f'<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><network xmlns="{EX}">'
    ds.edit_config("running", etree.fromstring(f"{cfg}<name>lab</name>{nodes}</network></config>"),
                   session_id=1)  # fmt: skip
    srv = NetconfServer(ds, options=ServerOptions(port=0, state_dir=tmp_path / "state"))
    el = etree.fromstring(f'<f xmlns="{EX}"><network><node/></network></f>')
    spec = FilterSpec("subtree", el)
    got: list[etree._Element] = []
    push = srv.yang_push
    push.batch(lambda: got.append(push.selected("operational", False, spec, False)[1]))
    expected = filters.subtree_filter(ds.get(), el, srv.core.schema)

    def entries(tree: etree._Element) -> dict[str, bytes]:
        return {
            node.findtext(f"{{{EX}}}name"): etree.tostring(node, method="c14n")
            for node in tree.iter(f"{{{EX}}}node")
        }

    assert len(entries(got[0])) == n and entries(got[0]) == entries(expected)
