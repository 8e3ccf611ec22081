"""Benchmark: `vfiolab predict` of a q35 + OVMF VM with 4 root ports and 8 devices.

q35, 4 GiB, the OVMF 2025.02 flash pair (Debian's image names: the model knows
their sizes, no file is read), 4 pcie-root-ports each with an ivshmem-plain
(64 MiB) behind it, 4 edu on the root bus: the whole pipeline with OVMF's
platform set-up, PciBusDxe enumeration and PciHostBridgeDxe allocation
through config space.  Target (issue: OVMF): under 200 ms.  Prints median and
p95 in ms; --json for machines.
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


def args_ovmf_4rp_8dev() -> list[str]:
    a = ["-machine", "q35", "-accel", "kvm", "-m", "4G", "-nodefaults",
         "-drive", "if=pflash,format=raw,unit=0,readonly=on,file=OVMF_CODE_4M.fd",
         "-drive", "if=pflash,format=raw,unit=1,file=OVMF_VARS_4M.fd"]
    for i in range(1, 5):
        a += ["-device", f"pcie-root-port,id=rp{i},chassis={i},slot={i}",
              "-object", f"memory-backend-ram,id=m{i},size=64M",
              "-device", f"ivshmem-plain,memdev=m{i},id=ivs{i},bus=rp{i}"]
    for i in range(4):
        a += ["-device", f"edu,id=edu{i}"]
    return a


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("-n", type=int, default=9)
    ns = ap.parse_args()
    args = args_ovmf_4rp_8dev()
    kw = dict(firmware="ovmf-2025.02", cpu_vendor="AuthenticAMD", phys_bits=48)
    predict(args, **kw)                              # warm-up (imports, caches)
    times = []
    for _ in range(ns.n):
        t = time.perf_counter()
        p = predict(args, **kw)
        times.append((time.perf_counter() - t) * 1000)
    ndev = len([d for d in p.vm.pci_devices() if d.qdev_id])
    res = {"name": "predict_q35_ovmf_4rp_8dev", "devices": ndev,
           "median_ms": round(statistics.median(times), 1),
           "p95_ms": round(sorted(times)[max(0, int(len(times) * 0.95) - 1)], 1), "n": ns.n}
    print(json.dumps(res) if ns.json else
          f"predict, q35 + OVMF 2025.02 with {ndev} devices: median {res['median_ms']} ms, "
          f"p95 {res['p95_ms']} ms (n={ns.n})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
