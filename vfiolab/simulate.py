"""``vfiolab simulate``: run the firmware, then a list of guest actions.

Actions (JSON list), each a dict with ``op``:

* ``{"op": "touch", "gpa": "0x...", "access": "read"|"write"|"exec"}``: the
  guest accesses one guest-physical address; KVM's MMU fills EPT on the
  first touch of a memslot-backed page, or the access exits to QEMU;
* ``{"op": "move_bar", "bdf": "00:01.0", "bar": 2, "address": "0x...",
  "how": "clean"|"careless"}``: the guest kernel reprograms a BAR;
* ``{"op": "set_master", "bdf": "00:05.0", "on": true}``: the guest driver
  sets (or clears) the device's Bus Master Enable (Linux ``pci_set_master()``);
  the firmware leaves it clear on a passed-through device;
* ``{"op": "dma", "bdf": "00:05.0", "iova": "0x...", "access": "read"|"write"}``:
  the device does DMA through the VFIO type1 IOMMU (``dma_not_issued`` while
  Bus Master Enable is clear).

The output is one JSON list of events in order: what KVM's MMU did
(``map``, ``mmio``, ``exit_mmio``, ``zap``), what QEMU did
(``pci_update_mappings_del``/``_add``, ``set_user_memory`` shaped like QEMU's
``kvm_set_user_memory`` trace, size 0 deleting), the IOMMU (``map_dma``,
``unmap_dma``, ``dma``, ``dma_fault``, ``dma_not_issued``), and per touch
whether it exited.  ``--format table`` prints the same events one aligned
line each (:func:`events_table`).
"""

from __future__ import annotations

import json

from .inputs.actions import address_field, choice_field, each_action, int_field
from .addr import fmt_columns, fmt_hex
from .errors import ActionError, VfiolabError
from .model.boot import boot, build_vm, firmware_platform
from .inputs.cmdline import parse_qemu_args
from .model.guest import find_bdf, move_bar, set_bus_master
from .stack import Stack, make_stack

__all__ = ["OPS", "validate_actions", "simulate", "simulate_vm", "load_actions", "run_story",
           "events_table"]

OPS = {"touch": ("gpa",), "move_bar": ("bdf", "bar", "address"), "dma": ("bdf", "iova"),
       "set_master": ("bdf",)}
#: which vm.events to pass on, and how to shape them
_PASS = ("pci_update_mappings_del", "pci_update_mappings_add", "set_user_memory",
         "map_dma", "unmap_dma")


