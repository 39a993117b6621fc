"""What a person does with the inspector, as Selenium steps: sign in, open a view, fill a
labelled field, press a button, read what the page says, take a screenshot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

WAIT_S = 20
# Markers the injection payloads would set if any of them ever ran.
PWNED = "window.__pwned"


class Inspector:
    def __init__(self, driver: Chrome, base: str, screenshots: Path | None) -> None:
        self.driver = driver
        self.base = base
        self.screenshots = screenshots

    def wait(self, condition: Any, message: str) -> Any:
        return WebDriverWait(self.driver, WAIT_S).until(lambda _: condition(), message)

    def main_text(self) -> str:
        text: str = self.driver.find_element(By.ID, "main").text
        return text

    def wait_for_text(self, text: str) -> None:
        self.wait(lambda: text in self.main_text(), f"{text!r} never showed")

    def sign_in(self, token: str) -> None:
        self.sign_in_refused(token)
        self.wait(lambda: self.driver.find_element(By.ID, "nav").is_displayed(), "not signed in")

    def sign_in_refused(self, token: str) -> None:
        """Type the credential with the keyboard only (the field has the focus on load) and
        press Enter."""
        self.wait(
            lambda: self.driver.switch_to.active_element.get_attribute("name") == "credential",
            "the credential field does not have the focus",
        )
        field = self.driver.switch_to.active_element
        field.clear()
        field.send_keys(token, Keys.ENTER)

    def open_view(self, view: str) -> None:
        self.driver.find_element(By.CSS_SELECTOR, f'#nav button[data-view="{view}"]').click()
        self.wait(
            lambda: (
                self.driver.find_element(
                    By.CSS_SELECTOR, f'#nav button[data-view="{view}"]'
                ).get_attribute("aria-current")
                == "page"
            ),
            f"view {view} did not open",
        )

    def offered_views(self) -> list[str]:
        buttons = self.driver.find_elements(By.CSS_SELECTOR, "#nav button")
        return [str(b.get_attribute("data-view")) for b in buttons]

    def control(self, label: str, within: WebElement | None = None) -> WebElement:
        """The control a <label> with exactly this text names (the first visible one)."""
        scope = within or self.driver.find_element(By.ID, "main")

        def found() -> WebElement | None:
            for candidate in scope.find_elements(By.TAG_NAME, "label"):
                if candidate.text.strip() == label and candidate.is_displayed():
                    target = candidate.get_attribute("for")
                    if target:
                        return self.driver.find_element(By.ID, target)
                    return candidate.find_element(By.TAG_NAME, "input")
            return None

        control: WebElement = self.wait(found, f"no field labelled {label!r}")
        return control

    def fill(self, label: str, value: str, within: WebElement | None = None) -> None:
        control = self.control(label, within)
        if control.get_attribute("type") == "datetime-local":
            self.driver.execute_script("arguments[0].value = arguments[1]", control, value)
            return
        control.clear()
        control.send_keys(value)

    def tick(self, label: str, on: bool, within: WebElement | None = None) -> None:
        box = self.control(label, within)
        if box.is_selected() != on:
            box.click()

    def press(self, text: str, within: WebElement | None = None) -> None:
        """Click the visible, enabled button with exactly this text."""
        scope = within or self.driver

        def found() -> WebElement | None:
            for candidate in scope.find_elements(By.TAG_NAME, "button"):
                if (
                    candidate.text.strip() == text
                    and candidate.is_displayed()
                    and candidate.is_enabled()
                ):
                    return candidate
            return None

        button: WebElement = self.wait(found, f"no button {text!r}")
        button.click()

    def press_labelled(self, label: str) -> None:
        """Click the button whose accessible name (aria-label) is ``label``, whatever
        characters it holds."""

        def found() -> WebElement | None:
            for candidate in self.driver.find_elements(By.CSS_SELECTOR, "button[aria-label]"):
                if candidate.get_attribute("aria-label") == label and candidate.is_displayed():
                    return candidate
            return None

        button: WebElement = self.wait(found, f"no button labelled {label!r}")
        button.click()

    def form(self, name: str) -> WebElement:
        """A form by its accessible name (aria-label)."""
        element: WebElement = self.wait(
            lambda: self.driver.find_element(By.CSS_SELECTOR, f'form[aria-label="{name}"]'),
            f"no form {name!r}",
        )
        return element

    def dialog(self) -> WebElement:
        element: WebElement = self.wait(
            lambda: self.driver.find_element(By.CSS_SELECTOR, "dialog[open]"), "no dialog opened"
        )
        return element

    def count(self, css: str) -> int:
        return len(self.driver.find_elements(By.CSS_SELECTOR, css))

    def storage(self) -> dict[str, Any]:
        found: dict[str, Any] = self.driver.execute_script(
            "return {session: {...window.sessionStorage}, local: {...window.localStorage},"
            " cookie: document.cookie}"
        )
        return found

    def overflows_horizontally(self) -> bool:
        wide: bool = self.driver.execute_script(
            "return document.documentElement.scrollWidth > window.innerWidth + 1"
        )
        return wide

    def screenshot(self, name: str) -> None:
        """The whole page as ``name``.png, when screenshots are asked for."""
        if self.screenshots is None:
            return
        self.screenshots.mkdir(parents=True, exist_ok=True)
        size = self.driver.get_window_size()
        width, height = size["width"], size["height"]
        full = self.driver.execute_script("return document.documentElement.scrollHeight")
        self.driver.set_window_size(width, min(max(full + 140, height), 3000))
        try:
            self.driver.save_screenshot(str(self.screenshots / f"{name}.png"))
        finally:
            self.driver.set_window_size(width, height)

    def assert_no_script_ran(self) -> None:
        assert self.driver.execute_script(f"return {PWNED}") is None, "an injected script ran"
        try:
            alert = self.driver.switch_to.alert
        except NoAlertPresentException:
            return
        text = alert.text
        alert.dismiss()
        raise AssertionError(f"an alert opened: {text!r}")
