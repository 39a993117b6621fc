"""Signing in, what each credential is offered, and the page's defences: stored markup shown
as text and never run, the Content-Security-Policy enforced by the browser, no cookie."""

from __future__ import annotations

import httpx
from selenium.webdriver.common.by import By

from tests.browser.conftest import ADMIN_TOKEN
from tests.browser.memory import (
    AGENT,
    IMAGE,
    LINK,
    SCHEME,
    SCRIPT,
    Remembered,
    new_key,
    new_tenant,
    remember_markup,
)
from tests.browser.page import Inspector


def test_a_credential_decides_what_is_offered_and_lives_in_the_tab_only(
    inspector: Inspector, admin: httpx.Client
) -> None:
    tenant = new_tenant(admin)
    inspector.sign_in_refused("km_not-a-real-key")
    inspector.wait_for_text("this is neither a live API key nor the admin token (401)")

    reader = new_key(admin, tenant.id, scopes=["read"], user_id="maria")["api_key"]
    inspector.sign_in(reader)
    assert inspector.offered_views() == ["scopes", "recall", "health"]
    assert "bound to user maria" in inspector.driver.find_element(By.ID, "who").text
    assert inspector.storage() == {
        "session": {"konstruct-memory.credential": reader},
        "local": {},
        "cookie": "",
    }
    inspector.driver.refresh()  # the tab keeps it
    inspector.wait(lambda: inspector.offered_views() == ["scopes", "recall", "health"], "reload")
    inspector.press("Sign out")
    inspector.wait(lambda: inspector.storage()["session"] == {}, "still stored")
    # Signed out, nothing of the credential stays on screen (its views, its name).
    assert not inspector.driver.find_element(By.ID, "nav").is_displayed()
    assert not inspector.driver.find_element(By.ID, "who").is_displayed()

    writer = new_key(admin, tenant.id, scopes=["write"])["api_key"]
    inspector.sign_in(writer)
    assert inspector.offered_views() == ["health"]
    inspector.press("Sign out")

    # A key revoked while it is signed in: its next call signs the tab out, saying why.
    revoked = new_key(admin, tenant.id, scopes=["read"])
    inspector.sign_in(revoked["api_key"])
    assert admin.delete(f"/v1/api-keys/{revoked['id']}").status_code == 204
    inspector.press("List")
    inspector.wait_for_text("Signed out: missing, unknown or revoked API key (401)")
    assert inspector.storage()["session"] == {}
    inspector.sign_in(ADMIN_TOKEN)
    assert inspector.offered_views() == ["admin", "health"]


def test_stored_markup_shows_as_text_everywhere_and_runs_nothing(
    inspector: Inspector, served: str, acme: Remembered
) -> None:
    tenant = acme.tenant
    with tenant.client(served) as api:
        [markup, scheme] = remember_markup(api)
    inspector.sign_in(tenant.key)

    # The scope list and the timeline: user ids, threads, content and metadata, as typed.
    inspector.wait_for_text(IMAGE)
    inspector.press_labelled(f"Open the timeline of {IMAGE}")
    inspector.wait_for_text(f"Timeline of user {IMAGE}")

    def opened() -> bool:
        # The timeline may still be filling in (its older pages): open what is closed, again.
        for details in inspector.driver.find_elements(By.CSS_SELECTOR, "ol.timeline details"):
            if details.get_attribute("open") is None:
                details.click()
        return '"href": "javascript:' in inspector.main_text()

    inspector.wait(opened, "the timeline's metadata opened")
    text = inspector.main_text()
    assert f"{SCRIPT} {IMAGE} {LINK}" in text
    assert SCHEME in text and LINK in text
    assert '"href": "javascript:' in text
    inspector.press_labelled(f"Show the stored record of turn {scheme['id']}")
    inspector.wait_for_text(f'"id": "{scheme["id"]}"')
    assert_inert(inspector)

    # Recall and the prompt context over the same turns.
    inspector.open_view("recall")
    form = inspector.form("Recall")
    inspector.fill("Query", "open me window script", form)
    inspector.fill("Agent id", AGENT, form)
    inspector.fill("User id", IMAGE, form)
    inspector.press("Recall", form)
    inspector.wait_for_text("2 hits, best first")
    inspector.wait(lambda: inspector.count("pre.context-text") == 1, "no prompt context")
    assert SCRIPT in inspector.main_text() and IMAGE in inspector.main_text()
    assert_inert(inspector)

    # Even a script of the page's own could not write HTML: Trusted Types, from the policy.
    sink = inspector.driver.execute_script(
        "try { document.getElementById('main').innerHTML = arguments[0]; return 'written'; }"
        " catch (error) { return error.name; }",
        IMAGE,
    )
    assert sink == "TypeError"
    assert_inert(inspector)
    refused = [
        entry["message"]
        for entry in inspector.driver.get_log("browser")
        if "Content Security Policy" in entry["message"] or "TrustedHTML" in entry["message"]
    ]
    assert refused, "the browser reported no refusal of the innerHTML write"
    assert markup["content"] == f"{SCRIPT} {IMAGE} {LINK}"


def assert_inert(inspector: Inspector) -> None:
    """No element came from stored content: no image, link, frame or extra script."""
    inspector.assert_no_script_ran()
    for tag in ("img", "a", "iframe", "object", "embed"):
        assert inspector.count(f"#main {tag}") == 0, tag
    scripts = inspector.driver.find_elements(By.TAG_NAME, "script")
    assert [s.get_attribute("src") for s in scripts] == [inspector.base + "/inspector/js/app.js"]


def test_the_page_is_served_with_a_strict_policy(served: str) -> None:
    page = httpx.get(f"{served}/inspector/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    policy = page.headers["content-security-policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
        "require-trusted-types-for 'script'",
    ):
        assert directive in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY"
    assert "set-cookie" not in page.headers
    script = httpx.get(f"{served}/inspector/js/app.js")
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert script.headers["content-security-policy"] == policy
    moved = httpx.get(f"{served}/inspector")
    assert (moved.status_code, moved.headers["location"]) == (308, "/inspector/")
    for path in ("js/nothing.js", "../pyproject.toml", "%2e%2e/%2e%2e/pyproject.toml", "js"):
        assert httpx.get(f"{served}/inspector/{path}").status_code == 404, path
