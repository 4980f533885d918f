"""Validation against the model before anything is applied: values, structure, references."""

from __future__ import annotations

import logging
import sys

import pytest
from lxml import etree
from support.datastores import (
    EXT,
    MODULES,
    NC,
    NS,
    config,
    edit,
    generate_bindings,
    import_file,
    net,
    node_xml,
    rejected,
)

from qnms.netconf.datastore.manager import DatastoreManager
from qnms.yang.binding_classes import binding_classes
from qnms.yang.bindings import BindingValidator
from qnms.yang.errors import ErrorTag, RpcError, RpcErrors
from qnms.yang.validation import validate_tree

Q = f"{{{NS}}}"


def node_with(extra: str, name: str = "a", memory: int = 4):
    return net(node_xml(name, memory, extra))


@pytest.fixture
def two_nodes(manager):
    edit(manager, net(node_xml("a") + node_xml("b")))
    return manager


# ----------------------------------------------------------------------- values


def test_out_of_range_value_names_value_constraint_and_path(manager):
    err = rejected(manager, net(node_xml("a", 100)))
    assert err.tag == ErrorTag.INVALID_VALUE
    assert err.path == "/en:network/en:node[en:name='a']/en:memory-count"
    assert "'100'" in err.message and "range 1..64" in err.message
    assert ("bad-element", "memory-count") in err.info


@pytest.mark.parametrize(
    ("extra", "leaf", "why"),
    [
        ("<fidelity>0.955</fidelity>", "fidelity", "fraction digits"),
        ("<fidelity>1.5</fidelity>", "fidelity", "range 0..1"),
        ("<fidelity>1e-1</fidelity>", "fidelity", "not a decimal"),
        ("<role>router</role>", "role", "end-node, repeater"),
        ("<wavelength>0x10</wavelength>", "wavelength", "not an integer"),
        ("<position><x>1</x><y>2147483648</y></position>", "y", "int32"),
    ],
)
def test_bad_values_are_invalid_value(manager, extra, leaf, why):
    err = rejected(manager, node_with(extra))
    assert err.tag == ErrorTag.INVALID_VALUE
    assert err.path.endswith(f"/en:{leaf}")
    assert why in err.message


def test_string_pattern_and_length_are_checked_by_pyangbind(manager):
    assert "pattern" in rejected(manager, net("<name>9lives</name>")).message
    assert "length" in rejected(manager, net(f"<name>{'a' * 33}</name>")).message
    edit(manager, net("<name>core-net</name>"))


def test_boolean_and_empty_values(manager):
    bad_bool = net("<options><debug>yes</debug><log-file>f</log-file></options>")
    assert rejected(manager, bad_bool).tag == ErrorTag.INVALID_VALUE
    assert rejected(manager, net("<enabled>yes</enabled>")).tag == ErrorTag.INVALID_VALUE
    edit(manager, net("<enabled/>"))
    assert manager.bindings()["example-net"].network.enabled


def test_identityref_must_derive_from_the_base(two_nodes):
    link = "<link><src>a</src><dst>b</dst><type>{}</type></link>"
    err = rejected(two_nodes, net(link.format("et:unrelated")))
    assert err.tag == ErrorTag.INVALID_VALUE
    assert err.path == "/en:network/en:link[en:src='a'][en:dst='b']/en:type"
    assert "et:fiber" in err.message
    assert rejected(two_nodes, net(link.format("nope:fiber"))).tag == ErrorTag.INVALID_VALUE
    edit(two_nodes, net(link.format("et:single-mode")))  # derived twice is fine
    entry = two_nodes.bindings()["example-net"].network.link["a b"]
    assert entry.type == "example-types:single-mode"


# ------------------------------------------------------------------- structure


def test_missing_mandatory_leaf_in_new_entry(manager):
    err = rejected(manager, net("<node><name>a</name></node>"))
    assert err.tag == ErrorTag.MISSING_ELEMENT
    assert err.path == "/en:network/en:node[en:name='a']"
    assert err.info == [("bad-element", "memory-count")]


def test_deleting_a_mandatory_leaf_is_rejected(two_nodes):
    err = rejected(
        two_nodes, net('<node><name>a</name><memory-count nc:operation="delete"/></node>')
    )
    assert err.tag == ErrorTag.MISSING_ELEMENT


def test_mandatory_leaf_of_a_presence_container_applies_only_when_present(two_nodes):
    err = rejected(two_nodes, node_with("<position><x>1</x></position>"))
    assert err.info == [("bad-element", "y")]
    assert err.path == "/en:network/en:node[en:name='a']/en:position"
    edit(two_nodes, node_with("<position><x>1</x><y>2</y></position>"))


def test_mandatory_choice_needs_one_case(manager):
    err = rejected(manager, net("<options><debug>true</debug></options>"))
    assert err.tag == ErrorTag.DATA_MISSING
    assert err.app_tag == "missing-choice"
    edit(manager, net("<options><log-host>h</log-host></options>"))


