"""Helpers for notebooks 04 to 07: EPT fills, VFIO DMA, the whole story, the thread's claims.

Like :mod:`vfiolab.course.helpers`, this is glue: it runs the model
(:mod:`vfiolab.model.ept`, :mod:`vfiolab.model.iommu`,
:mod:`vfiolab.model.story`), reads the real KVM captures in ``data/kvm/``
(made by :mod:`vfiolab.real.guestcap`, described in ``data/kvm/README.md``) and
turns both into tables with the real interfaces' names, so that a notebook
cell is one call.  The rules behind each table are the model's, which names
its sources; where this module states a rule itself (how a capture's events
line up with the model's, what a verdict needs), the docstring says where it
comes from.

Everything is deterministic: the model's host addresses come from its fixed
allocator, the captures are committed files, and nothing prints an object
address, a timing or an absolute path.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path

import pandas as pd

from ..addr import GiB, MiB, PAGE_SIZE, align_down, align_up, fmt_hex
from ..errors import ConfigError, VfiolabError

__all__ = [
    "EXAMPLE_ARGS", "EXAMPLE_HOST", "NVME_ARGS", "NVME_HOST", "KVM_CAPTURES", "region_start",
    # 04
    "touch_table", "ept_counts", "huge_pages_frame", "zap_and_refault", "show_ept",
    "walk_2d", "walk_frame", "show_walk", "capture_touches", "touch_agreement",
    # 05
    "dma_map_frame", "iova_vs_sections", "pinning_frame", "memlock_refusal", "dma_table",
    "dmar_log", "move_and_dma", "show_dma_view", "viommu_frame",
    # 06
    "whole_story", "story_overview", "story_events", "show_timeline", "capture_vs_model",
    "capture_memslot_uas", "userspace_addr_table", "show_capture_timelines",
    # 07
    "Verdict", "verdict_table", "claim_stages", "claim_config_memslot", "claim_ram_ept",
    "claim_bar_waits", "claim_firmware_config", "claim_no_relay", "claim_bar_write_ept",
    "claim_two_stage", "claim_after_boot", "claim_iova_gpa", "thread_model_fig",
    # 10
    "umb_frame",
]

REPO = Path(__file__).resolve().parents[2]
#: the real KVM captures (data/kvm/README.md)
KVM_DATA = REPO / "data" / "kvm"
KVM_CAPTURES = ("q35-touch", "q35-ivshmem-move", "q35-decode-off", "q35-rootport-window")

#: the workbook's passthrough example: a Tesla P100 (data/devices/gpu-nvidia-tesla-p100,
#: a public lspci -vvv dump) in a q35 guest with 2 GiB of RAM
EXAMPLE_ARGS = "-machine q35 -m 2G -nodefaults -device vfio-pci,host=0000:01:00.0,id=gpu0"
EXAMPLE_HOST = {"0000:01:00.0": "gpu-nvidia-tesla-p100"}

_LEVEL = {1: "4K", 2: "2M", 3: "1G"}
_LEVEL_BYTES = {1: PAGE_SIZE, 2: 2 * MiB, 3: GiB}


def _vm(x):
    return getattr(x, "vm", x)


def _section_at(sections, gpa):
    return next((s for s in sections if s.start <= gpa <= s.end), None)


def region_start(x, name: str) -> int:
    """Where the first range of region ``name`` starts in the flat view of
    "memory" of a Prediction, Story or VM (e.g. ``"ahci"``, ``"msix-table"``)."""
    for s in _sections(_vm(x)):
        if s.name == name:
            return s.start
    raise ConfigError(f"no region {name!r} in this VM's address space \"memory\"")


def _what_is_there(sections, gpa) -> str:
    s = _section_at(sections, gpa)
    return f"{s.kind} {s.name}" if s is not None else "nothing (unassigned)"


# ==========================================================================
# 04 · EPT fills
# ==========================================================================

def _kvm_did(mmu, before: dict, events: list[dict]) -> str:
    """One access's outcome in words, from the model's events and counters
    (see :meth:`vfiolab.model.ept.Mmu.access` for the rules)."""
    viol = mmu.counters["ept_violations"] - before["ept_violations"]
    misc = mmu.counters["ept_misconfigs"] - before["ept_misconfigs"]
    parts = []
    for e in events:
        op = e["op"]
        if op == "map":
            gfn = int(e["gfn"], 16)
            slot = mmu.slot_for(gfn)
            parts.append(f"EPT violation -> memslot {slot.id if slot else '?'} -> "
                         f"{_LEVEL[e['level']]} leaf at {fmt_hex(gfn << 12)} "
                         f"({e['memtype'].upper()})")
        elif op == "mmio":
            parts.append("EPT violation, no memslot -> MMIO SPTE installed")
        elif op == "exit_mmio":
            if misc and not parts:
                parts.append("EPT misconfiguration (the MMIO SPTE)")
            elif viol and not parts:
                slot = mmu.slot_for(int(e["gpa"], 16) >> 12)
                parts.append("EPT violation, write to a read-only memslot" if slot is not None
                             else "EPT violation, no memslot")
            parts.append(f"KVM_EXIT_MMIO -> QEMU: {e['region']}")
        elif op == "kvm_mmio":
            if misc and not parts:
                parts.append("EPT misconfiguration (the MMIO SPTE)")
            parts.append(f"handled inside KVM ({e['device']})")
    if not parts:
        return "the EPT entry is there: the access completes, no exit" if not viol else \
            "EPT violation, fixed without the MMU lock (fast path)"
    return "; ".join(parts)


def touch_table(mmu, touches) -> pd.DataFrame:
    """Perform guest accesses ``(gpa, kind)`` or ``(gpa, kind, note)`` on
    ``mmu`` (a :class:`vfiolab.model.ept.Mmu`), in order; one row each:
    what the flat view has there, what KVM did, and whether the access
    reached QEMU."""
    secs = [s for s in _sections(mmu.vm)]
    rows = []
    for i, t in enumerate(touches, 1):
        gpa, kind = t[0], t[1]
        note = t[2] if len(t) > 2 else ""
        before = dict(mmu.counters)
        evs = mmu.access(gpa, kind)
        rows.append({"#": i, "access": kind, "GPA": fmt_hex(gpa), "note": note,
                     "what is there": _what_is_there(secs, gpa),
                     "KVM": _kvm_did(mmu, before, evs),
                     "exit to QEMU": "yes" if any(e.get("exit") for e in evs) else "no"})
    df = pd.DataFrame(rows)
    if not any(rows[i]["note"] for i in range(len(rows))):
        df = df.drop(columns=["note"])
    return df


def _sections(vm):
    from ..model.memory import to_section
    return [to_section(fr, vm.accel_marker) for fr in vm.flatview()]


def ept_counts(mmu, label: str = "") -> pd.DataFrame:
    """The EPT's contents and KVM's counters (:meth:`Mmu.stats`) as one row."""
    st = mmu.stats()
    row = {"": label} if label else {}
    row.update({"4K leaves": st["leaves"]["4K"], "2M leaves": st["leaves"]["2M"],
                "1G leaves": st["leaves"]["1G"], "MMIO SPTEs": st["mmio_sptes"],
                "table pages": st["table_pages"], "EPT violations": st["ept_violations"],
                "EPT misconfigs": st["ept_misconfigs"], "exits to QEMU": st["exits_mmio"],
                "zaps": st["zaps"], "refaults": st["refaults"],
                "memslot generation": st["generation"]})
    return pd.DataFrame([row])


def huge_pages_frame(prediction) -> pd.DataFrame:
    """Per memslot: the conditions that decide the size of the EPT leaf a
    first touch gets, and the size the model maps.

    The conditions are KVM's (Linux ``arch/x86/kvm/x86.c``
    ``kvm_alloc_memslot_metadata``, ``arch/x86/kvm/mmu/mmu.c``
    ``__kvm_mmu_max_mapping_level`` / ``host_pfn_mapping_level``), stated
    per slot and worked by :func:`vfiolab.course.exercises.solve_level` for a probe
    address (the first address of the slot's largest whole huge frame, else
    its start); the last column is a fresh :class:`~vfiolab.model.ept.Mmu`
    touching that address."""
    from .exercises import solve_level
    from ..model.ept import Mmu
    vm = _vm(prediction)
    secs = _sections(vm)
    mmu = Mmu(vm, record=False)
    rows = []
    for m in sorted(prediction.memslots(), key=lambda m: m.guest_phys_addr):
        start, end = m.guest_phys_addr, m.guest_phys_addr + m.memory_size
        probe = start
        for size in (GiB, 2 * MiB):
            f = align_up(start, size)
            if f + size <= end:
                probe = f
                break
        t = vm.host.translate(m.userspace_addr + (probe - start))
        host_page = t.page_size if t is not None else PAGE_SIZE
        level, why = solve_level(m, probe, host_page)
        evs = mmu.access(probe, "read")
        got = next((_LEVEL[e["level"]] for e in evs if e["op"] == "map"), "-")
        sec = _section_at(secs, start)
        rows.append({"slot": m.slot, "region": sec.name if sec else "",
                     "guest_phys_addr": fmt_hex(start), "memory_size": fmt_hex(m.memory_size),
                     "userspace_addr": fmt_hex(m.userspace_addr),
                     "GPA = HVA mod 2M": (start - m.userspace_addr) % (2 * MiB) == 0,
                     "mod 1G": (start - m.userspace_addr) % GiB == 0,
                     "host page": _LEVEL[{PAGE_SIZE: 1, 2 * MiB: 2, GiB: 3}[host_page]],
                     "probe GPA": fmt_hex(probe), "why (decisive rule)": why[-1] if why else "",
                     "rule": _LEVEL[level], "model (Mmu)": got})
    mmu.detach()
    return pd.DataFrame(rows)


@dataclass
class ZapResult:
    """What :func:`zap_and_refault` observed: ``events`` (the BAR unmaps and
    maps, memslot calls and KVM's zaps, in order), ``counts`` (the EPT
    before, after the move, after touching again) and ``retouch`` (the
    touches after the move)."""

    events: pd.DataFrame
    counts: pd.DataFrame
    retouch: pd.DataFrame


def zap_and_refault(mmu, bdf: str, bar: int, new: int, touches, how: str = "clean") -> ZapResult:
    """Move BAR ``bar`` of ``bdf`` to ``new`` (:func:`vfiolab.model.guest.move_bar`)
    while ``mmu`` follows the memslots, then perform ``touches`` again.

    Deleting or moving a memslot makes KVM drop EPT entries
    (``kvm_arch_flush_shadow_memslot``; with ``KVM_X86_QUIRK_SLOT_ZAP_ALL``,
    on by default, every SPTE of the VM: ``kvm_mmu_zap_all_fast``), so the
    next touch of anything faults again: a *refault*."""
    from ..model.guest import move_bar
    vm = mmu.vm
    before = ept_counts(mmu, "before the move")
    start = len(vm.events)
    move_bar(vm, bdf, bar, new, how)
    rows = []
    for e in vm.events[start:]:
        op = e["op"]
        if op in ("pci_update_mappings_del", "pci_update_mappings_add"):
            rows.append({"event": op, "what": f"{'unmap' if op.endswith('del') else 'map'} "
                         f"BAR{e['bar']} at {fmt_hex(e['addr'])}", "entries dropped": ""})
        elif op == "set_user_memory":
            what = (f"delete memslot {e['slot']} ({fmt_hex(e['gpa'])})" if not e["size"] else
                    f"create memslot {e['slot']}: {fmt_hex(e['gpa'])} size {fmt_hex(e['size'])}")
            rows.append({"event": "KVM_SET_USER_MEMORY_REGION", "what": what,
                         "entries dropped": ""})
        elif op == "zap":
            rows.append({"event": "zap (KVM)", "what": f"scope {e['scope']}, for memslot "
                         f"{e['slot']}", "entries dropped": e["entries"]})
    after = ept_counts(mmu, "after the move")
    again = touch_table(mmu, touches)
    end = ept_counts(mmu, "after touching again")
    return ZapResult(pd.DataFrame(rows), pd.concat([before, after, end], ignore_index=True),
                     again)


def ept_fig(mmu, gpa: int | None = None, size=None):
    """The EPT tree (:func:`vfiolab.plot.ept.ept_figure`), with the walk of ``gpa`` drawn."""
    from ..plot.ept import ept_figure
    kw = {} if size is None else {"size": size}
    fig, _, _ = ept_figure(mmu, highlight_gpa=gpa, **kw)
    return fig


def show_ept(mmu, gpa: int | None = None, size=None) -> None:
    """:func:`ept_fig` shown as a PNG (:func:`vfiolab.course.helpers.show`)."""
    from .helpers import show
    show(ept_fig(mmu, gpa, size))


def walk_2d(args=EXAMPLE_ARGS, host_devices=None, *, thp: bool = False,
            gva: int = 0xFFFF888000201000, gpa: int = 0x3000000, pool: int = 0x1000000):
    """A guest kernel mapping ``gva`` -> ``gpa`` with 4-level page tables in
    its own RAM (at ``pool``), and the CPU translating ``gva`` with cold
    TLBs: returns ``(mmu, walk)`` (:meth:`vfiolab.model.ept.Mmu.walk_2d`).

    ``thp`` says whether the host backs guest RAM with 2 MiB pages; without
    them every EPT leaf is 4K and the walk makes (4+1)(4+1)-1 = 24 memory
    references (SDM Vol. 3C "EPT Translation Mechanism"; Bhargava et al.,
    ASPLOS 2008)."""
    from .helpers import predict_vm
    from ..model.ept import GuestPageTables, Mmu
    p = predict_vm(args, EXAMPLE_HOST if host_devices is None else host_devices)
    p.vm.host.thp = thp
    mmu = Mmu(p.vm, record=False)
    pt = GuestPageTables(mmu, pool_gpa=pool)
    pt.map(gva, gpa)
    return mmu, mmu.walk_2d(gva, pt.cr3)


def walk_frame(walk) -> pd.DataFrame:
    """The references of a 2-D walk, one row each, in the order the CPU makes them."""
    rows = []
    for r in walk:
        rows.append({"#": r["ref"], "reads": r["reads"],
                     "for GPA": r["gpa"], "at HPA": r["hpa"], "value": r["value"]})
    return pd.DataFrame(rows)


def walk_fig(walk, size=None):
    """The 2-D walk grid (:func:`vfiolab.plot.ept.walk_2d_figure`)."""
    from ..plot.ept import walk_2d_figure
    kw = {} if size is None else {"size": size}
    fig, _, _ = walk_2d_figure(walk, **kw)
    return fig


def show_walk(walk, size=None) -> None:
    """:func:`walk_fig` as a PNG."""
    from .helpers import show
    show(walk_fig(walk, size))


def _capture(name: str) -> dict:
    path = KVM_DATA / name / "result.json"
    if not path.exists():
        raise ConfigError(f"data/kvm/{name}: no such capture (have: {', '.join(KVM_CAPTURES)})")
    return json.loads(path.read_text())


def _capture_replay(name: str):
    """The model run on a capture's command line, its Mmu set like the
    capture host's KVM (``tdp_mmu``/``mmio_caching`` from
    ``result.json`` ``versions.kvm_parameters``), and each action replayed:
    yields ``(action, model events)``.  Moves go through
    :func:`vfiolab.model.guest.move_bar` / ``set_decode`` with config
    accesses recorded (``vm.trace_config``)."""
    from .helpers import predict_vm
    from ..real.guestcap import replay_on_model
    from ..model.ept import Mmu
    res = _capture(name)
    params = res["versions"].get("kvm_parameters", {})
    vm = predict_vm(res["args"]).vm
    vm.trace_config = True
    mmu = Mmu(vm, tdp_mmu=params.get("tdp_mmu", "Y") == "Y",
              mmio_caching=params.get("mmio_caching", "Y") == "Y")
    yield from replay_on_model(vm, mmu, res["actions"])


def _real_touch(a: dict) -> tuple[bool, str]:
    """(exit, region) of a captured touch: the region whose MemoryRegionOps
    ran, ``unassigned`` when QEMU's log says the access was rejected with no
    region (``-d guest_errors``), ``-`` when nothing reached QEMU."""
    if not a["exit"]:
        return False, "-"
    return True, a["region"] or "unassigned"


def capture_touches(names=("q35-touch",)) -> pd.DataFrame:
    """Every touch of the real captures ``names`` (``data/kvm/<name>``: QEMU
    7.2.22 under KVM, exits seen as ``kvm_run_exit`` trace lines) beside the
    model replaying the same actions on the same command line: whether the
    access left KVM for QEMU and which region served it, and whether the two
    agree."""
    rows = []
    for name in names:
        for a, evs in _capture_replay(name):
            if a["op"] != "touch":
                continue
            exit_, region = _real_touch(a)
            m_exit = any(e.get("exit") for e in evs)
            m_region = next((e["region"] for e in evs if e["op"] == "exit_mmio"), "-")
            inkernel = next((e["device"] for e in evs if e["op"] == "kvm_mmio"), None)
            m_how = ("KVM_EXIT_MMIO" if m_exit else
                     f"no exit ({inkernel})" if inkernel else "no exit")
            row = {"capture": name, "#": a["index"], "access": a["access"], "GPA": a["gpa"],
                   "what the guest touched": a.get("note", ""),
                   "KVM (real)": "KVM_EXIT_MMIO" if exit_ else "no exit",
                   "region (real)": region, "KVM (model)": m_how,
                   "region (model)": m_region,
                   "agree": exit_ == m_exit and region == m_region}
            rows.append(row)
    df = pd.DataFrame(rows)
    if len(names) == 1:
        df = df.drop(columns=["capture"])
    return df


def touch_agreement(names=KVM_CAPTURES) -> str:
    """One line: how many captured touches the model gets right."""
    df = capture_touches(names)
    return (f"{int(df['agree'].sum())} of {len(df)} touches in {len(names)} real captures: "
            f"the model agrees on exit / no exit and on the region")


# ==========================================================================
# 05 · VFIO type1 DMA
# ==========================================================================

def _container(prediction):
    vm = _vm(prediction)
    lst = getattr(vm, "vfio", None)
    if lst is None or lst.container is None:
        raise ConfigError("this VM has no VFIO container (no -device vfio-pci)")
    return vm, lst.container


def dma_map_frame(prediction) -> pd.DataFrame:
    """The container's mappings (the kernel's ``struct vfio_dma`` list, by
    IOVA): what QEMU passed to ``VFIO_IOMMU_MAP_DMA`` (iova, vaddr, size,
    READ/WRITE), what the kernel pinned, and the IOMMU pages it used
    (Linux ``drivers/vfio/vfio_iommu_type1.c`` ``vfio_pin_map_dma``)."""
    from ..views import page_counts_text
    vm, cont = _container(prediction)
    rows = []
    for d in cont.mappings():
        hm = vm.host.find(d.vaddr)
        pages: dict = {}
        for _i, _h, _s, _k, counts in d.chunks:
            for sz, n in counts.items():
                pages[sz] = pages.get(sz, 0) + n
        kind = d.chunks[0][3] if d.chunks else ""
        rows.append({"iova": fmt_hex(d.iova), "size": fmt_hex(d.size), "vaddr": fmt_hex(d.vaddr),
                     "host mapping": hm.name if hm else "", "flags":
                     "READ|WRITE" if d.write else "READ",
                     "backing": "RAM block (pinned)" if kind == "ram" else
                     "BAR mmap (VM_PFNMAP, not pinned)",
                     "pinned pages": d.locked_pages, "IOMMU pages": page_counts_text(pages),
                     "HPA": fmt_hex(d.chunks[0][1]) if d.chunks else ""})
    return pd.DataFrame(rows)


def iova_vs_sections(prediction) -> pd.DataFrame:
    """Every RAM, ROM and RAM-device range of the flat view of "memory",
    trimmed to whole host pages as QEMU's VFIO listener trims it
    (``vfio_listener_region_add``: start rounded up, end down), against the
    container's mapping at that IOVA: ``same`` when a mapping starts at the
    range's GPA with its size -- IOVA = GPA."""
    vm, cont = _container(prediction)
    by_iova = {d.iova: d for d in cont.mappings()}
    rows = []
    for s in _sections(vm):
        if s.kind not in ("ram", "rom", "ramd"):
            continue
        lo, hi = align_up(s.start, PAGE_SIZE), align_down(s.end + 1, PAGE_SIZE)
        if hi <= lo:
            continue
        d = by_iova.get(lo)
        rows.append({"range (GPA)": f"{fmt_hex(lo)}-{fmt_hex(hi - 1)}", "kind": s.kind,
                     "region": s.name,
                     "mapping (IOVA)": f"{fmt_hex(d.iova)}-{fmt_hex(d.end - 1)}" if d else "(none)",
                     "flags": ("READ|WRITE" if d.write else "READ") if d else "",
                     "same": d is not None and d.size == hi - lo})
    return pd.DataFrame(rows)


