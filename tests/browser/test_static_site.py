"""The static site, offline, in Chromium: the kernel-free BAR slider works.

The page is the fixture notebook tests/fixtures/notebooks/01-static-bar.ipynb
built by scripts/build_site.py.  It is opened from file:// in a browser
context with networking switched off (Playwright's offline mode, plus a
route that refuses and records anything but file:, data: and blob:), so
the widget manager must come from the vendored copy.  The slider is moved
with the keyboard; the page shown must follow it: the status line and the
memslot table of the visible page give the BAR's new base as the
guest_phys_addr of its memslot (QEMU accel/kvm/kvm-all.c kvm_set_phys_mem
registers a RAM-backed FlatRange as a slot at the range's start address).
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

SETTLE = 60_000            # ms: bound for every wait on the page (a loaded machine is slow)


def visible_page(page):
    return page.locator(".vfiolab-static-bar .vfiolab-static-page:visible")


def m0_gpa(page) -> str:
    """guest_phys_addr of the memslot of region m0 in the visible page's table."""
    rows = visible_page(page).locator("table[id^=vfiolab-static-memslots] tbody tr")
    for i in range(rows.count()):
        cells = rows.nth(i).locator("td").all_inner_texts()
        if cells and cells[-1].strip() == "m0":
            return cells[1].strip()
    raise AssertionError("no memslot row for region m0 in the visible page")


def wait_for_shown(page, addr: str) -> None:
    """Until the one visible page is the one for ``addr`` (bounded)."""
    page.wait_for_function(
        """(addr) => {
            const pages = [...document.querySelectorAll('.vfiolab-static-page')]
                .filter(p => p.offsetParent !== null);
            return pages.length === 1 && pages[0].innerText.includes('programmed ' + addr);
        }""", arg=addr, timeout=SETTLE)


@pytest.fixture
def context_options() -> dict:
    """Offline: Playwright's offline mode (the route below refuses the rest)."""
    return {"offline": True, "viewport": {"width": 1200, "height": 1600}}


def test_static_slider_switches_views_offline(page, static_site, screenshot):
    page_file = static_site / "01-static-bar.html"
    assert page_file.is_file()
    refused, errors = _offline(page), page.page_errors
    page.goto(page_file.as_uri(), timeout=SETTLE)
    handle = page.locator(".vfiolab-static-slider .noUi-handle")
    handle.wait_for(timeout=SETTLE)
    readout = page.locator(".vfiolab-static-slider .widget-readout")

    # one view, one page of its stack shown
    assert page.locator(".vfiolab-static-bar").count() == 1
    assert visible_page(page).count() == 1
    first = readout.inner_text().strip()
    assert first.startswith("0x")
    wait_for_shown(page, first)
    assert m0_gpa(page) == first
    assert "where the firmware put it" in visible_page(page).inner_text()
    screenshot(page, "static-before")
    png_before = visible_page(page).locator("img").get_attribute("src")

    # one step right: the next precomputed base, its memslot, its events
    handle.focus()
    handle.press("ArrowRight")
    page.wait_for_function(
        "([el, old]) => el.innerText.trim() !== old",
        arg=[readout.element_handle(), first], timeout=SETTLE)
    second = readout.inner_text().strip()
    assert second != first and second.startswith("0x")
    wait_for_shown(page, second)
    assert m0_gpa(page) == second
    screenshot(page, "static-after")
    events = visible_page(page).locator("table[id^=vfiolab-static-events]").inner_text()
    assert "pci_update_mappings_add" in events and second in events
    assert visible_page(page).locator("img").get_attribute("src") != png_before

    # End: the last base; Home: back to the first
    handle.press("End")
    page.wait_for_function(
        "([el, old]) => el.innerText.trim() !== old",
        arg=[readout.element_handle(), second], timeout=SETTLE)
    last = readout.inner_text().strip()
    wait_for_shown(page, last)
    assert m0_gpa(page) == last
    handle.press("Home")
    wait_for_shown(page, first)
    assert readout.inner_text().strip() == first

    assert refused == [], f"the page tried the network: {refused}"
    assert errors == [], errors


