"""Benchmark: render a FlatView of a 10,000-region memory tree.

The tree (QEMU-like, built with vfiolab.model.memory):

* ``system``: a 2^64 container (QEMU's root, ``memory_region_init``);
* ``pc.ram``: 4 GiB of RAM, shown through the alias ``ram-below-4g`` over
  [0, 4 GiB) at priority 0;
* ``pci``: a 2^64 container at priority 1 *over* the RAM alias, so every hole
  between its BARs lets RAM show through (a worst case for gap filling);
* inside ``pci``: ``--regions`` small BARs (4 KiB, alternately I/O and RAM)
  at priority 1, every 8 KiB from 0x80000000, added in ascending address
  order -- which QEMU's list order (newest first among equal priorities,
  ``memory_region_update_container_subregions``) renders back to front;
* ``--aliases`` aliases: half of them windows of ``pc.ram`` at priority 2
  inside ``pci`` (like PAM or SMRAM aliases), half of them aliases of BARs
  placed above 4 GiB.

It renders the root ``--repeat`` times with ``FlatView.render`` (QEMU
``generate_memory_topology``: ``render_memory_region`` + ``flatview_simplify``)
and prints the median and 95th percentile in milliseconds.  ``--json`` prints
one JSON object instead; ``--profile`` runs one render under cProfile.

Run from the repository root:  .venv/bin/python benchmarks/flatview.py --json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vfiolab.addr import GiB, KiB  # noqa: E402
from vfiolab.model.memory import UINT64_SIZE, FlatView, MemoryRegion  # noqa: E402

BAR_BASE = 0x80000000
BAR_SIZE = 4 * KiB
BAR_STRIDE = 8 * KiB


def build_tree(regions: int = 10_000, aliases: int = 100) -> MemoryRegion:
    system = MemoryRegion.init_container("system", UINT64_SIZE)
    ram = MemoryRegion.init_ram("pc.ram", 4 * GiB)
    system.add_subregion(0, MemoryRegion.init_alias("ram-below-4g", ram, 0, 4 * GiB))
    pci = MemoryRegion.init_container("pci", UINT64_SIZE)
    system.add_subregion_overlap(0, pci, 1)
    if regions * BAR_STRIDE > 2 * GiB:
        raise SystemExit(f"--regions {regions}: too many for the 2 GiB BAR window")
    bars = []
    for i in range(regions):
        make = MemoryRegion.init_io if i % 2 == 0 else MemoryRegion.init_ram
        bar = make(f"bar{i}", BAR_SIZE)
        pci.add_subregion_overlap(BAR_BASE + i * BAR_STRIDE, bar, 1)
        bars.append(bar)
    for j in range(aliases):
        if j % 2 == 0:
            # a RAM window over a stretch of BARs (covers 4 of them)
            at = BAR_BASE + (j * 97 % regions) * BAR_STRIDE
            win = MemoryRegion.init_alias(f"ram-window{j}", ram, at, 4 * BAR_STRIDE)
            pci.add_subregion_overlap(at, win, 2)
        else:
            target = bars[j * 89 % regions]
            al = MemoryRegion.init_alias(f"bar-alias{j}", target, 0, BAR_SIZE)
            system.add_subregion_overlap(4 * GiB + j * BAR_STRIDE, al, 0)
    return system


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--regions", type=int, default=10_000)
    ap.add_argument("--aliases", type=int, default=100)
    ap.add_argument("--repeat", "-n", type=int, default=30)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--profile", action="store_true", help="cProfile one render, print the top 15")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    root = build_tree(args.regions, args.aliases)
    build_ms = (time.perf_counter() - t0) * 1e3
    view = FlatView.render(root)           # warm-up, and the size of the result

    if args.profile:
        import cProfile
        import pstats
        prof = cProfile.Profile()
        prof.enable()
        FlatView.render(root)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(15)

    times = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        FlatView.render(root)
        times.append((time.perf_counter() - t) * 1e3)
    result = {
        "name": f"flatview_render_{args.regions}_regions",
        "median_ms": round(statistics.median(times), 2),
        "p95_ms": round(percentile(times, 95), 2),
        "n": args.repeat,
        "regions": args.regions + args.aliases + 4,
        "flat_ranges": len(view),
        "build_ms": round(build_ms, 1),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['name']}: {result['regions']} regions -> {result['flat_ranges']} flat ranges; "
              f"render median {result['median_ms']} ms, p95 {result['p95_ms']} ms over {args.repeat} runs "
              f"(tree built in {result['build_ms']} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