def load_actions(path) -> list:
    """Read an actions file; a clear error if it is not a JSON list of objects."""
    try:
        with open(path) as f:
            data = json.load(f)
    except OSError as e:
        raise VfiolabError(f"--actions {path}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise VfiolabError(f"--actions {path}: not JSON: {e}") from None
    return data


def validate_actions(actions) -> list[dict]:
    """Check shapes before anything runs: names the action and the field."""
    out = []
    for i, op, a in each_action(actions, OPS):
        if op == "touch":
            a["gpa"] = address_field(i, a, "gpa", op)
            a["access"] = choice_field(i, a, "access", op, ("read", "write", "exec"), "read",
                                       "use read, write or exec")
        elif op == "move_bar":
            a["address"] = address_field(i, a, "address", op)
            a["bar"] = int_field(i, a, "bar", op, 0, 5)
            a["how"] = choice_field(i, a, "how", op, ("clean", "careless"), "clean",
                                    "use clean or careless")
        elif op == "set_master":
            a["on"] = a.get("on", True)
            if not isinstance(a["on"], bool):
                raise ActionError(i, "on", f"{a['on']!r} is not true/false", op)
        elif op == "dma":
            a["iova"] = address_field(i, a, "iova", op)
            a["access"] = choice_field(i, a, "access", op, ("read", "write"), "read",
                                       "use read or write")
        out.append(a)
    return out


def _shape(ev: dict) -> dict:
    """vm.events entries -> the JSON shapes of ``vfiolab simulate``."""
    op = ev["op"]
    if op.startswith("pci_update_mappings"):
        return {"op": op, "bdf": ev["bdf"], "bar": ev["bar"], "addr": fmt_hex(ev["addr"]),
                "size": fmt_hex(ev["size"])}
    if op == "set_user_memory":
        return {"op": op, "slot": ev["slot"], "gpa": fmt_hex(ev["gpa"]),
                "size": fmt_hex(ev["size"]), "flags": ev["flags"]}
    if op in ("map_dma", "unmap_dma"):
        out = {"op": op, "iova": fmt_hex(ev["iova"]), "size": fmt_hex(ev["size"])}
        if "vaddr" in ev:
            out["vaddr"] = fmt_hex(ev["vaddr"])
        return out
    return dict(ev)


#: what each event is, in a few words, for ``--format table``
_WHAT = {
    "touch": "the guest's access",
    "map": "KVM's MMU fills an EPT entry",
    "mmio": "KVM's MMU installs an MMIO SPTE",
    "exit_mmio": "exit to QEMU (MMIO)",
    "zap": "KVM zaps EPT entries",
    "pci_update_mappings_del": "QEMU unmaps a BAR",
    "pci_update_mappings_add": "QEMU maps a BAR",
    "set_user_memory": "KVM_SET_USER_MEMORY_REGION",
    "map_dma": "VFIO_IOMMU_MAP_DMA",
    "unmap_dma": "VFIO_IOMMU_UNMAP_DMA",
    "set_master": "the driver sets Bus Master Enable",
    "dma": "device DMA through the IOMMU",
    "dma_fault": "IOMMU fault",
    "dma_not_issued": "DMA not issued",
}
#: the address an event is about, by the field that holds it, in this order
_ADDRESS_FIELDS = ("gpa", "iova", "addr", "gfn")


def events_table(events: list[dict]) -> str:
    """``vfiolab simulate --format table``: one aligned line per event (the
    JSON shapes of :func:`simulate`): op, which address (``gpa``, ``iova``,
    ``addr`` of a BAR, ``gfn``), the address and size in hex, and a short
    what followed by the event's other fields."""
    rows = []
    for ev in events:
        op = ev.get("op", "")
        key = next((k for k in _ADDRESS_FIELDS if k in ev), None)
        rest = [f"{k}={'yes' if v is True else 'no' if v is False else v}"
                for k, v in ev.items() if k not in ("op", "size", key)]
        what = _WHAT.get(op, op)
        if op == "set_user_memory" and ev.get("size") in ("0x0", 0):
            what += " (delete)"
        rows.append([op, key or "", str(ev[key]) if key else "", str(ev.get("size", "")),
                     "; ".join([what] + [", ".join(rest)] if rest else [what])])
    return "\n".join(fmt_columns(["op", "of", "address", "size", "what"], rows, indent="")) + "\n"


def simulate(args: list[str], actions, *, host_devices: dict | None = None,
             stack: Stack | str | None = None, **stack_options) -> list[dict]:
    """Boot the VM for ``args`` and run ``actions``; return the event list.

    ``stack`` and ``stack_options`` (``qemu``, ``firmware``, ``kernel``,
    ``seabios``, ``cpu_vendor``, ``phys_bits``) as for
    :func:`vfiolab.predict.predict`."""
    return simulate_vm(args, actions, host_devices=host_devices, stack=stack,
                       **stack_options)[1]


def _stack(stack, options: dict) -> Stack:
    return stack if isinstance(stack, Stack) else make_stack(stack, **options)


def simulate_vm(args: list[str], actions, *, host_devices: dict | None = None,
                stack: Stack | str | None = None, **stack_options):
    """:func:`simulate`, returning the VM (its ``stack`` included) beside the events."""
    from .inputs.hostdevs import resolve_host_devices
    acts = validate_actions(actions)
    stack = _stack(stack, stack_options)
    cfg = parse_qemu_args(args, qemu=stack.qemu)       # sizes as that QEMU reads them
    hds = resolve_host_devices(cfg, host_devices)
    vm = build_vm(cfg, stack=stack, host_devices=hds)
    boot(vm, firmware_platform(vm, cfg))
    from .model.ept import Mmu
    mmu = Mmu(vm)
    iommu = None
    out: list[dict] = []
    for i, a in enumerate(acts):
        start = len(vm.events)
        mmu_events: list[dict] = []
        if a["op"] == "touch":
            mmu_events = mmu.access(a["gpa"], a["access"])
        elif a["op"] == "move_bar":
            try:
                find_bdf(vm, a["bdf"])
                move_bar(vm, a["bdf"], a["bar"], a["address"], a["how"])
            except ActionError as e:
                raise ActionError(i, e.field, e.why, "move_bar") from None
        elif a["op"] == "set_master":
            try:
                set_bus_master(vm, find_bdf(vm, a["bdf"]), a["on"])
            except ActionError as e:
                raise ActionError(i, e.field, e.why, "set_master") from None
            out.append({"op": "set_master", "bdf": a["bdf"], "on": a["on"]})
        elif a["op"] == "dma":
            if iommu is None:
                from .model.iommu import iommu_for
                iommu = iommu_for(vm)
            try:
                find_bdf(vm, a["bdf"])
            except ActionError as e:
                raise ActionError(i, e.field, e.why, "dma") from None
            mmu_events = iommu.dma(a["bdf"], a["iova"], a["access"])
        # QEMU/KVM events the action caused, then the MMU/IOMMU's own
        for ev in vm.events[start:]:
            if ev["op"] in _PASS:
                out.append(_shape(ev))
            elif ev["op"] == "zap":
                out.append(dict(ev))
        for ev in mmu_events:
            out.append(dict(ev))
        if a["op"] == "touch":
            exited = any(e.get("exit") for e in mmu_events)
            out.append({"op": "touch", "gpa": fmt_hex(a["gpa"]), "access": a["access"],
                        "exit": exited})
    return vm, out


def run_story(args: list[str], *, host_devices: dict | None = None,
              stack: Stack | str | None = None, seabios: str | None = None,
              cpu_vendor: str | None = None, **kwargs):
    """The thread's story (:func:`vfiolab.model.story.run_story`) for a QEMU
    command line: the arguments are read and the host devices described here,
    then the model plays realize, firmware and the ``moves``."""
    from .inputs.hostdevs import resolve_host_devices
    from .model.story import run_story as play
    stack = _stack(stack, {"seabios": seabios, "cpu_vendor": cpu_vendor})
    cfg = parse_qemu_args(args, qemu=stack.qemu)
    return play(cfg, host_devices=resolve_host_devices(cfg, host_devices), stack=stack, **kwargs)

