"""The console (public/ui/) as the browser tests drive it: one signed-in tab kept across a module's tests,
what it shows, axe-core's verdict and the screenshots kept as artefacts."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.harness import ROOT, Gateway

ARTEFACTS = Path(__file__).with_name("artefacts")  # gitignored (its .gitignore) but for that file itself
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
PAGES = ("keys", "spend", "requests", "instances")


@dataclass
class Console:
    page: Any  # playwright.sync_api.Page
    gateway: Gateway
    alias: str
    key: str = ""  # the virtual key created through the console
    token: str = ""  # its sha256, the table row's data-token
    errors: list[str] = field(default_factory=list)  # uncaught page errors

    def open(self) -> None:
        self.page.goto(f"{self.gateway.url}/ui/")
        self.page.wait_for_selector("#signin-key:focus, #nav:not([hidden])")

    def sign_in(self, key: str | None = None) -> None:
        self.page.fill("#signin-key", key or self.gateway.key)
        self.page.press("#signin-key", "Enter")

    def go(self, name: str) -> None:
        """Through the navigation, as a user would: the page's heading takes the focus."""
        self.page.click(f"#nav a[href='#{name}']")
        self.page.wait_for_selector(f"#{name}:not([hidden])")
        self.wait_for_focus(f"{name}-title")

    def wait_for_focus(self, element_id: str) -> None:
        """Polled from here: Playwright's wait_for_function evaluates its text in the page, which the console's CSP
        (no 'unsafe-eval') refuses whenever the first check is not already true."""
        focused = eventually(lambda: self.page.evaluate("() => document.activeElement.id") == element_id,
                             timeout_s=10, every_s=0.05)
        assert focused, f"{element_id} never took the focus"

    def text(self, selector: str) -> str:
        return self.page.inner_text(selector)

    def key_row(self) -> Any:
        return self.page.locator(f"#keys-table tr[data-token='{self.token}']")

    def shot(self, name: str) -> Path:
        ARTEFACTS.mkdir(exist_ok=True)
        path = ARTEFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def axe(self) -> list[str]:
        """axe-core's WCAG 2.1 A/AA violations on what is shown now, injected from node_modules (the CSP allows no
        injected script tag; Playwright's evaluate runs through the DevTools protocol, outside the page's CSP)."""
        if not self.page.evaluate("() => 'axe' in window"):
            self.page.evaluate(AXE.read_text())
        result = self.page.evaluate("(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS)
        assert result["passes"], "axe checked nothing"
        return [f"{v['id']}: {[n['target'] for n in v['nodes']]}" for v in result["violations"]]

    def tab_order(self, limit: int) -> list[str]:
        """Ids (or tag and text) of what Tab reaches, in order, from the top of the document: its first stop, the
        skip link (a blur would not do: Chromium goes on from where the focus was)."""
        self.page.focus("a.skip")
        seen: list[str] = []
        for _ in range(limit):
            self.page.keyboard.press("Tab")
            seen.append(self.page.evaluate(
                "() => { const e = document.activeElement; return e.id || `${e.tagName} ${e.textContent.trim()}` }"))
        return seen

    def tab_to(self, condition: str, limit: int = 20) -> None:
        """Presses Tab until `condition` (a JS expression) holds."""
        for _ in range(limit):
            self.page.keyboard.press("Tab")
            if self.page.evaluate(f"() => {condition}"):
                return
        raise AssertionError(f"Tab never reached: {condition}")

    def focusables(self, section: str) -> list[str]:
        """What a keyboard user must be able to reach: the visible controls of the navigation and the page."""
        return self.page.evaluate("""(section) => [...document.querySelectorAll(
              `#nav a, #nav button, #${section} a, #${section} button, #${section} input, #${section} select,
               #${section} summary`)]
            .filter((e) => e.offsetParent !== null)
            .map((e) => e.id || `${e.tagName} ${e.textContent.trim()}`)""", section)


def eventually(check: Callable[[], Any], timeout_s: float = 15.0, every_s: float = 0.5) -> Any:
    """check()'s first truthy answer (usage is booked once a response is over: a moment after the SDK returns)."""
    deadline = time.monotonic() + timeout_s
    while True:
        answer = check()
        if answer or time.monotonic() > deadline:
            return answer
        time.sleep(every_s)


def number(text: str) -> float:
    """A figure as the console prints it ("1,234", "$0.0021") as a number."""
    return float(re.sub(r"[^0-9.]", "", text) or 0)
