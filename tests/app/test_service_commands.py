"""`qnms request`, `status` and `watch` against a running system (`qnms.app.stack`):
plain NETCONF clients of the northbound, with errors a user can act on."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from qnms.app.background import BackgroundLoop
from qnms.app.cli import main
from qnms.app.stack import Stack, StackOptions
from qnms.network.inventory import load_network

ALICE, BOB = "urn:qkd:madqci:ccips", "urn:qkd:madqci:teleport"


@pytest.fixture(scope="module")
def login(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """The whole system on the default network; the client options that reach it."""
    options = StackOptions(network=load_network(), state_dir=tmp_path_factory.mktemp("up"))
    with BackgroundLoop() as bg:
        stack = Stack(options)
        bg.run(stack.start(), timeout=180)
        try:
            yield [
                "--port",
                str(stack.port),
                "--user",
                options.user,
                "--password",
                options.password,
            ]
        finally:
            bg.run(stack.stop(), timeout=60)


def test_request_waits_until_the_unit_is_active_and_status_lists_it(login, capsys) -> None:
    rc = main(["request", "su-cli", "--from", ALICE, "--to", BOB, "--size", "3",
               "--fidelity", "0.8", *login])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "su-cli: admitted" in out and "su-cli: active" in out
    assert main(["status", "su-cli", "--json", *login]) == 0
    (unit,) = json.loads(capsys.readouterr().out)
    assert unit["state"] == "active" and unit["delivered"] >= 3
    assert unit["path"][0] == "madqci-alice" and unit["path"][-1] == "madqci-bob"


def test_request_for_an_unknown_endpoint_names_the_field_and_changes_nothing(login, capsys) -> None:
    rc = main(["request", "su-bad", "--from", ALICE, "--to", "urn:qkd:nowhere:x", *login])
    err = capsys.readouterr().err
    assert rc == 2
    assert "unknown-endpoint" in err and "svc:endpoint[svc:urn='urn:qkd:nowhere:x']" in err
    assert main(["status", "su-bad", *login]) == 1  # nothing was created


def test_request_for_an_unreachable_fidelity_says_the_best_achievable(login, capsys) -> None:
    rc = main(["request", "su-hi", "--from", ALICE, "--to", BOB, "--fidelity", "0.999", *login])
    err = capsys.readouterr().err
    assert rc == 2 and "target-fidelity-unreachable" in err and "best achievable" in err


def test_watch_shows_a_new_units_transitions_as_they_happen(login) -> None:
    cmd = [sys.executable, "-m", "qnms.app.cli", "watch", "--timeout", "60", *login]
    watcher = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "watching service units" in watcher.stderr.readline()  # subscribed
        rc = main(["request", "su-watch", "--from", ALICE, "--to", BOB, "--size", "2", *login])
        assert rc == 0
        seen: list[str] = []
        for line in watcher.stdout:  # ends at --timeout at the latest
            seen.append(line)
            if "service-unit=su-watch/state = active" in line:  # the YANG-Push patch
                break
    finally:
        watcher.terminate()
        watcher.wait(10)
    out = "".join(seen)
    assert "su-watch: - -> requested" in out  # the RFC 8639 event stream
    assert "su-watch: establishing -> active" in out
    assert "service-unit=su-watch/state = active" in out


def test_client_commands_say_when_no_orchestrator_answers(capsys) -> None:
    assert main(["status", "--port", "1", "--password", "x"]) == 2
    assert "cannot reach the orchestrator at 127.0.0.1:1" in capsys.readouterr().err


def test_a_generated_password_is_taken_by_a_command_line_as_it_is(tmp_path: Path) -> None:
    # ``--password -x...`` is read as an option: 1 in 64 of the old passwords began so
    network = load_network()
    passwords = {StackOptions(network=network, state_dir=tmp_path).password for _ in range(2000)}
    assert len(passwords) == 2000
    assert all(p.isalnum() and len(p) >= 16 for p in passwords)
