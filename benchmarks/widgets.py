"""Benchmark: BarPanel slider moves, headless (Agg).

Builds a :class:`vfiolab.widgets.BarPanel` for a q35 VM with an
ivshmem-plain device (64 MiB BAR2, RAM-backed, so it has a memslot) and
drives ``panel.set_base`` -- what the slider's observer calls -- through
``-n`` moves over the legal bases, alternating between the 32-bit window and
the range above 4 GiB.  Each timed step is everything one slider move costs
in the "image" mode (no ipympl):

* the model: ``move_bar`` (config writes, ``pci_update_mappings``, FlatView
  re-render, KVM memslot delete/create);
* the views: lanes data, memslot and events frames, their HTML;
* the plot: the lanes artists updated in place, an Agg draw, PNG encoding
  for the ``Image`` widget.

It prints the median and 95th percentile in milliseconds; ``--json`` prints
``{"name", "median_ms", "p95_ms", "n", ...}``; ``--profile`` runs the moves
under cProfile and prints the top entries; ``--breakdown`` times the parts
of one step separately.

Run from the repository root:  .venv/bin/python benchmarks/widgets.py --json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import matplotlib  # noqa: E402

matplotlib.use("Agg")

from vfiolab.model.guest import move_bar  # noqa: E402
from vfiolab.widgets import BarPanel  # noqa: E402

ARGS = ("-machine q35 -accel kvm -m 1G -nodefaults -object memory-backend-ram,id=m0,size=64M "
        "-device ivshmem-plain,memdev=m0,id=ivs0").split()


def make_panel(how: str = "clean") -> BarPanel:
    panel = BarPanel(ARGS, cpu_vendor="AuthenticAMD", mode="image")
    panel.set_how(how)
    return panel


def schedule(panel: BarPanel, n: int) -> list[int]:
    """``n`` bases: low and high candidates interleaved, never the current one twice."""
    cands = panel.candidates()
    low = [a for a in cands if a < 1 << 32]
    high = [a for a in cands if a >= 1 << 32]
    seq = []
    i = 0
    while len(seq) < n:
        pool = (low, high)[i % 2] or cands
        seq.append(pool[(i * 7) % len(pool)])
        i += 1
    out = []
    for a in seq:                       # avoid a "move" to where it already is
        if out and out[-1] == a:
            a = cands[(cands.index(a) + 1) % len(cands)]
        out.append(a)
    return out


def percentile(xs, q):
    s = sorted(xs)
    k = (len(s) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def run(n: int, how: str, warmup: int = 3) -> dict:
    panel = make_panel(how)
    bases = schedule(panel, n + warmup)
    for a in bases[:warmup]:            # fonts, text bitmaps, first renderer
        panel.set_base(a)
    times = []
    for a in bases[warmup:]:
        t0 = time.perf_counter()
        panel.set_base(a)
        times.append((time.perf_counter() - t0) * 1000)
    return {"name": f"widgets.BarPanel.set_base ({how}, image mode)",
            "median_ms": round(statistics.median(times), 2),
            "p95_ms": round(percentile(times, 0.95), 2), "n": n,
            "max_ms": round(max(times), 2)}


def breakdown(n: int) -> dict:
    """Median ms of each part of one step, measured separately."""
    panel = make_panel()
    bases = schedule(panel, n + 3)
    for a in bases[:3]:
        panel.set_base(a)
    parts = {"model move_bar": [], "lanes data + artists update": [], "agg draw": [],
             "png encode": [], "tables (frames + html)": []}
    from vfiolab.plot.style import png_bytes
    from vfiolab.views import html_table
    for a in bases[3:]:
        t = time.perf_counter()
        move_bar(panel.vm, panel.bdf, panel.bar, a, how="clean")
        parts["model move_bar"].append(time.perf_counter() - t)
        t = time.perf_counter()
        panel.artists.update(panel.lanes())
        parts["lanes data + artists update"].append(time.perf_counter() - t)
        t = time.perf_counter()
        panel.fig.canvas.draw()
        parts["agg draw"].append(time.perf_counter() - t)
        t = time.perf_counter()
        png_bytes(panel.fig.canvas.buffer_rgba())
        parts["png encode"].append(time.perf_counter() - t)
        t = time.perf_counter()
        html_table(panel.memslot_table(), table_id="a")
        html_table(panel.events_table(), table_id="b")
        parts["tables (frames + html)"].append(time.perf_counter() - t)
    return {k: round(statistics.median(v) * 1000, 2) for k, v in parts.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", "--moves", type=int, default=50)
    ap.add_argument("--how", choices=("clean", "careless"), default="clean")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--breakdown", action="store_true")
    a = ap.parse_args(argv)
    if a.profile:
        import cProfile
        import pstats
        panel = make_panel(a.how)
        bases = schedule(panel, a.moves)
        prof = cProfile.Profile()
        prof.enable()
        for b in bases:
            panel.set_base(b)
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(30)
        return 0
    if a.breakdown:
        print(json.dumps(breakdown(a.moves)))
        return 0
    res = run(a.moves, a.how)
    if a.json:
        print(json.dumps(res))
    else:
        print(f"{res['name']}: median {res['median_ms']:.1f} ms, p95 {res['p95_ms']:.1f} ms, "
              f"n={res['n']} (target: median < 50 ms, p95 < 100 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
