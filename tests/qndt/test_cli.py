"""``qnms qndt run``: batch emulation from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qnms.qndt.cli import main
from qnms.qndt.protocols import uninstall
from qnms.qndt.topologies import chain


def test_batch_run_prints_what_was_delivered(tmp_path: Path, capsys: Any) -> None:
    net = tmp_path / "chain.json"
    net.write_text(json.dumps(chain(3)))
    try:
        code = main(
            [
                "run",
                "--network",
                str(net),
                "--duration",
                "0.2",
                "--request",
                "alice,bob,3,0.8",
                "--json",
            ]
        )
    finally:
        uninstall()
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    (req,) = report["requests"]
    assert req["delivered"] == 3 and req["path"] == ["alice", "r1", "bob"]
    assert len(req["fidelities"]) == 3 and min(req["fidelities"]) >= 0.8
    assert req["swaps"]["r1"]["succeeded"] >= 3


def test_batch_run_text_and_errors(tmp_path: Path, capsys: Any) -> None:
    net = tmp_path / "chain.json"
    net.write_text(json.dumps(chain(2)))
    try:
        assert (
            main(
                ["run", "--network", str(net), "--duration", "0.05", "--request", "alice,bob,2,0.5"]
            )
            == 0
        )
        assert "alice -> bob via alice-bob: 2/2 pairs" in capsys.readouterr().out
        assert (
            main(
                ["run", "--network", str(net), "--duration", "0.05", "--request", "alice,zed,2,0.5"]
            )
            == 2
        )
        assert (
            main(["run", "--network", str(net), "--duration", "0.05", "--request", "alice,bob"])
            == 2
        )
    finally:
        uninstall()
