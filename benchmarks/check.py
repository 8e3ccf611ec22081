"""Benchmark: ``vfiolab check`` on a q35 VM with four large-BAR GPUs.

The VM: ``-M q35 -accel kvm -m 32G -cpu host`` with OVMF 2025.02 on the
debian13 stack (QEMU 10.0, Linux 6.12), an Intel host with 46 phys-bits and
a 48-bit VT-d unit, and four ``vfio-pci`` functions backed by the RTX 6000
Ada dump in data/devices/ (a 64 GiB prefetchable BAR1, 32 MiB BAR3, 16 MiB
BAR0 each).  Every item passes, so the time is one whole check: the firmware
run, the memslots, the type1 replay of every DMA mapping, memlock and the
page-size counts.  Timed ``-n`` times after one warm-up run.  Target: under
500 ms (issue 15).

Prints the median and p95 (ms); ``--json`` prints one JSON object.  Run from
the repository root: ``.venv/bin/python benchmarks/check.py``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vfiolab.check import check  # noqa: E402
from vfiolab.stack import make_stack  # noqa: E402

TARGET_MS = 500


def vm() -> tuple[list[str], dict]:
    args = ["-machine", "q35", "-accel", "kvm", "-m", "32G", "-nodefaults", "-cpu", "host",
            "-drive", "if=pflash,format=raw,unit=0,readonly=on,file=OVMF_CODE_4M.fd",
            "-drive", "if=pflash,format=raw,unit=1,file=OVMF_VARS_4M.fd"]
    hosts = {}
    for i in range(4):
        bdf = f"0000:{0x17 + i * 0x20:02x}:00.0"
        args += ["-device", f"vfio-pci,host={bdf},id=gpu{i}"]
        hosts[bdf] = str(ROOT / "data" / "devices" / "gpu-nvidia-rtx6000-ada")
    return args, hosts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("-n", "--repeat", type=int, default=10)
    ns = ap.parse_args()
    args, hosts = vm()
    stack = make_stack("debian13", firmware="ovmf-2025.02", cpu_vendor="GenuineIntel",
                       phys_bits=46)
    r = check(args, stack=stack, host_devices=hosts, iommu_aw=48)      # warm-up
    times = []
    for _ in range(ns.repeat):
        t0 = time.perf_counter()
        r = check(args, stack=stack, host_devices=hosts, iommu_aw=48)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    med = statistics.median(times)
    p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
    out = {"name": "check_q35_4gpu", "median_ms": round(med, 1), "p95_ms": round(p95, 1),
           "n": ns.repeat, "items": len(r.items), "failed": r.failed, "target_ms": TARGET_MS,
           "within_target": med < TARGET_MS}
    if ns.json:
        print(json.dumps(out))
    else:
        print(f"check, q35 + 4 GPUs (64 GiB BARs), {len(r.items)} items: median {med:.1f} ms, "
              f"p95 {p95:.1f} ms (target < {TARGET_MS} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
