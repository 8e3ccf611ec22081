"""Benchmark: `vfiolab predict` for a q35 VM with 64 devices.

64 edu devices spread over eight pcie-root-ports (8 per port would exceed a
port's single slot, so: 56 on the root bus plus 8 behind root ports) —
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
    a = ["-machine", "q35", "-m", "4G", "-nodefaults"]
    n = 0
    for port in range(8):
        a += ["-device", f"pcie-root-port,id=rp{port},chassis={port + 1},slot={port + 1}"]
        n += 1
        a += ["-device", f"edu,id=edu_rp{port},bus=rp{port}"]
        n += 1
    i = 0
    while n < 64:
        a += ["-device", f"edu,id=edu{i}"]
        i += 1
        n += 1
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
