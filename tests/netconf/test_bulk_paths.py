"""The fast paths of big edits (issue 13) give exactly what the general paths give.

- Fresh list entries built in one pass (datastore/fresh.py) serialise byte for byte as
  the entries the general edit path builds leaf by leaf, for the plain entries it takes,
  and every other entry (attributes, prefixed values, misplaced keys, repeated leaves,
  unknown children) still goes the general way with the same errors.
- Patterns matched with Python's ``re`` (xsd_regex) match what libxml2's XML Schema
  validation matches (pyang's method) on every pattern of the project's modules, value by
  value; prepared leaf checks (values.leaf_check) give the general check's verdicts.
"""

from __future__ import annotations

import itertools
import platform
from xml.sax.saxutils import escape as xml_escape

import pytest
from lxml import etree
from support.datastores import NS, config, net, node_xml

from qnms.netconf.datastore import edit, fresh, memory
from qnms.netconf.datastore.manager import DatastoreManager
from qnms.netconf.protocol.audit import AUDIT_NS, PACK_LIMIT, AuditLog, _escaped
from qnms.netconf.protocol.notifications import DEFAULT_STREAM, NCN_NS, NotificationHub
from qnms.yang import restrictions
from qnms.yang.changes import ConfigChange
from qnms.yang.errors import RpcError, RpcErrors
from qnms.yang.values import leaf_check
from qnms.yang.xsd_regex import xsd_regex
from qnms_agents.base import STRATUM_MODULES, stratum_schema

ENTRIES = [
    node_xml("plain", 3),
    "<node><memory-count>5</memory-count><name>key-last</name></node>",
    '<node xmlns:en="urn:example:net"><en:name>prefixed</en:name>'
    "<memory-count>2</memory-count></node>",
    '<node><name>with-op</name><memory-count nc:operation="create">1</memory-count></node>',
    "<node><name>twice</name><memory-count>1</memory-count><memory-count>2</memory-count></node>",
    "<node><name>nested</name><position><x>1</x><y>2</y></position></node>",
    "<node><name>commented</name><!-- c --><memory-count>7</memory-count></node>",
    "<node><name>empty-value</name><fidelity></fidelity></node>",
    node_xml("with-tail", 2) + "\n  " + node_xml("second", 3) + "\n",
    "<node>\n  <name>pretty</name>\n  <memory-count>4</memory-count>\n</node>",
    '<node nc:operation="create"><name>op-on-entry</name><memory-count>1</memory-count></node>',
    '<node xmlns:x="urn:x"><name>extra-ns</name><memory-count>1</memory-count></node>',
]


def _result(schema, bindings, xml: str, monkeypatch, general: bool, adopt=False) -> bytes | str:
    with monkeypatch.context() as m:
        if general:
            m.setattr(edit, "fresh_element", lambda *_a, **_k: None)
        manager = DatastoreManager(schema, bindings=bindings)
        try:
            manager.edit_config("running", net(xml), session_id=1, adopt=adopt)
        except RpcError as err:
            return f"{err.tag} {err.path} {err.message}"
        except RpcErrors as errs:
            return str(errs)
        return etree.tostring(manager.get_config("running"))


@pytest.mark.parametrize("adopt", [False, True], ids=["copied", "adopted"])
@pytest.mark.parametrize("xml", ENTRIES)
def test_fresh_entries_equal_the_general_path(schema, bindings, monkeypatch, xml, adopt):
    taken = []
    original = fresh.fresh_element

    def spy(*args, **kwargs):
        out = original(*args, **kwargs)
        taken.append(out is not None)
        return out

    monkeypatch.setattr(edit, "fresh_element", spy)
    fast = _result(schema, bindings, xml, monkeypatch, general=False, adopt=adopt)
    monkeypatch.undo()
    slow = _result(schema, bindings, xml, monkeypatch, general=True)
    assert fast == slow
    assert taken  # the fast path was asked


def test_plain_entries_take_the_fast_path_and_others_do_not(schema):
    node = schema.find("/en:network/en:node")
    shape = fresh.shape_of(node)
    for xml, expected in [
        (node_xml("a", 1), True),
        ("<node><memory-count>5</memory-count><name>b</name></node>", True),
        ('<node><name>c</name><memory-count nc:operation="create">1</memory-count></node>', False),
        ("<node><name>d</name><position><x>1</x></position></node>", False),
        (node_xml("e", 1, "<memory-count>2</memory-count>"), False),
        ("<node><name>f:g</name></node>", False),
    ]:
        e = config(f'<network xmlns="urn:example:net">{xml}</network>')[0][0]
        assert (fresh.fresh_element(node, e, shape) is not None) is expected, xml


