"""The kernel-free BAR view (vfiolab.course.static) and the static site build
(scripts/build_site.py).

What a page of the view must show follows QEMU's and KVM's rules, not the
model's output:

* a BAR base is a multiple of the BAR's size (PCI Local Bus spec 3.0,
  6.2.5.1: the low bits of a memory BAR are read-only, so software finds
  the size by writing ones and can only place the BAR size-aligned);
* moving a RAM-backed BAR (ivshmem-plain BAR2 over memory-backend-ram) with
  decode switched off around the write unmaps it once and maps it once
  (QEMU hw/pci/pci.c pci_update_mappings: trace pci_update_mappings_del,
  then pci_update_mappings_add), and KVM's slot for it is deleted and
  re-created at the new base (accel/kvm/kvm-all.c kvm_set_phys_mem:
  KVM_SET_USER_MEMORY_REGION with memory_size 0, then with the new
  guest_phys_addr).

The site checks: pages load nothing from the network, stay under 5 MB,
carry the widget state, and the index lists the notebooks in order.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from vfiolab.errors import VfiolabError  # noqa: E402
from vfiolab.predict import predict  # noqa: E402
from vfiolab.course.static import (MAX_POSITIONS, choose_positions, precompute_bar_views,  # noqa: E402
                            static_bar_view)
from vfiolab.widgets import legal_bases, programmed_base  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "notebooks"
ARGS = ["-machine", "q35", "-accel", "kvm", "-m", "1G", "-nodefaults", "-object",
        "memory-backend-ram,id=m0,size=64M", "-device", "ivshmem-plain,memdev=m0,id=ivs0"]
SIZE = 64 << 20          # memory-backend-ram size=64M = ivshmem BAR2's size
BDF = "00:01.0"          # first free slot on the q35 root bus (00:00.0 is the MCH)
MAX_PAGE = 5_000_000
BUILD_TIMEOUT = 600


def load_build_site():
    spec = importlib.util.spec_from_file_location("build_site", REPO / "scripts" / "build_site.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


build_site = load_build_site()


# --------------------------------------------------------------------------
# vfiolab.course.static
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def prediction():
    return predict(ARGS, cpu_vendor="AuthenticAMD")


@pytest.fixture(scope="module")
def views(prediction):
    return precompute_bar_views(prediction, BDF, 2, 6)


def test_positions_are_legal_and_include_the_firmware_base(prediction, views):
    start = programmed_base(next(d for d in prediction.vm.pci_devices()
                                 if d.qdev_id == "ivs0"), 2)
    addrs = [v.address for v in views]
    assert len(addrs) == 6 and addrs == sorted(addrs) and start in addrs
    legal = set(legal_bases(prediction.vm, BDF, 2))
    assert set(addrs) <= legal
    assert all(a % SIZE == 0 for a in addrs)
    # spread over both windows SeaBIOS uses for a 64-bit BAR
    assert any(a < 1 << 32 for a in addrs) and any(a >= 1 << 32 for a in addrs)
    assert all(v.start == start and v.label == hex(v.address) for v in views)


def test_each_page_moves_from_the_firmware_base(views):
    for v in views:
        # KVM: the RAM-backed BAR is one memslot, at the BAR's base
        assert v.label in v.memslot_gpas
        assert v.memslots_html.count(f">{v.label}<") >= 1
        assert f"programmed <code>{v.label}</code>" in v.status_html
        if v.address == v.start:
            assert v.event_ops == []                       # no guest action
            assert "where the firmware put it" in v.status_html
        else:
            # clean move: decode off unmaps BAR0 and BAR2, KVM deletes BAR2's
            # slot; decode on maps both again, KVM creates the slot anew
            assert v.event_ops == ["pci_update_mappings_del", "pci_update_mappings_del",
                                   "set_user_memory", "pci_update_mappings_add",
                                   "pci_update_mappings_add", "set_user_memory"]
            assert v.start != v.address and hex(v.start) not in v.memslot_gpas
            assert f"to {v.label} (clean)" in v.events_html
        assert v.png[:8] == b"\x89PNG\r\n\x1a\n" and len(v.png) < 80_000
    assert len({v.png for v in views}) == len(views)       # every page its own figure


def test_source_prediction_is_not_changed(prediction):
    dev = next(d for d in prediction.vm.pci_devices() if d.qdev_id == "ivs0")
    before = (programmed_base(dev, 2), len(prediction.vm.events), list(prediction.vm.memslots()))
    precompute_bar_views(prediction, BDF, 2, 3)
    assert before == (programmed_base(dev, 2), len(prediction.vm.events),
                      list(prediction.vm.memslots()))


def test_precompute_creates_no_widgets(prediction):
    # every widget made in a kernel opens a comm whose state nbclient keeps
    from ipywidgets.widgets.widget import _instances
    n = len(_instances)
    precompute_bar_views(prediction, BDF, 2, 3)
    assert len(_instances) == n


def test_static_bar_view_links_slider_and_stack(prediction):
    import ipywidgets as W
    from ipywidgets.widgets.widget import _instances
    from ipywidgets.widgets.widget_link import Link
    box = static_bar_view(prediction, BDF, 2, ["0xf4000000", 0x800000000, "0xc00000000"])
    assert "vfiolab-static-bar" in box._dom_classes
    slider = next(c for c in box.children if isinstance(c, W.SelectionSlider))
    stack = next(c for c in box.children if isinstance(c, W.Stack))
    assert [lab for lab, _ in slider.options] == ["0xf4000000", "0x800000000", "0xc00000000"]
    assert len(stack.children) == 3 and stack.selected_index == slider.index
    links = [w for w in _instances.values() if isinstance(w, Link)
             and w.source == (slider, "index") and w.target == (stack, "selected_index")]
    assert len(links) == 1                    # jslink: runs in the browser, no kernel
    # the page for 0x800000000 shows its memslot
    page = stack.children[1]
    html = "".join(c.value for c in page.children if isinstance(c, W.HTML))
    html += "".join(c.value for h in page.children if isinstance(h, W.Box) for c in h.children)
    assert "guest_phys_addr" in html and ">0x800000000<" in html


def test_choose_positions():
    bases = list(range(0, 100, 10))
    assert choose_positions(bases, 30, 1) == [30]
    assert choose_positions(bases, 30, 3) == [0, 30, 90]
    assert choose_positions(bases, 30, 50) == bases
    with pytest.raises(VfiolabError):
        choose_positions(bases, 30, 0)


def test_bad_requests_raise_vfiolab_errors(prediction):
    with pytest.raises(VfiolabError, match="at most"):
        precompute_bar_views(prediction, BDF, 2, MAX_POSITIONS + 1)
    with pytest.raises(VfiolabError, match="aligned"):
        precompute_bar_views(prediction, BDF, 2, [0x800000000 + 0x1000])
    with pytest.raises(VfiolabError, match="BAR 5"):
        precompute_bar_views(prediction, BDF, 5, 2)
    with pytest.raises(VfiolabError):
        precompute_bar_views(prediction, BDF, 2, [])
    with pytest.raises(VfiolabError):
        precompute_bar_views(prediction, BDF, 2, how="sideways")
    with pytest.raises(VfiolabError):
        precompute_bar_views(42)
    with pytest.raises(VfiolabError):
        precompute_bar_views(prediction, BDF, 2, True)


def test_positions_as_one_string(prediction):
    views = precompute_bar_views(prediction, BDF, 2, "0x800000000, 0xc00000000")
    assert [v.label for v in views] == ["0x800000000", "0xc00000000"]


# --------------------------------------------------------------------------
# The site
# --------------------------------------------------------------------------

class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []
        self.scripts = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.links.append(a["href"].split("#")[0])
        elif tag == "script":
            self.scripts.append(a)


def parse(text):
    p = _Links()
    p.feed(text)
    return p


def widget_state(text: str) -> dict:
    m = re.search(r'<script type="application/vnd.jupyter.widget-state\+json">(.*?)</script>',
                  text, re.S)
    assert m, "no widget state embedded"
    return json.loads(m.group(1))["state"]


def run_build(out: Path, *args) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)
    return subprocess.run([sys.executable, str(REPO / "scripts" / "build_site.py"),
                           "--out", str(out), *map(str, args)],
                          env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT)


def check_site(out: Path, notebooks: list[Path]) -> dict[str, str]:
    """The checks every built site must pass; returns {page: html}."""
    index = (out / "index.html").read_text(encoding="utf-8")
    # the landing page links every chapter, in reading order (Sphinx's toctree)
    chapters = [nb.stem + ".html" for nb in notebooks]
    first = [h for i, h in enumerate(parse(index).links)
             if h in chapters and h not in parse(index).links[:i]]
    assert first == chapters
    # search works offline: Sphinx's index and page are there
    assert (out / "searchindex.js").is_file() and (out / "search.html").is_file()
    assert (out / build_site.WIDGET_RENDERER).is_file()
    pages = {}
    for nb in notebooks:
        path = out / (nb.stem + ".html")
        text = path.read_text(encoding="utf-8")
        pages[nb.name] = text
        assert path.stat().st_size < MAX_PAGE, (path.name, path.stat().st_size)
        assert build_site.remote_refs(text) == [], path.name
        # no script or stylesheet from the network, by a plain grep too
        assert not re.search(r"""<(script|link)[^>]+(src|href)=["']?(https?:)?//""", text), \
            path.name
        for s in parse(text).scripts:
            if s.get("src"):
                assert (out / s["src"].split("?")[0]).is_file(), s["src"]
        if "application/vnd.jupyter.widget-view+json" in text:
            # the views' models are in the embedded state, and the renderer is ours
            state = widget_state(text)
            for m in re.finditer(r'<script type="application/vnd.jupyter.widget-view\+json">'
                                 r'(.*?)</script>', text, re.S):
                assert json.loads(m.group(1))["model_id"] in state
            assert f'src="{build_site.WIDGET_RENDERER}' in text
    return pages


