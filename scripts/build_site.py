#!/usr/bin/env python3
"""Build the course site: every notebook executed afresh, then a Sphinx book.

    .venv/bin/python scripts/build_site.py                 # notebooks/ -> site/
    .venv/bin/python scripts/build_site.py --out /tmp/site --timeout 120
    .venv/bin/python scripts/build_site.py notebooks/03-flatview-and-memslots.ipynb

1. Each notebook, in name order (00-, 01-, ...), has its outputs, execution
   counts and saved widget state dropped (nothing saved is trusted), then is
   executed by nbclient in a fresh kernel (its folder as working directory, a
   timeout per cell, the widget state stored as a front end would) with
   ``VFIOLAB_STATIC=1`` in the kernel's environment, so that the course helpers
   show kernel-free views where a live widget would have no kernel behind it.
   A failing cell stops the build naming the notebook and the cell.
2. The executed notebooks and ``book/`` (conf.py, the landing page, CSS) go
   into a scratch source folder, and Sphinx builds it with myst-nb and
   sphinx-book-theme: navigation, search, previous/next, per-page contents.
   The widget manager is the vendored ``@jupyter-widgets/html-manager``
   (``vendor/``), copied beside the pages; no CDN.
3. Every page (and every CSS file) is checked: nothing a browser would
   fetch from the network, and each page under ``--max-page-mb`` (5 MB).

Jupyter's side files go to ``.home/`` in the checkout unless the
``JUPYTER_*`` variables are already set (as ``make`` sets them).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: the vendored widget manager (see vendor/README.md); copied to OUT/vendor/
VENDOR = REPO / "vendor"
HTML_MANAGER = "html-manager-1.0.15"
#: where the pages load the widget manager from (book/conf.py nb_ipywidgets_js)
WIDGET_RENDERER = f"_static/vendor/{HTML_MANAGER}/embed.js"
#: the Sphinx project: conf.py, the landing page, CSS
BOOK = REPO / "book"
MAX_PAGE_MB = 5.0
CELL_TIMEOUT = 120

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

# --------------------------------------------------------------------------
# Notebooks
# --------------------------------------------------------------------------

def natural_key(path: Path):
    """Sort key: digit runs compare as numbers (``2-x`` before ``10-x``)."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def find_notebooks(folder: Path) -> list[Path]:
    """The notebooks directly in ``folder``, in reading order."""
    return sorted((p for p in folder.glob("*.ipynb") if not p.name.startswith((".", "_"))),
                  key=natural_key)


def notebook_title(nb, fallback: str) -> str:
    """The first Markdown heading of the notebook, else ``fallback``."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            m = re.match(r"\s*#{1,6}\s+(.*\S)", line)
            if m:
                return re.sub(r"[`*_]", "", m.group(1))
    return fallback


def fresh(nb):
    """Drop what a previous run left: outputs, counts, widget state."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("widgets", None)
    return nb


class BuildError(Exception):
    """A notebook failed; the message names the notebook and the cell."""


def cell_label(nb, index: int) -> str:
    cell = nb.cells[index]
    code_no = sum(1 for c in nb.cells[:index + 1] if c.cell_type == "code")
    first = next((ln.strip() for ln in cell.source.splitlines() if ln.strip()), "")
    if len(first) > 70:
        first = first[:67] + "..."
    return f"cell {index + 1} (code cell {code_no}): {first}"


def execute(path: Path, timeout: int, kernel_name: str):
    """Execute a fresh copy of the notebook at ``path``; return it.

    Raises :class:`BuildError` naming the notebook and the cell on a cell
    error, a cell timeout or a dead kernel."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellControlSignal, DeadKernelError

    nb = fresh(nbformat.read(path, as_version=4))
    current = {"index": None}

    def on_start(cell, cell_index):
        current["index"] = cell_index

    client = NotebookClient(nb, timeout=timeout, startup_timeout=60, kernel_name=kernel_name,
                            resources={"metadata": {"path": str(path.parent)}},
                            store_widget_state=True, record_timing=False,
                            on_cell_start=on_start)
    try:
        client.execute()
    except (CellControlSignal, DeadKernelError, TimeoutError) as exc:
        i = current["index"]
        where = cell_label(nb, i) if i is not None else "kernel start"
        why = ANSI.sub("", str(exc)).strip()
        if isinstance(exc, TimeoutError):
            why = f"timed out after {timeout} s (--timeout)\n{why}"
        lines = why.splitlines()
        if len(lines) > 40:                       # keep the end: the error itself
            why = "\n".join(["..."] + lines[-40:])
        raise BuildError(f"{path.name}: {where}\n{why}") from None
    return nb


# --------------------------------------------------------------------------
# The Sphinx book
# --------------------------------------------------------------------------

def toctree(pages: list[dict]) -> str:
    names = "\n".join(Path(p["name"]).stem for p in pages)
    return f"""

