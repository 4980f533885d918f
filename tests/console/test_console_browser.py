"""The console in a real browser (Debian's chromium, driven by Playwright).

An operator logs in, sees the default network's topology, creates a unit from the form
and sees it become active in the table and on the map, cuts the fibre under it and sees
the link turn red and the unit re-route; an application's user does not see another
application's unit and is refused when trying to delete it; bad form input shows the
error. Each step leaves a screenshot under the test's temporary directory.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ALICE, BOB = "urn:qkd:madqci:ccips", "urn:qkd:madqci:teleport"
WAIT = 120_000  # ms: the twin runs at 0.1 simulated s per wall s on a loaded machine
RED = "rgb(211, 47, 47)"


def login(browser, system, user: tuple[str, str]):
    page = browser.new_page(viewport={"width": 1400, "height": 1500})
    page.set_default_timeout(30_000)
    page.goto(system.url)
    page.fill("#login-user", user[0])
    page.fill("#login-password", user[1])
    page.click("#login-button")
    page.wait_for_selector("#app:not([hidden])")
    page.wait_for_selector("#live[data-state='on']")
    return page


def shot(page, tmp_path: Path, name: str) -> None:
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)


def create(page, name: str, **fields: str) -> None:
    page.fill("#create-form input[name='name']", name)
    page.fill("#create-form input[name='originator']", fields.pop("originator", ALICE))
    page.fill("#create-form input[name='endpoints']", fields.pop("endpoints", BOB))
    for field, value in fields.items():
        page.fill(f"#create-form input[name='{field}']", value)
    page.click("#create-button")


def path_of(page, unit: str) -> list[str]:
    text = page.text_content(f"tr[data-unit='{unit}'] td[data-field='path']") or ""
    return text.split(" > ")


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_an_operator_sees_the_network_creates_a_unit_and_watches_it_reroute(
    browser, system, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1500})
    page.goto(system.url)
    page.wait_for_selector("#login-form")
    shot(page, tmp_path, "01-login")
    page.close()
    page = login(browser, system, system.admin)

    # the built-in network: two domains, eight nodes, quantum links, border nodes
    page.wait_for_function("document.querySelectorAll('#topology .node').length === 8")
    domains = page.eval_on_selector_all("#topology .domain", "gs => gs.map(g => g.dataset.domain)")
    assert sorted(domains) == ["madqci", "quditto"]
    borders = page.eval_on_selector_all(
        "#topology .node[data-border='true']", "gs => gs.map(g => g.dataset.node).sort()"
    )
    assert borders == ["madqci-r2", "quditto-r1"]
    assert page.locator("#topology .link[data-kind='quantum-link']").count() >= 10
    assert page.locator("#topology .node[data-role='']").count() == 0
    role = page.get_attribute("#topology .node[data-node='madqci-alice']", "data-role")
    assert role == "qnms-types:end-node"  # an RFC 7951 identityref: module-qualified
    page.click("#topology .node[data-node='madqci-alice'] circle")
    page.wait_for_selector("#panel[data-selected='node:madqci-alice']")
    assert "madqci-alice" in (page.text_content("#panel-json") or "")
    shot(page, tmp_path, "02-topology")

    # a unit from the form: active in the table, its path highlighted on the map
    create(page, "su-console", **{"target-fidelity": "0.8", "size": "10"})
    row = "tr[data-unit='su-console']"
    page.wait_for_selector(f"{row}[data-state='active']", timeout=WAIT)
    page.click(f"{row} td[data-field='name']")
    page.wait_for_selector("#topology[data-path-unit='su-console'][data-path-state='active']")
    old_path = path_of(page, "su-console")
    assert old_path[0] == "madqci-alice" and old_path[-1] == "madqci-bob"
    assert page.locator("#topology .node.on-path").count() == len(old_path)
    assert page.locator("#topology .link.on-path").count() >= len(old_path) - 1
    page.wait_for_function(
        "Number(document.querySelector('#unit-fidelity-chart').dataset.points) > 0"
    )
    shot(page, tmp_path, "03-unit-active")

    # cut the fibre under the first hop: the link turns red, the unit re-routes
    first_hop = f"#topology .link.on-path[data-source='{old_path[0]}'][data-dest='{old_path[1]}']"
    page.click(first_hop, force=True)  # a line: its box may have no width
    page.wait_for_selector("#panel-faults:not([hidden])")
    channel = page.get_attribute("#panel-faults", "data-channel")
    page.click("#fault-cut")
    page.wait_for_selector("#fault-result:has-text('sent')")
    down = f"#topology .link[data-link$='/{channel}'][data-state='down']"
    page.wait_for_selector(down, state="attached", timeout=WAIT)  # a vertical line: no width
    assert page.eval_on_selector(down, "el => getComputedStyle(el).stroke") == RED
    page.wait_for_selector("#events li[data-unit='su-console'][data-state='re-binding']",
                           timeout=WAIT)  # fmt: skip
    page.wait_for_function(
        "p => { const r = document.querySelector(\"tr[data-unit='su-console']\");"
        " return r && r.dataset.state === 'active' &&"
        " r.querySelector(\"td[data-field='path']\").textContent !== p; }",
        arg=" > ".join(old_path),
        timeout=WAIT,
    )
    new_path = path_of(page, "su-console")
    assert new_path[1] != old_path[1] or new_path[0] != old_path[0]
    assert int(page.text_content(f"{row} td[data-field='restorations']") or 0) >= 1
    shot(page, tmp_path, "04-rerouted")
    page.click("#fault-restore")
    page.wait_for_selector(f"#topology .link[data-link$='/{channel}'][data-state='up']",
                           state="attached", timeout=WAIT)  # fmt: skip

    # delete from the table: the row goes away
    page.click(f"{row} button.delete")
    page.wait_for_selector(row, state="detached", timeout=WAIT)
    page.close()


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_an_application_user_neither_sees_nor_deletes_another_applications_unit(
    browser, system, tmp_path: Path
) -> None:
    admin = login(browser, system, system.admin)
    create(admin, "su-private", size="2")
    admin.wait_for_selector("tr[data-unit='su-private']", timeout=WAIT)
    tenant = login(browser, system, system.tenant)
    tenant.wait_for_selector("#topology .node")  # the map is not secret to tenants
    assert tenant.locator("#units-table tr[data-unit='su-private']").count() == 0
    assert tenant.locator("#panel-faults").is_hidden()
    status = tenant.evaluate(
        "async () => (await fetch('/api/data/service-units/su-private')).status"
    )
    assert status == 404
    denied = tenant.evaluate(
        "async () => { const r = await fetch('/api/service-units/su-private',"
        " {method: 'DELETE'}); return [r.status, await r.json()]; }"
    )
    assert denied[0] == 400 and denied[1]["error-tag"] == "access-denied", denied
    fault = tenant.evaluate(
        "async () => (await fetch('/api/faults', {method: 'POST', headers: {'content-type':"
        " 'application/json'}, body: JSON.stringify({fault: 'channel-cut', channel: 'f-r1-r2'})"
        "})).status"
    )
    assert fault == 403
    shot(tenant, tmp_path, "05-tenant")
    # still there for its owner's operator
    assert admin.locator("tr[data-unit='su-private']").count() == 1
    admin.click("tr[data-unit='su-private'] button.delete")
    admin.wait_for_selector("tr[data-unit='su-private']", state="detached", timeout=WAIT)
    tenant.close()
    admin.close()


@pytest.mark.slow
def test_bad_form_input_shows_the_error_and_creates_nothing(browser, system, tmp_path) -> None:
    page = login(browser, system, system.admin)
    create(page, "su-bad", **{"target-fidelity": "high"})
    page.wait_for_selector("#create-error[data-field='target-fidelity']")
    assert "not a number" in (page.text_content("#create-error") or "")
    create(page, "su-bad", endpoints="urn:qkd:nowhere:x", **{"target-fidelity": ""})
    page.wait_for_selector("#create-error[data-tag='invalid-value']")
    text = page.text_content("#create-error") or ""
    assert "unknown-endpoint" in text and "urn:qkd:nowhere:x" in text
    shot(page, tmp_path, "06-bad-input")
    status = page.evaluate("async () => (await fetch('/api/data/service-units/su-bad')).status")
    assert status == 404
    page.close()