@pytest.fixture(scope="module")
def fixture_site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    r = run_build(out, "--notebook-dir", FIXTURES)
    assert r.returncode == 0, r.stdout + r.stderr
    return out, r.stdout


def test_fixture_site(fixture_site):
    out, log = fixture_site
    notebooks = build_site.find_notebooks(FIXTURES)
    assert [nb.name for nb in notebooks] == ["01-static-bar.ipynb", "02-bar-panel.ipynb",
                                             "03-static-dma.ipynb"]
    pages = check_site(out, notebooks)
    # progress, notebook by notebook
    assert re.search(r"\[1/3\] 01-static-bar.ipynb.*\n.*\[2/3\] 02-bar-panel.ipynb", log, re.S)
    # the kernel-free view: a SelectionSlider jslinked to a Stack of 4 pages
    state = widget_state(pages["01-static-bar.ipynb"])
    models = {k: v["model_name"] for k, v in state.items()}
    stacks = [k for k, n in models.items() if n == "StackModel"]
    sliders = [k for k, n in models.items() if n == "SelectionSliderModel"]
    assert len(stacks) == 1 and len(sliders) == 1
    assert len(state[stacks[0]]["state"]["children"]) == 4
    links = [v["state"] for v in state.values() if v["model_name"] == "LinkModel"]
    assert [(lk["source"][0], lk["source"][1], lk["target"][0], lk["target"][1])
            for lk in links] == [(f"IPY_MODEL_{sliders[0]}", "index",
                                  f"IPY_MODEL_{stacks[0]}", "selected_index")]
    images = [v for v in state.values() if v["model_name"] == "ImageModel"]
    assert len(images) == 4
    # the live panel's page: its state as the kernel left it
    assert "vfiolab-barpanel-memslots" in pages["02-bar-panel.ipynb"]
    # navigation between pages
    assert 'href="02-bar-panel.html"' in pages["01-static-bar.ipynb"]
    assert 'href="index.html"' in pages["02-bar-panel.ipynb"]


