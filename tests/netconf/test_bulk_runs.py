"""Entries the editor creates together (``datastore.bulk``, issue 13) come out as they
would one by one.

Every edit here is applied twice to the same running content: once as the editor
does it, and once with runs switched off (``edit.MIN_RUN`` above any edit's size), so
each entry goes the usual way. Both must give the same running tree, the same
published changes in the same order (what the audit log, RFC 6470 events and the
reply read), or the same rpc-error, and an edit that fails must change nothing. The
edits mix what a run takes (new entries of plain leaves in the stored form) with what
ends one: an entry there already, a key twice, an attribute, whitespace, a comment, a
prefixed leaf, another list, and later changes to entries a run created.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lxml import etree
from support.datastores import NS, net, node_xml
from support.processes import _make_agent

import qnms.netconf.datastore.edit as edit_module
from qnms.netconf.datastore.edit import apply_edit
from qnms.netconf.datastore.manager import DatastoreManager
from qnms.netconf.protocol.audit import AuditLog
from qnms.yang import restrictions, secure_xml
from qnms.yang.changes import ConfigChange
from qnms.yang.diff import CreatedEntries
from qnms.yang.errors import ErrorTag, RpcError, RpcErrors
from qnms.yang.tree import as_data_tree

QFS = "urn:qnms:yang:qnms-quantum-fabric"
NC = "urn:ietf:params:xml:ns:netconf:base:1.0"


def nodes(names, memory: int = 2) -> str:
    return "".join(node_xml(n, memory) for n in names)


MANY = [f"n{i}" for i in range(40)]
EDITS = {
    "new entries": nodes(MANY),
    "one there already": nodes(MANY[:10]) + node_xml("a", 9) + nodes(MANY[10:]),
    # the same after one there already: the run that starts after it lacks a leaf
    "a run after one there already": node_xml("a", 9)
    + nodes(MANY[:10])
    + "<node><name>bad</name></node>"
    + nodes(MANY[10:30]),
    "a key twice": nodes(MANY[:20]) + node_xml("n5", 7) + nodes(MANY[20:]),
    "an attribute": nodes(MANY[:20])
    + '<node nc:operation="merge"><name>x</name><memory-count>3</memory-count></node>'
    + nodes(MANY[20:]),
    "whitespace": nodes(MANY[:20])
    + "<node>\n <name>x</name>\n <memory-count>3</memory-count>\n</node>"
    + nodes(MANY[20:]),
    "a comment in an entry": nodes(MANY[:20])
    + "<node><name>x</name><!-- c --><memory-count>3</memory-count></node>"
    + nodes(MANY[20:]),
    "a comment between entries": nodes(MANY[:20]) + "<!-- c -->" + nodes(MANY[20:]),
    "a prefixed leaf": nodes(MANY[:20])
    + "<node><name>x</name><en:memory-count>3</en:memory-count></node>"
    + nodes(MANY[20:]),
    "a leaf twice": nodes(MANY[:20])
    + "<node><name>x</name><memory-count>3</memory-count><memory-count>4</memory-count></node>"
    + nodes(MANY[20:]),
    "a key not first": nodes(MANY[:20])
    + "<node><memory-count>3</memory-count><name>x</name></node>"
    + nodes(MANY[20:]),
    "another list between": nodes(MANY[:20])
    + "<policy><name>p1</name></policy><policy><name>p2</name></policy>"
    + nodes(MANY[20:]),
    "too many of a list": "".join(f"<policy><name>p{i}</name></policy>" for i in range(6)),
    "keys needing quotes": nodes(["it's", 'say "x"', "both ' and \"", *MANY]),
    "merged into later": nodes(MANY) + node_xml("n7", 9),
    "made bad later": nodes(MANY) + node_xml("n7", 99),
    "made good later": nodes(MANY[:30]) + node_xml("n7", 99) + nodes(MANY[30:]) + node_xml("n7", 5),
    "deleted later": nodes(MANY)
    + '<node nc:operation="delete"><name>n3</name></node>'
    + '<node nc:operation="remove"><name>n4</name></node>',
    "a mandatory leaf deleted later": nodes(MANY)
    + '<node><name>n3</name><memory-count nc:operation="delete"/></node>',
    "replaced later": nodes(MANY)
    + '<node nc:operation="replace"><name>n3</name><memory-count>8</memory-count></node>',
    "a bad value": nodes(MANY[:30]) + node_xml("bad", 99) + nodes(MANY[30:]),
    # gone before the edit ends: nothing of it is judged, as one by one
    "a bad value deleted later": nodes(MANY[:30])
    + node_xml("bad", 99)
    + nodes(MANY[30:])
    + '<node nc:operation="delete"><name>bad</name></node>',
    # the same after entries no run takes (links: an identityref), many of them
    "a bad value deleted after many others": nodes(MANY[:30])
    + node_xml("bad", 99)
    + nodes(MANY[30:])
    + "".join(f"<link><src>a</src><dst>n{i}</dst><type>et:fiber</type></link>" for i in range(12))
    + '<node nc:operation="delete"><name>bad</name></node>',
    "a mandatory leaf missing": nodes(MANY[:30]) + "<node><name>bad</name></node>",
    # the first entry is refused by the run at its third leaf, after two were read;
    # the run that starts after it lacks a mandatory leaf in one entry
    "a run after an entry refused midway": "<node><name>x</name><memory-count>3</memory-count>"
    + '<role nc:operation="merge">repeater</role></node>'
    + nodes(MANY[:10])
    + "<node><name>bad</name></node>"
    + nodes(MANY[10:30]),
    "an empty value": nodes(MANY[:30]) + "<node><name>bad</name><memory-count/></node>",
    "an enum and a decimal": "".join(
        f"<node><name>{n}</name><memory-count>1</memory-count><role>repeater</role>"
        f"<fidelity>0.5</fidelity></node>"
        for n in MANY
    ),
    "a bad enum": "".join(
        f"<node><name>{n}</name><memory-count>1</memory-count><role>router</role></node>"
        for n in MANY
    ),
    "created twice over": nodes(MANY) + '<node nc:operation="create"><name>n2</name></node>',
    "an augment's leaf": "".join(
        f'<node><name>{n}</name><memory-count>1</memory-count><vendor xmlns="urn:example:ext">'
        f"acme</vendor></node>"
        for n in MANY
    ),
}
SEED = nodes(["a", "b"])


def outcome(manager: DatastoreManager, xml: str, *, adopt: bool, **kw) -> tuple:
    """(running as c14n, published changes, errors) after one edit."""
    before = etree.tostring(manager.get_config("running"), method="c14n")
    published, error = [], None
    try:
        got = manager.edit_config("running", net(xml), session_id=1, adopt=adopt, **kw)
        published = [(c.target, c.operation, dict(c.nsmap)) for c in got]
    except (RpcError, RpcErrors) as exc:
        error = [(e.tag, e.path, e.message) for e in getattr(exc, "errors", [exc])]
        if kw.get("error_option") != "continue-on-error":  # the rest is applied then
            assert etree.tostring(manager.get_config("running"), method="c14n") == before
    return etree.tostring(manager.get_config("running"), method="c14n"), published, error


def both(schema, bindings, xml: str, monkeypatch, *, adopt: bool = True, **kw) -> tuple:
    """The outcome with runs, and the one with every entry taken the usual way
    (``bindings`` None: pyang's value checks stand in for pyangbind's objects)."""
    results = []
    for runs in (True, False):
        manager = DatastoreManager(schema, bindings=bindings)
        manager.edit_config("running", net(SEED), session_id=1)
        with monkeypatch.context() as m:
            if not runs:
                m.setattr(edit_module, "MIN_RUN", 10**9)
            results.append(outcome(manager, xml, adopt=adopt, **kw))
    return results[0], results[1]


@pytest.mark.parametrize("adopt", [True, False])
@pytest.mark.parametrize("case", list(EDITS))
def test_an_edit_gives_what_it_gives_entry_by_entry(schema, monkeypatch, case, adopt):
    with_runs, one_by_one = both(schema, None, EDITS[case], monkeypatch, adopt=adopt)
    assert with_runs == one_by_one


@pytest.mark.parametrize("case", ["new entries", "a key twice", "a bad value", "deleted later"])
def test_binding_objects_follow_the_entries_of_a_run(schema, bindings, monkeypatch, case):
    """With pyangbind objects kept in step, a run's entries are decoded into them one
    by one (``CreatedEntries.one_by_one``), as the usual changes are."""
    with_runs, one_by_one = both(schema, bindings, EDITS[case], monkeypatch)
    assert with_runs == one_by_one


@pytest.mark.parametrize("option", ["continue-on-error", "rollback-on-error"])
def test_error_options_give_what_they_give_entry_by_entry(schema, monkeypatch, option):
    xml = EDITS["a bad value"] + node_xml("later", 3)
    with_runs, one_by_one = both(schema, None, xml, monkeypatch, error_option=option)
    assert with_runs == one_by_one
    assert with_runs[2] is not None  # the bad entry is reported either way


def test_test_only_and_default_replace_give_what_they_give_entry_by_entry(schema, monkeypatch):
    for kw in ({"test_option": "test-only"}, {"default_operation": "replace"}):
        with_runs, one_by_one = both(schema, None, EDITS["new entries"], monkeypatch, **kw)
        assert with_runs == one_by_one


def test_new_entries_are_one_record_and_the_record_reads_as_its_entries(schema):
    """The runs above are real: 40 new entries are one ``CreatedEntries``, a later
    change to one of them marks it, and ``one_by_one`` gives the usual changes."""
    root = as_data_tree(schema, net(SEED))
    changes, errors = apply_edit(schema, root, net(EDITS["new entries"]), adopt=True)
    assert errors == [] and len(changes) == 1
    made = changes[0]
    assert isinstance(made, CreatedEntries) and not made.stale
    assert [c.element for c in made.one_by_one(schema)] == made.entries
    assert made.texts[f"{{{NS}}}memory-count"] == ["2"] * 40
    assert made.nodes == 3 * 40
    root = as_data_tree(schema, net(SEED))
    changes, _ = apply_edit(schema, root, net(EDITS["merged into later"]), adopt=True)
    assert [type(c).__name__ for c in changes] == ["CreatedEntries", "Change"]
    assert changes[0].stale  # type: ignore[union-attr]


# ------------------------------------------------------------ leafrefs in a run


def links(n: int, memory=lambda i: "mem0", tail: str = "") -> str:
    body = "".join(
        f"<quantum-link><name>l{i}</name><remote-node>r{i}</remote-node>"
        f"<local-memory>{memory(i)}</local-memory><channel>c{i}</channel></quantum-link>"
        for i in range(n)
    )
    return (
        f'<config xmlns="{NC}"><quantum-fabric xmlns="{QFS}"><quantum-links>{body}{tail}'
        "</quantum-links></quantum-fabric></config>"
    )


# a link the run does not take (whitespace), after it, under the same parent
ODD = (
    "<quantum-link> <name>odd</name><remote-node>r</remote-node>"
    "<local-memory>{}</local-memory><channel>c</channel></quantum-link>"
)


@pytest.mark.parametrize(
    ("bad", "tail"),
    [(None, ""), (0, ""), (37, ""), (39, ""), (None, ODD.format("mem0")),
     ("odd", ODD.format("nowhere"))],
)  # fmt: skip
def test_references_in_a_run_are_judged_as_one_by_one(tmp_path: Path, monkeypatch, bad, tail):
    """The QFS model's links refer to memories (a leafref): a dangling one anywhere in
    a run, or in an entry written beside it, is refused with its path, by both ways."""
    xml = links(40, lambda i: "nowhere" if i == bad else "mem0", tail)
    results = []
    for runs in (True, False):
        ds = _make_agent(tmp_path / str(runs), "qfs", "madqci-r1", None, None).datastores
        with monkeypatch.context() as m:
            if not runs:
                m.setattr(edit_module, "MIN_RUN", 10**9)
            try:
                ds.edit_config("running", etree.fromstring(xml), session_id=1, adopt=True)
                results.append((etree.tostring(ds.get_config("running"), method="c14n"), None))
            except RpcError as exc:
                results.append((etree.tostring(ds.get_config("running"), method="c14n"),
                                (exc.tag, exc.path, exc.message)))  # fmt: skip
    assert results[0] == results[1]
    if bad is not None:
        name = bad if bad == "odd" else f"l{bad}"
        assert results[0][1] is not None and f"[qfs:name='{name}']" in results[0][1][1]
        assert results[0][1][1].endswith("/qfs:local-memory")


# ------------------------------------------------ many values of one pattern at once


@pytest.mark.parametrize(
    ("pattern", "texts", "each"),
    [
        ("[a-z][a-z0-9._\\-]*", ["a1", "b.c", "d-e"], True),
        ("[a-z][a-z0-9._\\-]*", ["a1", "9b", "c"], False),
        ("[a-z][a-z0-9._\\-]*", ["a1", ""], False),
        ("a.b", ["a", "b"], False),  # "a\0b" is one value of a.b: joined, it would pass
        ("a[^x]b", ["a", "b"], False),
        ("a.b", ["a-b", "a.b"], True),
        ("(x|yz)+", ["x", "yzx", "xx"], True),
        ("(x|yz)+", ["x", "y"], False),
    ],
)
def test_values_of_one_pattern_checked_together_get_their_verdicts_alone(pattern, texts, each):
    """``set_checker`` matches the NUL-joined values at once when no match of the
    pattern can hold a NUL, and value by value otherwise: the verdict is each value's."""
    spec = restrictions.Restrictions("string", patterns=((pattern, False),))
    alone = restrictions.checker(spec)
    assert all(alone(t) is None for t in texts) is each
    check_all = restrictions.set_checker(spec)
    assert check_all is not None and check_all(texts) is each