def pinning_frame(prediction) -> pd.DataFrame:
    """What the container counts in QEMU's locked memory (``locked_vm``),
    by kind of backing: guest RAM and ROM pages are pinned and counted, a
    BAR's PFN map is neither (``vfio_pin_pages_remote``: only pages with a
    ``struct page``)."""
    vm, cont = _container(prediction)
    groups: dict[str, list] = {}
    for d in cont.mappings():
        hm = vm.host.find(d.vaddr)
        key = hm.name if hm else fmt_hex(d.vaddr)
        groups.setdefault(key, []).append(d)
    rows = []
    for name, ds in groups.items():
        mapped = sum(d.size for d in ds)
        pinned = sum(d.locked_pages for d in ds)
        rows.append({"host mapping": name, "mappings": len(ds), "mapped": _mib(mapped),
                     "pages pinned": pinned, "pinned": _mib(pinned * PAGE_SIZE)})
    rows.append({"host mapping": "total (locked_vm)", "mappings": len(cont.mappings()),
                 "mapped": _mib(sum(d.size for d in cont.mappings())),
                 "pages pinned": cont.locked_vm, "pinned": _mib(cont.locked_vm * PAGE_SIZE)})
    return pd.DataFrame(rows)


def _mib(n: int) -> str:
    """A byte count in MiB, e.g. ``2,048.25 MiB``."""
    return f"{n / MiB:,.2f}".rstrip("0").rstrip(".") + " MiB"