```{{toctree}}
:hidden:
:maxdepth: 1
:caption: Chapters

{names}
```
"""


def generic_index(pages: list[dict]) -> str:
    """The landing page of a partial build (a few notebooks, not the course)."""
    items = "\n".join(f"- [{p['title']}]({p['name']})" for p in pages)
    return f"# vfiolab notebooks\n\n{items}\n"


def assemble(src: Path, pages: list[dict], executed: list, book: Path, full: bool) -> None:
    """The Sphinx source folder: book/ and the executed notebooks."""
    import nbformat
    if src.exists():
        shutil.rmtree(src)
    shutil.copytree(book, src)
    landing = (book / "index.md").read_text(encoding="utf-8") if full else generic_index(pages)
    (src / "index.md").write_text(landing.rstrip() + "\n" + toctree(pages), encoding="utf-8")
    for page, nb in zip(pages, executed):
        nbformat.write(nb, src / page["name"])
    manager = VENDOR / HTML_MANAGER
    if not (manager / "embed.js").is_file():
        raise BuildError(f"{manager}/embed.js is missing: see vendor/README.md to fetch it")
    shutil.copytree(manager, src / "_static" / "vendor" / HTML_MANAGER)


def sphinx(src: Path, out: Path, log) -> None:
    """Run Sphinx (html builder); warnings are printed, errors stop the build."""
    from sphinx.cmd.build import build_main
    doctrees = src.parent / (src.name + "-doctrees")
    rc = build_main(["-b", "html", "-q", "-d", str(doctrees), str(src), str(out)])
    if rc:
        raise BuildError(f"sphinx-build failed (exit {rc}); its messages are above")


# --------------------------------------------------------------------------
# Checks (also used by tests/test_static.py)
# --------------------------------------------------------------------------

_REMOTE = re.compile(r"^\s*(https?:)?//", re.I)
_CSS_REMOTE = re.compile(r"""(@import\s+(url\()?|url\()\s*["']?\s*(https?:)?//""", re.I)
_JS_REMOTE = re.compile(r"""(import\s*\(|\bsrc\s*=|\bhref\s*=|fetch\s*\()\s*["'`](https?:)?//""",
                        re.I)
#: script types that are data, not code
_DATA_SCRIPTS = ("application/vnd.jupyter.widget-state+json",
                 "application/vnd.jupyter.widget-view+json", "application/json",
                 "text/x-mathjax-config")


class _RefScanner(HTMLParser):
    """Collect every address a browser would fetch by itself from the network."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.remote: list[str] = []
        self._in = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("src", "href", "data", "poster", "srcset"):
            v = a.get(key)
            if v is None or (tag == "a" and key == "href"):
                continue                          # a plain link is not loaded
            if _REMOTE.match(v):
                self.remote.append(f"<{tag} {key}={v}>")
        if "style" in a and _CSS_REMOTE.search(a["style"] or ""):
            self.remote.append(f"<{tag} style=...{a['style'][:80]}>")
        if tag == "style":
            self._in = "style"
        elif tag == "script" and (a.get("type") or "").lower() not in _DATA_SCRIPTS:
            self._in = "script"
        else:
            self._in = None

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in == "style":
            for m in _CSS_REMOTE.finditer(data):
                self.remote.append(f"<style> {data[m.start():m.start() + 100]}")
        elif self._in == "script":
            for m in _JS_REMOTE.finditer(data):
                self.remote.append(f"<script> {data[m.start():m.start() + 100]}")


def remote_refs(text: str) -> list[str]:
    """Addresses in an HTML page that a browser would load from the network
    (script/link/img/iframe sources, CSS imports and urls, import()/src= in
    inline scripts).  Ordinary ``<a href>`` links are allowed."""
    p = _RefScanner()
    p.feed(text)
    p.close()
    return p.remote


def check_css(path: Path) -> list[str]:
    """A stylesheet must not import or url() anything from the network."""
    text = path.read_text(encoding="utf-8", errors="replace")
    return [f"{path.name}: loads from the network: {text[m.start():m.start() + 100]}"
            for m in _CSS_REMOTE.finditer(text)]


def check_page(path: Path, max_mb: float) -> list[str]:
    problems = []
    size = path.stat().st_size
    if size > max_mb * 1e6:
        problems.append(f"{path.name}: {size / 1e6:.2f} MB, over {max_mb} MB")
    for ref in remote_refs(path.read_text(encoding="utf-8")):
        problems.append(f"{path.name}: loads from the network: {ref}")
    return problems


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def setup_env() -> None:
    """Jupyter side files in .home/ (unless set), vfiolab importable in the
    kernels, matplotlib's backend left to the kernel (inline)."""
    home = REPO / ".home"
    for var, sub in (("JUPYTER_CONFIG_DIR", "jupyter_config"), ("JUPYTER_DATA_DIR", "jupyter_data"),
                     ("JUPYTER_RUNTIME_DIR", "jupyter_runtime"), ("IPYTHONDIR", "ipython"),
                     ("MPLCONFIGDIR", "mpl")):
        os.environ.setdefault(var, str(home / sub))
        Path(os.environ[var]).mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")
    os.environ.pop("MPLBACKEND", None)
    pp = os.environ.get("PYTHONPATH", "")
    if str(REPO) not in pp.split(os.pathsep):
        os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO)] + ([pp] if pp else []))


