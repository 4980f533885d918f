"""Subtree (RFC 6241 section 6, examples of 6.4 adapted) and XPath (8.9) filtering."""

from __future__ import annotations

import pytest
from lxml import etree
from support.datastores import EXT, NC, NS, TYPES

from qnms.yang.errors import ErrorTag, RpcError
from qnms.yang.filters import subtree_filter, xpath_filter

DATA = f"""
<data xmlns="{NC}">
  <network xmlns="{NS}">
    <name>lab</name>
    <node><name>a</name><memory-count>4</memory-count><role>end-node</role></node>
    <node><name>b</name><memory-count>8</memory-count><role>repeater</role><site>roof</site></node>
    <node><name>c</name><memory-count>2</memory-count><role>repeater</role></node>
    <link><src>a</src><dst>b</dst><type xmlns:t="{TYPES}">t:fiber</type></link>
    <link><src>b</src><dst>c</dst><type xmlns:t="{TYPES}">t:free-space</type></link>
    <tag>x</tag><tag>y</tag>
  </network>
  <settings xmlns="{EXT}"><level>1</level></settings>
</data>
"""


@pytest.fixture
def data(schema):
    return etree.fromstring(DATA, etree.XMLParser(remove_blank_text=True))


def flt(inner: str) -> etree._Element:
    return etree.fromstring(f'<filter xmlns="{NC}" type="subtree">{inner}</filter>')


def sub(data, schema, inner: str) -> etree._Element:
    return subtree_filter(data, flt(inner), schema)


def shape(el) -> list:
    """Element structure as nested lists of local names (text for leaves)."""
    out = []
    for c in el:
        name = etree.QName(c).localname
        out.append((name, shape(c)) if len(c) else (name, c.text))
    return out


NET = f'<network xmlns="{NS}">{{}}</network>'


# ------------------------------------------------------------ RFC 6241 6.4 cases


def test_empty_filter_selects_nothing(data, schema):
    assert len(sub(data, schema, "")) == 0


def test_selection_node_selects_the_whole_subtree(data, schema):
    out = sub(data, schema, NET.format(""))
    assert shape(out) == shape(etree.fromstring(DATA, etree.XMLParser(remove_blank_text=True)))[:1]


def test_containment_and_selection_pick_one_leaf_of_every_entry(data, schema):
    out = sub(data, schema, NET.format("<node><name/></node>"))
    assert shape(out) == [
        ("network", [("node", [("name", n)]) for n in "abc"]),
    ]


def test_content_match_on_the_key_selects_one_whole_entry(data, schema):
    out = sub(data, schema, NET.format("<node><name>b</name></node>"))
    assert shape(out) == [
        (
            "network",
            [("node", [("name", "b"), ("memory-count", "8"), ("role", "repeater"),
                       ("site", "roof")])],
        )
    ]  # fmt: skip


def test_specific_elements_of_a_specific_entry(data, schema):
    out = sub(data, schema, NET.format("<node><name>b</name><memory-count/><fidelity/></node>"))
    assert shape(out) == [("network", [("node", [("name", "b"), ("memory-count", "8")])])]


def test_multiple_subtrees_in_one_filter(data, schema):
    inner = "<node><name>a</name><role/></node><node><name>c</name><memory-count/></node>"
    out = sub(data, schema, NET.format(inner))
    assert shape(out) == [
        (
            "network",
            [
                ("node", [("name", "a"), ("role", "end-node")]),
                ("node", [("name", "c"), ("memory-count", "2")]),
            ],
        )
    ]


def test_content_match_on_a_non_key_leaf_filters_entries(data, schema):
    out = sub(data, schema, NET.format("<node><role>repeater</role><name/></node>"))
    assert [n.findtext(f"{{{NS}}}name") for n in out.iter(f"{{{NS}}}node")] == ["b", "c"]


def test_all_sibling_content_matches_must_hold(data, schema):
    out = sub(data, schema, NET.format("<link><src>b</src><dst>c</dst></link>"))
    assert len(list(out.iter(f"{{{NS}}}link"))) == 1
    out = sub(data, schema, NET.format("<link><src>b</src><dst>a</dst></link>"))
    assert list(out.iter(f"{{{NS}}}link")) == []


def test_no_match_gives_no_output(data, schema):
    assert len(sub(data, schema, NET.format("<node><name>zz</name></node>"))) == 0