def test_a_bad_value_in_a_fresh_entry_is_refused_and_nothing_changes(manager):
    entries = "".join(node_xml(f"n{i}", 99 if i == 7 else 1) for i in range(20))
    with pytest.raises(RpcError) as err:
        manager.edit_config("running", net(entries), session_id=1)
    assert err.value.path.endswith("en:node[en:name='n7']/en:memory-count")
    assert len(manager.get_config("running")) == 0


# ------------------------------------------------------------ prepared string checks

SAMPLES = [
    "",
    "a",
    "A",
    "0",
    "-",
    ".",
    "_",
    "~",
    ":",
    "a-b",
    "a.b",
    "a_b",
    "a:b",
    "-a",
    ".a",
    "a b",
    "a\nb",
    "a\rb",
    "\n",
    "*",
    "**",
    "xml",
    "XML",
    "xmlfoo",
    "urn:a:b",
    "urn:ab:c",
    "URN:x-y:z",
    "1.2.3",
    "2.0",
    "1.13",
    "0.3",
    "12:34",
    "ab:cd:ef",
    "aa:bb:cc:dd:ee:ff",
    "2024-01-02",
    "2024-01-02T03:04:05Z",
    "2024-01-02T03:04:05.5+01:00",
    "fe80::1",
    "192.168.0.1",
    "é",
    "a" * 64,
    "a" * 65,
    "a" * 1025,
    "12345678-1234-1234-1234-123456789abc",
]


def _string_leaves():
    seen = {}
    for stratum in STRATUM_MODULES:
        schema = stratum_schema(stratum)
        for node in schema.iter_nodes():
            t = node.type
            if t is not None and t.base == "string" and t.spec is not None:
                seen.setdefault(t.text, (schema, node))
    return list(seen.values())


def _patterns() -> list[str]:
    out: set[str] = set()
    for _schema, node in _string_leaves():
        out.update(p for p, _invert in node.type.spec.patterns)
    return sorted(out)


def test_translated_patterns_match_what_libxml2_matches():
    patterns = _patterns()
    assert len(patterns) >= 5
    translated = 0
    for p in patterns:
        rx = xsd_regex(p)
        if rx is None:
            continue
        translated += 1
        xsd = restrictions._schema(p)
        assert xsd is not None, p
        for s in SAMPLES:
            assert (rx.fullmatch(s) is not None) == restrictions._xsd_matches(xsd, s), (p, s)
    assert translated >= 4  # the project's own name, qui-id, nonce and urn patterns


def test_xsd_constructs_that_differ_are_not_translated():
    for pattern in (r"\d+", r"\p{L}+", r"[a-z-[aeiou]]", r"\i\c*", "(?i)a", "[a-z]+é", "a$b^"):
        assert xsd_regex(pattern) is None, pattern
    assert xsd_regex("a.b").fullmatch("a\rb") is None  # XSD's dot excludes CR too


def test_leaf_checks_give_libxml2s_verdicts_on_every_string_type(monkeypatch):
    leaves = _string_leaves()
    assert leaves
    fast = {}
    for (schema, node), text in itertools.product(leaves, SAMPLES):
        el = etree.Element("x")
        el.text = text
        fast[node.type.text, text] = leaf_check(schema, node, True)(el)
    assert any(fast.values()) and not all(fast.values())

    def xsd_only(pattern: str, text: str) -> bool:
        xsd = restrictions._schema(pattern)
        return xsd is None or restrictions._xsd_matches(xsd, text)

    monkeypatch.setattr(restrictions, "_matches", xsd_only)
    for (schema, node), text in itertools.product(leaves, SAMPLES):
        el = etree.Element("x")
        el.text = text
        assert leaf_check(schema, node, True)(el) == fast[node.type.text, text], text


# ------------------------------------------------------------------- memory after


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_the_trim_finds_glibcs_malloc_trim():
    assert memory._MALLOC_TRIM is not None
    memory.trim()


def test_a_big_change_schedules_one_trim_and_a_small_one_none(schema, bindings, monkeypatch):
    monkeypatch.setattr(memory, "TRIM_NODES", 30)
    manager = DatastoreManager(schema, bindings=bindings)
    scheduled: list[float] = []
    monkeypatch.setattr(manager._bridge, "later", lambda delay, fn: scheduled.append(delay))
    manager.edit_config("running", net(node_xml("one")), session_id=1)
    assert scheduled == []
    many = "".join(node_xml(f"n{i}") for i in range(40))
    manager.edit_config("running", net(many), session_id=1)
    assert scheduled == [memory.TRIM_DELAY]
    gone = "".join(f'<node nc:operation="delete"><name>n{i}</name></node>' for i in range(40))
    manager.edit_config("running", net(gone), session_id=1)
    assert scheduled == [memory.TRIM_DELAY] * 2
    memory.trim()  # callable here (glibc) or a no-op elsewhere: never an error


