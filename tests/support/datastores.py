"""Shared fixtures of the datastore-layer tests: the example modules and their bindings.

Fixtures ``schema``, ``bindings`` and ``manager`` are registered by tests/netconf/conftest.py.

The pyangbind classes are generated once per test session into a temporary directory,
exactly as ``scripts/`` generates ``bindings/`` for the project's own modules, so the
tests exercise real generated code rather than hand-written stand-ins.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pyangbind
import pytest
from lxml import etree

from qnms.netconf.datastore.manager import DatastoreManager
from qnms.yang.changes import ConfigChange
from qnms.yang.errors import RpcError
from qnms.yang.schema import Schema
from qnms.yang.schema_compile import compile_schema

FIXTURES = Path(__file__).parents[1] / "netconf" / "fixtures"
MODULES = [FIXTURES / "example-net.yang", FIXTURES / "example-ext.yang"]
NS = "urn:example:net"
EXT = "urn:example:ext"
TYPES = "urn:example:types"
NC = "urn:ietf:params:xml:ns:netconf:base:1.0"
YANG = "urn:ietf:params:xml:ns:yang:1"


def generate_bindings(out: Path, *modules: Path) -> Path:
    plugin = os.path.join(os.path.dirname(pyangbind.__file__), "plugin")
    cmd = [
        sys.executable, "-m", "pyang", "--plugindir", plugin, "-f", "pybind",
        "--build-rpcs", "--build-notifications", "-p", str(FIXTURES), "-o", str(out),
        *map(str, modules),
    ]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True)
    return out


def import_file(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def schema() -> Schema:
    return compile_schema(MODULES)


@pytest.fixture(scope="session")
def bindings(tmp_path_factory) -> dict[str, type]:
    out = tmp_path_factory.mktemp("bindings") / "example_bindings.py"
    mod = import_file(generate_bindings(out, *MODULES), "example_bindings")
    return {"example-net": mod.example_net, "example-ext": mod.example_ext}


@pytest.fixture
def manager(schema, bindings) -> DatastoreManager:
    return DatastoreManager(schema, bindings=bindings)


@pytest.fixture
def two_nodes(manager: DatastoreManager) -> DatastoreManager:
    """The manager with nodes a (4 memories) and b (8) in running."""
    edit(manager, net(node_xml("a") + node_xml("b", 8)))
    return manager


def config(xml: str) -> etree._Element:
    """A ``<config>`` element; ``xml`` is its content with the usual prefixes bound."""
    text = (
        f'<config xmlns="{NC}" xmlns:nc="{NC}" xmlns:en="{NS}" xmlns:ex="{EXT}" '
        f'xmlns:et="{TYPES}" xmlns:yang="{YANG}">{xml}</config>'
    )
    return etree.fromstring(text)


def net(inner: str, attrs: str = "") -> etree._Element:
    """``<config>`` holding ``<en:network>`` with ``inner`` (prefix ``en`` is the default)."""
    return config(f'<network xmlns="{NS}" {attrs}>{inner}</network>')


def node_xml(name: str, memory: int = 4, extra: str = "") -> str:
    return f"<node><name>{name}</name><memory-count>{memory}</memory-count>{extra}</node>"


def edit(manager: DatastoreManager, el: etree._Element, **kw) -> list[ConfigChange]:
    """edit-config of running as session 1 (the tests' usual caller)."""
    return manager.edit_config("running", el, session_id=1, **kw)


def running(manager: DatastoreManager) -> etree._Element:
    return manager.get_config("running")


def error_of(excinfo: pytest.ExceptionInfo[RpcError]) -> RpcError:
    return excinfo.value


def names(tree: etree._Element) -> list[str]:
    """The names of the example nodes in ``tree``, in document order."""
    return [e.findtext(f"{{{NS}}}name") for e in tree.iter(f"{{{NS}}}node")]


def refused(fn, *args, **kw) -> RpcError:
    """The rpc-error ``fn(*args, **kw)`` raises (the test fails if it raises none)."""
    with pytest.raises(RpcError) as ei:
        fn(*args, **kw)
    return ei.value


def rejected(manager: DatastoreManager, el: etree._Element, **kw) -> RpcError:
    """The rpc-error an edit of running raises (the test fails if it raises none)."""
    return refused(edit, manager, el, **kw)
