#!/usr/bin/env python3
"""Build the static course site: every notebook executed afresh, as HTML.

    .venv/bin/python scripts/build_site.py                 # notebooks/ -> site/
    .venv/bin/python scripts/build_site.py --out /tmp/site --timeout 120
    .venv/bin/python scripts/build_site.py notebooks/03-flatview-and-memslots.ipynb

For each notebook, in name order (00-, 01-, ...):

1. clear every output, execution count and any saved widget state (a saved
   state is never trusted: the page shows what this run computed);
2. execute it with nbclient in a fresh kernel, the notebook's directory as
   the working directory, a timeout per cell (``--timeout``), the widget
   state stored as the front end would (``store_widget_state``);
3. export it with nbconvert's ``lab`` template into ``OUT/NAME.html``, with
   the widget state embedded and the widget manager loaded from the
   vendored copy (``vendor/``, copied to ``OUT/vendor/``) instead of a CDN;
   require.js and mermaid are not loaded, MathJax only from a vendored copy
   if one is present (none is by default: see vendor/README.md).

Then ``OUT/index.html`` links the pages in order, and every page is checked:
no script, stylesheet, font or image from the network, and under
``--max-page-mb`` (5 MB).  A failing cell stops the build with the
notebook, the cell number and the error; the exit status is then 1.

Jupyter's side files go to ``.home/`` in the checkout unless the
``JUPYTER_*`` variables are already set (as ``make`` sets them).
"""

from __future__ import annotations

import argparse
import html
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
#: the page's URL of the widget renderer, relative to the page
WIDGET_RENDERER = f"vendor/{HTML_MANAGER}/embed.js"
#: an optional vendored MathJax 3 (not shipped; see vendor/README.md)
MATHJAX = "mathjax/tex-chtml.js"
MAX_PAGE_MB = 5.0
CELL_TIMEOUT = 120

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

#: nbconvert's lab template with the CDN loaders replaced, and a navigation bar
TEMPLATE = r"""{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}
{%- if resources.vfiolab.mathjax_url -%}
<script>window.MathJax = {tex: {inlineMath: [['$', '$'], ['\\(', '\\)']],
  displayMath: [['$$', '$$'], ['\\[', '\\]']], processEscapes: true}};</script>
<script src="{{ resources.vfiolab.mathjax_url }}" async></script>
{%- endif -%}
{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block extra_css -%}
<style type="text/css">
nav.vfiolab-nav { font: 13px sans-serif; padding: 6px 12px; border-bottom: 1px solid #ccc;
  display: flex; justify-content: space-between; }
nav.vfiolab-nav a { text-decoration: none; }
/* widgets in the page's UI font, as in JupyterLab */
.jupyter-widgets { font-family: var(--jp-ui-font-family); font-size: var(--jp-ui-font-size1); }
</style>
{%- endblock extra_css -%}
{%- block body_header -%}
{{ super() }}
{{ resources.vfiolab.nav }}
{%- endblock body_header -%}
{% block body_footer %}
{{ resources.vfiolab.nav }}
{{ super() }}
{% endblock body_footer %}
"""


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
# HTML
# --------------------------------------------------------------------------

def exporter(mathjax: bool):
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter
    return HTMLExporter(template_name="lab",
                        extra_loaders=[DictLoader({"vfiolab_site.html.j2": TEMPLATE})],
                        template_file="vfiolab_site.html.j2",
                        widget_renderer_url=WIDGET_RENDERER,
                        # unused (the template loads neither), set so that no
                        # default CDN address can slip into a page
                        require_js_url="", mathjax_url="", mermaid_js_url="",
                        mermaid_layout_elk_js_url="", jquery_url="",
                        jupyter_widgets_base_url="vendor/")


def nav_html(pages: list[dict], i: int) -> str:
    """Previous / contents / next links for page ``i``."""
    def title(j):
        return html.escape(pages[j]["title"])
    prev = (f'<a class="vfiolab-prev" href="{pages[i - 1]["html"]}">&larr; {title(i - 1)}</a>'
            if i > 0 else "<span></span>")
    nxt = (f'<a class="vfiolab-next" href="{pages[i + 1]["html"]}">{title(i + 1)} &rarr;</a>'
           if i + 1 < len(pages) else "<span></span>")
    return f'<nav class="vfiolab-nav">{prev}<a href="index.html">contents</a>{nxt}</nav>'


def has_math(nb) -> bool:
    pat = re.compile(r"\$[^$\n]+\$|\\\(|\\\[")
    return any(c.cell_type == "markdown" and pat.search(c.source) for c in nb.cells)


