"""The compiled schema cache: a hit skips pyang; anything doubtful is rebuilt, never fatal.

Each test gives ``cached_schema`` its own directory. "Compiled" is observed by
replacing pyang's compile step (``schema_compile.compile_schema``, which
``cached_schema`` looks up at call time) with one that counts or refuses.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pyang
import pytest
from lxml import etree
from support.datastores import MODULES, NC, NS

from qnms.yang import schema_cache, schema_compile
from qnms.yang.schema_cache import cache_key, cached_schema
from qnms.yang.validation import validate_tree


@pytest.fixture
def compiles(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times pyang compiled a schema (one entry per compile)."""
    calls: list[int] = []
    real = schema_compile.compile_schema

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(schema_compile, "compile_schema", counting)
    return calls


def entries(directory: Path) -> list[Path]:
    return sorted((directory / "schema").glob("*.pickle"))


def test_a_second_load_comes_from_the_cache_without_pyang(tmp_path: Path, compiles) -> None:
    first = cached_schema(MODULES, directory=tmp_path)
    assert compiles == [1] and len(entries(tmp_path)) == 1
    again = cached_schema(MODULES, directory=tmp_path)
    assert compiles == [1]  # no second compile
    assert [m.name for m in again.modules] == [m.name for m in first.modules]
    node = again.find("/en:network/en:node/en:memory-count")
    assert node.type is not None and node.type.text == "uint8 range 1..64"
    assert node.parent is again.find("/en:network/en:node")


def test_a_pattern_is_still_enforced_on_a_schema_loaded_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cached_schema(MODULES, directory=tmp_path)

    def refuse(*args, **kwargs):
        raise AssertionError("compiled although the cache holds the schema")

    monkeypatch.setattr(schema_compile, "compile_schema", refuse)
    schema = cached_schema(MODULES, directory=tmp_path)
    deep = frozenset({"example-net"})

    def problems(name: str) -> list[str]:
        data = etree.fromstring(
            f'<data xmlns="{NC}"><network xmlns="{NS}"><name>{name}</name></network></data>'
        )
        return [p.error.message for p in validate_tree(schema, data, deep_modules=deep)]

    assert problems("core-net") == []
    (bad,) = problems("9lives")  # pattern '[a-z][a-z0-9-]*'
    assert "'9lives' violates" in bad and "pattern" in bad
    (long,) = problems("a" * 33)  # length "1..32"
    assert "violates" in long and "length 1..32" in long


def test_a_changed_module_is_a_new_key_and_compiled_again(tmp_path: Path, compiles) -> None:
    mods = tmp_path / "modules"
    shutil.copytree(MODULES[0].parent, mods)
    files = [mods / m.name for m in MODULES]
    cache = tmp_path / "cache"
    before = cached_schema(files, directory=cache)
    node = "/en:network/en:node/en:memory-count"
    assert before.find(node).type.text == "uint8 range 1..64"
    text = files[0].read_text()
    files[0].write_text(text.replace('range "1..64"', 'range "1..32"'))
    after = cached_schema(files, directory=cache)
    assert compiles == [1, 1]
    assert after.find(node).type.text == "uint8 range 1..32"
    assert len(entries(cache)) == 2


def test_an_imported_module_changing_changes_the_key(tmp_path: Path) -> None:
    mods = tmp_path / "modules"
    shutil.copytree(MODULES[0].parent, mods)
    files = [mods / m.name for m in MODULES]
    key = cache_key(files)
    types = mods / "example-types.yang"  # imported, not given: found in the directory
    types.write_text(types.read_text().replace('range "0..1"', 'range "0..0.5"'))
    assert cache_key(files) != key
    assert cache_key(files, features={"example-net": []}) != cache_key(files)


def test_a_corrupt_entry_is_ignored_and_replaced(tmp_path: Path, compiles) -> None:
    cached_schema(MODULES, directory=tmp_path)
    (entry,) = entries(tmp_path)
    entry.write_bytes(entry.read_bytes()[:100])  # truncated
    schema = cached_schema(MODULES, directory=tmp_path)
    assert compiles == [1, 1]
    assert schema.find("/en:network/en:name") is not None
    assert schema_cache.read_entry(entry) is not None  # rewritten whole
    entry.write_bytes(b"not a pickle at all")
    assert cached_schema(MODULES, directory=tmp_path).find("/en:network") is not None
    assert compiles == [1, 1, 1]


