"""Where a datastore's pyangbind classes come from: the generated ``bindings`` package.

One generated module per YANG module, named after it with underscores, holding a root
class of the same name (``scripts/generate.py`` writes them). ``binding_classes``
imports them at once; ``LazyBindingClasses`` only finds them and imports each on first
use, for agents that may never build their objects. ``bindings`` uses either mapping.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterable, Iterator, Mapping


def _python_name(module: str) -> str:
    return module.replace("-", "_").replace(".", "_")


def binding_classes(package: str, modules: Iterable[str]) -> dict[str, type]:
    """{module: class} from ``package.<module_with_underscores>.<module_with_underscores>``.

    Modules without a generated file are left out (their values get pyang's checks).
    """
    out: dict[str, type] = {}
    for name in modules:
        py = _python_name(name)
        try:
            mod = importlib.import_module(f"{package}.{py}")
        except ImportError:
            continue
        cls = getattr(mod, py, None)
        if cls is not None:
            out[name] = cls
    return out


class LazyBindingClasses(Mapping[str, type]):
    """``binding_classes`` that imports each generated module on first use.

    Which modules have a generated file is known at once (their specs are found, not
    loaded), so ``BindingValidator.unbound`` is right from the start; the import
    itself (~0.1 s and several MB per device module) waits until a datastore builds
    its objects, which a lazily bound agent may never do (issue 13: quick start).
    A generated file without its root class raises ``ImportError`` when used.
    """

    def __init__(self, package: str, modules: Iterable[str]) -> None:
        self._package = package
        self._names: dict[str, str] = {}  # module name -> Python module (and class) name
        for name in modules:
            py = _python_name(name)
            if importlib.util.find_spec(f"{package}.{py}") is not None:
                self._names[name] = py
        self._loaded: dict[str, type] = {}

    def __getitem__(self, name: str) -> type:
        cls = self._loaded.get(name)
        if cls is None:
            py = self._names[name]
            cls = getattr(importlib.import_module(f"{self._package}.{py}"), py, None)
            if cls is None:
                raise ImportError(f"{self._package}.{py} has no class {py}")
            self._loaded[name] = cls
        return cls

    def __contains__(self, name: object) -> bool:
        # Mapping's default would look the class up, importing the generated module
        # (and pyangbind) when a validator only asks which modules are bound.
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)
