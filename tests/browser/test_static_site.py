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
    ctx = page.context
    refused, errors = [], page.page_errors

    def route(r):
        url = r.request.url
        if url.startswith(("file:", "data:", "blob:")):
            r.continue_()
        else:
            refused.append(url)
            r.abort()

    ctx.route("**/*", route)
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
