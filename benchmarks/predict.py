"""Benchmark: `vfiolab predict` for a q35 VM with 64 devices.

68 PCI functions (60 edu, 4 pcie-root-ports, 4 ivshmem-plain behind them) —
the whole pipeline: command-line parsing, machine build, device realize,
SeaBIOS sizing/placement/enabling through config space, KVM memslots.
Target (issue: core): under 1 s.  Prints median and p95 in ms; --json for
machines.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vfiolab.predict import predict  # noqa: E402


def args_64_devices() -> list[str]:
    """64 PCI functions: slots 1-4 hold 8 edu functions each (function 0
    with multifunction=on), slots 5-8 hold a pcie-root-port on function 0
    and 7 more edu functions; behind each root port one ivshmem-plain."""
    a = ["-machine", "q35", "-m", "4G", "-nodefaults"]
    for slot in range(1, 9):
        for fn in range(8):
            mf = ",multifunction=on" if fn == 0 else ""
            if slot > 4 and fn == 0:
                a += ["-device", f"pcie-root-port,id=rp{slot},chassis={slot},slot={slot},"
                                 f"addr={slot:x}.0{mf}"]
            else:
                a += ["-device", f"edu,id=edu{slot}_{fn},addr={slot:x}.{fn}{mf}"]
    for slot in range(5, 9):
        a += ["-object", f"memory-backend-ram,id=m{slot},size=16M",
              "-device", f"ivshmem-plain,memdev=m{slot},id=ivs{slot},bus=rp{slot}"]
    return a


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("-n", type=int, default=7)
    ns = ap.parse_args()
    args = args_64_devices()
    times = []
    for _ in range(ns.n):
        t = time.perf_counter()
        p = predict(args, cpu_vendor="AuthenticAMD", phys_bits=40)
        times.append((time.perf_counter() - t) * 1000)
    ndev = len([d for d in p.vm.pci_devices() if d.qdev_id])
    res = {"name": "predict_q35_64_devices", "devices": ndev,
           "median_ms": round(statistics.median(times), 1),
           "p95_ms": round(sorted(times)[max(0, int(len(times) * 0.95) - 1)], 1), "n": ns.n}
    print(json.dumps(res) if ns.json else
          f"predict, q35 with {ndev} devices: median {res['median_ms']} ms, p95 {res['p95_ms']} ms (n={ns.n})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