def memlock_refusal(args=EXAMPLE_ARGS, host_devices=None, limit: int = 64 * MiB) -> str:
    """What happens when QEMU's ``RLIMIT_MEMLOCK`` is below guest RAM: the
    kernel's message and QEMU's (:class:`~vfiolab.model.iommu.Type1Container`
    with :func:`~vfiolab.model.iommu.host_config`), as text."""
    from .helpers import predict_vm
    from ..model.iommu import host_config
    with host_config(rlimit_memlock=limit):
        try:
            p = predict_vm(args, EXAMPLE_HOST if host_devices is None else host_devices)
        except VfiolabError as exc:
            return f"{type(exc).__name__}: {exc}"
    return f"no error: locked_vm {p.vm.vfio.container.locked_vm} pages fit the limit"


def _target_text(vm, hpa: int) -> str:
    for m in vm.host.mappings:
        if m.hpa is not None and m.hpa <= hpa < m.hpa + m.size:
            if m.kind == "pfnmap":
                return f"{m.name}: host MMIO (peer to peer)"
            return f"{m.name} (guest memory)"
    return "unknown"


def dma_table(prediction, requests, bdf: str | None = None) -> pd.DataFrame:
    """DMA requests ``(iova, access)`` or ``(iova, access, note)`` by the
    passed-through device, through the host IOMMU
    (:meth:`vfiolab.model.iommu.Iommu.dma`): where each lands, or why it
    faults."""
    from ..model.iommu import iommu_for
    from ..plot.iommu import vfio_device
    vm = _vm(prediction)
    gbdf, _ = vfio_device(vm, bdf)
    io = iommu_for(vm)
    rows = []
    for i, r in enumerate(requests, 1):
        iova, access = r[0], r[1]
        ev = io.dma(gbdf, iova, access)[0]
        if ev["op"] == "dma":
            out, hpa = "translated", ev["hpa"]
            where = _target_text(vm, int(hpa, 16))
        elif ev["op"] == "interrupt_request":
            out, hpa, where = "interrupt request (MSI)", "", "interrupt remapping, not memory"
        elif ev["op"] == "dma_not_issued":
            out, hpa, where = "not issued", "", ev["reason"]
        else:
            out, hpa, where = "DMA fault", "", ev["reason"]
        rows.append({"#": i, "DMA": access, "IOVA": fmt_hex(iova),
                     "note": r[2] if len(r) > 2 else "", "IOMMU": out, "HPA": hpa,
                     "lands in / why": where})
    return pd.DataFrame(rows)


def bus_master(prediction, bdf: str | None = None, on: bool = True) -> pd.DataFrame:
    """The guest driver sets (or clears) the device's Bus Master Enable
    (:func:`vfiolab.model.guest.set_bus_master`, Linux ``pci_set_master()``):
    a command read and write, both trapped by QEMU; the write goes through
    vfio-pci to the device.  Returns those config accesses, in order."""
    from .helpers import events_table
    from ..model.guest import set_bus_master
    from ..plot.iommu import vfio_device
    vm = _vm(prediction)
    _, dev = vfio_device(vm, bdf)
    start = len(vm.events)
    trace, vm.trace_config = vm.trace_config, True
    try:
        set_bus_master(vm, dev, on)
    finally:
        vm.trace_config = trace
    evs = [dict(e, seq=start + i) for i, e in enumerate(vm.events[start:])]
    return events_table(evs, ops=("pci_cfg_read", "pci_cfg_write", "vfio_pci_write_config"))


def dmar_log(prediction) -> str:
    """The kernel log lines the DMA faults so far would print (Linux
    ``drivers/iommu/intel/dmar.c`` ``dmar_fault_do_one``)."""
    from ..model.iommu import iommu_for
    lines = [f["log"] for f in iommu_for(_vm(prediction)).faults if f.get("log")]
    return "\n".join(lines) if lines else "(no DMA fault)"


@dataclass
class MoveResult:
    """:func:`move_and_dma`: the events of the move and the DMA tables."""

    events: pd.DataFrame
    dma: pd.DataFrame


def move_and_dma(prediction, bdf: str, bar: int, new: int, how: str = "clean",
                 offset: int = 0x40) -> MoveResult:
    """Move a BAR of the passed-through device (the guest kernel's config
    writes, :func:`vfiolab.model.guest.move_bar`), then let the device read
    its own BAR at the old and the new address (peer to peer): the listener
    unmaps the old IOVA range and maps the new one (QEMU
    ``vfio_listener_region_del`` / ``_add``)."""
    from .helpers import events_table
    from ..model.guest import find_bdf, move_bar
    vm = _vm(prediction)
    old = find_bdf(vm, bdf).io_regions[bar].addr
    start = len(vm.events)
    move_bar(vm, bdf, bar, new, how)
    evs = [dict(e, seq=start + i) for i, e in enumerate(vm.events[start:])]
    ev = events_table(evs, ops=("pci_update_mappings_del", "pci_update_mappings_add",
                                "set_user_memory", "map_dma", "unmap_dma"))
    dma = dma_table(vm, [(old + offset, "read", f"BAR{bar}'s old address"),
                         (new + offset, "read", f"BAR{bar}'s new address")], bdf)
    return MoveResult(ev, dma)


def show_dma_view(prediction, viommu: bool = False, requests=None) -> None:
    """The DMA view (:func:`vfiolab.plot.iommu.dma_view_figure`) as a PNG:
    without a vIOMMU the container's maps at IOVA = GPA; with one, a guest's
    own VT-d mappings shadowed by QEMU (:func:`vfiolab.plot.iommu.example_shadow`)."""
    from .helpers import show
    for fig in dma_figs(prediction, viommu, requests):
        show(fig)


def dma_figs(prediction, viommu: bool = False, requests=None) -> list:
    """The figures :func:`show_dma_view` shows (:func:`vfiolab.plot.iommu.dma_view_figures`:
    one without a vIOMMU; two with one, the guest's side and the host's side)."""
    from ..plot.iommu import dma_view_figures
    return dma_view_figures(prediction, requests, viommu=viommu)


