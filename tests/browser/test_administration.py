"""Administration and erasure in the inspector: tenants and keys with the admin token, the
tenant's settings, erasures that ask first, the ledger and the read audit log, health."""

from __future__ import annotations

import httpx
from selenium.webdriver.common.by import By

from tests.browser.conftest import ADMIN_TOKEN
from tests.browser.memory import AGENT, Remembered, bearer, new_tenant
from tests.browser.page import Inspector


def open_tenant(inspector: Inspector, name: str) -> None:
    inspector.sign_in(ADMIN_TOKEN)
    assert inspector.offered_views() == ["admin", "health"]
    inspector.press_labelled(f"Manage tenant {name}")
    inspector.wait_for_text(f"Tenant {name}")


def ledger_text(inspector: Inspector) -> str:
    tables = inspector.driver.find_elements(By.CSS_SELECTOR, "table")
    ledgers = [t.text for t in tables if "Newest first (at most" in t.text]
    return ledgers[0] if ledgers else ""


def test_the_admin_creates_a_bound_key_sees_its_secret_once_and_revokes_it(
    inspector: Inspector, admin: httpx.Client, served: str
) -> None:
    tenant = new_tenant(admin)
    open_tenant(inspector, tenant.name)
    form = inspector.form("Create an API key")
    inspector.fill("Name", "support-bot", form)
    inspector.fill("Bound to user", "maria", form)
    inspector.tick("write", True, form)
    inspector.press("Create key", form)
    inspector.wait_for_text("Copy it now: it is not shown again.")
    secret = str(
        inspector.driver.find_element(By.CSS_SELECTOR, "input.secret").get_attribute("value")
    )
    assert secret.startswith("km_")
    who = httpx.get(f"{served}/v1/whoami", headers=bearer(secret))
    assert who.status_code == 200
    assert (who.json()["scopes"], who.json()["user_id"]) == (["read", "write"], "maria")
    inspector.wait_for_text("support-bot")
    listed = inspector.driver.find_element(By.CSS_SELECTOR, ".results table").text
    assert secret not in listed
    # The documentation's picture shows no usable secret, even of a throwaway database.
    inspector.driver.execute_script(
        "document.querySelector('input.secret').value = 'km_' + '•'.repeat(40)"
    )
    inspector.screenshot("administration")

    inspector.press_labelled("Revoke key support-bot")
    inspector.press("Cancel", inspector.dialog())
    assert httpx.get(f"{served}/v1/whoami", headers=bearer(secret)).status_code == 200
    inspector.press_labelled("Revoke key support-bot")
    inspector.press("Revoke", inspector.dialog())
    inspector.wait_for_text("revoked 20")
    assert httpx.get(f"{served}/v1/whoami", headers=bearer(secret)).status_code == 401

    # The API's words for a key it refuses to make.
    inspector.fill("Bound to agent", "agent-7", form)
    inspector.press("Create key", form)
    inspector.wait_for_text("agent_id:")


def test_the_admin_sets_retention_and_audit_erases_and_reads_the_logs(
    inspector: Inspector, admin: httpx.Client, served: str, acme: Remembered
) -> None:
    tenant = acme.tenant
    open_tenant(inspector, tenant.name)
    settings = inspector.form("Retention and audit")
    inspector.fill("Retention (days)", "400", settings)
    inspector.tick("Record reads in the audit log", True, settings)
    inspector.press("Save", settings)
    inspector.wait_for_text("Saved: retention 400, read audit on.")
    [row] = [t for t in admin.get("/v1/tenants").json()["tenants"] if t["id"] == tenant.id]
    assert (row["retention_days"], row["audit_reads"]) == (400, True)

    with tenant.client(served) as api:
        read = api.get("/v1/history", params={"agent_id": AGENT, "user_id": "omar"})
        assert read.status_code == 200
    audit = inspector.form("Filter the audit log")
    inspector.fill("User id", "omar", audit)
    inspector.press("Show", audit)
    inspector.wait(
        lambda: "history" in inspector.driver.find_elements(By.CSS_SELECTOR, "table")[-1].text,
        "the read is not in the audit log",
    )

    erase = inspector.form("Erase")
    inspector.fill("User id", "omar", erase)
    inspector.press("Erase…", erase)
    dialog = inspector.dialog()
    assert "Every turn of user omar." in dialog.text
    inspector.press("Erase", dialog)
    inspector.wait_for_text("Erased 2 turns")
    inspector.wait(
        lambda: " user 2 1 " in ledger_text(inspector) and "admin" in ledger_text(inspector),
        "the ledger does not show the erasure (2 turns, 1 audit row, by the admin)",
    )
    with tenant.client(served) as api:
        gone = api.get("/v1/history", params={"agent_id": AGENT, "user_id": "omar"})
        assert gone.json()["turns"] == []


