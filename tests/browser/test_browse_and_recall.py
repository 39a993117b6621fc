"""A tenant key in the inspector: the scope browser, the timeline, the recall playground."""

from __future__ import annotations

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.browser.conftest import PHONE
from tests.browser.memory import AGENT, Remembered
from tests.browser.page import Inspector


def contents(inspector: Inspector) -> list[str]:
    return [
        card.find_element(By.CSS_SELECTOR, ".content").text
        for card in inspector.driver.find_elements(By.CSS_SELECTOR, "ol.timeline > li")
    ]


def test_the_scope_browser_lists_pairs_and_pages_a_filtered_timeline(
    inspector: Inspector, acme: Remembered
) -> None:
    tenant, stored = acme.tenant, acme.turns
    inspector.screenshot("sign-in")
    inspector.sign_in(tenant.key)
    assert inspector.offered_views() == ["scopes", "recall", "erasures", "audit", "health"]
    inspector.wait_for_text("2 (agent, user) pairs")
    rows = [row.text for row in inspector.driver.find_elements(By.CSS_SELECTOR, "tbody tr")]
    assert any("maria" in row and " 6 " in f" {row} " for row in rows), rows
    assert any("omar" in row and " 2 " in f" {row} " for row in rows), rows
    inspector.screenshot("scopes")

    inspector.press_labelled("Open the timeline of maria")
    inspector.wait_for_text("Timeline of user maria")
    maria = [turn["content"] for turn in stored[:6]]
    inspector.wait(lambda: contents(inspector) == maria[::-1], "not newest first")
    inspector.screenshot("timeline")

    # Pages of two, newest first; "Older turns" appends the next page until there is none.
    filters = inspector.form("Filter the timeline")
    inspector.fill("Page size", "2", filters)
    inspector.press("Show", filters)
    inspector.wait(lambda: contents(inspector) == maria[:3:-1], "first page")
    inspector.press("Older turns")
    inspector.wait(lambda: contents(inspector) == maria[:1:-1], "second page")
    inspector.press("Older turns")
    inspector.wait_for_text("No older turns.")
    assert contents(inspector) == maria[::-1]

    # Roles and a date range narrow it; the thread filter lists the pair's threads.
    inspector.fill("Page size", "20", filters)
    inspector.tick("user", False, filters)
    inspector.fill("Since", "2026-03-03T00:00", filters)
    inspector.fill("Until", "2026-06-01T00:00", filters)
    inspector.press("Show", filters)
    inspector.wait(lambda: contents(inspector) == [maria[5], maria[3]], "filtered")
    thread = inspector.control("Thread", filters)
    assert [o.text for o in thread.find_elements(By.TAG_NAME, "option")] == ["all threads", "home"]
    inspector.tick("assistant", False, filters)
    inspector.press("Show", filters)
    inspector.wait_for_text("roles: choose at least one")

    # Each turn's stored record, as GET /v1/turns/{id} answers it.
    inspector.tick("user", True, filters)
    inspector.press("Show", filters)
    inspector.wait(lambda: contents(inspector) == [maria[4], maria[2]], "users only")
    inspector.press_labelled(f"Show the stored record of turn {stored[4]['id']}")
    inspector.wait_for_text(f'"id": "{stored[4]["id"]}"')
    inspector.wait_for_text('"channel": "web"')


def test_the_recall_playground_shows_score_parts_and_the_exact_context(
    inspector: Inspector, served: str, acme: Remembered
) -> None:
    tenant = acme.tenant
    with tenant.client(served) as api:
        expected = api.post(
            "/v1/context",
            json={
                "agent_id": AGENT,
                "user_id": "maria",
                "query": "what is my dog called?",
                "recent": 2,
                "k": 3,
                "max_tokens": 120,
            },
        ).json()
    inspector.sign_in(tenant.key)
    inspector.open_view("recall")
    form = inspector.form("Recall")
    inspector.fill("Query", "what is my dog called?", form)
    inspector.fill("Agent id", AGENT, form)
    inspector.fill("User id", "maria", form)
    inspector.fill("k", "3", form)
    inspector.fill("Recent turns", "2", form)
    inspector.fill("Recalled turns", "3", form)
    inspector.fill("Token budget", "120", form)
    inspector.press("Recall", form)
    inspector.wait_for_text("3 hits, best first")
    first = inspector.driver.find_element(By.CSS_SELECTOR, "tbody tr")
    assert "Biscuit" in first.text
    assert "similarity 0." in first.text and "keyword" in first.text and "vector" in first.text
    inspector.wait_for_text(f"{expected['tokens']} tokens")
    shown = inspector.driver.find_element(By.CSS_SELECTOR, "pre.context-text").text
    assert shown == expected["text"].rstrip("\n")
    inspector.screenshot("recall")

    # With no user: across every user of the agent, each hit naming its user.
    inspector.fill("User id", "", form)
    inspector.fill("Query", "where does my sister live?", form)
    inspector.press("Recall", form)
    inspector.wait_for_text("The prompt context is for one user")
    inspector.wait(lambda: "Lyon" in first_hit(inspector), "no hit about Lyon first")
    assert "omar" in first_hit(inspector)

    # The API's own words when it refuses.
    inspector.fill("Agent id", "not-a-uuid", form)
    inspector.press("Recall", form)
    inspector.wait_for_text("agent_id:")
    inspector.wait_for_text("(422)")


def first_hit(inspector: Inspector) -> str:
    rows = inspector.driver.find_elements(By.CSS_SELECTOR, "tbody tr")
    return rows[0].text if rows else ""


def test_phone_width_and_keyboard_only(inspector: Inspector, acme: Remembered) -> None:
    tenant = acme.tenant
    inspector.driver.set_window_size(*PHONE)
    inspector.sign_in(tenant.key)  # typed, then Enter
    inspector.wait_for_text("2 (agent, user) pairs")
    assert not inspector.overflows_horizontally()
    inspector.press_labelled("Open the timeline of maria")
    inspector.wait_for_text("Timeline of user maria")
    assert not inspector.overflows_horizontally()
    inspector.screenshot("phone-timeline")

    # Tab to the Recall view and through its form, Enter on each button.
    def keys(*typed: str) -> None:
        ActionChains(inspector.driver).send_keys(*typed).perform()

    def tab_to(text: str) -> None:
        for _ in range(60):
            active = inspector.driver.switch_to.active_element
            if active.tag_name == "button" and active.text.strip() == text:
                return
            keys(Keys.TAB)
        raise AssertionError(f"Tab never reached {text!r}")

    tab_to("Recall")
    keys(Keys.ENTER)
    inspector.wait(
        lambda: inspector.driver.switch_to.active_element.get_attribute("name") == "query",
        "the query field does not have the focus",
    )
    keys("what does he chew?", Keys.TAB, AGENT, Keys.TAB, "maria")
    tab_to("Recall")
    keys(Keys.ENTER)
    inspector.wait_for_text("hits, best first")
    assert "shoe" in inspector.driver.find_element(By.CSS_SELECTOR, "tbody tr").text
    for view in inspector.offered_views():
        inspector.open_view(view)
        assert not inspector.overflows_horizontally(), view
