"""The workbook's notebooks run top to bottom without an error, and what is
committed is what a fresh run produces.

Each notebook is executed with nbclient (the same engine as ``jupyter
execute`` and ``nbconvert --execute``, which imitates a front-end's widget
handling) in a ``python3`` kernel of this interpreter's environment, with
the notebook's folder as working directory, a timeout per cell, Jupyter's
side files inside the checkout and ``MPLBACKEND`` unset (an inherited
``Agg`` would make figures vanish silently).

The strict output comparison is nbval's job::

    pytest -p no:cacheprovider --nbval --nbval-current-env --nbval-cell-timeout=120 \\
        --nbval-sanitize-with notebooks/nbval-sanitize.cfg notebooks/

Regenerate the committed outputs after changing a notebook or the model::

    .venv/bin/python tests/test_notebooks.py --write            # all notebooks
    .venv/bin/python tests/test_notebooks.py --write 02-config-space
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
CELL_TIMEOUT = 120          # seconds per cell
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
KERNEL = "python3"


def notebook_paths() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))


def kernel_env() -> dict:
    """The environment the kernel starts with: vfiolab importable from the
    checkout, Jupyter/IPython/matplotlib side files under .home/, no
    MPLBACKEND."""
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)
    home = ROOT / ".home"
    env.update({
        "JUPYTER_CONFIG_DIR": str(home / "jupyter_config"),
        "JUPYTER_DATA_DIR": str(home / "jupyter_data"),
        "JUPYTER_RUNTIME_DIR": str(home / "jupyter_runtime"),
        "IPYTHONDIR": str(home / "ipython"),
        "MPLCONFIGDIR": str(home / "mpl"),
        "JUPYTER_PLATFORM_DIRS": "1",
    })
    paths = [str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


def execute(path: Path):
    """Run one notebook from a clean state; returns the executed notebook."""
    import nbformat
    from nbclient import NotebookClient
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name=KERNEL,
                            resources={"metadata": {"path": str(path.parent)}},
                            record_timing=False, store_widget_state=False,
                            allow_errors=False)
    os.environ.pop("MPLBACKEND", None)
    client.execute(env=kernel_env())
    return nb


def write(path: Path) -> float:
    """Execute ``path`` and save it with its outputs (metadata kept minimal:
    kernelspec and language name, no widget state, no timings)."""
    import nbformat
    t0 = time.monotonic()
    nb = execute(path)
    nb.metadata.pop("widgets", None)
    nb.metadata["language_info"] = {"name": "python"}
    # widget views carry a random model id (and no state is stored): give
    # them a stable one so an unchanged notebook saves to the same bytes
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get(WIDGET_VIEW)
            if view is not None:
                view["model_id"] = f"{cell.get('id', i)}-widget"
    nbformat.write(nb, path)
    return time.monotonic() - t0


# --------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------

#: things that must never appear in a committed output: object addresses,
#: absolute paths of this machine, ipykernel's temporary cell files
FORBIDDEN = [re.compile(r"<[A-Za-z_][\w.]* (object )?at 0x[0-9a-fA-F]+>"),
             re.compile(r"(/work/|/tmp/|/home/|/root/)"),
             re.compile(r"ipykernel_\d+")]


def _join(val) -> str:
    return val if isinstance(val, str) else "".join(val)


def _texts(cell):
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            yield out.get("name", ""), _join(out.get("text", ""))
        for key, val in out.get("data", {}).items():
            if key.startswith("text/"):
                yield key, _join(val)


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda p: p.name)
def test_notebook_runs_without_errors(path):
    t0 = time.monotonic()
    nb = execute(path)
    elapsed = time.monotonic() - t0
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error", f"cell {i}: {out.get('ename')}"
            # warnings and the like would show as stderr (and break nbval)
            assert not (out.get("output_type") == "stream" and out.get("name") == "stderr"), \
                f"cell {i} wrote to stderr: {out.get('text', '')[:300]}"
    # the workbook's budget is one minute for all notebooks together
    assert elapsed < 40, f"{path.name} took {elapsed:.1f} s"


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda p: p.name)
def test_committed_outputs_are_a_fresh_run(path):
    """Every code cell was executed, in order, once (what nbval compares),
    and no output shows an object address, a local path or a temp file."""
    nb = json.loads(path.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == KERNEL
    assert "widgets" not in nb["metadata"]
    counts = [c.get("execution_count") for c in nb["cells"] if c["cell_type"] == "code"]
    assert counts == list(range(1, len(counts) + 1)), f"execution counts {counts}"
    for i, cell in enumerate(nb["cells"]):
        for where, text in _texts(cell):
            for pat in FORBIDDEN:
                m = pat.search(text)
                assert m is None, f"cell {i} {where}: {m.group(0)!r}"


def test_notebooks_open_with_what_they_teach():
    """Each notebook starts with What you'll do / learn / need, ends with
    further reading, has a seeded exercise with a check, and widget cells are
    kept out of nbval's comparison."""
    paths = notebook_paths()
    assert [p.name for p in paths] == sorted(p.name for p in paths)
    assert len(paths) >= 5
    for path in paths:
        nb = json.loads(path.read_text())
        first = "".join(nb["cells"][0]["source"])
        for head in ("What you'll do", "What you'll learn", "What you'll need"):
            assert head in first, f"{path.name}: no '{head}'"
        last = "".join(nb["cells"][-1]["source"])
        assert last.startswith("## Further reading"), path.name
        cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
        code = ["".join(c["source"]) for c in cells]
        assert any("SEED" in c and "exercise(" in c for c in code), path.name
        assert any(".check(answer)" in c for c in code), path.name
        for cell, c in zip(cells, code):
            # test-only markers are cell tags (nbval reads them), never text in the lesson
            assert "NBVAL_" not in c, path.name
            if any(w in c for w in ("BarPanel(", "bar_panel(", "DmaView(", "ipywidgets")):
                assert "nbval-ignore-output" in cell["metadata"].get("tags", []), path.name


def test_sanitize_file_touches_object_reprs_only():
    """The nbval sanitize file hides Python object addresses, never the hex
    addresses the notebooks teach with."""
    cfg = (NOTEBOOKS / "nbval-sanitize.cfg").read_text()
    pairs = re.findall(r"^regex: (.*)$\n^replace: (.*)$", cfg, flags=re.M)
    assert pairs
    sample = "BAR2 at 0xfe000000, slot 3 -> 0x7f0080200000; <vfiolab.x.Y object at 0x7f12ab34cd50>"
    out = sample
    for rx, rep in pairs:
        out = re.sub(rx, rep, out)
    assert "0xfe000000" in out and "0x7f0080200000" in out
    assert "0x7f12ab34cd50" not in out


def main(argv=None) -> int:
    import argparse
    ap = argparse.ArgumentParser(description="Run the notebooks; --write saves their outputs.")
    ap.add_argument("--write", action="store_true")
    ap.add_argument("names", nargs="*", help="notebook names (without .ipynb); default all")
    ns = ap.parse_args(argv)
    paths = notebook_paths()
    if ns.names:
        paths = [p for p in paths if p.stem in ns.names or p.name in ns.names]
    total = 0.0
    for p in paths:
        if ns.write:
            dt = write(p)
        else:
            t0 = time.monotonic()
            execute(p)
            dt = time.monotonic() - t0
        total += dt
        print(f"{p.name}: {dt:.1f} s")
    print(f"total: {total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
