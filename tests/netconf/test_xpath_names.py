"""Unprefixed XPath name tests match any namespace; everything else keeps its meaning."""

from __future__ import annotations

import pytest
from support.datastores import net, node_xml

from qnms.yang.filters import xpath_filter
from qnms.yang.xpath_names import any_namespace_names


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/a/b", "/*[local-name()='a']/*[local-name()='b']"),
        ("/p:a/p:b", "/p:a/p:b"),
        ("/a[c and d]", "/*[local-name()='a'][*[local-name()='c'] and *[local-name()='d']]"),
        ("/a[n='x and y']", "/*[local-name()='a'][*[local-name()='n']='x and y']"),
        ("count(/a) > 1", "count(/*[local-name()='a']) > 1"),
        ("/a/@name", "/*[local-name()='a']/@name"),
        ("/a/attribute::c", "/*[local-name()='a']/attribute::c"),
        ("/a/text()", "/*[local-name()='a']/text()"),
        ("//m[s div 2 > 3]", "//*[local-name()='m'][*[local-name()='s'] div 2 > 3]"),
        ("/a[b=$v]", "/*[local-name()='a'][*[local-name()='b']=$v]"),
    ],
)
def test_rewrites_only_unprefixed_name_tests(given, expected):
    assert any_namespace_names(given) == expected


def test_unprefixed_xpath_filter_selects_data_of_any_module(manager):
    manager.edit_config("running", net(node_xml("a") + node_xml("b")), session_id=1)
    data = manager.get_config("running")
    selected = xpath_filter(data, "/network/node[name='b']")
    names = [e.text for e in selected.iter("{urn:example:net}name")]
    assert names == ["b"]
