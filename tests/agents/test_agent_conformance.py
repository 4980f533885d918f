"""What a careful client checks on every agent type (issue 9, conformance).

The client knows nothing but what the agent says: it reads the yang-library, fetches
every module listed there with get-schema (RFC 6022), and has yanglint judge the
agent's whole ``<get>`` and ``<get-config>`` replies against exactly those modules.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from lxml import etree
from support.agents import CS, QFS, SS, connect

YL = "urn:ietf:params:xml:ns:yang:ietf-yang-library"
NC = "urn:ietf:params:xml:ns:netconf:base:1.0"
NCM = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"
ELEMENTS = [("qfs", "madqci-r1"), ("cs", "madqci"), ("ss", "madqci-bob")]
LISTS = {  # each agent's main list, selected by its key with XPath
    "qfs": (QFS, "/quantum-fabric/memories/memory/name"),
    "cs": (CS, "/connectivity/channels/channel/name"),
    "ss": (SS, "/service-stratum/endpoints/endpoint/urn"),
}
needs_yanglint = pytest.mark.skipif(shutil.which("yanglint") is None, reason="needs yanglint")


def fetch_schemas(m, directory: Path) -> tuple[list[Path], list[str]]:
    """Every module of the yang-library, retrieved with get-schema as a client would:
    (the implemented modules' files, yanglint ``-F module:features`` arguments)."""
    lib = m.get(filter=("subtree", f'<yang-library xmlns="{YL}"/>')).data_ele
    implemented, features = [], []
    for kind in ("module", "import-only-module"):
        for mod in lib.iterfind(f".//{{{YL}}}module-set/{{{YL}}}{kind}"):
            name, rev = mod.findtext(f"{{{YL}}}name"), mod.findtext(f"{{{YL}}}revision")
            text = m.get_schema(name, version=rev).data
            path = directory / f"{name}@{rev}.yang"
            path.write_text(text, encoding="utf-8")
            if kind == "module":
                implemented.append(path)
                feats = [f.text for f in mod.iterfind(f"{{{YL}}}feature")]
                features.append(f"{name}:{','.join(feats)}")
    return imports_first(implemented), features


def imports_first(paths: list[Path]) -> list[Path]:
    """Order modules so each comes after those it imports (yanglint compiles in order)."""
    texts = {p: p.read_text(encoding="utf-8") for p in paths}
    names = {p: p.name.split("@")[0] for p in paths}
    done: list[Path] = []

    def visit(p: Path) -> None:
        if p in done:
            return
        for other in paths:
            if other != p and re.search(rf"\bimport\s+{re.escape(names[other])}\b", texts[p]):
                visit(other)
        done.append(p)

    for p in paths:
        visit(p)
    return done


def yanglint(kind: str, directory: Path, modules: list[Path], features: list[str], data: Path):
    cmd = ["yanglint", "-p", str(directory), "-t", kind]
    for f in features:
        cmd += ["-F", f]
    cmd += [*map(str, modules), str(data)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def children_xml(data: etree._Element) -> bytes:
    """The top-level data nodes of a ``<data>`` reply, as yanglint reads instance data."""
    return b"".join(etree.tostring(c) for c in data if isinstance(c.tag, str))


@pytest.mark.interop
@needs_yanglint
@pytest.mark.parametrize(("stratum", "name"), ELEMENTS)
def test_get_is_valid_against_the_schemas_the_agent_serves(start_agent, tmp_path, stratum, name):
    agent = start_agent(stratum, name)
    with connect(agent) as m:
        modules, features = fetch_schemas(m, tmp_path)
        get = m.get().data_ele
        config = m.get_config("running").data_ele
    (tmp_path / "get.xml").write_bytes(children_xml(get))
    (tmp_path / "config.xml").write_bytes(children_xml(config))
    result = yanglint("data", tmp_path, modules, features, tmp_path / "get.xml")
    assert result.returncode == 0, result.stderr
    result = yanglint("config", tmp_path, modules, features, tmp_path / "config.xml")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("stratum", "name"), ELEMENTS)
def test_xpath_selecting_list_keys_returns_each_key_once(start_agent, stratum, name):
    ns, select = LISTS[stratum]
    key = select.rsplit("/", 1)[1]
    agent = start_agent(stratum, name)
    with connect(agent) as m:
        whole = m.get_config("running").data_ele
        data = m.get(filter=("xpath", select)).data_ele
    to_entries = "/".join(f"{{{ns}}}{step}" for step in select.strip("/").split("/")[:-1])
    entries = data.findall(to_entries)
    assert entries and len(entries) == len(whole.findall(to_entries))
    for e in entries:
        assert [etree.QName(c).localname for c in e] == [key]


@pytest.mark.parametrize(("stratum", "name"), ELEMENTS)
def test_get_declares_every_identity_prefix_it_uses(start_agent, stratum, name):
    agent = start_agent(stratum, name)
    with connect(agent) as m:
        raw = m.get().xml.encode()
    reply = etree.fromstring(raw)
    for transport in reply.iter(f"{{{NCM}}}transport", f"{{{NCM}}}format"):
        prefix = (transport.text or "").partition(":")[0]
        assert transport.nsmap.get(prefix) == NCM, etree.tostring(transport)


@pytest.mark.parametrize(("stratum", "name"), ELEMENTS)
def test_get_returns_only_data_of_advertised_modules(start_agent, stratum, name):
    agent = start_agent(stratum, name)
    with connect(agent) as m:
        data = m.get().data_ele
        lib = m.get(filter=("subtree", f'<yang-library xmlns="{YL}"/>')).data_ele
    advertised = {n.text for n in lib.iterfind(f".//{{{YL}}}module/{{{YL}}}namespace")}
    served = {etree.QName(top).namespace for top in data if isinstance(top.tag, str)}
    assert served <= advertised, served - advertised


@pytest.mark.interop
@needs_yanglint
@pytest.mark.parametrize("mode", ["report-all", "trim"])  # tagged: yanglint lacks wd:default
def test_get_with_defaults_is_valid_against_the_schemas_the_agent_serves(
    start_agent, tmp_path, mode
):
    agent = start_agent("qfs", "madqci-r1")
    with connect(agent) as m:
        modules, features = fetch_schemas(m, tmp_path)
        get = m.get(with_defaults=mode).data_ele
    (tmp_path / "get.xml").write_bytes(children_xml(get))
    result = yanglint("data", tmp_path, modules, features, tmp_path / "get.xml")
    assert result.returncode == 0, result.stderr
