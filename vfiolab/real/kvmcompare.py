"""Lay the EPT fills KVM recorded beside the ones :class:`~vfiolab.model.ept.Mmu` predicts.

A host with EPT records, with ``trace-cmd record -e kvm -e kvmmmu`` or
``perf record -e 'kvm:*' -e 'kvmmmu:*'``, every leaf KVM installs;
:func:`vfiolab.inputs.kvmtrace.parse_kvm_trace` reads the text.  This module
turns those events into three plain lists a notebook can tabulate without
pandas:

* :func:`recorded_fills` -- the SPTEs KVM installed, in order: one per
  ``kvm_mmu_set_spte`` (a present leaf) and one per ``mark_mmio_spte`` (an
  MMIO SPTE).  Both are traced where the TDP MMU installs a leaf, Linux
  ``arch/x86/kvm/mmu/tdp_mmu.c`` ``tdp_mmu_map_handle_target_level``: an MMIO
  SPTE when the fault has no memslot, ``kvm_mmu_set_spte`` otherwise (the
  legacy MMU's ``mmu.c`` ``mmu_set_spte`` traces the same two events).
* :func:`recorded_accesses` -- the guest accesses behind the faults, to replay
  them on the model: ``kvm_page_fault`` (an EPT violation: GPA and the exit
  qualification) and ``handle_mmio_page_fault`` (an EPT misconfiguration on
  an MMIO SPTE).
* :func:`predicted_fills` -- the model's ``map``/``mmio`` events for those
  accesses; :func:`compare` pairs recorded and predicted fills row by row.

Where each recorded field comes from:

* ``level``: the trace's level (``PG_LEVEL_4K`` = 1, 2M = 2, 1G = 3); an
  MMIO SPTE is always a 4K leaf (``mmu.c`` ``kvm_mmu_hugepage_adjust`` leaves
  the goal level at 4K for a fault without a memslot pfn).
* ``memtype``: bits 5:3 of the EPT leaf (Intel SDM Vol. 3C "EPT Translation
  Mechanism", the EPT PTE/PDE/PDPTE leaf formats), decoded by
  :func:`vfiolab.model.ept.decode`; ``vmx.c`` ``vmx_get_mt_mask`` puts UC
  there for host MMIO and WB for RAM.  On an AMD (NPT) host the SPTE is an
  x86 page-table entry without that field and KVM sets no memory type
  (``shadow_memtype_mask`` is 0 without EPT, ``mmu/spte.c``
  ``kvm_mmu_reset_all_pte_masks``), so ``memtype`` is None and not compared.
* ``mmio``: True for ``mark_mmio_spte`` (and for a ``kvm_mmu_set_spte`` whose
  SPTE is KVM's MMIO value, ``spte.h`` ``is_mmio_spte``).
"""

from __future__ import annotations

from ..addr import fmt_hex
from ..errors import ActionError
from ..model.ept import MEMTYPES, PAGE_BYTES

__all__ = ["recorded_fills", "recorded_accesses", "predicted_fills", "compare",
           "compare_with_model", "fault_kind"]

#: Intel SDM Vol. 3C "Exit Qualification for EPT Violations": bit 0 data read,
#: bit 1 data write, bit 2 instruction fetch (Linux vmx.h EPT_VIOLATION_ACC_*)
EPT_QUAL_WRITE = 1 << 1
EPT_QUAL_FETCH = 1 << 2
#: AMD APM Vol. 2 "#PF (Page Fault)" error code in EXITINFO1 of a nested page
#: fault: bit 1 W (write), bit 4 I/D (instruction fetch)
NPF_WRITE = 1 << 1
NPF_FETCH = 1 << 4


def fault_kind(error_code: int, isa: str = "vmx") -> str:
    """``read``/``write``/``exec`` of the access behind a ``kvm_page_fault``.

    On VMX the traced ``error_code`` is the EPT violation's exit
    qualification (``vmx.c`` ``handle_ept_violation`` passes it to the
    tracepoint; it equals ``kvm_exit``'s info1 in real traces); on SVM it is
    EXITINFO1 of the #NPF, a #PF error code (``svm.c`` ``npf_interception``).
    """
    write, fetch = (EPT_QUAL_WRITE, EPT_QUAL_FETCH) if isa == "vmx" else (NPF_WRITE, NPF_FETCH)
    if error_code & fetch:
        return "exec"
    if error_code & write:
        return "write"
    return "read"