def viommu_frame(prediction) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The vIOMMU contrast in tables: ``(mappings, dma)``.  ``mappings``:
    the guest driver's VT-d entries (IOVA -> GPA) of
    :func:`vfiolab.plot.iommu.example_shadow`, and what QEMU made of each
    page (``vfio_iommu_map_notify``: a host mapping IOVA -> HVA of the GPA,
    or "iommu map to non memory area"); ``dma``: the example's requests
    through the host container."""
    from ..plot.iommu import example_shadow, vfio_device
    vm = _vm(prediction)
    _, dev = vfio_device(vm)
    sh, requests = example_shadow(vm)
    shadowed = {d.iova: d for d in sh.container.mappings()}
    refused = {e["iova"]: e["message"] for e in sh.events
               if e["op"] == "vfio_iommu_map_notify_error"}
    secs = _sections(vm)
    rows = []
    for page in sorted(sh.guest_table):
        gpa, w = sh.guest_table[page]
        d = shadowed.get(page)
        rows.append({"IOVA (guest's choice)": fmt_hex(page), "GPA": fmt_hex(gpa),
                     "guest region": _what_is_there(secs, gpa), "device may":
                     "read+write" if w else "read",
                     "QEMU's shadow (host container)":
                     f"MAP_DMA iova {fmt_hex(page)} -> vaddr {fmt_hex(d.vaddr)}" if d else
                     refused.get(page, "(none)")})
    dma = []
    for i, (iova, acc) in enumerate(requests, 1):
        ev = sh.dma(iova, acc, requester=dev.host)[0]
        g = sh.guest_table.get(iova & ~0xFFF)
        dma.append({"#": i, "DMA": acc, "IOVA": fmt_hex(iova),
                    "guest maps it to GPA": fmt_hex(g[0] + (iova & 0xFFF)) if g else "(nothing)",
                    "IOMMU": "translated" if ev["op"] == "dma" else "DMA fault",
                    "HPA / why": ev.get("hpa") or ev.get("reason", "")})
    return pd.DataFrame(rows), pd.DataFrame(dma)


# ==========================================================================
# 06 · the whole story
# ==========================================================================

def whole_story(args=EXAMPLE_ARGS, host_devices=None, *, bdf: str = "00:01.0", bar: int = 3,
                new: int = 0x1000000000, ram_gpa: int = 0x1000000):
    """The thread's story on one VM, as one event stream
    (:class:`vfiolab.model.story.Story`), in six steps:

    ``realize`` and ``firmware`` (:func:`vfiolab.simulate.run_story`);
    ``kernel_touches`` -- the guest kernel reads a config register (a trap),
    its driver sets Bus Master Enable (a command read and write, both
    traps: :func:`vfiolab.model.guest.set_bus_master`), it writes and reads
    guest RAM and reads the BAR (KVM fills EPT entries:
    :class:`vfiolab.model.ept.Mmu`); ``device_dma`` -- the device writes
    guest RAM and reads its own BAR through the IOMMU (IOVA = GPA);
    ``move_clean`` -- the guest kernel moves the BAR; ``after_move`` -- the
    old address exits, the new one faults in, the device's DMA follows.
    DMA outcomes are appended to the VM's event list in their step."""
    from .helpers import story as course_story
    from ..model.ept import Mmu
    from ..model.guest import find_bdf, move_bar, parse_bdf, set_bus_master
    from ..model.iommu import iommu_for
    st = course_story(args, EXAMPLE_HOST if host_devices is None else host_devices)
    vm = st.vm
    mmu = Mmu(vm)
    io = iommu_for(vm)
    old = find_bdf(vm, bdf).io_regions[bar].addr
    b, d, f = parse_bdf(bdf)
    with st.step("kernel_touches"):
        vm.cfg_read(b, d << 3 | f, 0x00, 2)
        set_bus_master(vm, find_bdf(vm, bdf))
        mmu.access(ram_gpa, "write")
        mmu.access(ram_gpa + 0x40, "read")
        mmu.access(old + 0x40, "read")
    with st.step("device_dma"):
        vm.events.extend(io.dma(bdf, ram_gpa + 0x80, "write"))
        vm.events.extend(io.dma(bdf, old + 0x80, "read"))
    with st.step("move_clean"):
        move_bar(vm, bdf, bar, new, "clean")
    with st.step("after_move"):
        mmu.access(ram_gpa, "read")
        mmu.access(old + 0x40, "read")
        mmu.access(new + 0x40, "read")
        vm.events.extend(io.dma(bdf, new + 0x80, "read"))
        vm.events.extend(io.dma(bdf, old + 0x80, "read"))
    mmu.detach()
    return st


def story_overview(story) -> pd.DataFrame:
    """Per step of a story: config accesses (each a trap), BAR unmaps/maps
    in QEMU, memslot calls (KVM_SET_USER_MEMORY_REGION), IOMMU map/unmap
    calls (VFIO_IOMMU_MAP/UNMAP_DMA), EPT leaves KVM installed, accesses
    that exited to QEMU, zaps, and device DMAs (translated / faulted)."""
    rows = []
    for name, _, _ in story.steps:
        ev = story.events(name)
        n = lambda *ops: sum(1 for e in ev if e["op"] in ops)       # noqa: E731
        rows.append({"step": name, "config accesses (trap)": n("pci_cfg_read", "pci_cfg_write"),
                     "BAR unmap/map": n("pci_update_mappings_del", "pci_update_mappings_add"),
                     "memslot calls": n("set_user_memory"),
                     "DMA map/unmap": n("map_dma", "unmap_dma"),
                     "EPT leaves filled": n("map"), "exits to QEMU": n("exit_mmio"),
                     "zaps": n("zap"),
                     "device DMA ok/fault": f"{n('dma')}/{n('dma_fault')}"})
    return pd.DataFrame(rows)


#: who acts for the events course.events_table does not know
_EXTRA_WHO = {"map": "guest -> KVM", "mmio": "guest -> KVM", "exit_mmio": "guest -> KVM -> QEMU",
              "kvm_mmio": "guest -> KVM", "zap": "KVM", "dma": "device -> IOMMU",
              "dma_fault": "device -> IOMMU", "interrupt_request": "device -> IOMMU"}


def _extra_text(e: dict) -> tuple[str, str, str, str]:
    op = e["op"]
    if op == "map":
        return (f"EPT violation: KVM installs a {_LEVEL[e['level']]} leaf",
                fmt_hex(int(e["gfn"], 16) << 12), fmt_hex(_LEVEL_BYTES[e["level"]]),
                f"memory type {e['memtype'].upper()}")
    if op == "mmio":
        return ("EPT violation, no memslot: MMIO SPTE", fmt_hex(int(e["gfn"], 16) << 12),
                "0x1000", "")
    if op == "exit_mmio":
        return ("KVM_EXIT_MMIO", e["gpa"], "", f"QEMU dispatches to {e['region']}")
    if op == "kvm_mmio":
        return ("handled inside KVM", e["gpa"], "", e["device"])
    if op == "zap":
        return (f"zap ({e['scope']})", "", "", f"{e['entries']} EPT entries dropped")
    if op == "dma":
        return ("DMA translated", e["iova"], "", f"HPA {e['hpa']} ({e['target']})")
    if op == "dma_fault":
        return ("DMA fault", e["iova"], "", e["reason"].split(":")[0])
    if op == "interrupt_request":
        return ("interrupt request (MSI)", e["iova"], "", "")
    return (op, "", "", "")


#: the events a story table shows by default
STORY_TABLE_OPS = ("pci_cfg_read", "pci_cfg_write", "pci_update_mappings_del",
                   "pci_update_mappings_add", "set_user_memory", "map_dma", "unmap_dma",
                   "map", "mmio", "exit_mmio", "kvm_mmio", "zap", "dma", "dma_fault",
                   "interrupt_request")


def story_events(story, step: str, ops=STORY_TABLE_OPS) -> pd.DataFrame:
    """The events of one step, one row each (``#`` = position in the whole
    stream), in the words of :func:`vfiolab.course.helpers.events_table`, with the
    EPT and DMA events added."""
    from .helpers import EVENT_WHO, _event_text
    rows = []
    for e in story.events(step):
        if ops is not None and e["op"] not in ops:
            continue
        if e["op"] in _EXTRA_WHO:
            what, addr, size, detail = _extra_text(e)
            who = _EXTRA_WHO[e["op"]]
        else:
            what, addr, size, detail = _event_text(e)
            who = EVENT_WHO.get(e["op"], "")
        rows.append({"#": e["seq"], "who": who, "event": e["op"], "what": what,
                     "address": addr, "size": size, "detail": detail})
    return pd.DataFrame(rows, columns=["#", "who", "event", "what", "address", "size", "detail"])


def _timeline_fig(panels, width: float | None = None, row_h: float = 0.23):
    """A figure with one sequence diagram per panel ``(title, events, actors)``,
    one above the other, each the page's width (constrained layout places them)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from ..plot import style
    from ..plot.timeline import draw_timeline, event_arrow
    counts = []
    for _, evs, actors in panels:
        n = sum(1 for e in evs if (a := event_arrow(e)) is not None and a[0] in actors
                and a[1] in actors)
        counts.append(min(max(n, 1), 70))
    height = sum(0.9 + row_h * c for c in counts)
    width = style.PAGE_WIDTH if width is None else width
    with style.style_context():
        fig = Figure(figsize=(width, height), dpi=style.DPI, layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(len(panels), 1, squeeze=False,
                            gridspec_kw={"height_ratios": [c + 3 for c in counts]})[:, 0]
        for ax, (title, evs, actors) in zip(axes, panels):
            draw_timeline(ax, evs, max_rows=70, actors=actors)
            ax.set_title(style.wrap_label(title, int(width * 11)), loc="left",
                         fontsize=style.FONT_SIZE + 1, fontweight="bold")
    return fig


def show_timeline(story, steps, title: str = "", ops=None) -> None:
    """The events of ``steps`` as one sequence diagram across guest, KVM,
    QEMU, VFIO, IOMMU and the device (:func:`vfiolab.plot.timeline.draw_timeline`)."""
    from .helpers import show
    show(timeline_fig(story, steps, title, ops))


def timeline_fig(story, steps, title: str = "", ops=None):
    """The figure of :func:`show_timeline`."""
    from ..plot.timeline import ACTORS
    steps = [steps] if isinstance(steps, str) else list(steps)
    evs = [e for s in steps for e in story.events(s) if ops is None or e["op"] in ops]
    return _timeline_fig([(title or ", ".join(steps), evs, ACTORS)])


_SET_MEM_RE = re.compile(r"kvm_set_user_memory Slot#(\d+) flags=0x([0-9a-f]+) gpa=0x([0-9a-f]+) "
                         r"size=0x([0-9a-f]+) ua=0x([0-9a-f]+) ret=(-?\d+)")


def capture_memslot_uas(name: str) -> list[int]:
    """The ``ua=`` (userspace_addr) of every ``kvm_set_user_memory`` line in
    a capture's ``trace.log`` (QEMU ``accel/kvm/trace-events``), in order:
    the memslot calls the guest's actions caused."""
    text = (KVM_DATA / name / "trace.log").read_text()
    return [int(m.group(5), 16) for m in _SET_MEM_RE.finditer(text)]