def _offline(page):
    """Refuse (and record) anything but file:, data: and blob:."""
    refused = []

    def route(r):
        url = r.request.url
        if url.startswith(("file:", "data:", "blob:")):
            r.continue_()
        else:
            refused.append(url)
            r.abort()

    page.context.route("**/*", route)
    return refused


def test_static_dma_switch_offline(page, static_site, screenshot):
    """The kernel-free DMA view (course.static.static_dma_view): pressing the
    vIOMMU button shows the other precomputed page, and back."""
    refused, errors = _offline(page), page.page_errors
    page.goto((static_site / "03-static-dma.html").as_uri(), timeout=SETTLE)
    buttons = page.locator(".vfiolab-static-dma-toggle button")
    buttons.first.wait_for(timeout=SETTLE)
    assert buttons.count() == 2
    shown = page.locator(".vfiolab-static-dma-stack > .widget-box:visible, "
                         ".vfiolab-static-dma-stack > div:visible")

    def status():
        return page.locator(".vfiolab-static-dma-stack .widget-html:visible").first.inner_text()

    first = status()
    assert "DMA requests" in first
    screenshot(page, "dma-before")
    buttons.nth(1).click()
    page.wait_for_function(
        """(old) => [...document.querySelectorAll('.vfiolab-static-dma-stack .widget-html')]
              .filter(e => e.offsetParent !== null).some(e => e.innerText !== old)""",
        arg=first, timeout=SETTLE)
    second = status()
    assert second != first and "DMA requests" in second
    screenshot(page, "dma-after")
    buttons.nth(0).click()
    page.wait_for_function(
        """(old) => [...document.querySelectorAll('.vfiolab-static-dma-stack .widget-html')]
              .filter(e => e.offsetParent !== null).some(e => e.innerText === old)""",
        arg=first, timeout=SETTLE)
    assert shown.count() >= 1
    assert refused == [], f"the page tried the network: {refused}"
    assert errors == [], errors


@pytest.fixture
def served_site(static_site):
    """The built site served on the loopback interface, as a course author
    would publish it (Sphinx's search fetches page summaries, which a
    file:// page may not); the server is stopped afterwards."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.request
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                             "--directory", str(static_site), str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120      # a bound under load, not a pause
        while True:
            try:
                urllib.request.urlopen(base + "index.html", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_book_navigation_and_search_offline(browser, served_site):
    """The Sphinx book with no network beyond its own server: the landing
    page links the chapters, 'next' leads from one to the other, and the
    search page finds a word of a chapter (Sphinx's searchindex.js, run in
    the browser)."""
    # not Playwright's offline mode (it cuts loopback too): the route below
    # lets through only the site's own server
    ctx = browser.new_context(viewport={"width": 1200, "height": 1600})
    page = ctx.new_page()
    refused, errors = [], []
    page.on("pageerror", lambda e: errors.append(str(e)))

    def route(r):
        url = r.request.url
        if url.startswith((served_site, "data:", "blob:")):
            r.continue_()
        else:
            refused.append(url)
            r.abort()

    page.context.route("**/*", route)
    page.goto(served_site + "index.html", timeout=SETTLE)
    nav = page.locator("nav a[href='01-static-bar.html']").first
    nav.wait_for(timeout=SETTLE)
    nav.click()
    page.wait_for_url("**/01-static-bar.html", timeout=SETTLE)
    page.locator("a.right-next").first.click()
    page.wait_for_url("**/03-static-dma.html", timeout=SETTLE)
    # the theme's search box submits to search.html?q=...
    page.goto(served_site + "search.html?q=vIOMMU", timeout=SETTLE)
    result = page.locator("ul.search li a").first
    result.wait_for(timeout=SETTLE)
    assert "03-static-dma.html" in result.get_attribute("href")
    ctx.close()
    assert refused == [], f"the page tried the network: {refused}"
    assert errors == [], errors
