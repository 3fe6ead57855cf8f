"""The real `openai` and `@anthropic-ai/sdk` npm packages in headless Chromium, calling the gateway from
another origin: CORS as browsers enforce it, stream helpers (x-stainless-helper-method) included.

Chromium is Debian's (`make install` installs it with apt, as it does redis-server); Playwright from PyPI
drives it by path and downloads nothing. The page is bundled by esbuild from node_modules, offline.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.clients.browser.conftest import CHROMIUM
from tests.harness import ROOT, Gateway

ESBUILD = ROOT / "node_modules" / ".bin" / "esbuild"
PAGE_SOURCE = Path(__file__).with_name("page.mjs")
INDEX_HTML = '<!doctype html><meta charset="utf-8"><title>sdk page</title><script src="page.js"></script>\n'

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="needs Debian's chromium (make install puts it there with apt, as root)")


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass  # the test output is the results, not an access log


@pytest.fixture(scope="module")
def page_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("page")
    subprocess.run([str(ESBUILD), str(PAGE_SOURCE), "--bundle", "--format=iife", "--platform=browser",
                    "--log-level=warning", f"--outfile={out / 'page.js'}"], check=True, cwd=ROOT)
    (out / "index.html").write_text(INDEX_HTML)
    return out


def _serve(directory: Path, port: int) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), functools.partial(_QuietHandler, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def origins(page_dir: Path, page_origin: str) -> Iterator[tuple[str, str]]:
    """The page on the origin the gateway allows, and on one it does not."""
    allowed = _serve(page_dir, urlsplit(page_origin).port or 80)
    other = _serve(page_dir, 0)
    try:
        yield page_origin, f"http://127.0.0.1:{other.server_address[1]}"
    finally:
        for server in (allowed, other):
            server.shutdown()
            server.server_close()


def run_page(chromium: object, origin: str, gateway: Gateway) -> dict[str, dict]:
    page = chromium.new_page()  # type: ignore[attr-defined]
    try:
        page.goto(f"{origin}/index.html")
        return page.evaluate("(args) => window.runAll(args)", {"gateway": gateway.url, "key": gateway.key})
    finally:
        page.close()


def test_sdks_work_from_an_allowed_origin(chromium: object, origins: tuple[str, str], local_gateway: Gateway) -> None:
    results = run_page(chromium, origins[0], local_gateway)
    values = {name: result.get("value") for name, result in results.items() if result["ok"]}
    chats = {values.get(name) for name in ("chat", "chat_stream", "chat_stream_helper", "without_v1")}
    assert chats == {"echo: browser-chat"}, results
    assert "gpt-4o-mini" in (values.get("models") or []), results
    assert values.get("messages") == values.get("messages_stream_helper") == "echo: browser-msg", results
    # Typed errors, readable cross-origin: status, the dialect's body, and the request id (exposed header).
    openai_bad, anthropic_bad = results["openai_bad_key"], results["anthropic_bad_key"]
    assert (openai_bad["status"], openai_bad["code"]) == (401, "invalid_api_key"), openai_bad
    assert (anthropic_bad["status"], anthropic_bad["type"]) == (401, "authentication_error"), anthropic_bad
    assert str(openai_bad["requestID"]).startswith("req_") and str(anthropic_bad["requestID"]).startswith("req_")


def test_other_origins_are_refused_by_the_browser(chromium: object, origins: tuple[str, str],
                                                  local_gateway: Gateway) -> None:
    results = run_page(chromium, origins[1], local_gateway)
    assert not any(result["ok"] for result in results.values()), results
    assert all(result["status"] is None for result in results.values()), results  # no readable answer at all


def test_page_bundle_uses_the_installed_sdks(page_dir: Path) -> None:
    bundle = (page_dir / "page.js").read_text()
    assert "x-stainless-helper-method" in bundle and "anthropic-dangerous-direct-browser-access" in bundle
    assert shutil.which("node")  # esbuild ran from node_modules: nothing was fetched