def userspace_addr_table(story, name: str = "q35-ivshmem-move", step: str = "move_clean"):
    """Does the memory behind a moved BAR move?  The ``userspace_addr`` of
    every memslot created for the BAR: in a real capture's moves (its
    ``trace.log``) and in a story's move (the model).  One distinct value
    each: only ``guest_phys_addr`` changes."""
    uas = capture_memslot_uas(name)
    creates = [e for e in story.events(step) if e["op"] == "set_user_memory" and e["size"]]
    real_creates = [m for m in _SET_MEM_RE.finditer((KVM_DATA / name / "trace.log").read_text())
                    if int(m.group(4), 16)]
    rows = [{"where": f"real: data/kvm/{name}, the guest's moves",
             "memslot calls": len(uas), "creates": len(real_creates),
             "guest_phys_addr of the creates": ", ".join(fmt_hex(int(m.group(3), 16))
                                                         for m in real_creates),
             "distinct userspace_addr": len(set(uas)),
             "userspace_addr": ", ".join(fmt_hex(u) for u in sorted(set(uas)))}]
    by_region: dict[str, list] = {}
    for e in creates:
        by_region.setdefault(e.get("region", ""), []).append(e)
    mmaps = {e["name"]: e["vaddr"] for e in story.events("realize") if e["op"] == "vfio_region_mmap"}
    for region, evs in sorted(by_region.items()):
        rows.append({"where": f"model: {step}, {region}", "memslot calls": "",
                     "creates": len(evs),
                     "guest_phys_addr of the creates": ", ".join(fmt_hex(e["gpa"]) for e in evs),
                     "distinct userspace_addr": len({e["ua"] for e in evs}),
                     "userspace_addr": ", ".join(fmt_hex(u) for u in sorted({e["ua"] for e in evs}))
                     + (" (the mmap from realize)" if all(e["ua"] == mmaps.get(region)
                                                           for e in evs) else "")})
    return pd.DataFrame(rows)


def _real_event_text(s: dict) -> str:
    ev = s["ev"]
    if ev.startswith("pci_update_mappings"):
        return f"{ev} BAR{s['bar']} {s['addr']}+{s['size']}"
    if ev == "kvm_set_user_memory":
        return f"memslot {s['slot']} gpa={s['gpa']} size={s['size']}"
    return ev


def _model_event_text(e: dict) -> str:
    op = e["op"]
    if op.startswith("pci_update_mappings"):
        return f"{op} BAR{e['bar']} {fmt_hex(e['addr'])}+{fmt_hex(e['size'])}"
    if op == "set_user_memory":
        return f"memslot {e['slot']} gpa={fmt_hex(e['gpa'])} size={fmt_hex(e['size'])}"
    return op


def capture_vs_model(name: str = "q35-ivshmem-move") -> pd.DataFrame:
    """A real capture's actions, event by event, beside the model replaying
    them on the same command line: for a touch whether it exited (and to
    which region), for a BAR move or decode change every
    ``pci_update_mappings_del``/``_add`` and ``kvm_set_user_memory`` in
    order (QEMU ``hw/pci/trace-events``, ``accel/kvm/trace-events``; the
    capture's ``result.json`` ``sequence``, read from its ``trace.log``).
    ``agree`` compares the printed fields; host addresses (``ua``) are left
    out: QEMU's differ from run to run."""
    rows = []
    for a, evs in _capture_replay(name):
        if a["op"] == "touch":
            exit_, region = _real_touch(a)
            m_exit = any(e.get("exit") for e in evs)
            m_region = next((e["region"] for e in evs if e["op"] == "exit_mmio"), "-")
            real = f"{a['access']} {a['gpa']}: " + (f"KVM_EXIT_MMIO -> {region}" if exit_
                                                     else "no exit")
            model = f"{a['access']} {a['gpa']}: " + (f"KVM_EXIT_MMIO -> {m_region}" if m_exit
                                                      else "no exit")
            rows.append({"action": a["index"], "what": a.get("note", "touch"),
                         "real (trace.log)": real, "model": model, "agree": real == model})
            continue
        what = (f"move_bar {a['bdf']} BAR{a['bar']} -> {a['address']} ({a['how']})"
                if a["op"] == "move_bar" else f"set_decode {a['bdf']} on={a['on']}")
        real = [_real_event_text(s) for s in a["sequence"]
                if s["ev"].startswith("pci_update_mappings") or s["ev"] == "kvm_set_user_memory"]
        model = [_model_event_text(e) for e in evs
                 if e["op"].startswith("pci_update_mappings") or e["op"] == "set_user_memory"]
        for r, m in zip_longest(real, model, fillvalue=""):
            rows.append({"action": a["index"], "what": what, "real (trace.log)": r,
                         "model": m, "agree": r == m})
    return pd.DataFrame(rows)


def _real_events(a: dict) -> list[dict]:
    """A captured action's ``sequence`` in the model's event shape, for the
    sequence diagram: config accesses, BAR (un)mappings, memslot calls."""
    out = []
    for s in a["sequence"]:
        ev = s["ev"]
        if ev in ("cfg_read", "cfg_write"):
            out.append({"op": "pci_" + ev, "bdf": s["bdf"], "offset": int(s["reg"], 16),
                        "value": int(s["value"], 16)})
        elif ev.startswith("pci_update_mappings"):
            out.append({"op": ev, "bdf": s["bdf"], "bar": s["bar"], "addr": int(s["addr"], 16),
                        "size": int(s["size"], 16)})
        elif ev == "kvm_set_user_memory":
            out.append({"op": "set_user_memory", "slot": s["slot"], "gpa": int(s["gpa"], 16),
                        "size": int(s["size"], 16)})
    return out


def show_capture_timelines(name: str = "q35-ivshmem-move", action: int = 3) -> None:
    """One captured action as a sequence diagram (left, from the capture's
    trace) beside the model's replay of it (right)."""
    from .helpers import show
    show(capture_timelines_fig(name, action))


def capture_timelines_fig(name: str = "q35-ivshmem-move", action: int = 3):
    """The figure of :func:`show_capture_timelines`."""
    ops = ("pci_cfg_read", "pci_cfg_write", "pci_update_mappings_del", "pci_update_mappings_add",
           "set_user_memory")
    for a, evs in _capture_replay(name):
        if a["index"] == action:
            real = _real_events(a)
            model = [e for e in evs if e["op"] in ops]
            actors = ("guest", "KVM", "QEMU")
            return _timeline_fig([(f"real: data/kvm/{name} action {action}", real, actors),
                                  ("model: the same action replayed", model, actors)])
    raise ConfigError(f"data/kvm/{name} has no action {action}")


# ==========================================================================
# 07 · the thread's claims
# ==========================================================================

HOLDS, NOT_HOLDS, CORRECTED = "holds", "does not hold", "holds with a correction"


@dataclass
class Verdict:
    """One claim checked: the claim (paraphrased), the verdict, the evidence
    rows (``from``: the model, a real capture, or the source), and the
    correction when there is one."""

    step: str
    claim: str
    verdict: str
    evidence: list = field(default_factory=list)
    correction: str = ""

    def table(self):
        from .helpers import table
        cap = f"{self.step}: {self.verdict}" + (f" -- {self.correction}" if self.correction else "")
        return table(pd.DataFrame(self.evidence, columns=["from", "evidence", "shows"]),
                     caption=cap)

    def _repr_html_(self):
        return self.table()._repr_html_()

    def __repr__(self):
        return repr(self.table())


def verdict_table(verdicts) -> pd.DataFrame:
    """All verdicts in one table."""
    return pd.DataFrame([{"step": v.step, "claim": v.claim, "verdict": v.verdict,
                          "correction": v.correction} for v in verdicts])


def _actions(name: str) -> list[dict]:
    return _capture(name)["actions"]


def _exit_regions(action: dict) -> dict:
    """How many exits of a captured action each region handled (``KVM_EXIT_IO``
    and ``KVM_EXIT_MMIO`` from ``kvm_run_exit`` lines)."""
    out: dict[str, int] = {}
    for x in action["exits"]:
        for h in x["handled"] or [{"region": None}]:
            key = f"{x['reason_name']} {h.get('region') or 'unassigned'}"
            out[key] = out.get(key, 0) + 1
    return out


def _boot_trace(name: str) -> list[str]:
    return (KVM_DATA / name / "trace_boot.log").read_text().splitlines()