def test_partially_selected_entries_carry_their_keys(data, schema):
    out = sub(data, schema, NET.format("<node><site/></node>"))
    assert shape(out) == [("network", [("node", [("name", "b"), ("site", "roof")])])]


def test_identityref_content_match_compares_identities_not_prefixes(data, schema):
    inner = f'<link><type xmlns:x="{TYPES}">x:free-space</type></link>'
    out = sub(data, schema, NET.format(inner))
    assert [e.findtext(f"{{{NS}}}src") for e in out.iter(f"{{{NS}}}link")] == ["b"]


def test_namespace_selection(data, schema):
    assert len(sub(data, schema, '<network xmlns="urn:other"/>')) == 0
    wildcard = sub(data, schema, '<settings xmlns=""/>')
    assert shape(wildcard) == [("settings", [("level", "1")])]


def test_attribute_match_expressions():
    data = etree.fromstring(
        f'<data xmlns="{NC}"><t xmlns="urn:x"><i name="eth0"><mtu>1500</mtu></i>'
        f'<i name="eth1"><mtu>9000</mtu></i></t></data>'
    )
    out = subtree_filter(data, flt('<t xmlns="urn:x"><i name="eth1"/></t>'))
    assert [i.get("name") for i in out.iter("{urn:x}i")] == ["eth1"]


def test_filtering_does_not_modify_the_input(data, schema):
    before = etree.tostring(data)
    sub(data, schema, NET.format("<node><name>a</name></node>"))
    assert etree.tostring(data) == before


def test_identityref_values_keep_their_prefix_declaration(data, schema):
    out = sub(data, schema, NET.format("<link><type/></link>"))
    reparsed = etree.fromstring(etree.tostring(out))
    t = reparsed.find(f".//{{{NS}}}type")
    assert t.nsmap[t.text.split(":")[0]] == TYPES


# ----------------------------------------------------------------------- XPath


def xp(data, schema, select: str, nsmap=None):
    return xpath_filter(data, select, nsmap or {"en": NS, "ex": EXT}, schema)


def test_xpath_selects_an_entry_with_its_ancestors(data, schema):
    out = xp(data, schema, "/en:network/en:node[en:name='b']")
    assert shape(out) == [
        ("network", [("node", [("name", "b"), ("memory-count", "8"), ("role", "repeater"),
                               ("site", "roof")])])
    ]  # fmt: skip


def test_xpath_ancestors_come_with_their_keys_only(data, schema):
    out = xp(data, schema, "/en:network/en:node/en:role[. = 'repeater']")
    assert shape(out) == [
        (
            "network",
            [
                ("node", [("name", "b"), ("role", "repeater")]),
                ("node", [("name", "c"), ("role", "repeater")]),
            ],
        )
    ]


def test_xpath_union_across_modules(data, schema):
    out = xp(data, schema, "/en:network/en:name | /ex:settings")
    assert shape(out) == [("network", [("name", "lab")]), ("settings", [("level", "1")])]


def test_xpath_descendant_and_text_selection(data, schema):
    out = xp(data, schema, "//en:tag/text()")
    assert shape(out) == [("network", [("tag", "x"), ("tag", "y")])]


def test_xpath_selecting_an_ancestor_and_a_descendant_keeps_the_whole_ancestor(data, schema):
    out = xp(data, schema, "/en:network/en:node[en:name='a']/en:role | /en:network/en:node")
    assert len(out.findall(f"{{{NS}}}network/{{{NS}}}node")) == 3
    assert out.find(f".//{{{NS}}}node").findtext(f"{{{NS}}}memory-count") == "4"


@pytest.mark.parametrize(
    "select",
    ["/en:network/en:node[", "/nope:network", "count(//en:node)", "/en:network/en:node[@@]"],
)
def test_bad_xpath_is_invalid_value_naming_the_expression(data, schema, select):
    with pytest.raises(RpcError) as ei:
        xp(data, schema, select)
    assert ei.value.tag == ErrorTag.INVALID_VALUE
    assert select in ei.value.message


def test_xpath_without_schema_still_filters():
    data = etree.fromstring(
        f'<data xmlns="{NC}"><t xmlns="urn:x"><i><k>1</k><v>2</v></i></t></data>'
    )
    out = xpath_filter(data, "/x:t/x:i/x:v", {"x": "urn:x"})
    assert shape(out) == [("t", [("i", [("v", "2")])])]