# ------------------------------------------------------------ the depth of a request


def test_the_usual_depth_limit_is_left_to_libxml2_and_reported_as_ours(monkeypatch):
    """At the usual limit (256, libxml2's own without XML_PARSE_HUGE) a wide request is
    not walked for its depth (an XPath over 100,000 elements of a 20,000-entry edit),
    and a deeper one is still refused as a malformed message naming the limit."""

    def walked(_depth):
        raise AssertionError("the depth was walked")

    monkeypatch.setattr(secure_xml, "_deeper_than", walked)
    wide = ("<a>" + "<b><c>x</c></b>" * 2000 + "</a>").encode()
    assert len(secure_xml.parse_secure(wide, max_depth=256)) == 2000
    assert secure_xml.parse_secure(("<a>" * 256 + "</a>" * 256).encode()).tag == "a"
    with pytest.raises(RpcError) as ei:
        secure_xml.parse_secure(("<a>" * 257 + "</a>" * 257).encode())
    assert ei.value.tag == ErrorTag.MALFORMED_MESSAGE
    assert "deeper than 256" in ei.value.message


# ------------------------------------------------------------ the audit log's line


def test_an_audit_line_is_what_json_dumps_writes(tmp_path: Path):
    """``audit._json_line`` builds the line from escaped strings: byte for byte the
    ``json.dumps`` of the entry, whatever the targets and namespace maps hold."""
    shared = {"en": NS, "ex": "urn:example:ext"}
    odd = ["plain", 'quo"te', "back\\slash", "tab\tnew\nline", "ünï€ode", "\x01ctl", "<&>"]
    changes = [
        ConfigChange(f"/en:network/en:node[en:name='{t}']", op, shared if i % 3 else {"é": t})
        for i, (t, op) in enumerate(zip(odd * 3, ["create", "delete", "merge"] * 7, strict=True))
    ]
    log = AuditLog(tmp_path, lambda _sid: ('ad"min', "::1"))
    log.record(changes, 4)
    line = (tmp_path / "audit.log").read_text()
    entry = json.loads(line)
    edits = [{"target": c.target, "operation": c.operation, "nsmap": c.nsmap} for c in changes]
    assert entry["edits"] == edits
    assert line == json.dumps(entry, separators=(",", ":")) + "\n"