def claim_stages(story) -> Verdict:
    """Step a): three stages -- QEMU's set-up, the guest firmware, the
    guest kernel."""
    c = story_overview(story).set_index("step")
    realize_cfg = int(c.loc["realize", "config accesses (trap)"])
    fw_cfg = int(c.loc["firmware", "config accesses (trap)"])
    fw_maps = int(c.loc["firmware", "BAR unmap/map"])
    mv_cfg = int(c.loc["move_clean", "config accesses (trap)"])
    mv_maps = int(c.loc["move_clean", "BAR unmap/map"])
    boot = _boot_trace("q35-ivshmem-move")
    fw_adds = sum(1 for ln in boot if ln.startswith("pci_update_mappings_add"))
    mv = _actions("q35-ivshmem-move")[3]
    mv_io = sum(1 for x in mv["exits"] if x["reason_name"] == "KVM_EXIT_IO")
    mv_adds = sum(1 for s in mv["sequence"] if s["ev"] == "pci_update_mappings_add")
    ok = realize_cfg == 0 and fw_cfg > 0 and fw_maps > 0 and mv_cfg > 0 and mv_maps > 0
    ev = [("model", f"realize: {realize_cfg} config accesses; firmware: {fw_cfg}, with "
                    f"{fw_maps} BAR maps", "QEMU prepares everything before the guest runs; "
                                           "the firmware places and enables the BARs"),
          ("model", f"guest kernel's clean move: {mv_cfg} config accesses, {mv_maps} BAR "
                    f"unmaps/maps", "the kernel's BAR writes work exactly like the firmware's"),
          ("real capture", f"data/kvm/q35-ivshmem-move: trace_boot.log has {fw_adds} "
                           f"pci_update_mappings_add by SeaBIOS; action 3 (the guest's own "
                           f"move) {mv_io} KVM_EXIT_IO and {mv_adds} pci_update_mappings_add",
           "after the firmware, a guest program moves a BAR through the same path")]
    return Verdict("a)", "There are three stages: pre-configuration by the host/QEMU, the "
                         "guest firmware, the guest kernel.", CORRECTED if ok else NOT_HOLDS, ev,
                   "the stages are real, but BAR placement is not confined to the firmware: "
                   "the guest kernel may move BARs at any time, through the same traps")


def claim_config_memslot(prediction) -> Verdict:
    """Step b), config space: QEMU backs config space with a memslot (an
    mmap obtained through VFIO ioctls)."""
    from .helpers import vfio_device, vfio_regions_frame
    dev = vfio_device(prediction)
    regions = vfio_regions_frame(dev.hostdev).set_index("region")
    cfg_flags = regions.loc["config", "flags"]
    ecam = [m for m in prediction.memslots()
            if m.guest_phys_addr < 0xC0000000 and 0xB0000000 < m.guest_phys_addr + m.memory_size]
    mtree = (KVM_DATA / "q35-touch" / "info_mtree_f.txt").read_text()
    line = next(ln.strip() for ln in mtree.splitlines() if "pcie-mmcfg-mmio" in ln)
    ecam_touch = _actions("q35-touch")[19]
    exit_, region = _real_touch(ecam_touch)
    ok = "MMAP" not in cfg_flags and not ecam and exit_
    ev = [("model", f"VFIO_DEVICE_GET_REGION_INFO, config region (index 7): flags {cfg_flags}",
           "no MMAP flag: the kernel never lets QEMU mmap config space"),
          ("model", f"memslots overlapping the ECAM window 0xb0000000-0xbfffffff: {len(ecam)}",
           "no memslot; ports 0xcf8/0xcfc are I/O space, which never has memslots"),
          ("real capture", f"data/kvm/q35-touch info_mtree_f.txt: \"{line}\"",
           "an i/o region without the KVM marker"),
          ("real capture", f"data/kvm/q35-touch action 19: read {ecam_touch['gpa']} -> "
                           f"{'KVM_EXIT_MMIO, ' + region if exit_ else 'no exit'}, read "
                           f"{ecam_touch.get('read_value')}", "QEMU answers every ECAM access")]
    return Verdict("b) config space", "QEMU obtains a memory slot for the device's config "
                                      "space (via VFIO ioctls); config space has no "
                                      "guest-physical address.", NOT_HOLDS if ok else HOLDS, ev,
                   "no memslot and no mmap; and on q35 config space does have guest-physical "
                   "addresses, the ECAM window, an I/O region where every access traps")


def claim_ram_ept(prediction, story) -> Verdict:
    """Step b), guest RAM: its EPT mappings are set up before the guest boots."""
    from ..model.ept import Mmu
    realize = story.events("realize")
    ram_slots = [e for e in realize if e["op"] == "set_user_memory" and e["size"]
                 and e.get("region") == "pc.ram"]
    mmu = Mmu(_vm(prediction), record=False)
    leaves = sum(mmu.stats()["leaves"].values())
    first = mmu.access(0x1000000, "read")
    mmu.detach()
    boot = _boot_trace("q35-touch")
    ram_line = next(ln for ln in boot if "gpa=0x0 " in ln)
    ok_slot = bool(ram_slots)
    ok_lazy = leaves == 0 and first and first[0]["op"] == "map"
    ev = [("model", f"realize: {len(ram_slots)} KVM_SET_USER_MEMORY_REGION for pc.ram",
           "the memslot exists before the guest runs"),
          ("model", f"a fresh EPT: {leaves} leaves; the first read of 0x1000000 -> "
                    f"{first[0]['op']} level {first[0].get('level')}",
           "KVM builds EPT entries on demand, at the first EPT violation"),
          ("real capture", f"data/kvm/q35-touch trace_boot.log, first line: \"{ram_line}\"",
           "QEMU gives KVM the RAM memslot before the firmware runs"),
          ("source", "Linux arch/x86/kvm/mmu/mmu.c kvm_tdp_page_fault -> kvm_tdp_mmu_map",
           "EPT fills happen inside the host kernel; QEMU's trace cannot show them "
           "(trace-cmd's kvmmmu events can)")]
    return Verdict("b) guest RAM", "Guest RAM's GPA is known (0), so its EPT mappings are set "
                                   "up before the guest boots.",
                   NOT_HOLDS if ok_slot and ok_lazy else HOLDS, ev,
                   "what exists before boot is the memslot; KVM fills EPT entries lazily, at "
                   "the first touch of each page")


def claim_bar_waits(story) -> Verdict:
    """Step b), BARs: no EPT mapping for a BAR until its GPA is known."""
    realize = story.events("realize")
    mmaps = [e for e in realize if e["op"] == "vfio_region_mmap"]
    bar_slots_realize = [e for e in realize if e["op"] == "set_user_memory" and e["size"]
                         and "BAR" in e.get("region", "")]
    fw = story.events("firmware")
    bar_slots_fw = [e for e in fw if e["op"] == "set_user_memory" and e["size"]
                    and "BAR" in e.get("region", "")]
    boot = _boot_trace("q35-ivshmem-move")
    i_add = next(i for i, ln in enumerate(boot)
                 if ln.startswith("pci_update_mappings_add ivshmem-plain 00:01.0 2,"))
    i_slot = next(i for i, ln in enumerate(boot) if "gpa=0xf8000000" in ln and "size=0x0 " not in ln)
    ok = mmaps and not bar_slots_realize and bar_slots_fw and i_slot > i_add
    ev = [("model", f"realize: {len(mmaps)} BAR mmaps (vfio_region_mmap), "
                    f"{len(bar_slots_realize)} BAR memslots",
           "QEMU has the mmap long before the guest picks an address"),
          ("model", f"firmware: {len(bar_slots_fw)} BAR memslots created",
           "the memslot comes when the firmware enables memory decode"),
          ("real capture", f"data/kvm/q35-ivshmem-move trace_boot.log: line {i_add + 1} "
                           f"pci_update_mappings_add of ivshmem BAR2, line {i_slot + 1} its "
                           f"memslot at 0xf8000000", "the memslot follows the BAR's mapping")]
    return Verdict("b) BARs", "The BARs' GPAs are not known yet, so their EPT mappings are "
                              "not set up yet.", HOLDS if ok else NOT_HOLDS, ev,
                   "note: not even the memslot exists yet, while QEMU already holds the mmap")


def claim_firmware_config(story) -> Verdict:
    """Step c): the firmware's config accesses go to a config-space memory
    slot and are handled by firmware code."""
    fw = story.events("firmware")
    cfg = sum(1 for e in fw if e["op"] in ("pci_cfg_read", "pci_cfg_write"))
    vfio_w = sum(1 for e in fw if e["op"] == "vfio_pci_write_config")
    mv = _actions("q35-ivshmem-move")[3]
    regions = _exit_regions(mv)
    ok = cfg > 0 and all(k.startswith("KVM_EXIT_IO pci-conf") for k in regions)
    ev = [("model", f"firmware step: {cfg} config accesses, each a trap to QEMU; "
                    f"{vfio_w} of the writes to the passed-through function forwarded to "
                    f"vfio-pci (vfio_pci_write_config)",
           "QEMU's emulation answers, not the firmware and not a memslot"),
          ("real capture", "data/kvm/q35-ivshmem-move action 3: "
           + ", ".join(f"{n} x {k}" for k, n in sorted(regions.items())),
           "each port access leaves KVM and QEMU serves it (pci-conf-idx / pci-conf-data); these "
           "are the guest program's, SeaBIOS uses the same ports (src/hw/pci.c)")]
    return Verdict("c) config accesses", "During enumeration, the firmware's config accesses "
                   "go to the config-space memory slot, handled by firmware code.",
                   NOT_HOLDS if ok else HOLDS, ev,
                   "every config access is a VM exit that QEMU emulates (vfio_pci_read_config "
                   "/ vfio_pci_write_config)")