def test_max_elements(manager):
    edit(manager, net("".join(f"<policy><name>p{i}</name></policy>" for i in range(4))))
    err = rejected(manager, net("<policy><name>p9</name></policy>"))
    assert err.tag == ErrorTag.OPERATION_FAILED
    assert err.app_tag == "too-many-elements"
    assert err.path == "/en:network/en:policy[en:name='p9']"


def test_unique_statement(two_nodes):
    link = "<link><src>{}</src><dst>{}</dst><type>et:fiber</type><port>{}</port></link>"
    edit(two_nodes, net(link.format("a", "b", 1)))
    err = rejected(two_nodes, net(link.format("b", "a", 1)))
    assert err.tag == ErrorTag.OPERATION_FAILED
    assert err.app_tag == "data-not-unique"


def test_leafref_needs_an_existing_target(two_nodes):
    err = rejected(two_nodes, net("<link><src>a</src><dst>zz</dst><type>et:fiber</type></link>"))
    assert err.tag == ErrorTag.DATA_MISSING
    assert err.app_tag == "instance-required"
    assert err.path == "/en:network/en:link[en:src='a'][en:dst='zz']/en:dst"
    err = rejected(two_nodes, net("<link><src>zz</src><dst>a</dst><type>et:fiber</type></link>"))
    assert err.path.endswith("/en:src")


def test_deleting_a_referenced_node_is_rejected(two_nodes):
    edit(two_nodes, net("<link><src>a</src><dst>b</dst><type>et:fiber</type></link>"))
    err = rejected(two_nodes, net('<node nc:operation="delete"><name>b</name></node>'))
    assert err.app_tag == "instance-required"
    assert [e.findtext(Q + "name") for e in two_nodes.get_config("running").iter(Q + "node")] == [
        "a",
        "b",
    ]


def test_all_problems_are_reported_together(manager):
    with pytest.raises(RpcErrors) as ei:
        edit(manager, net(node_xml("a", 100) + "<node><name>b</name></node>"))
    assert {e.tag for e in ei.value.errors} == {ErrorTag.INVALID_VALUE, ErrorTag.MISSING_ELEMENT}


# ----------------------------------------------------- untrusted whole trees


def whole(xml: str) -> etree._Element:
    return config(xml)


@pytest.mark.parametrize(
    ("xml", "tag"),
    [
        (f'<network xmlns="{NS}">{node_xml("a")}{node_xml("a")}</network>', ErrorTag.DATA_EXISTS),
        (f'<network xmlns="{NS}"><tag>x</tag><tag>x</tag></network>', ErrorTag.DATA_EXISTS),
        (f'<network xmlns="{NS}"><name>a</name><name>b</name></network>', ErrorTag.BAD_ELEMENT),
        (
            f'<network xmlns="{NS}"><statistics><uptime>1</uptime></statistics></network>',
            ErrorTag.INVALID_VALUE,
        ),
        (f'<network xmlns="{NS}"><bogus/></network>', ErrorTag.UNKNOWN_ELEMENT),
        ('<x xmlns="urn:other"/>', ErrorTag.UNKNOWN_NAMESPACE),
        (
            f'<network xmlns="{NS}"><node><name>a</name><memory-count>1</memory-count>'
            f"<ion-species>Ca</ion-species><wavelength>1</wavelength></node></network>",
            ErrorTag.BAD_ELEMENT,
        ),
        (f'<network xmlns="{NS}"><node><memory-count>1</memory-count></node></network>',
         ErrorTag.MISSING_ELEMENT),
    ],
)  # fmt: skip
def test_copy_config_validates_the_whole_source(manager, xml, tag):
    with pytest.raises((RpcError, RpcErrors)) as ei:
        manager.copy_config("running", whole(xml), session_id=1)
    errors = ei.value.errors if isinstance(ei.value, RpcErrors) else [ei.value]
    assert tag in {e.tag for e in errors}
    assert len(manager.get_config("running")) == 0


def test_validate_tree_finds_everything_in_one_pass(schema):
    data = etree.fromstring(
        f'<data xmlns="{NC}"><network xmlns="{NS}">'
        f"<node><name>a</name><memory-count>0</memory-count><role>x</role></node>"
        f"<node><name>b</name></node></network></data>"
    )
    problems = validate_tree(schema, data)
    paths = sorted(p.error.path for p in problems)
    assert paths == [
        "/en:network/en:node[en:name='a']/en:role",
        "/en:network/en:node[en:name='b']",
    ]  # the range of memory-count is pyangbind's (or pyang's) job, see below
    deep = validate_tree(schema, data, deep_modules=frozenset({"example-net"}))
    assert "/en:network/en:node[en:name='a']/en:memory-count" in {p.error.path for p in deep}


# ----------------------------------------------------------- binding validator


def test_binding_validator_decodes_a_tree_into_pyangbind_objects(schema, bindings):
    bv = BindingValidator(schema, bindings)
    data = etree.fromstring(
        f'<data xmlns="{NC}"><network xmlns="{NS}">{node_xml("a", 3)}<tag>t</tag></network>'
        f'<settings xmlns="{EXT}"><level>-2</level></settings></data>'
    )
    roots, problems = bv.decode(data)
    assert problems == []
    assert roots["example-net"].network.node["a"].memory_count == 3
    assert list(roots["example-net"].network.tag) == ["t"]
    assert roots["example-ext"].settings.level == -2


