"""Fixtures of the QNDT tests: engines that give SeQUeNCe's registries back afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from qnms.qndt.engine import Engine


@pytest.fixture
def make_engine() -> Iterator[Any]:
    """Build engines one after another in this process (see Engine.close)."""
    built: list[Engine] = []

    def make(network: Any, **kw: Any) -> Engine:
        engine = Engine(network, **kw)
        built.append(engine)
        return engine

    yield make
    for engine in built:
        engine.close()


def of_type(engine: Engine, kind: str) -> list[tuple[str, dict[str, Any]]]:
    """Results of one type, in emission order."""
    return [(t, m) for t, m in engine.results if m["type"] == kind]


def spy_sent(engine: Engine, seen: Callable[[Any], None]) -> None:
    """Call ``seen(msg)`` for every classical message a router of ``engine`` sends."""
    for router in engine.built.routers.values():
        original = router.send_message

        def spy(dst: str, msg: Any, *args: Any, original: Any = original) -> None:
            seen(msg)
            original(dst, msg, *args)

        router.send_message = spy