def claim_no_relay(story) -> Verdict:
    """Step c): QEMU does not relay the BAR writes to the physical BARs."""
    from .helpers import vfio_device
    dev = vfio_device(story)
    fw = story.events("firmware")
    bar_writes = [e for e in fw if e["op"] == "vfio_pci_write_config" and 0x10 <= e["addr"] < 0x28]
    vm = story.vm
    rows, same = [], True
    for vb in dev.vbars:
        for m in vb.mmaps:
            slot = next((s for s in vm.memslots() if s.userspace_addr == m.vaddr), None)
            t = vm.host.translate(m.vaddr)
            hb = dev.hostdev.bar(vb.index)
            if slot is None or t is None or hb is None:
                continue
            same &= t.hpa == hb.host_address + m.offset
            rows.append(f"BAR{vb.index}: guest {fmt_hex(slot.guest_phys_addr)} -> host "
                        f"{fmt_hex(t.hpa)} (lspci: {fmt_hex(hb.host_address)})")
    ok = bool(bar_writes) and same
    ev = [("model", f"{len(bar_writes)} BAR writes by the firmware passed to vfio-pci as "
                    "pwrite on the config region", "QEMU does forward them, to the kernel"),
          ("model", "after the story's moves: " + "; ".join(rows),
           "every memslot still reaches the host BAR where the host put it"),
          ("source", "Linux drivers/vfio/pci/vfio_pci_config.c: BAR writes land in vfio-pci's "
                     "virtual config (vconfig), vfio_bar_fixup", "the physical BAR is never "
                                                                 "written"),
          ("real capture", "(none: this machine has no device to pass through)", "")]
    return Verdict("c) BAR writes", "QEMU does not relay the guest's BAR writes to the physical "
                                    "BARs on the host.", HOLDS if ok else NOT_HOLDS, ev,
                   "note: QEMU does pass them on, to the kernel's vfio-pci, which keeps them "
                   "in its virtual config; the device's BARs never change")


def claim_bar_write_ept() -> Verdict:
    """Step c): once the BAR addresses are known, QEMU sets up the EPT
    mappings for them.  Uses its own example VM (the P100), whose BAR3 the
    guest kernel moves to 0x1000000000."""
    from .helpers import predict_vm
    from ..model.ept import Mmu
    from ..model.guest import find_bdf, move_bar
    vm = predict_vm(EXAMPLE_ARGS, EXAMPLE_HOST).vm
    mmu = Mmu(vm, record=False)
    dev_bar = 3
    old = find_bdf(vm, "00:01.0").io_regions[dev_bar].addr
    mmu.access(old)
    start = len(vm.events)
    maps_before = mmu.counters["maps"]
    move_bar(vm, "00:01.0", dev_bar, 0x1000000000, "clean")
    evs = vm.events[start:]
    slots = sum(1 for e in evs if e["op"] == "set_user_memory")
    maps_during = mmu.counters["maps"] - maps_before
    zaps = mmu.counters["zaps"]
    first = mmu.access(0x1000000000 + 0x40)
    mmu.detach()
    cap = _actions("q35-ivshmem-move")
    creates = [s for s in cap[3]["sequence"] if s["ev"] == "kvm_set_user_memory"]
    after = cap[5]
    ok = slots > 0 and maps_during == 0 and first and first[0]["op"] == "map"
    ev = [("model", f"clean move of BAR3: {slots} KVM_SET_USER_MEMORY_REGION, {maps_during} EPT "
                    f"leaves installed, {zaps} zap(s)",
           "QEMU changes memslots; KVM only drops entries"),
          ("model", f"first touch of the new address: {first[0]['op']} level "
                    f"{first[0].get('level')}", "the EPT entry appears on demand"),
          ("real capture", "data/kvm/q35-ivshmem-move action 3: "
           + "; ".join(f"memslot {s['slot']} gpa={s['gpa']} size={s['size']}" for s in creates),
           "the move shows up as memslot calls"),
          ("real capture", f"action 5: read {after['gpa']} after the move -> "
                           f"{'KVM_EXIT_MMIO' if after['exit'] else 'no exit'}, read "
                           f"{after.get('read_value')}", "KVM mapped the new address itself")]
    return Verdict("c) EPT for BARs", "Once the BAR addresses are known, QEMU sets up the "
                                      "missing EPT mappings for the BARs.",
                   CORRECTED if ok else NOT_HOLDS, ev,
                   "QEMU sets up KVM memslots (when decode is on); KVM fills EPT entries on "
                   "the first access, and zaps them when a memslot goes")


#: a passed-through NVMe drive whose MSI-X table sits inside its mmapped BAR0
NVME_ARGS = "-machine q35 -m 2G -nodefaults -device vfio-pci,host=0000:01:00.0,id=nvme0"
NVME_HOST = {"0000:01:00.0": "nvme-intel-dc-ssd"}


def claim_two_stage(prediction) -> Verdict:
    """Step d): in the guest kernel, RAM and BAR accesses go through the
    ordinary two-stage translation.  ``prediction`` is the P100 example; an
    NVMe example (:data:`NVME_ARGS`) shows a BAR page without a memslot."""
    from .helpers import predict_vm
    from ..model.ept import Mmu
    nvme_prediction = predict_vm(NVME_ARGS, NVME_HOST)
    _, walk = walk_2d()
    rows = [("model", f"2-D walk with 4K EPT leaves: {len(walk)} memory references "
                      f"({walk.counts()['ept']} EPT + {walk.counts()['guest']} guest)",
             "guest page tables, each entry's GPA translated through EPT")]
    vm = _vm(prediction)
    mmu = Mmu(vm, record=False)
    bar = next(m for m in prediction.memslots() if m.guest_phys_addr == 0x400000000)
    e = mmu.access(bar.guest_phys_addr + 0x40)
    mmu.detach()
    rows.append(("model", f"P100 BAR1 first read: {e[0]['op']} level {e[0].get('level')} "
                          f"{e[0].get('memtype', '').upper()}", "a BAR is mapped like RAM, "
                                                                "uncached"))
    msix_exit = None
    if nvme_prediction is not None:
        vm2 = _vm(nvme_prediction)
        tab = next(s for s in _sections(vm2) if s.name == "msix-table")
        m2 = Mmu(vm2, record=False)
        ev2 = m2.access(tab.start)
        m2.detach()
        msix_exit = any(x.get("exit") for x in ev2)
        rows.append(("model", f"NVMe MSI-X table at {fmt_hex(tab.start)}: "
                              f"{'KVM_EXIT_MMIO' if msix_exit else 'no exit'}",
                     "a BAR page without a memslot exits every time"))
    t = {a["index"]: a for a in _actions("q35-touch")}
    real = [(2, "ivshmem BAR2 (RAM)"), (9, "e1000e MSI-X table"), (5, "edu BAR0")]
    for i, what in real:
        ex, reg = _real_touch(t[i])
        rows.append(("real capture", f"data/kvm/q35-touch action {i}, {what}: "
                                     + (f"KVM_EXIT_MMIO -> {reg}" if ex else "no exit"),
                     "memslot-backed: stays in the guest" if not ex else "no memslot: QEMU"))
    ok = len(walk) == 24 and e[0]["op"] == "map" and msix_exit is not False
    return Verdict("d)", "In the guest kernel, RAM and PCI BAR accesses go through the usual "
                         "two-stage translation.", CORRECTED if ok else NOT_HOLDS, rows,
                   "for every page with a memslot; a BAR page without one (the MSI-X table's, "
                   "or an emulated device's BAR) exits to QEMU on every access")


def claim_after_boot(story) -> Verdict:
    """The question: after the kernel has booted, how are config accesses
    handled -- is the firmware involved, and is ECAM (MCFG) backed by an
    mmap of config space with EPT mappings?"""
    from ..model.ept import Mmu
    mv = story.events("move_clean")
    cfg = sum(1 for e in mv if e["op"] in ("pci_cfg_read", "pci_cfg_write"))
    mmu = Mmu(story.vm, record=False)
    ev1 = mmu.access(0xB0008000)
    ev2 = mmu.access(0xB0008000)
    mmu.detach()
    t = _actions("q35-touch")[19]
    ex, reg = _real_touch(t)
    mv_real = _exit_regions(_actions("q35-ivshmem-move")[6])
    ok = cfg > 0 and all(any(x.get("exit") for x in ev) for ev in (ev1, ev2)) and ex
    rows = [("model", f"the guest kernel's clean move: {cfg} config accesses, all traps to "
                      "QEMU (pci_cfg_read / pci_cfg_write)", "no firmware code runs"),
            ("model", "ECAM read of 00:01.0 VENDOR_ID (0xb0008000), twice: "
                      + " / ".join(next(e["op"] for e in ev if e.get("exit")) for ev in (ev1, ev2)),
             "no memslot, so no EPT leaf: every access exits"),
            ("real capture", f"data/kvm/q35-touch action 19: ECAM read {t['gpa']} -> "
                             f"KVM_EXIT_MMIO, {reg}, value {t.get('read_value')} "
                             "(8086:29c0, the q35 host bridge)", "QEMU answers from its model"),
            ("real capture", "data/kvm/q35-ivshmem-move action 6, after boot: "
             + ", ".join(f"{n} x {k}" for k, n in sorted(mv_real.items())),
             "the port accesses exit too")]
    return Verdict("question", "After boot: is the firmware still involved in config accesses? "
                               "Are the ACPI MCFG/ECAM addresses backed by an mmap of the "
                               "device's config space, with EPT mappings?",
                   NOT_HOLDS if ok else HOLDS, rows,
                   "neither: QEMU traps and emulates every config access, at boot and after; "
                   "the firmware only enabled the ECAM window, which QEMU's MCFG table names")