def test_a_key_erases_a_turn_and_a_user_after_confirming_what_goes(
    inspector: Inspector, served: str, acme: Remembered
) -> None:
    tenant, newest = acme.tenant, acme.turns[5]
    inspector.sign_in(tenant.key)
    inspector.press_labelled("Open the timeline of maria")
    inspector.wait_for_text(newest["content"])
    first_erase = inspector.driver.find_elements(By.CSS_SELECTOR, "ol.timeline button.danger")[0]

    first_erase.click()
    dialog = inspector.dialog()
    assert newest["content"] in dialog.text and newest["id"] in dialog.text
    inspector.screenshot("erasure-confirmation")
    inspector.press("Cancel", dialog)
    with tenant.client(served) as api:
        assert api.get(f"/v1/turns/{newest['id']}").status_code == 200
        first_erase.click()
        inspector.press("Erase", inspector.dialog())
        inspector.wait_for_text("Erased 1 turn")
        assert api.get(f"/v1/turns/{newest['id']}").status_code == 404

    # The erasure view counts what will go before it goes.
    inspector.open_view("erasures")
    form = inspector.form("Erase")
    inspector.fill("Agent id", AGENT, form)
    inspector.fill("User id", "maria", form)
    inspector.press("Erase…", form)
    dialog = inspector.dialog()
    assert "5 turns will go." in dialog.text
    inspector.press("Erase", dialog)
    inspector.wait_for_text("Erased 5 turns")
    inspector.wait(lambda: "agent_user" in ledger_text(inspector), "not in the ledger")
    assert " turns " in ledger_text(inspector)  # the single turn's entry, before it
    inspector.screenshot("erasures")
    with tenant.client(served) as api:
        left = api.get("/v1/scopes").json()["scopes"]
        assert [s["user_id"] for s in left] == ["omar"]


def test_the_health_panel_shows_the_database_and_request_rates(
    inspector: Inspector, admin: httpx.Client
) -> None:
    inspector.sign_in(ADMIN_TOKEN)
    inspector.open_view("health")
    inspector.wait_for_text("The database answers.")
    inspector.wait_for_text("No read replicas configured.")
    inspector.wait_for_text("HTTP requests by outcome")
    admin.get("/v1/tenants")
    inspector.press("Refresh")
    # From the second reading on, each outcome has a rate.
    inspector.wait(lambda: "/s" in inspector.main_text(), "no rate shown")
    inspector.screenshot("health")


def test_a_first_tenant_is_created_in_the_page_and_its_key_signs_in(
    inspector: Inspector,
) -> None:
    """The README's first steps: the admin token, a tenant, then the key it shows once."""
    inspector.sign_in(ADMIN_TOKEN)
    form = inspector.form("Create a tenant")
    inspector.fill("New tenant's name", "first-steps", form)
    inspector.press("Create", form)
    inspector.wait_for_text("Tenant first-steps created.")
    secret = str(
        inspector.driver.find_element(By.CSS_SELECTOR, "input.secret").get_attribute("value")
    )
    inspector.wait_for_text("first-steps")
    inspector.press("Sign out")
    inspector.sign_in(secret)
    assert inspector.offered_views() == ["scopes", "recall", "health"]
    inspector.wait_for_text("No turns stored yet within this key's tenant and binding.")
