"""The recall playground's minimum score: sent as ``min_score``, so the hits and the prompt
context leave out the turns scoring below it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from selenium.webdriver.common.by import By

from tests.browser.memory import AGENT, CONVERSATION, Remembered
from tests.browser.page import Inspector

QUERY = "what is my dog called?"
TURNS = len(CONVERSATION)  # Maria's turns
STEP = Decimal("0.05")  # the field's step: the browser refuses values between steps


def hit_contents(inspector: Inspector) -> list[str]:
    hits = inspector.driver.find_element(By.CSS_SELECTOR, '[aria-label="Hits"]')
    return [cell.text for cell in hits.find_elements(By.CSS_SELECTOR, "tbody tr p.content")]


def threshold_between(scores: list[float]) -> Decimal:
    """A value the field accepts (a multiple of its step) with hits scoring above and below."""
    for steps in range(1, 20):
        value = STEP * steps
        if any(s >= value for s in scores) and any(s < value for s in scores):
            return value
    raise AssertionError(f"no step of the field parts these scores: {scores}")


def test_a_minimum_score_leaves_out_the_hits_scoring_below_it(
    inspector: Inspector, served: str, acme: Remembered
) -> None:
    tenant = acme.tenant
    body: dict[str, Any] = {"agent_id": AGENT, "user_id": "maria", "query": QUERY, "k": TURNS}
    with tenant.client(served) as api:
        hits = api.post("/v1/recall", json=body).json()["hits"]
    assert len(hits) == TURNS
    threshold = threshold_between([hit["score"] for hit in hits])
    above = [hit["content"] for hit in hits if hit["score"] >= float(threshold)]

    inspector.sign_in(tenant.key)
    inspector.open_view("recall")
    form = inspector.form("Recall")
    inspector.fill("Query", QUERY, form)
    inspector.fill("Agent id", AGENT, form)
    inspector.fill("User id", "maria", form)
    inspector.fill("k", str(TURNS), form)
    inspector.fill("Recent turns", "0", form)
    inspector.fill("Recalled turns", str(TURNS), form)
    minimum = inspector.control("Minimum score", form)
    assert [minimum.get_attribute(a) for a in ("type", "min", "max", "step")] == [
        "number", "0", "1", "0.05",
    ]  # fmt: skip
    inspector.press("Recall", form)
    inspector.wait_for_text(f"{TURNS} hits, best first")
    inspector.wait_for_text(f"0 recent and {TURNS} recalled turns")

    inspector.fill("Minimum score", str(threshold), form)
    inspector.press("Recall", form)
    shown = f"{len(above)} hit{'' if len(above) == 1 else 's'}, best first"
    inspector.wait_for_text(shown)
    assert hit_contents(inspector) == above
    assert len(above) < TURNS
    # The prompt context asks /v1/context with the same minimum.
    inspector.wait_for_text(f"0 recent and {len(above)} recalled turns")

    # Empty again: no minimum, every turn back.
    inspector.fill("Minimum score", "", form)
    inspector.press("Recall", form)
    inspector.wait_for_text(f"{TURNS} hits, best first")

    # Out of range: the browser's own check stops the form, nothing is sent.
    inspector.fill("Minimum score", "1.5", form)
    inspector.press("Recall", form)
    assert not inspector.driver.execute_script("return arguments[0].checkValidity()", minimum)
    assert hit_contents(inspector) == [hit["content"] for hit in hits]
