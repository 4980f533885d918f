"""Where the agent's CPU goes in one big edit-config, stage by stage (issue 13).

``netconf_bulk.py`` times the whole round trip through SSH; this runs the datastore of
the same agent (``madqci-r1``, QFS) in this process, without SSH, framing or client,
and prints the CPU seconds (``time.process_time``, which the other processes of a
shared machine do not inflate) of each stage of one edit-config creating ``--entries``
quantum links and of the one deleting them:

- ``apply``: the edit applied to a copy of running (``datastore.edit.apply_edit``);
- ``validate``: the checks of what changed (``yang.change_validation.validate_changes``),
  leafrefs included;
- ``install``: the new tree made durable and the listeners told (``_install``);
- ``total``: the whole ``edit_config`` call (the copy of running, write checks, ...).

Between the two, ``small``: the mean of ``SMALL`` edits of one leaf of one link while
the ``--entries`` links are in running (what every later edit pays for a big tree).

``--profile`` prints cProfile's top functions of the creating edit instead (cProfile
inflates every Python call, so use it for where, and the stages for how much).
``--base DIR`` runs the same on another checkout (e.g. a worktree of main): each
checkout in a child process of its own (its ``src`` first on the path), one after the
other in one run.

    .venv/bin/python bench/bulk_edit_stages.py [--entries 20000] [--base /tmp/x-base]
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import inspect
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # support.processes builds the agent

from netconf_agent import ELEMENT, NC, QFS, bulk_config  # noqa: E402
from netconf_bulk import PARSER, delete_config  # noqa: E402
from support.processes import _make_agent  # noqa: E402

import qnms.netconf.datastore.checking as checking  # noqa: E402
import qnms.netconf.datastore.manager as manager  # noqa: E402

STAGES = ("apply", "validate", "install", "total")
SMALL = 10


def small_edit(i: int) -> etree._Element:
    on = "true" if i % 2 else "false"
    link = f"<quantum-link><name>bench-00007</name><enabled>{on}</enabled></quantum-link>"
    return etree.fromstring(
        f'<config xmlns="{NC}"><quantum-fabric xmlns="{QFS}"><quantum-links>{link}'
        "</quantum-links></quantum-fabric></config>"
    )


def timed_stages() -> dict[str, float]:
    """Wrap the stage functions so that each call adds its CPU seconds to the result."""
    acc = dict.fromkeys(STAGES, 0.0)

    def wrap(owner, name: str, stage: str) -> None:
        fn = getattr(owner, name)

        @functools.wraps(fn)
        def timed(*args, **kwargs):
            t0 = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                acc[stage] += time.process_time() - t0

        setattr(owner, name, timed)

    wrap(manager, "apply_edit", "apply")
    wrap(checking, "validate_changes", "validate")
    wrap(manager.DatastoreManager, "_install", "install")
    wrap(manager.DatastoreManager, "edit_config", "total")
    return acc


def run(entries: int, profile: bool) -> None:
    acc = timed_stages()
    # as the NETCONF server edits: the parsed request is the edit's to consume (a base
    # checkout from before ``adopt`` copies the entries instead)
    adopt = (
        {"adopt": True}
        if "adopt" in inspect.signature(manager.DatastoreManager.edit_config).parameters
        else {}
    )
    with tempfile.TemporaryDirectory(prefix="qnms-bench-stages-") as tmp:
        ds = _make_agent(Path(tmp), "qfs", ELEMENT, None, None).datastores
        small = etree.fromstring(bulk_config(1).encode(), PARSER)
        ds.edit_config("running", small, session_id=0)  # warm-up: first-call costs
        for label, text in (("create", bulk_config(entries)), ("delete", delete_config(entries))):
            cfg = etree.fromstring(text.encode(), PARSER)
            for k in acc:
                acc[k] = 0.0
            if profile and label == "create":
                prof = cProfile.Profile()
                prof.runcall(ds.edit_config, "running", cfg, session_id=0, **adopt)
                pstats.Stats(prof).sort_stats("tottime").print_stats(25)
                continue
            ds.edit_config("running", cfg, session_id=0, **adopt)
            print(f"{label} " + " ".join(f"{k}={acc[k]:.3f}" for k in STAGES), flush=True)
            if label == "create":
                for k in acc:
                    acc[k] = 0.0
                for i in range(SMALL):
                    ds.edit_config("running", small_edit(i), session_id=0)
                print("small " + " ".join(f"{k}={acc[k] / SMALL:.4f}" for k in STAGES))


def child(src: Path | None, entries: int) -> dict[str, dict[str, float]]:
    """The figures of one checkout, from a child process (its own imports)."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src / "src")
    cmd = [sys.executable, __file__, "--entries", str(entries), "--child"]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    figures: dict[str, dict[str, float]] = {}
    for line in out.splitlines():
        label, *pairs = line.split()
        figures[label] = {k: float(v) for k, v in (p.split("=") for p in pairs)}
    return figures


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--entries", type=int, default=20000)
    p.add_argument("--base", type=Path, help="another checkout to compare side by side")
    p.add_argument("--profile", action="store_true", help="cProfile the creating edit")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child or args.profile:
        run(args.entries, args.profile)
        return
    runs = {"ours": child(None, args.entries)}
    if args.base is not None:
        runs = {"base": child(args.base.resolve(), args.entries), **runs}
    print(f"\nagent CPU s, {args.entries:,} quantum links; load {os.getloadavg()[0]:.1f}")
    print(f"{'stage':<18}" + "".join(f"{label:>10}" for label in runs) + "  base/ours")
    for op in ("create", "small", "delete"):
        for stage in STAGES:
            vals = [r[op][stage] for r in runs.values()]
            ratio = f"{vals[0] / vals[1]:>10.2f}" if len(vals) == 2 and vals[1] else ""
            print(f"{op + ' ' + stage:<18}" + "".join(f"{v:>10.4f}" for v in vals) + ratio)


if __name__ == "__main__":
    main()
