"""The fast checks of big edits (issue 13) decide what the general ones decide.

- A created entry's request elements are moved into the new tree only when the caller
  gives the request away (``adopt``, as the NETCONF server does); otherwise the request
  is left as it was.
- ``Validator.plain_instance`` accepts an instance only when the full walk finds
  nothing in it; whatever it declines, the walk reports as before.
- Written leafrefs of many entries under one parent are checked in one pass
  (``leafrefs.Batch``); a dangling one among them is still found, with its path.
- A bad value in the last entries of a 20,000-entry create is refused with its path and
  nothing changes.
"""

from __future__ import annotations

import pytest
from lxml import etree
from support.datastores import NS, config, net, node_xml
from test_bulk_paths import SAMPLES, _string_leaves

from qnms.netconf.datastore.manager import DatastoreManager
from qnms.yang import leafrefs, restrictions
from qnms.yang.errors import ErrorTag, RpcError
from qnms.yang.siblings import BATCH, SiblingChecks
from qnms.yang.validation import Validator, validate_tree

BIG = 20000


def link_xml(src: str, dst: str) -> str:
    return f"<link><src>{src}</src><dst>{dst}</dst><type>et:fiber</type></link>"


def test_a_request_not_adopted_is_left_as_it_was_and_an_adopted_one_gives_the_same(
    schema, bindings
):
    entries = "".join(node_xml(f"n{i}", 1 + i) for i in range(30))
    kept, given = net(entries), net(entries)
    before = etree.tostring(kept)
    one = DatastoreManager(schema, bindings=bindings)
    one.edit_config("running", kept, session_id=1)
    assert etree.tostring(kept) == before
    two = DatastoreManager(schema, bindings=bindings)
    two.edit_config("running", given, session_id=1, adopt=True)
    assert etree.tostring(two.get_config("running")) == etree.tostring(one.get_config("running"))
    assert len(given[0]) == 0  # its entries live in running now


def _problems(schema, xml: str, monkeypatch, plain: bool) -> list[tuple]:
    with monkeypatch.context() as m:
        if not plain:
            m.setattr(Validator, "plain_instance", lambda *_a: False)
        found = validate_tree(schema, config(xml), deep_modules=frozenset({"example-net"}))
    return [(p.error.tag, p.error.path, p.error.message) for p in found]


@pytest.mark.parametrize(
    "entry",
    [
        node_xml("ok", 3),
        "<node><name>missing-mandatory</name></node>",
        "<node><name>twice</name><memory-count>1</memory-count><memory-count>2</memory-count></node>",
        "<node><name>bad</name><memory-count>300</memory-count></node>",
        "<node><name>nested</name><memory-count>1<x/></memory-count></node>",
        "<node><name>unknown</name><memory-count>1</memory-count><colour>red</colour></node>",
        "<node><name>state</name><memory-count>1</memory-count><stats/></node>",
        "<node><name>case</name><memory-count>1</memory-count><wavelength>9</wavelength></node>",
        "<node><name>c</name><!-- a comment --><memory-count>1</memory-count></node>",
    ],
)
def test_plain_instances_are_judged_as_the_walk_judges_them(schema, monkeypatch, entry):
    xml = f'<network xmlns="{NS}">{entry}</network>'
    assert _problems(schema, xml, monkeypatch, True) == _problems(schema, xml, monkeypatch, False)


def test_a_plain_instance_with_a_fault_is_left_to_the_walk(schema):
    data = config(f'<network xmlns="{NS}"><node><name>a</name></node></network>')
    v = Validator(schema, data)
    node = schema.find("/en:network/en:node")
    assert not v.plain_instance(node, data[0][0], True)  # memory-count is mandatory
    data[0][0].append(etree.fromstring(f'<memory-count xmlns="{NS}">4</memory-count>'))
    assert v.plain_instance(node, data[0][0], True)


def _links(n: int, bad: int | None = None, how: str = "src") -> str:
    out = []
    for i in range(n):
        src, dst = f"n{i}", f"n{(i + 1) % n}"
        if i == bad:
            src = {"src": f"gone{i}", "empty": ""}.get(how, src)
            dst = f"gone{i}" if how == "dst" else dst
        out.append(link_xml(src, dst))
    return "".join(out)


@pytest.mark.parametrize("how", ["src", "dst", "empty"])
def test_a_dangling_reference_among_many_written_ones_is_found(manager, how):
    n = 2 * leafrefs.BATCH
    nodes = "".join(node_xml(f"n{i}") for i in range(n))
    manager.edit_config("running", net(nodes), session_id=1)
    before = etree.tostring(manager.get_config("running"))
    with pytest.raises(RpcError) as err:
        manager.edit_config("running", net(_links(n, n - 2, how)), session_id=1, adopt=True)
    assert err.value.tag == ErrorTag.DATA_MISSING
    src = {"src": f"gone{n - 2}", "dst": f"n{n - 2}", "empty": ""}[how]
    leaf = "dst" if how == "dst" else "src"
    assert f"/en:link[en:src='{src}']" in err.value.path
    assert err.value.path.endswith(f"/en:{leaf}"), err.value.path
    assert etree.tostring(manager.get_config("running")) == before


