"""JupyterLab + a live kernel: moving the BarPanel's slider re-runs the model.

A throw-away JupyterLab (loopback, free port, no token; tests/browser/conftest.py)
opens the BAR notebook (notebooks/03-... once it shows a BarPanel, else
tests/fixtures/notebooks/02-bar-panel.ipynb), runs every cell, moves the
panel's base slider one step with the keyboard and waits for what the
Python callback writes back: the status line names the new base, the event
table maps the BAR there (QEMU hw/pci/pci.c pci_update_mappings: trace
pci_update_mappings_add with the new address), and -- when the BAR is
RAM-backed, as ivshmem's BAR2 is -- the memslot table lists a slot whose
guest_phys_addr is the new base (accel/kvm/kvm-all.c kvm_set_phys_mem).
"""

from __future__ import annotations

import re
import shutil
import time

import pytest

pytestmark = pytest.mark.browser

#: bounds, in ms
OPEN = 60_000              # notebook DOM + kernel
RUN_ALL = 180_000          # every cell of the notebook
SETTLE = 30_000            # slider move -> tables rewritten

KERNELS_IDLE = """async () => {
    const r = await fetch('/api/kernels');
    const k = await r.json();
    return k.length > 0 && k.every(x => x.execution_state === 'idle');
}"""

ALL_PROMPTS_DONE = """() => {
    const p = [...document.querySelectorAll(
        '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputArea-prompt')];
    return p.length > 0 && p.every(e => /\\[\\d+\\]/.test(e.textContent));
}"""

ANY_PROMPT_STARTED = """() => [...document.querySelectorAll(
    '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputArea-prompt')]
    .some(e => /\\[(\\*|\\d+)\\]/.test(e.textContent))"""


def run_all(page) -> None:
    """Run every cell (JupyterLab's command), retrying once if nothing started."""
    for attempt in range(2):
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        try:
            page.wait_for_function(ANY_PROMPT_STARTED, timeout=10_000, polling=250)
            break
        except Exception:
            if attempt:
                raise
    page.wait_for_function(ALL_PROMPTS_DONE, timeout=RUN_ALL, polling=500)
    page.wait_for_function(KERNELS_IDLE, timeout=RUN_ALL, polling=250)


def table_column(table, name: str) -> list[str]:
    """The cells of column ``name`` of an HTML table locator."""
    heads = [h.strip() for h in table.locator("thead th").all_inner_texts()]
    if name not in heads:
        return []
    j = heads.index(name)
    return [r.locator("td").nth(j).inner_text().strip()
            for r in table.locator("tbody tr").all()]


def test_barpanel_slider_moves_the_bar(browser, lab_server, bar_notebook, screenshot):
    base, root = lab_server
    src = bar_notebook
    dst = root / "notebooks" / src.name
    shutil.copy(src, dst)                         # a fresh copy: Lab autosaves into it
    ctx = browser.new_context(viewport={"width": 1400, "height": 1800})
    page = ctx.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        t0 = time.monotonic()
        page.goto(f"{base}/lab/tree/notebooks/{src.name}?reset", timeout=OPEN)
        page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=OPEN)
        page.wait_for_function(KERNELS_IDLE, timeout=OPEN, polling=250)
        # make the notebook the current widget, or run-all may go nowhere
        page.locator(".jp-NotebookPanel .jp-Cell .jp-InputPrompt").first.click()
        run_all(page)
        t_run = time.monotonic() - t0

        # the panel's output: the one holding its memslot table
        out = page.locator(".jp-OutputArea-output",
                           has=page.locator("#vfiolab-barpanel-memslots")).last
        out.wait_for(timeout=SETTLE)
        out.scroll_into_view_if_needed()
        handle = out.locator(".widget-slider .noUi-handle").first
        readout = out.locator(".widget-slider .widget-readout").first
        memslots = out.locator("#vfiolab-barpanel-memslots")
        events = out.locator("#vfiolab-barpanel-events")
        handle.wait_for(timeout=SETTLE)
        old = ""
        for _ in range(60):                       # the readout fills in after the handle
            old = (readout.inner_text() or readout.input_value()
                   if readout.evaluate("e => e.tagName") == "INPUT" else readout.inner_text()).strip()
            if old:
                break
            page.wait_for_timeout(250)
        assert re.fullmatch(r"0x[0-9a-f]+", old), old
        screenshot(page, "lab-before")
        old_gpas = table_column(memslots, "guest_phys_addr")
        ram_backed = old in old_gpas              # the BAR has a memslot of its own

        now = float(handle.get_attribute("aria-valuenow"))
        top = float(handle.get_attribute("aria-valuemax"))
        handle.focus()
        handle.press("ArrowRight" if now < top else "ArrowLeft")
        page.wait_for_function("([el, old]) => el.innerText.trim() !== old",
                               arg=[readout.element_handle(), old], timeout=SETTLE)
        new = readout.inner_text().strip()
        assert new != old
        # the callback ran in the kernel and rewrote the HTML widgets
        page.wait_for_function(
            """([el, addr]) => el.innerText.includes('programmed ' + addr)""",
            arg=[out.element_handle(), new], timeout=SETTLE)
        page.wait_for_function(
            """([el, addr]) => el.innerText.includes('pci_update_mappings_add')
                               && el.innerText.includes(addr)""",
            arg=[events.element_handle(), new], timeout=SETTLE)
        screenshot(page, "lab-after")
        new_gpas = table_column(memslots, "guest_phys_addr")
        if ram_backed:
            assert new in new_gpas and old not in new_gpas, (old, new, new_gpas)
        assert errors == [], errors
        assert t_run < RUN_ALL / 1000
    finally:
        # shut the kernel down with the session (else kernels pile up)
        try:
            page.evaluate("""async () => {
                const s = await (await fetch('/api/sessions')).json();
                await Promise.all(s.map(x => fetch('/api/sessions/' + x.id,
                                                   {method: 'DELETE'})));
            }""")
        except Exception:
            pass
        ctx.close()
