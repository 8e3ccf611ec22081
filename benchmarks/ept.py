"""Benchmark: KVM's lazy EPT fill as vfiolab.model.ept models it.

Two runs, each timed ``-n`` times on a fresh ``Mmu`` (the VM is built once):

* ``touch_1m_4k``: a q35 guest with 8 GiB of RAM whose host RAM is *not*
  backed by transparent huge pages (``vm.host.thp = False``, so every
  ``host_pfn_mapping_level`` is 4K and KVM maps 4K leaves); the guest touches
  1,048,576 distinct 4 KiB pages (the 4 GiB above 4G, in random order) with
  ``Mmu.touch``: 1M EPT violations, 1M leaves, 2,048 page tables.
  Target: under 2 s.
* ``map_1t_1g``: a 1 TiB guest whose RAM is one 1 GiB-hugetlbfs-backed
  block (QEMU ``-object memory-backend-file,mem-path=/dev/hugepages1G``:
  the mmap is aligned to the 1 GiB page size, ``file_ram_alloc``), built
  directly as a VM with one RAM region at GPA 0 (a 1 TiB ``predict`` run
  is not needed to exercise the EPT); one access per GiB through the
  per-access API ``Mmu.access``: 1,024 faults, 1,024 1G leaves.
  Target: under 1 s.  The host model (vfiolab/model/host.py) has no
  hugetlbfs yet, so this script gives RAM 1G host entries with a small
  subclass of its HostAddressSpace.

Prints the medians (ms) and leaf counts; ``--json`` prints one JSON object
per run.  Run from the repository root: ``.venv/bin/python benchmarks/ept.py``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vfiolab.addr import GiB, TiB  # noqa: E402
from vfiolab.model.ept import Mmu  # noqa: E402
from vfiolab.model.host import PAGE_1G, HostAddressSpace, HostTranslation  # noqa: E402
from vfiolab.model.memory import MemoryRegion  # noqa: E402
from vfiolab.model.vm import VM  # noqa: E402
from vfiolab.predict import predict  # noqa: E402


class Hugetlb1GHost(HostAddressSpace):
    """QEMU's address space with RAM on 1 GiB hugetlbfs pages: a RAM
    mapping is mapped by PUD (1G) entries wherever the aligned GiB lies in
    it and HVA and HPA agree modulo 1 GiB (hugetlbfs maps only whole huge
    pages, Linux mm/hugetlb.c)."""

    def translate(self, hva: int):
        t = super().translate(hva)
        if t is None or t.kind != "ram":
            return t
        m = t.mapping
        lo = hva & ~(PAGE_1G - 1)
        if lo >= m.vaddr and lo + PAGE_1G <= m.vaddr + m.size and (hva - t.hpa) % PAGE_1G == 0:
            return HostTranslation(hva, t.hpa, PAGE_1G, t.kind, m)
        return t


def run_touch_1m(n: int) -> dict:
    p = predict("-machine q35 -m 8G -nodefaults".split(), cpu_vendor="AuthenticAMD")
    vm = p.vm
    vm.host.thp = False
    rng = np.random.default_rng(1)
    gpas = (4 * GiB + rng.permutation(1 << 20).astype(np.int64) * 4096)
    times, stats = [], None
    for _ in range(n):
        mmu = Mmu(vm, levels=4, record=False)
        t = time.perf_counter()
        mmu.touch(gpas, "write")
        times.append((time.perf_counter() - t) * 1000)
        stats = mmu.stats()
        mmu.detach()
    return {"name": "ept_touch_1m_4k", "pages": int(gpas.size),
            "leaves": stats["leaves"], "table_pages": stats["table_pages"],
            "faults": stats["ept_violations"],
            "median_ms": round(statistics.median(times), 1),
            "max_ms": round(max(times), 1), "n": n, "target_ms": 2000}


def run_map_1t(n: int) -> dict:
    vm = VM("pc", TiB)
    vm.host = Hugetlb1GHost()
    ram = MemoryRegion.init_ram("pc.ram", TiB)
    ram.hva = vm.host.alloc(TiB, "pc.ram", "ram", align=PAGE_1G)
    vm.system_memory.add_subregion(0, ram)
    times, stats = [], None
    for _ in range(n):
        mmu = Mmu(vm, levels=4, record=False)
        t = time.perf_counter()
        for gib in range(TiB // GiB):
            mmu.access(gib * GiB, "write")
        times.append((time.perf_counter() - t) * 1000)
        stats = mmu.stats()
        mmu.detach()
    return {"name": "ept_map_1t_1g", "leaves": stats["leaves"],
            "table_pages": stats["table_pages"], "faults": stats["ept_violations"],
            "median_ms": round(statistics.median(times), 1),
            "max_ms": round(max(times), 1), "n": n, "target_ms": 1000}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("-n", type=int, default=5)
    ns = ap.parse_args()
    for res in (run_touch_1m(ns.n), run_map_1t(ns.n)):
        if ns.json:
            print(json.dumps(res))
        else:
            print(f"{res['name']}: median {res['median_ms']} ms, max {res['max_ms']} ms "
                  f"(n={res['n']}, target {res['target_ms']} ms); leaves {res['leaves']}, "
                  f"{res['table_pages']} table pages, {res['faults']} EPT violations")
    return 0


if __name__ == "__main__":
    sys.exit(main())
