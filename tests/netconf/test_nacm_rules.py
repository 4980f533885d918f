"""The RFC 8341 rule engine alone: parsing /nacm, the order of evaluation (3.4.4-3.4.6),
the defaults and the default-deny extensions."""

from __future__ import annotations

from lxml import etree

from qnms.netconf.protocol.nacm import NACM_NS, NacmConfig, parse_config, parse_path, path_matches

EX = "urn:example:net"


def config(rule_lists: str, extra: str = "") -> NacmConfig:
    xml = f"""<data xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><nacm xmlns="{NACM_NS}">
      {extra}<groups><group><name>ops</name><user-name>alice</user-name></group>
      <group><name>admin</name><user-name>root</user-name></group></groups>
      {rule_lists}</nacm></data>"""
    return parse_config(etree.fromstring(xml))


def rule(name: str, action: str, ops: str = "*", module: str = "*", kind: str = "") -> str:
    head = f"<rule><name>{name}</name><module-name>{module}</module-name>{kind}"
    return f"{head}<access-operations>{ops}</access-operations><action>{action}</action></rule>"


def chain(xml: str) -> list[etree._Element]:
    """The element path from the outermost element to the innermost first child."""
    el = etree.fromstring(xml)
    out = [el]
    while len(el):
        el = el[0]
        out.append(el)
    return out


def test_defaults_apply_when_no_nacm_is_configured() -> None:
    cfg = parse_config(None)
    assert cfg.enabled and cfg.read_default and not cfg.write_default and cfg.exec_default
    node = chain(f'<top xmlns="{EX}"/>')
    assert cfg.decide_data("anyone", "read", "ex", node, None)
    assert not cfg.decide_data("anyone", "update", "ex", node, None)
    assert cfg.decide_operation("anyone", "ietf-netconf", "get", deny_all=False)


def test_default_deny_extensions_apply_only_when_no_rule_matches() -> None:
    cfg = config(
        f"<rule-list><name>r</name><group>admin</group>{rule('all', 'permit')}</rule-list>"
    )
    node = chain(f'<top xmlns="{EX}"/>')
    assert not cfg.decide_data("alice", "read", "ex", node, "default-deny-all")
    assert cfg.decide_data("alice", "read", "ex", node, "default-deny-write")
    assert not cfg.decide_data("alice", "create", "ex", node, "default-deny-write")
    assert cfg.decide_data("root", "read", "ex", node, "default-deny-all")
    assert not cfg.decide_operation("alice", "ietf-netconf", "kill-session", deny_all=True)
    assert cfg.decide_operation("root", "ietf-netconf", "kill-session", deny_all=True)


def test_the_first_matching_rule_of_the_first_matching_list_wins() -> None:
    rpc = "<rpc-name>edit-config</rpc-name>"
    lists = (
        f"<rule-list><name>a</name><group>ops</group>"
        f"{rule('no-edit', 'deny', 'exec', 'ietf-netconf', rpc)}</rule-list>"
        f"<rule-list><name>b</name><group>*</group>{rule('all', 'permit', 'exec')}</rule-list>"
    )
    cfg = config(lists, "<exec-default>deny</exec-default>")
    assert not cfg.decide_operation("alice", "ietf-netconf", "edit-config", False)
    assert cfg.decide_operation("alice", "ietf-netconf", "get", False)
    assert cfg.decide_operation("bob", "ietf-netconf", "edit-config", False)  # group "*"
    assert not cfg.exec_default


def test_path_rules_cover_the_node_and_its_descendants_with_key_predicates() -> None:
    path = parse_path("/ex:top/ex:item[name='a']", {"ex": EX})
    a = chain(f'<top xmlns="{EX}"><item><name>a</name><v/></item></top>')
    b = chain(f'<top xmlns="{EX}"><item><name>b</name></item></top>')
    assert path_matches(path, a) and path_matches(path, a[:2]) and not path_matches(path, b)
    assert not path_matches(path, a[:1])  # an ancestor is not covered
    assert path_matches(parse_path("/", {}), a)


def test_notification_rules_and_disabled_nacm() -> None:
    kind = "<notification-name>tick</notification-name>"
    deny = rule("n", "deny", "read", "ex", kind)
    lists = f"<rule-list><name>a</name><group>ops</group>{deny}</rule-list>"
    cfg = config(lists, "<enable-nacm>false</enable-nacm>")
    assert cfg.decide_notification("alice", "ex", "tick", False)  # NACM disabled
    cfg.enabled = True
    assert not cfg.decide_notification("alice", "ex", "tick", False)
    assert cfg.decide_notification("alice", "ex", "tock", False)
    assert not cfg.decide_notification("bob", "ex", "tock", True)