def _isa(events, isa):
    if isa is not None:
        return isa
    for ev in events:
        if ev.name == "kvm_exit" and ev.args.get("isa"):
            return ev.args["isa"]
    for ev in events:
        if ev.name == "kvm_mmu_set_spte" and ev.args.get("isa"):
            return ev.args["isa"]
    return "vmx"


def recorded_fills(events, dedupe: bool = True) -> list[dict]:
    """The leaves KVM installed, in trace order.

    Each row: ``gfn`` (hex, the first guest frame the leaf maps: KVM traces
    the gfn rounded down to the leaf's level), ``level``, ``memtype``
    (``"uc"``, ``"wb"``, ... from the EPT bits; None for MMIO SPTEs and NPT
    hosts), ``mmio``, ``spte`` (hex or None), ``event`` and ``line_no``.
    ``dedupe`` drops a fill that repeats the previous fill of the same gfn
    and level with the same SPTE (KVM re-installing an identical leaf, e.g.
    a vCPU faulting again before it saw the first fill).
    """
    out: list[dict] = []
    last: dict[tuple, int | None] = {}
    for ev in events:
        a = ev.args
        if ev.name == "kvm_mmu_set_spte" and "spte" in a:
            entry = a.get("ept")
            mmio = bool(a.get("mmio_spte"))
            memtype = None
            if entry is not None and entry.memtype is not None and not mmio:
                memtype = MEMTYPES.get(entry.memtype, f"reserved({entry.memtype})")
            row = {"gfn": fmt_hex(a["gfn"]), "level": 1 if mmio else a["level"],
                   "memtype": memtype, "mmio": mmio, "spte": fmt_hex(a["spte"]),
                   "event": ev.name, "line_no": ev.line_no}
            key, value = (a["gfn"], row["level"]), a["spte"]
        elif ev.name == "mark_mmio_spte" and "gfn" in a:
            row = {"gfn": fmt_hex(a["gfn"]), "level": 1, "memtype": None, "mmio": True,
                   "spte": None, "event": ev.name, "line_no": ev.line_no}
            key, value = (a["gfn"], 1), ("mmio", a.get("gen"))
        else:
            continue
        if dedupe and last.get(key) == value:
            continue
        last[key] = value
        out.append(row)
    return out


def recorded_accesses(events, isa: str | None = None) -> list[dict]:
    """The guest accesses that made KVM fault, in order: ``gpa`` (int),
    ``kind`` (read/write/exec), ``event`` and ``line_no``.

    ``kvm_page_fault`` gives the GPA and, through its error code, the kind
    (:func:`fault_kind`).  ``handle_mmio_page_fault`` gives only the gfn (the
    TDP MMU zeroes ``addr``, ``mmu.c`` ``handle_mmio_page_fault``); the offset
    and the kind come from the next ``kvm_mmio`` of the same task on that page
    (``write``, else a read), or the access is taken as a read of the page's
    first byte.
    """
    isa = _isa(events, isa)
    events = list(events)
    out: list[dict] = []
    for i, ev in enumerate(events):
        a = ev.args
        if ev.name == "kvm_page_fault" and "fault_address" in a:
            out.append({"gpa": a["fault_address"], "kind": fault_kind(a["error_code"], isa),
                        "event": ev.name, "line_no": ev.line_no})
        elif ev.name == "handle_mmio_page_fault" and "gfn" in a:
            gpa, kind = a["gfn"] << 12, "read"
            for nxt in events[i + 1:]:
                if nxt.pid != ev.pid or nxt.name not in ("kvm_mmio", "kvm_exit"):
                    continue
                if nxt.name == "kvm_exit":
                    break
                if "gpa" in nxt.args and nxt.args["gpa"] >> 12 == a["gfn"]:
                    gpa = nxt.args["gpa"]
                    kind = "write" if nxt.args["type"] == "write" else "read"
                break
            out.append({"gpa": gpa, "kind": kind, "event": ev.name, "line_no": ev.line_no})
    return out