def write_index(out: Path, pages: list[dict]) -> Path:
    rows = []
    for p in pages:
        rows.append(f'<li><a href="{p["html"]}">{html.escape(p["title"])}</a> '
                    f'<small>({html.escape(p["name"])}, {p["size"] / 1e6:.1f} MB)</small></li>')
    body = "\n".join(rows)
    text = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>vfiolab notebooks</title>
<style>body {{ font: 15px/1.5 sans-serif; max-width: 50em; margin: 2em auto; padding: 0 1em; }}
small {{ color: #666; }}
ol#vfiolab-index {{ list-style: none; padding-left: 0; }}</style></head>
<body>
<h1>vfiolab notebooks</h1>
<p>Each page is a notebook executed when the site was built; its widgets work
without a kernel only where they were made to (the precomputed sliders).  To
run the notebooks yourself: <code>make lab</code>.</p>
<ol id="vfiolab-index">
{body}
</ol>
</body></html>
"""
    path = out / "index.html"
    path.write_text(text, encoding="utf-8")
    return path


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


def copy_vendor(out: Path, mathjax: bool) -> None:
    src = VENDOR / HTML_MANAGER
    if not (src / "embed.js").is_file():
        raise BuildError(f"{src}/embed.js is missing: see vendor/README.md to fetch it")
    dst = out / "vendor"
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copytree(src, dst / HTML_MANAGER, dirs_exist_ok=True)
    if mathjax:
        shutil.copytree(VENDOR / "mathjax", dst / "mathjax", dirs_exist_ok=True)


def build(notebooks: list[Path], out: Path, *, timeout: int = CELL_TIMEOUT,
          kernel_name: str = "python3", max_mb: float = MAX_PAGE_MB, log=print) -> list[dict]:
    """Execute and export ``notebooks`` into ``out``; return one dict per page
    (name, title, html, size, seconds).  Raises BuildError."""
    import nbformat
    setup_env()
    if not notebooks:
        raise BuildError("no notebooks to build")
    out.mkdir(parents=True, exist_ok=True)
    mathjax = (VENDOR / MATHJAX).is_file()
    copy_vendor(out, mathjax)
    exp = exporter(mathjax)
    t_all = time.monotonic()
    # titles first (Markdown does not change when run): the navigation bar
    # of each page names its neighbours
    pages = []
    for path in notebooks:
        nb0 = nbformat.read(path, as_version=4)
        pages.append({"name": path.name, "title": notebook_title(nb0, path.stem),
                      "html": path.stem + ".html", "math": has_math(nb0),
                      "code_cells": sum(1 for c in nb0.cells if c.cell_type == "code")})
    for i, (path, page) in enumerate(zip(notebooks, pages)):
        t0 = time.monotonic()
        log(f"[{i + 1}/{len(notebooks)}] {path.name}: executing {page['code_cells']} code "
            f"cells (timeout {timeout} s per cell)", flush=True)
        nb = execute(path, timeout, kernel_name)
        t1 = time.monotonic()
        if page["math"] and not mathjax:
            log(f"  note: {page['name']} has $math$ but no vendored MathJax: shown as typed")
        resources = {"metadata": {"name": page["title"]},
                     "vfiolab": {"nav": nav_html(pages, i),
                                 "mathjax_url": ("vendor/" + MATHJAX)
                                 if (page["math"] and mathjax) else ""}}
        body, _ = exp.from_notebook_node(nb, resources=resources)
        target = out / page["html"]
        target.write_text(body, encoding="utf-8")
        page["size"] = target.stat().st_size
        page["seconds"] = time.monotonic() - t0
        state = nb.metadata.get("widgets", {}).get(
            "application/vnd.jupyter.widget-state+json", {}).get("state", {})
        page["widgets"] = len(state)
        log(f"  -> {page['html']}: {page['size'] / 1e6:.2f} MB, {len(state)} widget models; "
            f"executed in {t1 - t0:.1f} s, exported in {time.monotonic() - t1:.1f} s",
            flush=True)
    write_index(out, pages)
    problems = [p for page in pages for p in check_page(out / page["html"], max_mb)]
    problems += check_page(out / "index.html", max_mb)
    if problems:
        raise BuildError("page checks failed:\n  " + "\n  ".join(problems))
    log(f"site: {out}/index.html, {len(pages)} pages, "
        f"{sum(p['size'] for p in pages) / 1e6:.1f} MB + vendor, "
        f"built in {time.monotonic() - t_all:.1f} s", flush=True)
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