def test_an_empty_reference_to_an_empty_name_is_accepted_in_a_batch(manager):
    n = 2 * leafrefs.BATCH
    nodes = "".join(node_xml(f"n{i}") for i in range(n)) + node_xml("")
    manager.edit_config("running", net(nodes), session_id=1)
    manager.edit_config("running", net(_links(n, 3, "empty")), session_id=1, adopt=True)
    assert len(manager.get_config("running")[0].findall(f"{{{NS}}}link")) == n


def test_many_links_are_checked_in_batches(manager, monkeypatch):
    n = 2 * leafrefs.BATCH
    nodes = "".join(node_xml(f"n{i}") for i in range(n))
    manager.edit_config("running", net(nodes), session_id=1)
    seen: list[int] = []
    original = leafrefs._batch_ok

    def spy(schema, batch, values):
        seen.append(len(batch.entries))
        return original(schema, batch, values)

    monkeypatch.setattr(leafrefs, "_batch_ok", spy)
    manager.edit_config("running", net(_links(n)), session_id=1, adopt=True)
    assert seen == [n, n]  # src and dst: one pass each over the links


@pytest.mark.parametrize("what", ["value", "leafref"])
def test_a_bad_entry_at_the_end_of_a_20000_entry_create_changes_nothing(manager, what):
    manager.edit_config("running", net(node_xml("first")), session_id=1)  # entries apart
    if what == "value":
        body = "".join(node_xml(f"n{i:05d}", 99 if i == BIG - 1 else 1) for i in range(BIG))
        bad = f"en:node[en:name='n{BIG - 1:05d}']/en:memory-count"
        tag = ErrorTag.INVALID_VALUE
    else:
        nodes = "".join(node_xml(f"n{i:05d}") for i in range(BIG))
        manager.edit_config("running", net(nodes), session_id=1, adopt=True)
        body = "".join(
            link_xml(f"n{i:05d}", "nowhere" if i == BIG - 1 else f"n{i:05d}") for i in range(BIG)
        )
        bad = f"en:link[en:src='n{BIG - 1:05d}'][en:dst='nowhere']/en:dst"
        tag = ErrorTag.DATA_MISSING
    before = etree.tostring(manager.get_config("running"))
    with pytest.raises(RpcError) as err:
        manager.edit_config("running", net(body), session_id=1, adopt=True)
    assert err.value.tag == tag
    assert err.value.path.endswith(bad), err.value.path
    assert etree.tostring(manager.get_config("running")) == before


def test_many_fresh_entries_are_checked_together(manager, monkeypatch):
    verdicts: list[bool] = []
    original = SiblingChecks.fresh_entries

    def spy(self, node, parent, typed):
        verdicts.append(original(self, node, parent, typed))
        return verdicts[-1]

    monkeypatch.setattr(SiblingChecks, "fresh_entries", spy)
    manager.edit_config("running", net(node_xml("first")), session_id=1)
    body = "".join(node_xml(f"n{i}", 1 + i) for i in range(2 * BATCH))
    manager.edit_config("running", net(body), session_id=1, adopt=True)
    assert verdicts == [True]  # one judgement for them all
    assert len(manager.get_config("running")[0]) == 2 * BATCH + 1


@pytest.mark.parametrize(
    ("entry", "tag", "message"),
    [
        ("<name>x</name>", ErrorTag.MISSING_ELEMENT, "mandatory memory-count"),
        ("<name>x</name><memory-count></memory-count>", ErrorTag.INVALID_VALUE, "''"),
        ("<name>x</name><memory-count>300</memory-count>", ErrorTag.INVALID_VALUE, "300"),
        ("<name>x</name><memory-count>1</memory-count><fidelity>2</fidelity>",
         ErrorTag.INVALID_VALUE, "fidelity"),
    ],
)  # fmt: skip
def test_a_bad_fresh_entry_among_many_is_refused_with_its_path(manager, entry, tag, message):
    manager.edit_config("running", net(node_xml("first")), session_id=1)
    before = etree.tostring(manager.get_config("running"))
    body = [node_xml(f"n{i}", 1) for i in range(2 * BATCH)]
    body[-3] = f"<node>{entry}</node>"
    with pytest.raises(RpcError) as err:
        manager.edit_config("running", net("".join(body)), session_id=1, adopt=True)
    assert err.value.tag == tag
    assert "en:node[en:name='x']" in err.value.path
    assert message in err.value.message
    assert etree.tostring(manager.get_config("running")) == before


def test_strings_checked_together_get_the_verdicts_of_each_checked_alone():
    """``restrictions.set_checker`` (a bulk edit's values of one leaf at once) agrees
    with ``checker`` value by value, on every string type of the project's modules."""
    together = 0
    for _schema, node in _string_leaves():
        spec = node.type.spec
        check_all = restrictions.set_checker(spec)
        if check_all is None:
            continue
        together += 1
        alone = restrictions.checker(spec)
        for text in SAMPLES:
            assert check_all([text]) == (alone(text) is None), (node.type.text, text)
        good = [t for t in SAMPLES if alone(t) is None]
        assert check_all(good) and (len(good) == len(SAMPLES) or not check_all(SAMPLES))
    assert together >= 4