def test_remote_refs_catches_nbconvert_defaults():
    """The checker flags what nbconvert's defaults would load from CDNs."""
    page = ('<html><head><script src="https://cdnjs.cloudflare.com/require.min.js"></script>'
            '<link rel="stylesheet" href="//cdn.example/x.css">'
            '<style>@import url("https://fonts.example/css");</style>'
            '<script type="module">const m = (await import("https://cdn.example/m.mjs"));'
            '</script><script>s.src = "https://unpkg.com/@jupyter-widgets/html-manager@*/'
            'dist/embed-amd.js";</script></head><body><a href="https://qemu.org">ok</a>'
            '<script type="application/vnd.jupyter.widget-state+json">'
            '{"x": "https://in.data/is/fine"}</script></body></html>')
    refs = build_site.remote_refs(page)
    assert len(refs) == 5, refs
    assert build_site.remote_refs('<script src="vendor/embed.js"></script>') == []


def test_failing_cell_stops_the_build(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    nbformat.write(new_notebook(cells=[new_markdown_cell("# fine"), new_code_cell("x = 1")]),
                   nbs / "01-fine.ipynb")
    nbformat.write(new_notebook(cells=[new_markdown_cell("# broken"), new_code_cell("y = 2"),
                                       new_code_cell("1 / 0")]), nbs / "02-broken.ipynb")
    nbformat.write(new_notebook(cells=[new_code_cell("z = 3")]), nbs / "03-never.ipynb")
    out = tmp_path / "site"
    r = run_build(out, "--notebook-dir", nbs, "--timeout", "60")
    assert r.returncode == 1
    assert "[2/3] 02-broken.ipynb" in r.stdout and "[3/3]" not in r.stdout
    assert "02-broken.ipynb: cell 3 (code cell 2): 1 / 0" in r.stderr
    assert "ZeroDivisionError" in r.stderr
    # the book is built only when every notebook ran: no half site
    assert not (out / "01-fine.html").exists() and not (out / "03-never.html").exists()


def test_the_course_site(tmp_path):
    """Every notebook in notebooks/, built afresh as `make html` does."""
    notebooks = build_site.find_notebooks(REPO / "notebooks")
    if not notebooks:
        pytest.skip("notebooks/ has no notebooks yet (the fixture site is tested above)")
    out = tmp_path / "site"
    r = run_build(out)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    check_site(out, notebooks)


def test_static_dma_view_holds_both_states_switched_in_the_browser():
    """The DMA view for a static page: both of DmaView's states precomputed
    (without a vIOMMU, the container's maps at IOVA = GPA; with one, QEMU's
    shadow of the guest's mappings), the ToggleButtons' index jslinked to
    the Stack of the two pages, so nothing needs a kernel."""
    import ipywidgets as W
    from ipywidgets.widgets.widget import _instances
    from ipywidgets.widgets.widget_link import Link

    from vfiolab.course.static import static_dma_view
    from vfiolab.widgets import DmaView
    args = "-machine q35 -accel kvm -m 2G -nodefaults -device vfio-pci,host=0000:01:00.0,id=gpu0"
    host = {"0000:01:00.0": "gpu-nvidia-tesla-p100"}
    box = static_dma_view(args.split(), host_devices=host, cpu_vendor="AuthenticAMD")
    toggle = next(c for c in box.children if isinstance(c, W.ToggleButtons))
    stack = next(c for c in box.children if isinstance(c, W.Stack))
    assert list(toggle.options) == [label for label, _ in DmaView.OPTIONS]
    assert len(stack.children) == 2 and toggle.index == stack.selected_index == 0
    links = [w for w in _instances.values() if isinstance(w, Link)
             and w.source == (toggle, "index") and w.target == (stack, "selected_index")]
    assert len(links) == 1
    pngs = [bytes(page.children[1].value) for page in stack.children]
    assert all(png.startswith(b"\x89PNG") for png in pngs) and pngs[0] != pngs[1]
    # each page says what its DMA requests did, as the live widget's status line does
    live = DmaView(args.split(), host_devices=host, cpu_vendor="AuthenticAMD", mode="image")
    for (label, on), page in zip(DmaView.OPTIONS, stack.children):
        live.set_viommu(on)
        assert page.children[0].value == live.status.value

