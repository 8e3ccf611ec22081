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

import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

#: bounds, in ms
OPEN = 120_000             # notebook DOM + kernel
STALL = 180_000            # run all: no further cell finished for this long -> fail
RUN_ALL_MAX = 900_000      # run all: the outer bound, whatever the progress
SETTLE = 180_000           # slider move -> tables rewritten (a bound, not a pause)

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

#: how far run-all has got: [cells whose prompt is numbered, code cells, any error shown]
PROGRESS = """() => {
    const p = [...document.querySelectorAll(
        '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputArea-prompt')];
    const err = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) '
        + '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"] .ansi-red-fg,'
        + ' .jp-NotebookPanel:not(.lm-mod-hidden) .jp-RenderedText .ansi-red-intense-fg');
    return [p.filter(e => /\\[\\d+\\]/.test(e.textContent)).length, p.length, !!err];
}"""


#: the current notebook's kernel as the page holds it: connected and idle
#: (JupyterLab's SessionContext; /api/kernels alone says nothing of the
#: page's websocket, which under load can close before it connects)
NOTEBOOK_KERNEL_READY = """() => {
    const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const k = w && w.sessionContext && w.sessionContext.session
              && w.sessionContext.session.kernel;
    return !!k && k.connectionStatus === 'connected' && k.status === 'idle';
}"""


def run_all(page) -> None:
    """Run every cell (JupyterLab's command) and wait until the page shows
    every prompt numbered and the kernel idle.  It waits as long as cells
    keep finishing: it fails when none has finished for STALL ms (a stuck
    kernel), or on an error traceback, never because the machine is slow.
    A stall with the notebook's kernel no longer connected (Lab lost the
    kernel's websocket) gets one restart-and-run-all, and is said so."""
    try:
        _run_all_once(page, "notebook:run-all-cells")
    except StallError as exc:
        if page.evaluate(NOTEBOOK_KERNEL_READY):
            raise AssertionError(str(exc)) from None
        print(f"run-all: {exc}, and the notebook's kernel is not connected: restarting it once")
        _run_all_once(page, "notebook:restart-run-all", confirm=True)


class StallError(Exception):
    pass


def _run_all_once(page, command: str, confirm: bool = False) -> None:
    for attempt in range(2):
        page.evaluate(f"window.jupyterapp.commands.execute('{command}')")
        if confirm:
            # "Restart Kernel?" dialog: accept it
            page.locator(".jp-Dialog .jp-mod-accept").first.click(timeout=OPEN)
        try:
            page.wait_for_function(ANY_PROMPT_STARTED, timeout=30_000, polling=250)
            break
        except Exception:
            if attempt:
                raise
    t_end = time.monotonic() + RUN_ALL_MAX / 1000
    last, t_last = -1, time.monotonic()
    while True:
        done, total, error = page.evaluate(PROGRESS)
        assert not error, f"a cell failed after {done} of {total} cells"
        if done == total and page.evaluate(KERNELS_IDLE):
            return
        now = time.monotonic()
        if done != last:
            last, t_last = done, now
        if now - t_last >= STALL / 1000:
            raise StallError(f"run-all stalled: {done} of {total} cells done, "
                             f"none for {STALL / 1000:.0f} s")
        assert now < t_end, f"run-all: {done} of {total} cells after {RUN_ALL_MAX / 1000:.0f} s"
        page.wait_for_timeout(500)


def table_column(table, name: str) -> list[str]:
    """The cells of column ``name`` of an HTML table locator."""
    heads = [h.strip() for h in table.locator("thead th").all_inner_texts()]
    if name not in heads:
        return []
    j = heads.index(name)
    return [r.locator("td").nth(j).inner_text().strip()
            for r in table.locator("tbody tr").all()]


# the test bounds its own waits (RUN_ALL_MAX for run all, then SETTLE per step);
# pytest-timeout's 300 s default would cut a slow but progressing run short
@pytest.mark.timeout(1500)
def test_barpanel_slider_moves_the_bar(page, lab_server, bar_notebook, screenshot):
    base, root = lab_server
    src = bar_notebook
    dst = root / "notebooks" / src.name
    shutil.copy(src, dst)                         # a fresh copy: Lab autosaves into it
    errors = page.page_errors
    try:
        page.goto(f"{base}/lab/tree/notebooks/{src.name}?reset", timeout=OPEN)
        page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=OPEN)
        page.wait_for_function(KERNELS_IDLE, timeout=OPEN, polling=250)
        # make the notebook the current widget, or run-all may go nowhere
        page.locator(".jp-NotebookPanel .jp-Cell .jp-InputPrompt").first.click()
        page.wait_for_function(NOTEBOOK_KERNEL_READY, timeout=OPEN, polling=250)
        run_all(page)

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
        # the readout fills in after the handle: wait on what the page shows
        page.wait_for_function(
            "el => (el.tagName === 'INPUT' ? el.value : el.innerText).trim() !== ''",
            arg=readout.element_handle(), timeout=SETTLE)
        old = (readout.input_value() if readout.evaluate("e => e.tagName") == "INPUT"
               else readout.inner_text()).strip()
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
        readme_shot = os.environ.get("VFIOLAB_README_SHOT")
        if readme_shot:                           # docs/images/bar-panel.png (README)
            out.screenshot(path=readme_shot, timeout=30_000)
        new_gpas = table_column(memslots, "guest_phys_addr")
        if ram_backed:
            assert new in new_gpas and old not in new_gpas, (old, new, new_gpas)
        # one BAR panel on the page: the live one (the static one is for pages without a kernel)
        assert page.locator(".vfiolab-static-bar").count() == 0
        assert errors == [], errors
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


def test_first_open_shows_lessons_not_test_machinery(page, lab_server):
    """What a learner sees before running anything (notebooks as committed,
    untrusted, no kernel run yet): the landing notebook opens with the test
    files hidden from the file browser, and no notebook shows widget-repr
    text (``VBox(children=...``) or an nbval marker."""
    base, root = lab_server
    repo_nb = Path(__file__).resolve().parents[2] / "notebooks"
    for f in ("conftest.py", "nbval-sanitize.cfg"):
        shutil.copy(repo_nb / f, root / "notebooks" / f)
    landing = "00-the-question.ipynb"
    shutil.copy(repo_nb / landing, root / "notebooks" / landing)
    page.goto(f"{base}/lab/tree/notebooks/{landing}?reset", timeout=OPEN)
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=OPEN)
    page.wait_for_selector(".jp-DirListing-item", timeout=OPEN)
    listed = page.locator(".jp-DirListing-item .jp-DirListing-itemText").all_inner_texts()
    assert landing in [t.strip() for t in listed], listed
    assert not {"conftest.py", "nbval-sanitize.cfg"} & {t.strip() for t in listed}, listed
    # every notebook's committed text, as Lab would show it before a run
    for nb in sorted(repo_nb.glob("[0-9][0-9]-*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        for c in cells:
            src = "".join(c["source"])
            assert "NBVAL_" not in src, nb.name
            for out in c.get("outputs", []):
                plain = "".join(out.get("data", {}).get("text/plain", ""))
                assert "children=(" not in plain, (nb.name, plain[:80])
