"""The dashboard at /ui in a real browser: Playwright driving Debian's Chromium against a
registry process. The set-up installs the ``chromium`` package when it is missing (browsers
cannot be downloaded here)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.agents import agent_body
from tests.support.processes import RegistryProcess, running_registry
from tests.support.tokens import TOKENS, bearer, token, write_tokens

pytestmark = pytest.mark.heavy
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
COLLECTION = "/api/v1/namespaces/default/agents"


def _ensure_chromium() -> None:
    if os.path.exists(CHROMIUM):
        return
    if shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(
            ["apt-get", "install", "-y", "chromium"],
            check=False,
            capture_output=True,
            timeout=600,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    if not os.path.exists(CHROMIUM):
        reason = f"{CHROMIUM} is missing and could not be installed: the dashboard is not tested"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium() -> Iterator[str]:
    _ensure_chromium()
    return CHROMIUM


class Page:
    """A browser page on the dashboard, with what it logged."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        self.urls: list[str] = []
        self.authorized: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("dialog", lambda d: self.errors.append(f"dialog: {d.message}"))
        page.on("request", self._request)

    def _request(self, request: Any) -> None:
        self.urls.append(request.url)
        if "authorization" in request.headers:
            self.authorized.append(request.url)


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium, args=ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def open_page(browser: Any, url: str) -> Page:
    page = Page(await browser.new_page(viewport={"width": 1280, "height": 900}))
    await page.page.goto(url + "/ui/")
    return page


def put(registry: RegistryProcess, name: str, body: dict[str, Any]) -> None:
    httpx.put(registry.url + f"{COLLECTION}/{name}", json=body).raise_for_status()


def register(
    registry: RegistryProcess, name: str, headers: dict[str, str] | None = None, **fields: Any
) -> None:
    body = agent_body(name, fields.pop("capabilities", ["demo.echo"]), **fields)
    with httpx.Client(base_url=registry.url, headers=headers or {}) as api:
        api.put(f"{COLLECTION}/{name}", json=body).raise_for_status()
        api.post(f"{COLLECTION}/{name}/heartbeat").raise_for_status()


async def test_the_page_follows_the_registry_live(browser: Any, tmp_path: Path) -> None:
    with running_registry("--db", ":memory:") as registry:
        # Healthy throughout (one heartbeat, a long interval): the graph ranks healthy providers
        # only, and a slow run must not see it turn unhealthy before the graph is read.
        register(
            registry, "provider", labels={"env": "prod"}, capabilities=["geo.lookup"], interval=600
        )
        page = await open_page(browser, registry.url)
        await page.page.wait_for_selector('tr[data-key="default/provider"]')
        # Registered over REST: on the page without a reload, within a second.
        started = time.monotonic()
        register(
            registry,
            "consumer",
            labels={"env": "dev"},
            interval=0.3,
            dependencies=[{"capability": "geo.lookup", "required": True}],
        )
        await page.page.wait_for_selector('tr[data-key="default/consumer"]', timeout=1000)
        assert time.monotonic() - started < 1.5
        # Its heartbeats stopped: unhealthy on the page at the deadline.
        await page.page.wait_for_selector(
            'tr[data-key="default/consumer"] td[data-phase="unhealthy"]', timeout=10_000
        )
        # The graph: consumer -> geo.lookup -> provider.
        edge = page.page.locator('#graph line[data-from="default/consumer"]')
        await edge.first.wait_for(state="attached", timeout=5000)
        capability = await edge.first.get_attribute("data-to")
        assert capability is not None
        provider_edge = page.page.locator('#graph line[data-to="default/provider"]')
        await provider_edge.first.wait_for(state="attached", timeout=5000)
        assert await provider_edge.first.get_attribute("data-from") == capability
        # The record view.
        await page.page.click('tr[data-key="default/provider"]')
        assert "geo.lookup" in await page.page.text_content("#record-body") or ""
        assert await page.page.text_content("#record-title") == "default/provider"
        # The selector filter, and a bad selector said why.
        await page.page.fill("#selector", "env=prod")
        await page.page.click("#apply")
        await page.page.wait_for_selector('tr[data-key="default/consumer"]', state="detached")
        assert await page.page.locator("tbody tr").count() == 1
        assert page.errors == []  # loaded, listed, watched, drew: not one error
        await page.page.fill("#selector", "env in (")
        await page.page.click("#apply")
        await page.page.wait_for_selector("#problem:not([hidden])")
        assert "labelSelector" in (await page.page.text_content("#problem") or "")
        await page.page.fill("#selector", "")
        await page.page.click("#apply")
        await page.page.wait_for_selector('tr[data-key="default/consumer"]')
        # MESH_SCREENSHOT=docs/dashboard.png refreshes the README's picture.
        shot = os.environ.get("MESH_SCREENSHOT") or str(tmp_path / "dashboard.png")
        await page.page.screenshot(path=shot, full_page=True)
        # The only one: the browser's own line for the 400 the bad selector got.
        assert [e for e in page.errors if "status of 400" not in e] == []


async def test_what_a_record_holds_is_shown_as_text(browser: Any) -> None:
    hostile = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    with running_registry("--db", ":memory:") as registry:
        body = agent_body("hostile", ["demo.echo"], annotations={"note": hostile})
        body["spec"]["capabilities"][0]["description"] = hostile
        put(registry, "hostile", body)
        page = await open_page(browser, registry.url)
        await page.page.click('tr[data-key="default/hostile"]')
        text = await page.page.text_content("#record-body") or ""
        assert "<script>alert(2)</script>" in text
        assert await page.page.locator("img").count() == 0
        assert await page.page.locator("body script").count() == 0
        assert page.errors == []


async def test_with_tokens_the_page_asks_for_one_and_keeps_it_out_of_urls(
    browser: Any, tmp_path: Path
) -> None:
    tokens = write_tokens(tmp_path / "tokens.json", TOKENS)
    with running_registry("--db", ":memory:", "--tokens-file", str(tokens)) as registry:
        register(registry, "secured", headers=bearer("admin-all"))
        page = await open_page(browser, registry.url)
        await page.page.wait_for_selector("#login:not([hidden])")
        assert "Not signed in" in (await page.page.text_content("#problem") or "")
        await page.page.fill("#token", token("reader-all"))
        await page.page.click("#sign-in")
        await page.page.wait_for_selector('tr[data-key="default/secured"]')
        # The watch too carries the token, in a header.
        watched = [url for url in page.authorized if "watch=true" in url]
        assert watched
        assert not [url for url in page.urls if token("reader-all") in url]
        page.errors = [e for e in page.errors if "401" not in e]  # the first, unsigned list
        assert page.errors == []
