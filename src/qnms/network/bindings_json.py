"""Load RFC 7951 JSON instance data into pyangbind objects, collecting every error.

pyangbind's own decoder stops at the first bad value and does not say where it was. A
user validating a network file wants all problems at once, each with the data path of
the offending node, so this walker assigns leaf by leaf and records what the bindings
reject (types, ranges, patterns, enumerations, identities, unknown nodes, duplicate
keys) instead of raising.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One validation problem: the data path of the node and what is wrong with it."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def _children(obj: Any) -> dict[str, str]:
    """Map YANG node names to the pyangbind attribute names of a container's children."""
    return {getattr(obj, attr)._yang_name: attr for attr in obj._pyangbind_elements}


def _reason(err: Exception) -> str:
    detail = err.args[0] if err.args else err
    if isinstance(detail, dict):
        return f"does not match type {detail.get('defined-type', 'of the model')}"
    return str(detail)


def _key_predicate(keys: list[str], entry: dict[str, Any]) -> str:
    return "".join(f"[{k}='{entry.get(k)}']" for k in keys)


def load(obj: Any, data: Any, path: str, problems: list[Problem]) -> None:
    """Assign the JSON object ``data`` into the pyangbind container ``obj``."""
    if not isinstance(data, dict):
        problems.append(Problem(path, f"expected an object, found {type(data).__name__}"))
        return
    names = _children(obj)
    for member, value in data.items():
        name = member.split(":", 1)[-1]
        here = f"{path}/{member}"
        attr = names.get(name)
        if attr is None:
            problems.append(Problem(here, "unknown node: not in the model"))
            continue
        child = getattr(obj, attr)
        kind = getattr(child, "_pybind_generated_by", None)
        if kind == "container":
            if getattr(child, "_presence", False):
                child._set_present()
            load(child, value, here, problems)
        elif kind == "YANGListType":
            _load_list(child, value, here, problems)
        else:
            try:
                getattr(obj, f"_set_{attr}")(value)
            except (ValueError, TypeError, KeyError) as err:
                problems.append(Problem(here, f"invalid value {value!r}: {_reason(err)}"))


def _load_list(lst: Any, entries: Any, path: str, problems: list[Problem]) -> None:
    if not isinstance(entries, list):
        problems.append(Problem(path, "a list must be encoded as a JSON array"))
        return
    keys = lst._keyval.split(" ") if lst._keyval else []
    for entry in entries:
        if not isinstance(entry, dict):
            problems.append(Problem(path, "a list entry must be a JSON object"))
            continue
        here = path + _key_predicate(keys, entry)
        missing = [k for k in keys if k not in entry]
        if missing:
            problems.append(Problem(here, f"list entry without its key {', '.join(missing)}"))
            continue
        try:
            if len(keys) == 1:
                item = lst.add(entry[keys[0]])
            else:
                item = lst.add(**{k.replace("-", "_"): entry[k] for k in keys})
        except KeyError:
            problems.append(Problem(here, "duplicate list entry: the key is already used"))
            continue
        except (ValueError, TypeError) as err:
            problems.append(Problem(here, f"invalid key: {_reason(err)}"))
            continue
        rest = {k: v for k, v in entry.items() if k not in keys}
        load(item, rest, here, problems)
