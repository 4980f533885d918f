"""The figures of ``netconf_agent.py``'s comparison (one server each) and their table."""

from __future__ import annotations

from dataclasses import dataclass, field

GOAL_MS = 100.0  # the goal for the get-config of the 1,000 entries


@dataclass
class Figures:
    """One server's results; None where a step failed (``error`` says why)."""

    edit_rps: float | None = None
    get_rps: float | None = None
    load_s: float | None = None
    get_bulk_ms: float | None = None
    get_bulk_all_ms: list[float] = field(default_factory=list)
    edit_wire_us: float | None = None  # the server's own latency (``wire_latency``)
    get_wire_us: float | None = None
    wire_error: str | None = None
    error: str | None = None


def fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def report(q: Figures, c: Figures | None, entries: int, repeat: int) -> None:
    rows = [
        ("edit-config round trips/s", "q", q.edit_rps, c and c.edit_rps, ",.1f"),
        ("get-config round trips/s", "q", q.get_rps, c and c.get_rps, ",.1f"),
        (
            "  server latency on the wire, edit, us",
            "t",
            q.edit_wire_us,
            c and c.edit_wire_us,
            ",.0f",
        ),
        ("  server latency on the wire, get, us", "t", q.get_wire_us, c and c.get_wire_us, ",.0f"),
        (f"edit-config of {entries:,} entries, s", "t", q.load_s, c and c.load_s, ",.3f"),
        (
            f"get-config of {entries:,} entries, ms (median of {repeat})",
            "t",
            q.get_bulk_ms,
            c and c.get_bulk_ms,
            ",.1f",
        ),
    ]
    w = max(len(r[0]) for r in rows) + 2
    print()
    print(f"{'metric':<{w}}{'qnms':>12}{'netconfd':>12}{'ratio':>9}")
    print("-" * (w + 33))
    for label, kind, qv, cv, spec in rows:
        ratio = None
        if qv and cv:
            ratio = qv / cv if kind == "q" else cv / qv
        print(f"{label:<{w}}{fmt(qv, spec):>12}{fmt(cv, spec):>12}{fmt(ratio, '.2f'):>9}")
    print(
        "\nratio: qnms/netconfd for rates, netconfd_time/qnms_time for times; "
        ">= 1.0 means qnms is at least as fast."
    )
    if c is None or c.error:
        print(f"netconfd: NOT MEASURED: {c.error if c else 'not run'}")
    if q.error:
        print(f"qnms: incomplete: {q.error}")
    if q.wire_error:
        print(f"server latency on the wire: not measured: {q.wire_error}")
    for name, fig in (("qnms", q), ("netconfd", c)):
        if fig is not None and fig.get_bulk_all_ms:
            calls = ", ".join(f"{t:.1f}" for t in fig.get_bulk_all_ms)
            print(f"{name} get-config of {entries:,} entries, each call (ms): {calls}")
    if q.get_bulk_ms is not None:
        met = "MET" if q.get_bulk_ms < GOAL_MS else "NOT MET"
        print(
            f"goal: qnms get-config of {entries:,} entries < {GOAL_MS:.0f} ms: {met} "
            f"(median {q.get_bulk_ms:.1f} ms)"
        )
    else:
        print(f"goal: qnms get-config of {entries:,} entries < {GOAL_MS:.0f} ms: NOT MEASURED")
