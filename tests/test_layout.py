"""The package's folders are its architecture: imports point one way.

base (errors, addr, records, stack) <- model <- inputs <- front ends (predict,
simulate, check) <- real <- views <- plot <- widgets <- course <- cli.  A module may
import its own layer and the layers to its left, never one to its right; the
model in particular never imports views, plotting, widgets, the course, the
real-QEMU runners or the readers of user input.  Lazy imports inside
functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "vfiolab"

LAYERS = [
    ("base", {"vfiolab.errors", "vfiolab.addr", "vfiolab.records", "vfiolab.stack"}),
    ("model", {"vfiolab.model"}),
    ("inputs", {"vfiolab.inputs"}),
    ("front", {"vfiolab.predict", "vfiolab.simulate", "vfiolab.check"}),
    ("real", {"vfiolab.real"}),
    ("views", {"vfiolab.views"}),
    ("plot", {"vfiolab.plot"}),
    ("widgets", {"vfiolab.widgets"}),
    ("course", {"vfiolab.course"}),
    ("cli", {"vfiolab.cli", "vfiolab.__main__", "vfiolab"}),
]
#: views, plot and widgets draw the model; they never need to run real QEMU
NEVER = {"views": {"real"}, "plot": {"real", "inputs"}, "widgets": {"real"}}


def layer_of(module: str) -> int:
    best, rank = -1, None
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best:
                best, rank = len(p), i
    assert rank is not None, module
    return rank


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path):
    mod = module_name(path)
    pkg = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [target] if node.module else [f"{target}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            if name == "vfiolab" or name.startswith("vfiolab."):
                yield node.lineno, name


MODULES = sorted(PKG.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PKG.parent)))
def test_imports_point_one_way(path):
    mod = module_name(path)
    here = layer_of(mod)
    bad = []
    for line, target in imports(path):
        there = layer_of(target)
        if there > here or LAYERS[there][0] in NEVER.get(LAYERS[here][0], ()):
            bad.append(f"{path.name}:{line} imports {target} ({LAYERS[there][0]})")
    assert not bad, f"{mod} ({LAYERS[here][0]}): " + "; ".join(bad)


def test_layer_table_catches_a_model_importing_plot():
    # the rule itself: a model module importing plotting is a layer violation
    assert layer_of("vfiolab.plot.lanes") > layer_of("vfiolab.model.ept")
    assert layer_of("vfiolab.real.capture") > layer_of("vfiolab.model.boot")
    assert layer_of("vfiolab.inputs.cmdline") > layer_of("vfiolab.model.config")


def test_top_level_shows_the_architecture():
    names = sorted(p.name for p in PKG.iterdir() if not p.name.startswith("__pycache__"))
    for folder in ("model", "inputs", "real", "plot", "course"):
        assert (PKG / folder / "__init__.py").exists(), folder
    assert (PKG / "model" / "firmware" / "__init__.py").exists()
    loose = [n for n in names if n.endswith(".py")]
    assert set(loose) <= {"__init__.py", "__main__.py", "errors.py", "addr.py", "records.py",
                          "stack.py", "predict.py", "simulate.py", "check.py", "views.py", "widgets.py",
                          "cli.py"}, loose