def test_audit_entries_kept_packed_read_back_the_same_and_after_a_restart(tmp_path):
    changes = [
        ConfigChange(f"/en:network/en:node[en:name='n{i}']", "create", {"en": NS}) for i in range(3)
    ]
    log = AuditLog(tmp_path, lambda _sid: ("admin", "127.0.0.1"))
    log.record(changes, 7)
    first = etree.tostring(log.state()[0])
    assert isinstance(log.entries[0]["edits"], str)  # one string, not a dict per edit
    assert first.count(b"<edit>") == 3 and b"n2']" in first
    again = AuditLog(tmp_path, lambda _sid: ("admin", "127.0.0.1"))
    assert etree.tostring(again.state()[0]) == first


def test_audit_state_written_as_text_keeps_markup_characters_as_values(tmp_path):
    """The audit state is parsed from text (issue 13): values with ``<``, ``&`` and
    quotes come back as the same values, in the module's namespace."""
    target = "/en:network/en:node[en:name='a<b&\"c\"']"
    log = AuditLog(None, lambda _sid: ("ad<min>&", "::1"))
    log.record([ConfigChange(target, "create", {"en": NS})], 3)
    log.record([ConfigChange("/en:network", "delete", {"en": NS})], 4)
    root = log.state()[0]
    a = f"{{{AUDIT_NS}}}"
    entries = root.findall(a + "entry")
    assert [e.findtext(a + "id") for e in entries] == ["1", "2"]
    assert entries[0].findtext(a + "user-name") == "ad<min>&"
    assert entries[0].findtext(f"{a}edit/{a}target") == target
    assert entries[1].findtext(f"{a}edit/{a}operation") == "delete"
    assert [e.findtext(a + "session-id") for e in entries] == ["3", "4"]


def test_audit_values_of_many_edits_escaped_together_come_back_the_same():
    """A big entry's targets are escaped in one pass over their join (NUL-separated);
    markup characters in any of them, and a value holding a NUL (the one-by-one path;
    not XML text, so compared escaped), keep every value its own."""
    targets = [f"/en:network/en:node[en:name='n{i}<&>\"'{i}']" for i in range(40)]
    changes = [ConfigChange(t, "create" if i % 2 else "delete", {"en": NS})
               for i, t in enumerate(targets)]  # fmt: skip
    log = AuditLog(None, lambda _sid: ("admin", "::1"))
    log.record(changes, 1)
    a = f"{{{AUDIT_NS}}}"
    edits = list(log.state()[0].iter(a + "edit"))
    assert [e.findtext(a + "target") for e in edits] == targets
    assert [e.findtext(a + "operation") for e in edits] == [c.operation for c in changes]
    assert _escaped([*targets[:20], "a\0b&"]) == [*map(xml_escape, targets[:20]), "a\0b&amp;"]


def test_a_big_audit_entry_is_kept_compressed_and_reads_back_the_same(tmp_path):
    changes = [
        ConfigChange(f"/en:network/en:node[en:name='n{i:05d}']", "create", {"en": NS})
        for i in range(2000)
    ]
    log = AuditLog(tmp_path, lambda _sid: ("admin", "127.0.0.1"))
    log.record(changes, 7)
    kept = log.entries[0]["edits"]
    assert isinstance(kept, bytes) and len(kept) < PACK_LIMIT  # well under its text
    root = log.state()[0]
    a = f"{{{AUDIT_NS}}}"
    targets = [e.findtext(a + "target") for e in root.iter(a + "edit")]
    assert targets == [c.target for c in changes]
    assert root.find(f"{a}entry/{a}edit[{a}index='1999']") is not None
    again = AuditLog(tmp_path, lambda _sid: ("admin", "127.0.0.1"))  # from the file
    assert etree.tostring(again.state()[0]) == etree.tostring(root)


def test_config_change_event_built_only_for_a_listener_and_listeners_told_either_way():
    """RFC 6470 netconf-config-change: with no subscriber on the stream the event is not
    built (issue 13: 20,000 edits each), but counted; change listeners hear both."""
    hub = NotificationHub()
    heard: list[tuple[int, int]] = []
    hub.change_listeners.append(lambda changes, sid: heard.append((len(changes), sid)))
    changes = [ConfigChange("/en:network", "merge", {"en": NS})]
    hub.config_changed(changes, 0)
    stream = hub.streams[DEFAULT_STREAM]
    assert stream.published == 1 and heard == [(1, 0)]
    sub = stream.subscribe()
    hub.config_changed(changes, 0)
    event = sub.queue.get_nowait()
    assert event is not None and etree.QName(event.content).localname == "netconf-config-change"
    assert event.content.findtext(f".//{{{NCN_NS}}}target") == "/en:network"
    assert stream.published == 2 and heard == [(1, 0), (1, 0)]