def test_an_entry_holding_something_else_is_ignored(tmp_path: Path, compiles) -> None:
    cached_schema(MODULES, directory=tmp_path)
    (entry,) = entries(tmp_path)
    entry.write_bytes(b"\x80\x04\x95\x06\x00\x00\x00\x00\x00\x00\x00\x8c\x02hi\x94.")  # "hi"
    assert cached_schema(MODULES, directory=tmp_path).find("/en:network") is not None
    assert compiles == [1, 1]


def test_an_entry_others_could_have_written_is_not_unpickled(tmp_path: Path, compiles) -> None:
    cached_schema(MODULES, directory=tmp_path)
    (entry,) = entries(tmp_path)
    entry.chmod(0o666)  # group/world-writable: someone else may have put code in it
    assert schema_cache.read_entry(entry) is None
    cached_schema(MODULES, directory=tmp_path)
    assert compiles == [1, 1]


def test_an_unwritable_cache_directory_means_no_cache_not_an_error(
    tmp_path: Path, compiles
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory should be")
    schema = cached_schema(MODULES, directory=blocker / "cache")
    assert schema.find("/en:network") is not None
    cached_schema(MODULES, directory=blocker / "cache")
    assert compiles == [1, 1]
    assert list(tmp_path.iterdir()) == [blocker]  # no temporary file left behind


def test_the_cache_directory_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compiles
) -> None:
    monkeypatch.setenv("QNMS_CACHE_DIR", str(tmp_path / "q"))
    assert schema_cache.default_dir() == tmp_path / "q"
    cached_schema(MODULES)
    assert len(entries(tmp_path / "q")) == 1
    monkeypatch.setenv("QNMS_CACHE_DIR", "")  # empty: switched off
    assert schema_cache.default_dir() is None
    cached_schema(MODULES)
    assert compiles == [1, 1]
    monkeypatch.delenv("QNMS_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert schema_cache.default_dir() == tmp_path / "xdg" / "qnms"


def test_an_unreadable_file_in_the_search_path_means_no_cache_not_an_error(
    tmp_path: Path, compiles
) -> None:
    mods = tmp_path / "modules"
    shutil.copytree(MODULES[0].parent, mods)
    (mods / "stray.yang").mkdir()  # not a file: its bytes cannot be hashed
    files = [mods / m.name for m in MODULES]
    assert cached_schema(files, directory=tmp_path / "cache").find("/en:network") is not None
    assert compiles == [1]
    assert not (tmp_path / "cache").exists()


WARM_LOAD = """
import json, sys
from pathlib import Path
from qnms.yang.schema_cache import cached_schema
schema = cached_schema([Path(p) for p in sys.argv[2:]], directory=Path(sys.argv[1]))
pyang = sorted(m for m in sys.modules if m.split(".")[0] == "pyang")
print(json.dumps({"found": schema.find("/en:network") is not None, "pyang": pyang}))
"""


def test_a_load_from_the_cache_imports_no_pyang(tmp_path: Path) -> None:
    """A warm start imports no pyang at all, not even its package module for the key's
    version (a fresh interpreter: this one has imported pyang)."""
    cached_schema(MODULES, directory=tmp_path)
    cmd = [sys.executable, "-c", WARM_LOAD, str(tmp_path), *map(str, MODULES)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {"found": True, "pyang": []}
    assert len(entries(tmp_path)) == 1  # the same key: loaded, not compiled and stored again


def test_another_pyang_version_is_another_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key hashes pyang's package module (its ``__version__``) as a file."""
    assert Path(pyang.__file__) in schema_cache.PYANG
    before = cache_key(MODULES)
    other = tmp_path / "__init__.py"
    text = Path(pyang.__file__).read_text()
    other.write_text(text.replace(f"'{pyang.__version__}'", "'0.0.1'"))
    assert other.read_text() != text
    monkeypatch.setattr(schema_cache, "PYANG", [other])
    assert cache_key(MODULES) != before
