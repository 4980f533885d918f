"""The transaction's NETCONF choreography, on recording fake sessions (no network).

The agents of today have no :confirmed-commit, so the real-agent tests only exercise
plain commits; these check the confirmed-commit and cancel-commit branches the brief
of the nccommit branch defines, and the undo of agents that had committed plainly.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ncclient.operations import RPCError

from qnms.orchestrator.edits import AgentEdit
from qnms.orchestrator.southbound import CONFIRMED_COMMIT, SouthboundError
from qnms.orchestrator.transaction import Transaction


class FakeManager:
    def __init__(self, caps: list[str], fail_on: str | None = None) -> None:
        self.server_capabilities = caps
        self.calls: list[str] = []
        self.fail_on = fail_on

    def _do(self, name: str) -> None:
        self.calls.append(name)
        if name == self.fail_on:
            raise RuntimeError(f"{name} refused")

    def lock(self, target: str) -> None:
        self._do("lock")

    def unlock(self, target: str) -> None:
        self._do("unlock")

    def discard_changes(self) -> None:
        self._do("discard-changes")

    def edit_config(self, target: str, config: str) -> None:
        self._do(f"edit-config {target}")

    def validate(self, source: str) -> None:
        self._do("validate")

    def commit(self) -> None:
        self._do("commit")

    def dispatch(self, ele: Any) -> Any:
        name = ele.tag.split("}")[1]
        if name == "commit":
            name = "commit confirmed " + ele.findtext("{*}confirm-timeout")
        self._do(name)
        ok = '<rpc-reply xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><ok/></rpc-reply>'
        return type("RPCReply", (), {"xml": ok})()  # what ncclient's dispatch returns


class FakeSouthbound:
    def __init__(self, managers: dict[str, FakeManager]) -> None:
        self.managers = managers

    def candidate_turn(self, key: str) -> asyncio.Lock:
        return asyncio.Lock()

    async def fan_out(self, keys, step, fn, *, retry=True):
        out = {}
        for k in keys:
            try:
                out[k] = fn(k, self.managers[k])
            except (RPCError, RuntimeError) as err:
                out[k] = SouthboundError(k, step, str(err))
        return out


def edits(*agents: str) -> list[AgentEdit]:
    return [AgentEdit(a, "<config/>", "<config/>") for a in agents]


BASE = ["urn:ietf:params:netconf:capability:validate:1.1"]


def test_agents_with_confirmed_commit_get_it_then_a_confirming_commit() -> None:
    a = FakeManager([*BASE, CONFIRMED_COMMIT])
    b = FakeManager(BASE)
    result = asyncio.run(Transaction(FakeSouthbound({"a": a, "b": b}), edits("a", "b"),
                                     confirm_timeout=7).run())  # fmt: skip
    assert result.ok
    assert a.calls == ["lock", "edit-config candidate", "validate",
                       "commit confirmed 7", "commit", "unlock"]  # fmt: skip
    assert b.calls == ["lock", "edit-config candidate", "validate",
                       "commit", "unlock"]  # fmt: skip


def test_a_failed_commit_cancels_confirmed_commits_and_undoes_plain_ones() -> None:
    confirmed = FakeManager([*BASE, CONFIRMED_COMMIT])
    plain = FakeManager(BASE)
    broken = FakeManager(BASE, fail_on="commit")
    sb = FakeSouthbound({"c": confirmed, "p": plain, "x": broken})
    result = asyncio.run(Transaction(sb, edits("c", "p", "x")).run())
    assert not result.ok and "x" in result.failures
    assert confirmed.calls[-3:] == ["cancel-commit", "discard-changes", "unlock"]
    assert plain.calls[-4:] == ["commit", "edit-config running", "discard-changes", "unlock"]
    assert broken.calls[-3:] == ["commit", "discard-changes", "unlock"]


def test_a_failed_lock_unlocks_the_agents_already_locked_and_edits_nothing() -> None:
    ok = FakeManager(BASE)
    busy = FakeManager(BASE, fail_on="lock")
    result = asyncio.run(Transaction(FakeSouthbound({"o": ok, "b": busy}), edits("o", "b")).run())
    assert not result.ok
    assert ok.calls == ["lock", "discard-changes", "unlock"]
    assert busy.calls == ["lock"]