def claim_iova_gpa(prediction) -> Verdict:
    """The VFIO maintainer's statement: barring a vIOMMU, the IOVA space is
    the guest-physical address space."""
    df = iova_vs_sections(prediction)
    ok = bool(df["same"].all())
    rows = [("model", f"{int(df['same'].sum())} of {len(df)} RAM/ROM/RAM-device ranges of the "
                      "flat view are mapped at IOVA = their GPA", "the container's map list "
                                                                  "is the guest's RAM map"),
            ("source", "QEMU 7.2 hw/vfio/common.c vfio_listener_region_add: iova = "
                       "REAL_HOST_PAGE_ALIGN(section->offset_within_address_space)",
             "the section's guest-physical address, page aligned"),
            ("real capture", "(none: this machine has no device to pass through)", "")]
    return Verdict("IOVA = GPA", "Barring a vIOMMU, the IOMMU's IOVA space is the guest's "
                                 "physical address space.", HOLDS if ok else NOT_HOLDS, rows,
                   "")


def _num(v):
    """An event field as a number: the EPT and IOMMU models record
    addresses as hex strings, QEMU's trace events as ints."""
    return int(v, 0) if isinstance(v, str) and v.startswith("0x") else v


def _event(events: list[dict], what: str, **match) -> dict:
    """The first event of ``events`` whose op is ``what`` and whose fields
    satisfy ``match`` (a value, or a predicate), its hex fields as numbers;
    a VfiolabError naming what is missing otherwise."""
    for e in events:
        if e["op"] != what:
            continue
        e = {k: _num(v) for k, v in e.items()}
        if all(v(e.get(k)) if callable(v) else e.get(k) == v for k, v in match.items()):
            return e
    raise VfiolabError(f"thread_model_fig: the story has no {what} event with {match}")


def thread_model_fig(story, *, bdf: str = "00:01.0", bar: int = 3, move_step: str = "move_clean",
                     after_step: str = "after_move"):
    """The thread's corrected mental model as one diagram, drawn from the
    events of a BAR move in ``story`` (:func:`whole_story`): the guest's
    config writes trap to QEMU, QEMU updates its emulated BAR
    (``vfio_pci_write_config``), ``pci_update_mappings`` adds the BAR at its
    new address, the FlatView is committed, the KVM listener sets a memslot
    (``KVM_SET_USER_MEMORY_REGION``) and KVM fills the EPT on the first
    touch (an EPT violation); beside it the VFIO listener maps the same mmap
    for DMA through the type1 IOMMU (``VFIO_IOMMU_MAP_DMA``) at IOVA = GPA.
    Every address and name is read from the events, none is written here."""
    from ..plot.flow import FlowArrow, FlowBox, flow_figure
    move, after = story.events(move_step), story.events(after_step)
    reg = 0x10 + 4 * bar                        # BARn at 0x10 + 4n (PCI 3.0, 6.2.5.1)
    add = _event(move, "pci_update_mappings_add", bdf=bdf, bar=bar)
    old = _event(move, "pci_update_mappings_del", bdf=bdf, bar=bar)
    new, size = add["addr"], add["size"]
    writes = [e for e in move if e["op"] == "pci_cfg_write" and e["bdf"] == bdf
              and reg <= e["offset"] < reg + 8]
    if not writes:
        raise VfiolabError(f"thread_model_fig: no config write to BAR{bar} of {bdf} in {move_step}")
    cmd = [e for e in move if e["seq"] < add["seq"]
           and e["op"] == "pci_cfg_write" and e["bdf"] == bdf and e["offset"] == 0x04]
    emu = _event(move, "vfio_pci_write_config", addr=writes[0]["offset"])
    after_add = [e for e in move if e["seq"] > add["seq"]]
    fv = _event(after_add, "flatview_commit")
    slot = _event(after_add, "set_user_memory", gpa=new, size=lambda z: bool(z))
    lis = _event(after_add, "vfio_listener_region_add_ram", iova=new)
    dma_map = _event(after_add, "vfio_iommu_map_dma", iova=new)
    fill = _event(after, "map", gfn=new >> 12)
    dma = _event(after, "dma", iova=lambda i: i is not None and new <= i < new + size)
    in_old = lambda a: a is not None and old["addr"] <= a < old["addr"] + old["size"]  # noqa: E731
    stale = [e for e in after if e["op"] == "exit_mmio" and in_old(_num(e["gpa"]))]
    fault = [e for e in after if e["op"] == "dma_fault" and in_old(_num(e["iova"]))]
    writes_txt = ", ".join(f"{fmt_hex(e['offset'])} = {fmt_hex(e['value'])}" for e in writes)
    cmd_txt = (f"; command {fmt_hex(cmd[-1]['value'])} turns memory decode on"
               if cmd and cmd[-1]["value"] & 0x2 else "")
    L, R, W = 0.255, 0.755, 66
    boxes = [
        FlowBox("write", L, 0.93, f"1. guest config write: {bdf} BAR{bar}",
                f"pci_cfg_write {writes_txt}: a VM exit, QEMU handles it", "guest", W),
        FlowBox("emu", L, 0.775, "2. QEMU updates the emulated BAR",
                f"vfio_pci_write_config addr {fmt_hex(emu['addr'])}: QEMU's copy of config "
                "space; the device keeps its host address", "qemu", W),
        FlowBox("upd", L, 0.62, "3. pci_update_mappings",
                f"pci_update_mappings_del {fmt_hex(old['addr'])}, then _add "
                f"{fmt_hex(new)} size {fmt_hex(size)}{cmd_txt}", "qemu", W),
        FlowBox("fv", L, 0.465, "4. FlatView of address space \"" + str(fv["as"]) + "\"",
                f"flatview_commit: {fv['ranges_before']} -> {fv['ranges_after']} ranges; "
                "the memory listeners run", "qemu", W),
        FlowBox("slot", L, 0.30, f"5. KVM memslot {slot['slot']} (KVM_SET_USER_MEMORY_REGION)",
                f"guest_phys_addr {fmt_hex(slot['gpa'])}, memory_size {fmt_hex(slot['size'])},\n"
                f"userspace_addr {fmt_hex(slot['ua'])} (QEMU's mmap of the BAR)", "kvm", W),
        FlowBox("ept", L, 0.12, "6. EPT filled lazily, on first touch",
                f"EPT violation at gfn {fmt_hex(fill['gfn'])}: KVM installs a level-"
                f"{fill['level']} leaf, memtype {fill['memtype']}"
                + (f"\nold {fmt_hex(_num(stale[0]['gpa']))}: no memslot, exits to QEMU "
                   f"({stale[0]['region']})" if stale else ""), "kvm", W),
        FlowBox("lis", R, 0.465, "VFIO memory listener",
                f"vfio_listener_region_add_ram iova {fmt_hex(lis['iova'])}, "
                f"vaddr {fmt_hex(lis['vaddr'])}", "qemu", 56),
        FlowBox("map", R, 0.30, "VFIO_IOMMU_MAP_DMA (type1)",
                f"iova {fmt_hex(dma_map['iova'])} = the GPA, size {fmt_hex(dma_map['size'])},\n"
                f"vaddr {fmt_hex(dma_map['vaddr'])}: the same mmap as the memslot", "iommu", 56),
        FlowBox("dma", R, 0.12, "device DMA through the IOMMU",
                f"iova {fmt_hex(dma['iova'])} -> HPA {fmt_hex(dma['hpa'])}"
                + (f"\nold iova {fmt_hex(_num(fault[0]['iova']))}: faults" if fault else ""),
                "iommu", 56),
    ]
    arrows = [FlowArrow("write", "emu"), FlowArrow("emu", "upd"), FlowArrow("upd", "fv"),
              FlowArrow("fv", "slot"), FlowArrow("slot", "ept"), FlowArrow("fv", "lis", side="h"),
              FlowArrow("lis", "map"), FlowArrow("map", "dma"),
              FlowArrow("slot", "map", dashed=True, side="h")]
    return flow_figure(boxes, arrows, height=7.0,
                       title=f"a BAR move, from the model's events: {bdf} BAR{bar} "
                             f"{fmt_hex(old['addr'])} -> {fmt_hex(new)}",
                       legend={"guest": "guest", "qemu": "QEMU", "kvm": "KVM",
                               "iommu": "VFIO type1 / IOMMU"})


# --- 10: versions -------------------------------------------------------------------

#: PAM attribute nibbles (QEMU hw/pci-host/pam.c): 1 read-only (reads RAM,
#: writes go to the PCI bus), 3 read/write RAM
_PAM_ACCESS = {0: "PCI", 1: "read-only", 2: "write-only", 3: "writable"}


def umb_frame(predictions: dict) -> pd.DataFrame:
    """What SeaBIOS leaves of 0xc0000-0xeffff at the end of POST, one row per
    prediction (``{label: Prediction}``): the low-memory allocations it made
    (:class:`vfiolab.model.firmware.seabios.LowMemory`), the top of the
    option-ROM area (``rom_get_max()``), and how PAM5 (0xe0000-0xe7fff; QEMU
    hw/pci-host/pam.c, one nibble per 16 KiB) was left by
    src/fw/shadow.c ``make_bios_readonly``."""
    rows = []
    for label, p in predictions.items():
        fw = p.vm.firmware
        allocs = ", ".join(f"{a.what.split(' (')[0]} {a.size} B" for a in fw.low_allocations)
        pam5 = fw.pam_final[5]
        rows.append({"": label, "SeaBIOS": fw.version, "low-memory allocations": allocs or "none",
                     "option ROMs end": fmt_hex(fw.umb[0]), "rom_get_max()": fmt_hex(fw.umb[1]),
                     "PAM5": f"{pam5:#04x}",
                     "0xe0000-0xe3fff": _PAM_ACCESS[pam5 & 3],
                     "0xe4000-0xe7fff": _PAM_ACCESS[pam5 >> 4 & 3]})
    return pd.DataFrame(rows)