def predicted_fills(mmu, accesses) -> list[dict]:
    """Run :meth:`vfiolab.model.ept.Mmu.access` for each access (dicts with
    ``gpa`` and ``kind``, as :func:`recorded_accesses` returns, or
    ``(gpa, kind)`` pairs) and collect the leaves the model installs: one row
    per ``map`` (``gfn``, ``level``, ``memtype``) or ``mmio`` event, with the
    ``gpa`` that caused it."""
    out: list[dict] = []
    for acc in accesses:
        gpa, kind = (acc["gpa"], acc["kind"]) if isinstance(acc, dict) else acc
        for ev in mmu.access(gpa, kind):
            if ev["op"] == "map":
                out.append({"gfn": ev["gfn"], "level": ev["level"], "memtype": ev["memtype"],
                            "mmio": False, "gpa": fmt_hex(gpa)})
            elif ev["op"] == "mmio":
                out.append({"gfn": ev["gfn"], "level": 1, "memtype": None, "mmio": True,
                            "gpa": fmt_hex(gpa)})
    return out


def _span(fill: dict) -> tuple[int, int]:
    gfn = int(fill["gfn"], 16)
    level = fill["level"]
    pages = PAGE_BYTES[level] >> 12 if level in PAGE_BYTES else 1
    return gfn, gfn + pages


def _overlap(a: dict, b: dict) -> bool:
    a0, a1 = _span(a)
    b0, b1 = _span(b)
    return a0 < b1 and b0 < a1


def compare(recorded, predicted) -> list[dict]:
    """Pair recorded and predicted fills and say whether they agree.

    Fills are paired in order: each recorded fill takes the first unpaired
    predicted fill whose guest-frame range overlaps its own (so a recorded
    2M leaf at gfn 0x200 meets a predicted 4K leaf at gfn 0x203 in one row,
    which then disagrees).  Unpaired fills of either side get a row with the
    other side None.  Each row: ``gfn`` (the recorded one, else the
    predicted one), ``recorded_gfn``/``predicted_gfn``, ``recorded_level``,
    ``recorded_memtype``, ``recorded_mmio`` and the ``predicted_*`` three,
    ``agree`` (both present, same gfn, level, mmio and -- when the recorded
    side has one -- memtype), ``differs`` (the fields that do not match) and
    the recorded ``line_no``.
    """
    recorded, predicted = list(recorded), list(predicted)
    used = [False] * len(predicted)
    rows = []
    for r in recorded:
        j = next((k for k, p in enumerate(predicted) if not used[k] and _overlap(r, p)), None)
        p = None
        if j is not None:
            used[j] = True
            p = predicted[j]
        rows.append(_row(r, p))
    rows.extend(_row(None, p) for k, p in enumerate(predicted) if not used[k])
    return rows


def _row(r: dict | None, p: dict | None) -> dict:
    row = {"gfn": (r or p)["gfn"],
           "recorded_gfn": r and r["gfn"], "recorded_level": r and r["level"],
           "recorded_memtype": r and r["memtype"], "recorded_mmio": r and r["mmio"],
           "predicted_gfn": p and p["gfn"], "predicted_level": p and p["level"],
           "predicted_memtype": p and p["memtype"], "predicted_mmio": p and p["mmio"],
           "line_no": r and r.get("line_no")}
    if r is None or p is None:
        row["differs"] = ["recorded" if r is None else "predicted"]
        row["agree"] = False
        return row
    differs = [f for f in ("gfn", "level", "mmio") if r[f] != p[f]]
    if r["memtype"] is not None or r["mmio"]:
        if r["memtype"] != p["memtype"]:
            differs.append("memtype")
    row["differs"] = differs
    row["agree"] = not differs
    return row


def compare_with_model(events, mmu, isa: str | None = None, dedupe: bool = True) -> list[dict]:
    """:func:`compare` of the trace's fills with the model's fills for the
    trace's own accesses (:func:`recorded_accesses` replayed on ``mmu``)."""
    try:
        predicted = predicted_fills(mmu, recorded_accesses(events, isa))
    except ActionError as exc:
        raise ActionError(None, "trace", f"replaying the recorded accesses on the model: {exc}") \
            from None
    return compare(recorded_fills(events, dedupe=dedupe), predicted)