def test_binding_validator_reports_the_exact_path(schema, bindings):
    bv = BindingValidator(schema, bindings)
    data = etree.fromstring(
        f'<data xmlns="{NC}"><settings xmlns="{EXT}"><level>9</level></settings></data>'
    )
    _roots, problems = bv.decode(data)
    assert [p.error.path for p in problems] == ["/ex:settings/ex:level"]
    assert problems[0].error.path_ns == {"ex": EXT}


def test_without_binding_classes_pyang_checks_the_values(schema):
    manager = DatastoreManager(schema)
    with pytest.raises(RpcError) as ei:
        edit(manager, net(node_xml("a", 100)))
    assert ei.value.path == "/en:network/en:node[en:name='a']/en:memory-count"
    with pytest.raises(RpcError):
        edit(manager, net("<name>9lives</name>"))
    edit(manager, net(node_xml("a", 64)))
    assert manager.bindings() == {}


def test_bindings_generated_without_an_augment_skip_its_nodes(tmp_path, schema, caplog):
    mod = import_file(generate_bindings(tmp_path / "net_only.py", MODULES[0]), "net_only")
    manager = DatastoreManager(schema, bindings={"example-net": mod.example_net})
    cfg = net(
        f'<node><name>a</name><memory-count>1</memory-count><vendor xmlns="{EXT}">v</vendor></node>'
    )
    with caplog.at_level(logging.WARNING):
        edit(manager, cfg)
    assert "vendor" in caplog.text
    assert manager.bindings()["example-net"].network.node["a"].memory_count == 1


def test_binding_classes_imports_generated_modules_by_name(tmp_path, monkeypatch):
    pkg = tmp_path / "fake_bindings"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    generate_bindings(pkg / "example_net.py", MODULES[0])
    monkeypatch.syspath_prepend(str(tmp_path))
    classes = binding_classes("fake_bindings", ["example-net", "example-ext"])
    assert list(classes) == ["example-net"]
    assert classes["example-net"].__name__ == "example_net"
    sys.modules.pop("fake_bindings.example_net", None)
    sys.modules.pop("fake_bindings", None)


# ----------------------------------------------------------------- schema index


def test_schema_index_records_what_the_datastore_needs(schema):
    node = schema.find("/en:network/en:node")
    assert (node.keyword, node.keys, node.config) == ("list", ("name",), True)
    assert schema.find("/en:network/en:node/en:stats/en:pairs").config is False  # inherited
    link = schema.find("/en:network/en:link")
    assert link.keys == ("src", "dst")
    assert link.unique == ((((NS, "port"),),),)  # one unique, one leaf, path of one step
    assert schema.find("/en:network/en:policy").user_ordered
    assert schema.find("/en:network/en:policy").max_elements == 4
    assert schema.find("/en:network/en:node/en:position").presence
    assert schema.find("/en:network/en:node/en:memory-count").mandatory
    assert schema.find("/en:network/en:admin-state").default == ("up",)
    wavelength = schema.find("/en:network/en:node/en:wavelength")  # case flattened away
    assert [case for _choice, case in wavelength.cases] == ["photonic"]
    fidelity = schema.find("/en:network/en:node/en:fidelity").type
    assert (fidelity.base, fidelity.fraction_digits) == ("decimal64", 2)
    vendor = schema.find("/en:network/en:node/ex:vendor")
    assert (vendor.ns, vendor.prefix, vendor.module) == (EXT, "ex", "example-ext")
    assert schema.rpcs[(NS, "reset")].children[(NS, "input")].keyword == "input"


def test_disabled_features_remove_their_nodes():
    from qnms.yang.schema_compile import compile_schema

    plain = DatastoreManager(MODULES)
    edit(plain, net(node_xml("a", 1, "<fancy-level>3</fancy-level>")))
    without = DatastoreManager(MODULES, features={"example-net": []})
    assert [m.features for m in without.modules if m.name == "example-net"] == [()]
    err = rejected(without, net(node_xml("a", 1, "<fancy-level>3</fancy-level>")))
    assert err.tag == ErrorTag.UNKNOWN_ELEMENT
    assert compile_schema(MODULES, features={"example-net": ["fancy"]}).find(
        "/en:network/en:node/en:fancy-level"
    )


def test_emptying_a_container_does_not_confuse_the_checks_above_it(two_nodes):
    edit(two_nodes, net("<node><name>a</name><hardware><model>m</model></hardware></node>"))
    cmd = '<node><name>a</name><hardware><model nc:operation="delete"/></hardware></node>'
    changes = edit(two_nodes, net(cmd))
    assert [c.target for c in changes] == ["/en:network/en:node[en:name='a']/en:hardware/en:model"]
    entry = two_nodes.get_config("running").find(f"{Q}network/{Q}node")
    assert entry.find(f"{Q}hardware") is None
