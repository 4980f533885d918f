"""A network-wide transaction over the agents of one path (seed 5.4 step 3).

All or nothing, with NETCONF's own tools (RFC 6241 8.3, 8.4, 8.6): lock the candidate
on every agent, edit it, validate it, commit, and when every agent has committed,
confirm. An agent advertising :confirmed-commit:1.1 gets
``<commit><confirmed/><confirm-timeout>N</confirm-timeout></commit>`` and then a
confirming commit, so even if the orchestrator dies in between the agent reverts by
itself; one without it gets a plain commit. On any failure every agent is put back:
a pending confirmed commit is cancelled (``cancel-commit``), an agent that already
committed plainly gets the exact undo edit, an uncommitted candidate is discarded,
and every lock is released, so no agent keeps a partial allocation. The caller then
tries the next path. Each phase runs on all agents in parallel.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

from ncclient.operations import RPCError

from qnms.orchestrator.edits import AgentEdit
from qnms.orchestrator.southbound import (
    CONFIRMED_COMMIT,
    NC,
    VALIDATE,
    Southbound,
    SouthboundError,
    rpc,
)

log = logging.getLogger(__name__)
CANCEL = f'<cancel-commit xmlns="{NC}"/>'
LOCK_ATTEMPTS, LOCK_RETRY_S = 4, 0.05  # another manager's lock is usually brief


class Phase(StrEnum):
    LOCK = "lock"
    EDIT = "edit-config"
    VALIDATE = "validate"
    COMMIT = "commit"
    CONFIRM = "confirm"
    UNLOCK = "unlock"


@dataclass
class _Progress:
    locked: bool = False
    edited: bool = False
    committed: bool = False
    pending_confirm: bool = False


@dataclass
class TransactionResult:
    """How it went: committed everywhere, or the failures and what was undone."""

    ok: bool
    failures: dict[str, str] = field(default_factory=dict)  # agent -> message
    rollback_failures: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def reason(self) -> str:
        return "; ".join(f"{k}: {v}" for k, v in self.failures.items())


PhaseHook = Callable[[Phase, list[str]], Awaitable[None]]
"""Awaited before each phase with the agents of the transaction (fault injection)."""


class Transaction:
    """Apply ``edits`` (one per agent) atomically across their agents."""

    def __init__(
        self,
        southbound: Southbound,
        edits: list[AgentEdit],
        *,
        confirm_timeout: int = 30,
        on_phase: PhaseHook | None = None,
    ) -> None:
        self.sb = southbound
        self.edits = {e.agent: e for e in edits}
        self.confirm_timeout = confirm_timeout
        self.on_phase = on_phase  # tests inject faults between phases
        self.progress = {k: _Progress() for k in self.edits}
        self._caps: dict[str, list[str]] = {}

    def dry_run(self) -> dict[str, str]:
        """The per-agent edits, without touching any agent."""
        return {k: e.apply_xml for k, e in self.edits.items()}

    def _confirmed(self, key: str) -> bool:
        return CONFIRMED_COMMIT in self._caps.get(key, ())

    async def _phase(self, phase: Phase, fn: Callable[[str, object], object]) -> dict[str, str]:
        if self.on_phase is not None:
            await self.on_phase(phase, list(self.edits))
        retry = phase == Phase.LOCK
        results = await self.sb.fan_out(self.edits, phase.value, fn, retry=retry)
        return {k: r.message for k, r in results.items() if isinstance(r, SouthboundError)}

    async def run(self) -> TransactionResult:
        """Take this orchestrator's turn on every agent (sorted, so two transactions never
        wait for each other crosswise), then run the phases. Transactions on disjoint
        agents run in parallel; overlapping ones queue here instead of failing on the
        agents' candidate locks."""
        async with contextlib.AsyncExitStack() as turns:
            for key in sorted(self.edits):
                await turns.enter_async_context(self.sb.candidate_turn(key))
            return await self._run()

    async def _run(self) -> TransactionResult:
        t0 = time.perf_counter()
        failures = await self._phase(Phase.LOCK, self._lock)
        if not failures:
            failures = await self._phase(Phase.EDIT, self._edit)
        if not failures:
            failures = await self._phase(Phase.VALIDATE, self._validate)
        if not failures:
            failures = await self._phase(Phase.COMMIT, self._commit)
        if not failures:
            failures = await self._phase(Phase.CONFIRM, self._confirm)
        if failures:
            undo = await self.rollback()
            return TransactionResult(False, failures, undo, time.perf_counter() - t0)
        await self._phase(Phase.UNLOCK, self._unlock)  # committed: unlock problems are moot
        return TransactionResult(True, seconds=time.perf_counter() - t0)

    # -- the phases, one agent each (run in the southbound pool) --------------------------

    def _lock(self, key: str, m) -> None:
        self._caps[key] = list(m.server_capabilities)
        for attempt in range(LOCK_ATTEMPTS):
            try:
                m.lock("candidate")
                break
            except RPCError:  # another manager holds it, or left it modified unlocked
                if attempt == LOCK_ATTEMPTS - 1:
                    raise
                time.sleep(LOCK_RETRY_S * (attempt + 1))
                if attempt == 0:
                    with contextlib.suppress(RPCError):
                        m.discard_changes()
        self.progress[key].locked = True

    def _edit(self, key: str, m) -> None:
        m.edit_config(target="candidate", config=self.edits[key].apply_xml)
        self.progress[key].edited = True

    def _validate(self, key: str, m) -> None:
        if VALIDATE in self._caps[key] or ":validate:1.0" in " ".join(self._caps[key]):
            m.validate(source="candidate")

    def _commit(self, key: str, m) -> None:
        if self._confirmed(key):
            timeout = f"<confirm-timeout>{self.confirm_timeout}</confirm-timeout>"
            rpc(m, f'<commit xmlns="{NC}"><confirmed/>{timeout}</commit>')
            self.progress[key].pending_confirm = True
        else:
            m.commit()
        self.progress[key].committed = True

    def _confirm(self, key: str, m) -> None:
        if self.progress[key].pending_confirm:
            m.commit()
            self.progress[key].pending_confirm = False

    def _unlock(self, key: str, m) -> None:
        if self.progress[key].locked:
            m.unlock("candidate")
            self.progress[key].locked = False

    # -- undo --------------------------------------------------------------------------

    async def rollback(self) -> dict[str, str]:
        """Put every touched agent back as it was; {agent: problem} for the ones that
        could not be (unreachable agents drop their uncommitted candidate themselves
        when the session dies, RFC 6241 7.5)."""
        touched = [k for k, p in self.progress.items() if p.locked or p.committed]

        def undo(key: str, m) -> None:
            p = self.progress[key]
            if p.pending_confirm:
                rpc(m, CANCEL)
                p.pending_confirm = p.committed = False
            elif p.committed:
                m.edit_config(target="running", config=self.edits[key].remove_xml)
                p.committed = False
            if p.locked:
                p.locked = False
                try:
                    m.discard_changes()
                    m.unlock("candidate")
                except RPCError:  # a fresh session: the old one's lock died with it
                    pass

        results = await self.sb.fan_out(touched, "rollback", undo)
        problems = {k: r.message for k, r in results.items() if isinstance(r, SouthboundError)}
        for k, msg in problems.items():
            log.error("rollback on %s failed: %s", k, msg)
        return problems


async def remove_everywhere(southbound: Southbound, edits: list[AgentEdit]) -> dict[str, str]:
    """Release: apply every undo edit on running (lock-free, idempotent); {agent: problem}."""
    by_agent = {e.agent: e for e in edits}

    def remove(key: str, m) -> None:
        m.edit_config(target="running", config=by_agent[key].remove_xml)

    results = await southbound.fan_out(by_agent, "release", remove)
    return {k: r.message for k, r in results.items() if isinstance(r, SouthboundError)}
