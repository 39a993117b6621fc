"""The recall playground and the timeline look back: their "As of" field is sent as ``as_of``,
so only the turns stored by then are recalled, put in the prompt context, or listed."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import httpx
from selenium.webdriver.common.by import By

from tests.browser.memory import AGENT, new_tenant, remember
from tests.browser.page import Inspector

# The browser's own time zone decides what a datetime-local field means: written in it.
LOCAL_TIME = """
const d = new Date(arguments[0]), two = (n) => String(n).padStart(2, "0");
return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}`
  + `T${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
"""


def test_as_of_recalls_and_lists_only_what_was_stored_by_then(
    inspector: Inspector, admin: httpx.Client, served: str
) -> None:
    tenant = new_tenant(admin, "as-of")
    said = [
        "Our sailing boat is called Seagull.",
        "We sold the sailing boat; the new one is called Petrel.",
    ]
    with tenant.client(served) as api:
        first = remember(api, [{"agent_id": AGENT, "user_id": "ana", "role": "user",
                                "content": said[0]}])  # fmt: skip
        time.sleep(2.1)  # the field has a precision of one second
        remember(api, [{"agent_id": AGENT, "user_id": "ana", "role": "user", "content": said[1]}])
    # The first whole second after the first turn was stored: before the second one.
    stored = datetime.fromisoformat(first[0]["created_at"])
    moment = stored.replace(microsecond=0) + timedelta(seconds=1)
    local = inspector.driver.execute_script(LOCAL_TIME, moment.isoformat())

    inspector.sign_in(tenant.key)
    inspector.open_view("recall")
    form = inspector.form("Recall")
    inspector.fill("Query", "what is the boat called?", form)
    inspector.fill("Agent id", AGENT, form)
    inspector.fill("User id", "ana", form)
    inspector.fill("Recent turns", "0", form)
    inspector.press("Recall", form)
    inspector.wait_for_text("2 hits, best first")
    inspector.wait_for_text("0 recent and 2 recalled turns")

    inspector.fill("As of", local, form)
    inspector.press("Recall", form)
    inspector.wait_for_text("1 hit, best first")
    hits = inspector.driver.find_element(By.CSS_SELECTOR, '[aria-label="Hits"]')
    assert [p.text for p in hits.find_elements(By.CSS_SELECTOR, "p.content")] == [said[0]]
    # The prompt context asks /v1/context as of the same moment.
    inspector.wait_for_text("0 recent and 1 recalled turns")
    context = inspector.driver.find_element(By.CSS_SELECTOR, '[aria-label="Prompt context"]')
    assert said[1] not in context.text

    inspector.open_view("scopes")
    inspector.press_labelled("Open the timeline of ana")
    filters = inspector.form("Filter the timeline")
    inspector.wait_for_text(said[1])
    inspector.fill("As of", local, filters)
    inspector.press("Show", filters)
    inspector.wait(lambda: said[1] not in inspector.main_text(), "the later turn still shows")
    assert said[0] in inspector.main_text()
