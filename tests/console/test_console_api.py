"""The console's HTTP API without a browser: logins, refusals, and RFC 7951 documents.

Every refusal says what was wrong (HTTP 400 naming the field, or the orchestrator's
rpc-error with its tag, app-tag and path) and changes nothing; nothing is served
without a login; the data documents are RFC 7951 JSON that libyang accepts against the
same YANG modules the northbound serves.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from support.polling import poll
from support.processes import stop_process

from qnms.yang.catalog import IETF_DIR, YANG_DIR

ALICE, BOB = "urn:qkd:madqci:ccips", "urn:qkd:madqci:teleport"
PROTECTED = [
    ("GET", "/api/me"),
    ("GET", "/api/data/service-units"),
    ("GET", "/api/data/service-units/su-any"),
    ("GET", "/api/data/networks"),
    ("GET", "/api/data/applications"),
    ("POST", "/api/service-units"),
    ("DELETE", "/api/service-units/su-any"),
    ("POST", "/api/faults"),
    ("GET", "/api/events"),
]


@contextmanager
def client(system, login: tuple[str, str] | None = None) -> Iterator[httpx.Client]:
    """An HTTP client of the console, logged in as ``login`` (user, password) if given."""
    with httpx.Client(base_url=system.url, timeout=60) as c:
        if login is not None:
            r = c.post("/api/login", json={"user": login[0], "password": login[1]})
            assert r.status_code == 200, r.text
        yield c


def test_nothing_is_served_without_a_login(system) -> None:
    with client(system) as c:
        for method, path in PROTECTED:
            r = c.request(method, path, json={})
            assert r.status_code == 401, (method, path, r.text)
            assert r.json()["error"] == "not-logged-in"
        # a forged cookie is no login either
        c.cookies.set("qnms_console", "abc.def")
        assert c.get("/api/me").status_code == 401


def test_a_login_is_the_northbounds_ssh_authentication(system) -> None:
    with client(system) as c:
        r = c.post("/api/login", json={"user": system.admin[0], "password": "wrong"})
        assert r.status_code == 401 and "refused by the northbound" in r.json()["message"]
        r = c.post("/api/login", json={"password": "x"})
        assert r.status_code == 400 and r.json()["field"] == "user"
        r = c.post("/api/login", json={"user": system.admin[0], "password": system.admin[1]})
        assert r.status_code == 200
        assert r.json() == {"user": "admin", "operator": True, "faults": True,
                            "topology": r.json()["topology"]}  # fmt: skip
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert c.post("/api/logout").status_code == 200
        assert c.get("/api/me").status_code == 401


def test_bad_form_input_names_the_field_and_creates_nothing(system) -> None:
    good = {"name": "su-api-bad", "originator": ALICE, "endpoints": BOB}
    cases = [
        ({"name": ""}, "name"),
        ({"name": "has space"}, "name"),
        ({"originator": "alice"}, "originator"),
        ({"endpoints": ""}, "endpoints"),
        ({"target-fidelity": "abc"}, "target-fidelity"),
        ({"target-fidelity": "1.5"}, "target-fidelity"),
        ({"size": "0"}, "size"),
        ({"swapping-depth-cap": "300"}, "swapping-depth-cap"),
        ({"success-probability": "-1"}, "success-probability"),
        ({"purification-allowed": "maybe"}, "purification-allowed"),
    ]
    with client(system, system.admin) as c:
        for change, field in cases:
            r = c.post("/api/service-units", json={**good, **change})
            assert r.status_code == 400, (change, r.text)
            assert r.json()["error"] == "bad-input" and r.json()["field"] == field, r.text
        assert c.get("/api/data/service-units/su-api-bad").status_code == 404


def test_an_rpc_error_comes_back_whole_as_http_400(system) -> None:
    with client(system, system.admin) as c:
        r = c.post("/api/service-units",
                   json={"name": "su-api-nowhere", "originator": ALICE,
                         "endpoints": "urn:qkd:nowhere:x"})  # fmt: skip
        assert r.status_code == 400
        err = r.json()
        assert err["error"] == "rpc-error" and err["error-tag"] == "invalid-value"
        assert err["error-app-tag"] == "unknown-endpoint"
        assert "endpoint[svc:urn='urn:qkd:nowhere:x']" in err["error-path"]
        assert "not the endpoint of any registered application" in err["error-message"]
        assert c.get("/api/data/service-units/su-api-nowhere").status_code == 404
        r = c.post("/api/faults", json={"fault": "meteor", "channel": "f-r1-r2"})
        assert r.status_code == 400 and r.json()["field"] == "fault"
        r = c.post("/api/faults", json={"fault": "channel-cut", "channel": "no-such-fibre"})
        assert r.status_code == 400 and r.json()["error"] == "unknown-channel"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_units_are_rfc_7951_json_that_libyang_accepts(system, tmp_path: Path) -> None:
    with client(system, system.admin) as c:
        r = c.post("/api/service-units",
                   json={"name": "su-api", "originator": ALICE, "endpoints": BOB, "size": "2",
                         "target-fidelity": "0.75", "time-to-live": "30",
                         "memories-per-node": "2"})  # fmt: skip
        assert r.status_code == 201, r.text
        doc = poll(lambda: c.get("/api/data/service-units/su-api").json(),
                   lambda d: d["qnms-service:service-units"]["service-unit"][0].get("state")
                   == "active", timeout=120, interval=0.5)  # fmt: skip
        r = c.get("/api/data/service-units/su-api")
        assert r.headers["content-type"].startswith("application/yang-data+json")
        unit = doc["qnms-service:service-units"]["service-unit"][0]
        assert (
            unit["state"] == "active"
            and unit["service-type"] == "qnms-types:bipartite-entanglement"
        )
        assert unit["qos"]["time-to-live"] == "30" and unit["qos"]["target-fidelity"] == "0.75"
        assert unit["qos"]["memory-constraints"]["memories-per-node"] == 2  # uint16: a number
        assert isinstance(unit["delivery"]["delivered-units"], str)  # uint64: a string
        if shutil.which("yanglint") is not None:
            path = tmp_path / "units.json"
            path.write_text(c.get("/api/data/service-units").text)
            mods = [YANG_DIR / "qnms-types.yang", YANG_DIR / "qnms-service.yang"]
            cmd = ["yanglint", "-p", str(YANG_DIR), "-p", str(IETF_DIR), "-t", "data",
                   *map(str, mods), str(path)]  # fmt: skip
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
            assert out.returncode == 0, out.stdout + out.stderr
        assert c.delete("/api/service-units/su-api").status_code == 204
        assert poll(lambda: c.get("/api/data/service-units/su-api").status_code,
                    lambda s: s == 404, timeout=30, interval=0.5) == 404  # fmt: skip


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_qnms_up_serves_the_console_and_prints_its_url(tmp_path: Path) -> None:
    """`qnms up` (the command, in its own process) starts the console beside the
    northbound, prints where, and lets an application's user from --users log in."""
    users = tmp_path / "users"
    users.write_text("clock-sync:clock-pw\n")
    cmd = [sys.executable, "-m", "qnms.app.cli", "up", "--port", "0", "--console-port", "0",
           "--state-dir", str(tmp_path / "state"), "--users", str(users)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        url = ""
        for line in proc.stdout:  # ends if the command dies
            if line.startswith("console:"):
                url = line.split()[1]
                break
        assert url.startswith("http://127.0.0.1:"), url
        with httpx.Client(base_url=url, timeout=60) as c:
            assert "qnms console" in c.get("/").text
            r = c.post("/api/login", json={"user": "clock-sync", "password": "clock-pw"})
            assert r.status_code == 200 and r.json()["operator"] is False
            r = c.post("/api/login", json={"user": "admin", "password": "admin"})
            assert r.status_code == 200 and r.json()["operator"] is True
    finally:
        stop_process(proc, timeout=30)
    assert proc.returncode == 0  # SIGTERM: the stack stopped cleanly