def build(notebooks: list[Path], out: Path, *, timeout: int = CELL_TIMEOUT,
          kernel_name: str = "python3", max_mb: float = MAX_PAGE_MB, log=print,
          book: Path | None = None) -> list[dict]:
    """Execute ``notebooks`` and build the book into ``out``; return one dict
    per page (name, title, html, size, widgets, seconds).  Raises BuildError."""
    import nbformat
    setup_env()
    if not notebooks:
        raise BuildError("no notebooks to build")
    book = book or BOOK
    full = {p.name for p in find_notebooks(REPO / "notebooks")} <= {p.name for p in notebooks}
    t_all = time.monotonic()
    pages, executed = [], []
    os.environ["VFIOLAB_STATIC"] = "1"          # the kernels inherit it
    try:
        for i, path in enumerate(notebooks):
            nb0 = nbformat.read(path, as_version=4)
            page = {"name": path.name, "title": notebook_title(nb0, path.stem),
                    "html": path.stem + ".html",
                    "code_cells": sum(1 for c in nb0.cells if c.cell_type == "code")}
            t0 = time.monotonic()
            log(f"[{i + 1}/{len(notebooks)}] {path.name}: executing {page['code_cells']} code "
                f"cells (timeout {timeout} s per cell)", flush=True)
            nb = execute(path, timeout, kernel_name)
            state = nb.metadata.get("widgets", {}).get(
                "application/vnd.jupyter.widget-state+json", {}).get("state", {})
            page["widgets"] = len(state)
            page["seconds"] = time.monotonic() - t0
            pages.append(page)
            executed.append(nb)
    finally:
        os.environ.pop("VFIOLAB_STATIC", None)
    src = out.parent / (out.name + "-src")
    assemble(src, pages, executed, book, full)
    t1 = time.monotonic()
    log(f"sphinx: {src} -> {out}", flush=True)
    sphinx(src, out, log)
    for page in pages:
        target = out / page["html"]
        if not target.is_file():
            raise BuildError(f"{page['name']}: Sphinx wrote no {target}")
        page["size"] = target.stat().st_size
    problems = [p for f in sorted(out.rglob("*.html")) for p in check_page(f, max_mb)]
    problems += [p for f in sorted(out.rglob("*.css")) for p in check_css(f)]
    if problems:
        raise BuildError("page checks failed:\n  " + "\n  ".join(problems))
    log(f"site: {out}/index.html, {len(pages)} chapters, "
        f"{sum(p['size'] for p in pages) / 1e6:.1f} MB of chapter pages; executed in "
        f"{t1 - t_all:.1f} s, Sphinx {time.monotonic() - t1:.1f} s", flush=True)
    return pages


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("notebooks", nargs="*", type=Path,
                    help="notebooks to build (default: every notebook in --notebook-dir)")
    ap.add_argument("--notebook-dir", type=Path, default=REPO / "notebooks")
    ap.add_argument("--out", type=Path, default=REPO / "site")
    ap.add_argument("--timeout", type=int, default=CELL_TIMEOUT, help="seconds per cell")
    ap.add_argument("--kernel", default="python3", help="kernel name (default python3)")
    ap.add_argument("--max-page-mb", type=float, default=MAX_PAGE_MB)
    args = ap.parse_args(argv)
    notebooks = args.notebooks or find_notebooks(args.notebook_dir)
    if not notebooks:
        print(f"build_site: no notebooks in {args.notebook_dir}", file=sys.stderr)
        return 1
    try:
        build(notebooks, args.out, timeout=args.timeout, kernel_name=args.kernel,
              max_mb=args.max_page_mb)
    except BuildError as exc:
        print(f"build_site: FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
