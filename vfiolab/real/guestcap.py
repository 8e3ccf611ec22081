"""Real guest accesses under KVM: which exit to QEMU, which do not.

A tiny bare-metal guest (``guest/``: Multiboot v1 ELF, C and assembly) is
booted by QEMU's ``-kernel`` after SeaBIOS has placed every BAR.  It reads a
list of operations from its Multiboot module (``-initrd actions.bin``) and
performs them one by one, printing ``@<n>`` on the ``isa-debugcon`` port
before action ``n``.  QEMU traces, in one log, in order:

``kvm_run_exit``
    every return of ``KVM_RUN`` to QEMU with its ``exit_reason`` (QEMU 7.2
    ``accel/kvm/kvm-all.c`` ``kvm_cpu_exec``; reasons from Linux
    ``include/uapi/linux/kvm.h``: 2 ``KVM_EXIT_IO``, 6 ``KVM_EXIT_MMIO``).
``memory_region_ops_read`` / ``_write``
    the MemoryRegion whose ``MemoryRegionOps`` served an access, its
    absolute address, value and size (QEMU 7.2 ``softmmu/memory.c``
    ``memory_region_read_accessor``/``memory_region_write_accessor``: the
    address is ``memory_region_to_absolute_addr``, i.e. the guest-physical
    address for a BAR, which sits in the PCI address space at its bus
    address).  ``memory_region_subpage_read``/``_write`` when the access went
    through a page shared by several sections (``subpage_ops`` in
    ``softmmu/physmem.c``).
``Invalid read/write at addr ...``
    ``-d guest_errors``: an access nothing accepts (QEMU 7.2
    ``softmmu/memory.c`` ``memory_region_access_valid``; the unassigned
    region's ``unassigned_mem_accepts`` and a write to a ROM region end here).
``kvm_set_user_memory``, ``pci_update_mappings_add``/``_del``,
``pci_cfg_read``/``pci_cfg_write``
    memslot changes and BAR (un)mappings, and the config accesses devices
    took (``accel/kvm/trace-events``, ``hw/pci/trace-events``).

With trace events and ``-d`` going to the same ``-D`` file, the order of
lines is the order things happened on the vCPU thread: a ``kvm_run_exit``
line, then whatever QEMU did to handle that exit.  ``normalize`` cuts the
log at the ``@n`` marks and says per action whether it left the guest
(``exit``) and which region handled it, and for BAR moves which mappings and
memslots changed after which config write.

An access that is backed by a memslot (RAM, a RAM BAR such as ivshmem's
BAR2, ROM when reading) is completed by KVM without returning to QEMU: no
``kvm_run_exit`` line between the marks.  (The first touch of a page may
still fault into the host kernel; that is invisible here and on purpose:
the question is what reaches QEMU.)

Files written to ``out_dir`` by :func:`run_guest`:

``command.txt``    the QEMU command line run (temporary paths as placeholders)
``actions.json``   the actions as given
``trace.log``      the QEMU log from the guest's first output line to the end
``trace_boot.log`` the firmware's ``kvm_set_user_memory`` and
                   ``pci_update_mappings_*`` lines (before the guest started)
``debugcon.log``   the isa-debugcon output (SeaBIOS's log, then the guest's)
``info_pci.txt``, ``info_mtree_f.txt``  HMP output after the last action
``result.json``    versions, BAR addresses, guest operations, and the
                   per-action normalization
``trace_full.log`` only with ``keep_full_trace=True``: the whole log

Usage::

    python -m vfiolab.real.guestcap --scenario q35-touch --out data/kvm
    python -m vfiolab.real.guestcap --list
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..inputs.actions import bdf_field, choice_field, each_action, int_field
from ..addr import fmt_hex, parse_addr
from ..errors import ActionError, CaptureError, CommandLineError, ParseError, VfiolabError
from .qemurun import (DISPLAY_OPTIONS, QemuRun, check_args, host_cpu, kvm_usable, opt_name,
                      qemu_available, read_text, strip_accel)
from ..inputs.trace import parse_trace
from ..records import TraceEvent, fmt_bdf

__all__ = [
    "run_guest", "normalize", "parse_log", "expand_actions", "encode_ops",
    "validate_actions", "build_guest", "compiler_available", "kvm_usable",
    "qemu_available", "guest_usable", "SCENARIOS", "TRACE_EVENTS", "EXIT_REASONS",
    "GUEST_DIR", "replay_on_model", "main",
]

#: The guest's sources (C + assembly + linker script + build script).
GUEST_DIR = Path(__file__).resolve().parents[2] / "guest"
_GUEST_SOURCES = ("boot.S", "guest.c", "link.ld", "build.sh")

#: Trace events enabled for a run (names and formats: QEMU 7.2
#: accel/kvm/trace-events, softmmu/trace-events, hw/pci/trace-events).
TRACE_EVENTS = ("kvm_run_exit", "memory_region_ops_read", "memory_region_ops_write",
                "memory_region_subpage_read", "memory_region_subpage_write",
                "kvm_set_user_memory", "pci_update_mappings_add", "pci_update_mappings_del",
                "pci_cfg_read", "pci_cfg_write")

#: ``exit_reason`` values QEMU may see (Linux include/uapi/linux/kvm.h).
EXIT_REASONS = {0: "KVM_EXIT_UNKNOWN", 1: "KVM_EXIT_EXCEPTION", 2: "KVM_EXIT_IO",
                3: "KVM_EXIT_HYPERCALL", 4: "KVM_EXIT_DEBUG", 5: "KVM_EXIT_HLT",
                6: "KVM_EXIT_MMIO", 7: "KVM_EXIT_IRQ_WINDOW_OPEN", 8: "KVM_EXIT_SHUTDOWN",
                9: "KVM_EXIT_FAIL_ENTRY", 10: "KVM_EXIT_INTR", 17: "KVM_EXIT_INTERNAL_ERROR",
                24: "KVM_EXIT_SYSTEM_EVENT"}
KVM_EXIT_IO = 2
KVM_EXIT_MMIO = 6

#: The guest's debug console: QEMU isa-debugcon at SeaBIOS's debug port
#: (SeaBIOS src/hw/serialio.c DebugOutputPort 0x402), so one file holds
#: SeaBIOS's log and then the guest's lines.
DEBUGCON_PORT = 0x402

# --- the action list the guest reads (guest/README.md) --------------------
ACT_MAGIC = 0x41474656          # "VFGA"
ACT_VERSION = 1
ACT_RECORD = struct.Struct("<IIIIII")   # op, size, addr_lo, addr_hi, value, clear
ACT_HEADER = struct.Struct("<IIII")     # magic, version, count, record_size
OP_CODES = {"mark": 1, "read32": 2, "write32": 3, "cfg_read": 4, "cfg_write": 5,
            "cfg_update": 6}
MAX_OPS = 4096

#: PCI config header offsets (PCI Local Bus Spec 3.0 section 6.1; Linux
#: include/uapi/linux/pci_regs.h names)
PCI_COMMAND = 0x04
PCI_COMMAND_IO = 0x1
PCI_COMMAND_MEMORY = 0x2
PCI_BASE_ADDRESS_0 = 0x10

#: Options the runner sets itself.
_CONFLICTING = {
    "-kernel": "the runner boots its own guest", "-initrd": "the runner passes the action list",
    "-append": "the guest takes no command line", "-qmp": "the runner opens its own QMP socket",
    "-daemonize": "the runner must own the QEMU process", "-trace": "the runner sets the trace",
    "-D": "the runner owns the log file", "-d": "the runner sets -d guest_errors",
    "-incoming": "a run starts a fresh machine", "-loadvm": "a run starts a fresh machine",
    "-bios": "the captures are made with Debian's SeaBIOS",
}


# ---------------------------------------------------------------------------
# What is on this machine
# ---------------------------------------------------------------------------

def compiler_available(cc: str | None = None, ld: str | None = None) -> bool:
    """True when the C compiler and ld needed by guest/build.sh are on PATH."""
    cc = cc or os.environ.get("CC", "gcc")
    ld = ld or os.environ.get("LD", "ld")
    return shutil.which(cc) is not None and shutil.which(ld) is not None \
        and shutil.which("sh") is not None


def guest_usable(qemu: str = "qemu-system-x86_64") -> tuple[bool, str]:
    """(usable, why not): /dev/kvm + QEMU with KVM + a compiler for the guest."""
    if not qemu_available(qemu):
        return False, f"{qemu} not found or not working"
    if not kvm_usable(qemu):
        return False, "KVM not usable (/dev/kvm or QEMU -accel kvm)"
    if not compiler_available():
        return False, "gcc/ld not found (needed to build guest/)"
    return True, ""


def _first_line(argv: list[str]) -> str | None:
    try:
        res = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = res.stdout.decode(errors="replace").strip().splitlines()
    return out[0] if out else None


def _guest_hash() -> str:
    h = hashlib.sha256()
    for name in _GUEST_SOURCES:
        path = GUEST_DIR / name
        try:
            h.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
        except OSError:
            raise CaptureError(f"guest source missing: {path}") from None
    return h.hexdigest()[:16]


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "vfiolab"


def build_guest(out_dir=None, *, force: bool = False) -> Path:
    """Build guest/ with guest/build.sh; return the path of guest.elf.

    The default output is a cache folder named by a hash of the guest
    sources (``$XDG_CACHE_HOME/vfiolab/guest-<hash>``), so a changed source
    is rebuilt and an unchanged one is not.  Raises CaptureError with the
    compiler's message when the build fails.
    """
    digest = _guest_hash()
    out = Path(out_dir) if out_dir is not None else _cache_dir() / f"guest-{digest}"
    elf = out / "guest.elf"
    if elf.exists() and not force and out_dir is None:
        return elf
    if not compiler_available():
        raise CaptureError("cannot build the guest: gcc and ld are needed "
                           "(Debian: apt-get install gcc binutils)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError:
        if out_dir is not None:
            raise CaptureError(f"cannot create {out}") from None
        # no writable cache folder: build into the temporary folder instead
        out = Path(tempfile.gettempdir()) / f"vfiolab-guest-{digest}"
        elf = out / "guest.elf"
        out.mkdir(parents=True, exist_ok=True)
    try:
        res = subprocess.run(["sh", str(GUEST_DIR / "build.sh"), str(out)],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CaptureError(f"guest build failed: {exc}") from None
    if res.returncode != 0 or not elf.exists():
        tail = res.stdout.decode(errors="replace").strip()[-2000:]
        raise CaptureError(f"guest build failed (guest/build.sh exit {res.returncode}):\n{tail}")
    return elf


# ---------------------------------------------------------------------------
# Actions -> guest operations
# ---------------------------------------------------------------------------

_OPS = {"touch": ("gpa",), "move_bar": ("bdf", "bar", "address"),
        "set_decode": ("bdf", "on"), "cfg_read": ("bdf", "reg"),
        "cfg_write": ("bdf", "reg", "value")}


def validate_actions(actions) -> list[dict]:
    """Check the JSON actions; return copies with numbers parsed.

    Ops: ``touch`` (gpa, access read|write, optional value for a write),
    ``move_bar`` (bdf, bar, address, how clean|careless), ``set_decode``
    (bdf, on, optional io), ``cfg_read`` (bdf, reg, size), ``cfg_write``
    (bdf, reg, size, value).  Errors are ActionError naming action and field.
    """
    out = []
    for i, op, a in each_action(actions, _OPS):
        if op == "touch":
            a["gpa"] = int_field(i, a, "gpa", op, 0, (1 << 52) - 4)
            if a["gpa"] % 4:
                raise ActionError(i, "gpa", f"{a['gpa']:#x} is not 4-byte aligned "
                                            "(the guest does one aligned 4-byte access)", op)
            a["access"] = choice_field(i, a, "access", op, ("read", "write"), "read",
                                       "the guest does read or write")
            if a["access"] == "write":
                a["value"] = int_field(i, {"value": a.get("value", 0)}, "value", op,
                                       0, 0xFFFFFFFF)
        elif op == "move_bar":
            bdf_field(i, a, op)
            a["bar"] = int_field(i, a, "bar", op, 0, 5)
            a["address"] = int_field(i, a, "address", op, 0, (1 << 64) - 1)
            a["how"] = choice_field(i, a, "how", op, ("clean", "careless"), "clean",
                                    "use clean or careless")
            if "type" in a:
                choice_field(i, a, "type", op, ("io", "mem32", "mem64"), "mem32",
                             "use io, mem32 or mem64")
        elif op == "set_decode":
            bdf_field(i, a, op)
            if not isinstance(a["on"], bool):
                raise ActionError(i, "on", f"{a['on']!r} is not true/false", op)
            a["io"] = bool(a.get("io", False))
        else:
            bdf_field(i, a, op)
            a["size"] = int_field(i, {"size": a.get("size", 4)}, "size", op, 1, 4)
            if a["size"] not in (1, 2, 4):
                raise ActionError(i, "size", f"{a['size']} is not 1, 2 or 4", op)
            a["reg"] = int_field(i, a, "reg", op, 0, 0xFF)
            if a["reg"] % a["size"]:
                raise ActionError(i, "reg", f"{a['reg']:#x} is not aligned to size {a['size']}", op)
            if op == "cfg_write":
                a["value"] = int_field(i, a, "value", op, 0, (1 << (8 * a["size"])) - 1)
        out.append(a)
    return out


def cf8_address(bus: int, slot: int, func: int, reg: int) -> int:
    """Configuration mechanism #1 address (PCI Local Bus Spec 3.0 section
    3.2.2.3.2): enable bit 31, bus 23:16, device 15:11, function 10:8,
    register 7:2.  The low two bits of ``reg`` are kept here; the guest
    writes ``& ~3`` to 0xCF8 and uses them to pick port 0xCFC + (reg & 3)."""
    return 0x80000000 | bus << 16 | slot << 11 | func << 8 | reg


def _bar_types(qemu_args, acts) -> dict:
    """(bdf, bar) -> BarRecord-like info for every move_bar without a type,
    from vfiolab's prediction of the same command line."""
    need = {(a["bdf"], a["bar"]) for a in acts if a["op"] == "move_bar" and "type" not in a}
    if not need:
        return {}
    from ..model.guest import parse_bdf
    from ..predict import predict
    try:
        devs = predict(list(qemu_args)).devices()
    except VfiolabError as exc:
        raise ActionError(None, "type", "move_bar needs the BAR type (io, mem32, mem64) and "
                          f"vfiolab could not predict it for this command line: {exc}; "
                          "give \"type\" in the action") from None
    found = {}
    for bdf, bar in need:
        b = parse_bdf(bdf)
        for d in devs:
            if (d.bus, d.slot, d.func) == b:
                for r in d.bars:
                    if r.bar == bar:
                        found[(bdf, bar)] = {"type": r.type, "prefetch": r.prefetch,
                                             "size": r.size}
    return found


def _bar_low_bits(info: dict) -> int:
    """The read-only low bits of a BAR (PCI Local Bus Spec 3.0 section
    6.2.5.1): bit 0 I/O space; bits 2:1 type (10b = 64-bit); bit 3
    prefetchable.  Written along with the address, as vfiolab.model.guest
    move_bar does; the device ignores them either way."""
    if info["type"] == "io":
        return 0x1
    return (0x4 if info["type"] == "mem64" else 0) | (0x8 if info.get("prefetch") else 0)


def expand_actions(acts: list[dict], bar_info: dict | None = None) -> list[dict]:
    """Validated actions -> the guest's operations, each a dict with
    ``op`` (mark/read32/write32/cfg_read/cfg_write/cfg_update), ``action``
    (the index of the action it belongs to) and its fields.

    ``move_bar``, following vfiolab.model.guest.move_bar:

    * clean: command register decode bit off (a 16-bit read, then a write of
      ``old & ~bit``), BAR low dword, BAR high dword (64-bit BARs), decode
      on again (read, write ``old | bit``);
    * careless: decode left on; low dword, then high dword.

    ``set_decode``: the same read-then-write of the command register.
    """
    bar_info = bar_info or {}
    ops: list[dict] = []
    for i, a in enumerate(acts):
        ops.append({"op": "mark", "action": i, "value": i})
        if a["op"] == "touch":
            if a["access"] == "read":
                ops.append({"op": "read32", "action": i, "addr": a["gpa"]})
            else:
                ops.append({"op": "write32", "action": i, "addr": a["gpa"], "value": a["value"]})
            continue
        from ..model.guest import parse_bdf
        bus, slot, func = parse_bdf(a["bdf"])
        if a["op"] == "cfg_read":
            ops.append({"op": "cfg_read", "action": i, "addr": cf8_address(bus, slot, func, a["reg"]),
                        "size": a["size"]})
        elif a["op"] == "cfg_write":
            ops.append({"op": "cfg_write", "action": i,
                        "addr": cf8_address(bus, slot, func, a["reg"]),
                        "size": a["size"], "value": a["value"]})
        elif a["op"] == "set_decode":
            bit = PCI_COMMAND_IO if a["io"] else PCI_COMMAND_MEMORY
            ops.append({"op": "cfg_update", "action": i,
                        "addr": cf8_address(bus, slot, func, PCI_COMMAND), "size": 2,
                        "value": bit if a["on"] else 0, "clear": 0 if a["on"] else bit})
        elif a["op"] == "move_bar":
            info = a.get("type") and {"type": a["type"], "prefetch": a.get("prefetch", False)}
            info = info or bar_info.get((a["bdf"], a["bar"]))
            if info is None:
                raise ActionError(i, "bar", f"{a['bdf']} BAR {a['bar']} is not in vfiolab's "
                                  "prediction for this command line; give \"type\"", "move_bar")
            is64 = info["type"] == "mem64"
            if not is64 and a["address"] >> 32:
                raise ActionError(i, "address", f"{a['address']:#x} is above 4 GiB but "
                                  f"BAR {a['bar']} is {info['type']}", "move_bar")
            if is64 and a["bar"] == 5:
                raise ActionError(i, "bar", "a 64-bit BAR cannot start at BAR 5", "move_bar")
            bit = PCI_COMMAND_IO if info["type"] == "io" else PCI_COMMAND_MEMORY
            cmd = cf8_address(bus, slot, func, PCI_COMMAND)
            reg = PCI_BASE_ADDRESS_0 + 4 * a["bar"]
            low = (a["address"] & 0xFFFFFFFF) | _bar_low_bits(info)
            writes = [{"op": "cfg_write", "action": i, "addr": cf8_address(bus, slot, func, reg),
                       "size": 4, "value": low}]
            if is64:
                writes.append({"op": "cfg_write", "action": i,
                               "addr": cf8_address(bus, slot, func, reg + 4),
                               "size": 4, "value": a["address"] >> 32})
            if a["how"] == "clean":
                ops.append({"op": "cfg_update", "action": i, "addr": cmd, "size": 2,
                            "value": 0, "clear": bit})
                ops.extend(writes)
                ops.append({"op": "cfg_update", "action": i, "addr": cmd, "size": 2,
                            "value": bit, "clear": 0})
            else:
                ops.extend(writes)
    if len(ops) > MAX_OPS:
        raise ActionError(None, "actions", f"{len(ops)} guest operations; the guest takes "
                          f"at most {MAX_OPS}")
    return ops


def encode_ops(ops: list[dict]) -> bytes:
    """The Multiboot module the guest reads (format: guest/README.md)."""
    out = [ACT_HEADER.pack(ACT_MAGIC, ACT_VERSION, len(ops), ACT_RECORD.size)]
    for op in ops:
        addr = op.get("addr", 0)
        out.append(ACT_RECORD.pack(OP_CODES[op["op"]], op.get("size", 0),
                                   addr & 0xFFFFFFFF, addr >> 32,
                                   op.get("value", 0), op.get("clear", 0)))
    return b"".join(out)


def _ops_json(ops: list[dict]) -> list[dict]:
    out = []
    for n, op in enumerate(ops):
        o = {"n": n, "op": op["op"], "action": op["action"]}
        if op["op"] == "mark":
            o["value"] = op["value"]
        else:
            o["addr"] = fmt_hex(op["addr"])
            if op["op"].startswith("cfg"):
                a = op["addr"]
                o["bdf"] = fmt_bdf(a >> 16 & 0xFF, a >> 11 & 0x1F, a >> 8 & 7)
                o["reg"] = fmt_hex(a & 0xFF)
                o["size"] = op["size"]
            if "value" in op:
                o["value"] = fmt_hex(op["value"])
            if op.get("clear"):
                o["clear"] = fmt_hex(op["clear"])
        out.append(o)
    return out


# ---------------------------------------------------------------------------
# Reading the log
# ---------------------------------------------------------------------------

# softmmu/memory.c memory_region_access_valid (7.2): "Invalid %s at addr 0x%HWADDR_PRIX,
# size %u, region '%s', reason: rejected|unaligned|invalid size"
_INVALID_RE = re.compile(r"Invalid (?P<access>read|write) at addr 0x(?P<addr>[0-9A-F]+), "
                         r"size (?P<size>\d+), region '(?P<region>.*)', reason: (?P<reason>.+)\Z")
_PID_PREFIX = re.compile(r"^\d+@\d+\.\d+:")
_STRUCTURED = {"kvm_run_exit", "kvm_set_user_memory", "pci_update_mappings_add",
               "pci_update_mappings_del", "pci_cfg_read", "pci_cfg_write",
               "memory_region_ops_read", "memory_region_ops_write",
               "memory_region_subpage_read", "memory_region_subpage_write"}


def parse_log(text: str, source: str = "trace.log") -> list[TraceEvent]:
    """The QEMU log of a run -> TraceEvents in order.

    Known events go through vfiolab.inputs.trace.parse_trace (the
    memory_region_ops_* and memory_region_subpage_* ``args``: cpu, mr,
    addr/offset, value, size, and region for ops); a ``-d guest_errors``
    "Invalid ..." line becomes an event named ``guest_error_invalid``
    (access, addr, size, region or None for ``(null)``, reason).  Other
    lines are kept as ``log`` events with the text.
    """
    out: list[TraceEvent] = []
    for no, line in enumerate(text.splitlines(), 1):
        body = _PID_PREFIX.sub("", line)
        if not body.strip():
            continue
        m = _INVALID_RE.match(body)
        if m:
            region = None if m["region"] == "(null)" else m["region"]
            out.append(TraceEvent("guest_error_invalid", {
                "access": m["access"], "addr": int(m["addr"], 16), "size": int(m["size"]),
                "region": region, "reason": m["reason"]}, no, line))
            continue
        name = body.split(" ", 1)[0]
        if name in _STRUCTURED:
            evs = parse_trace(body, source=f"{source} line {no}")
            if len(evs) != 1:
                raise ParseError(f"{name}: not one trace event", line_no=no, line=line,
                                 source=source)
            ev = evs[0]
            out.append(TraceEvent(ev.name, ev.args, no, line))
            continue
        if name.startswith(("memory_region_", "kvm_", "pci_")):
            raise ParseError("trace event in an unknown format", line_no=no, line=line,
                             source=source)
        out.append(TraceEvent("log", {"text": body}, no, line))
    return out


def _debugcon_lines(events: list[TraceEvent]) -> list[tuple[str, int, int]]:
    """Lines written to the debug console, rebuilt from the isa-debugcon
    writes in the trace: (text, index of the first event of the line, index
    of the event of its newline).  A line's first event is the
    ``kvm_run_exit`` (KVM_EXIT_IO) of its first byte's ``outb``.  A last
    line without its newline is included."""
    lines, buf, first = [], [], None
    last_exit, prev_end = None, 0
    for k, ev in enumerate(events):
        if ev.name == "kvm_run_exit":
            last_exit = k
        elif ev.name == "memory_region_ops_write" and ev.args["region"] == "isa-debugcon":
            if first is None:
                # the line begins with the exit that led to its first byte
                first = last_exit if last_exit is not None and last_exit >= prev_end else k
            ch = ev.args["value"] & 0xFF
            if ch == 0x0A:
                lines.append(("".join(buf), first, k))
                buf, first, prev_end = [], None, k + 1
            else:
                buf.append(chr(ch))
    if first is not None:
        # a line still being written (no newline yet) also ends the action before it
        lines.append(("".join(buf), first, len(events) - 1))
    return lines


_START_RE = re.compile(r"vfiolab-guest start ops=(\d+)\Z")
_MARK_RE = re.compile(r"@(\d+)\Z")
_RESULT_RE = re.compile(r"R (\d+) 0x([0-9a-f]{8})\Z")


def split_log(text: str) -> tuple[str, str]:
    """(guest part, firmware part) of a full log: the guest part starts at
    the ``kvm_run_exit`` that precedes the first byte of the guest's start
    line; the firmware part keeps only its kvm_set_user_memory and
    pci_update_mappings_* lines."""
    events = parse_log(text, "QEMU log")
    start = None
    for line, first, _ in _debugcon_lines(events):
        if _START_RE.match(line):
            start = first
            break
    if start is None:
        raise CaptureError("the guest's start line is not in the trace")
    cut = events[start].line_no - 1
    lines = text.splitlines()
    keep = ("kvm_set_user_memory", "pci_update_mappings_add", "pci_update_mappings_del")
    boot = [ln for ln in lines[:cut] if _PID_PREFIX.sub("", ln).split(" ", 1)[0] in keep]
    join = lambda ls: "\n".join(ls) + ("\n" if ls else "")  # noqa: E731
    return join(lines[cut:]), join(boot)


def guest_results(debugcon: str) -> dict:
    """The guest's own report from debugcon.log: ``ops`` (count),
    ``results`` (operation number -> value read), ``done`` and ``error``."""
    out = {"ops": None, "results": {}, "done": False, "error": None}
    started = False
    for line in debugcon.splitlines():
        m = _START_RE.match(line)
        if m:
            started = True
            out["ops"] = int(m[1])
            continue
        if not started:
            continue
        m = _RESULT_RE.match(line)
        if m:
            out["results"][int(m[1])] = int(m[2], 16)
        elif line == "done":
            out["done"] = True
        elif line.startswith("error: "):
            out["error"] = line[len("error: "):]
    return out


def firmware_bars(boot_trace: str) -> list[dict]:
    """Where the firmware left each BAR: the last pci_update_mappings_add
    (not followed by a _del) per device and BAR in trace_boot.log."""
    state: dict[tuple, dict] = {}
    for ev in parse_log(boot_trace, "trace_boot.log"):
        if not ev.name.startswith("pci_update_mappings_"):
            continue
        a = ev.args
        key = (fmt_bdf(a["bus"], a["slot"], a["func"]), a["bar"])
        if ev.name.endswith("_add"):
            state[key] = {"dev": a["dev"], "bdf": key[0], "bar": a["bar"],
                          "address": fmt_hex(a["addr"]), "size": fmt_hex(a["size"])}
        else:
            state.pop(key, None)
    return [state[k] for k in sorted(state)]


def _decode_cfg(ev_idx: TraceEvent, ev_data: TraceEvent) -> dict:
    """A config access from the host bridge's port regions: "pci-conf-idx"
    (0xCF8, pci_host_conf_le_ops) and "pci-conf-data" (0xCFC,
    pci_host_data_le_ops), QEMU 7.2 hw/pci-host/q35.c q35_host_initfn and
    hw/pci/pci_host.c: the CONFIG_ADDRESS value, then the data access."""
    cf8 = ev_idx.args["value"]
    reg = (cf8 & 0xFC) | (ev_data.args["addr"] & 3)
    return {"bdf": fmt_bdf(cf8 >> 16 & 0xFF, cf8 >> 11 & 0x1F, cf8 >> 8 & 7),
            "reg": fmt_hex(reg), "size": ev_data.args["size"],
            "value": fmt_hex(ev_data.args["value"])}


def _sequence(events: list[TraceEvent]) -> list[dict]:
    """Config accesses, BAR (un)mappings and memslot changes of an action,
    in the order they happened."""
    seq: list[dict] = []
    last_idx = None
    for ev in events:
        a = ev.args
        if ev.name == "memory_region_ops_write" and a["region"] == "pci-conf-idx":
            last_idx = ev
        elif ev.name.startswith("memory_region_ops_") and a["region"] == "pci-conf-data":
            if last_idx is None:
                continue
            kind = "cfg_read" if ev.name.endswith("read") else "cfg_write"
            seq.append({"ev": kind, **_decode_cfg(last_idx, ev)})
        elif ev.name.startswith("pci_update_mappings_"):
            seq.append({"ev": ev.name, "dev": a["dev"],
                        "bdf": fmt_bdf(a["bus"], a["slot"], a["func"]), "bar": a["bar"],
                        "addr": fmt_hex(a["addr"]), "size": fmt_hex(a["size"])})
        elif ev.name == "kvm_set_user_memory":
            seq.append({"ev": "kvm_set_user_memory", "slot": a["slot"],
                        "as_id": a.get("as_id", 0), "flags": a["flags"],
                        "gpa": fmt_hex(a["guest_phys_addr"]),
                        "size": fmt_hex(a["memory_size"]), "ret": a["ret"]})
    return seq


def _exits(events: list[TraceEvent]) -> list[dict]:
    """The userspace exits of an action: reason, then who handled it."""
    exits: list[dict] = []
    cur = None
    for ev in events:
        a = ev.args
        if ev.name == "kvm_run_exit":
            cur = {"reason": a["reason"], "reason_name": EXIT_REASONS.get(a["reason"], "?"),
                   "handled": []}
            exits.append(cur)
            continue
        if cur is None:
            continue
        if ev.name.startswith("memory_region_ops_"):
            cur["handled"].append({"region": a["region"], "access": ev.name.rsplit("_", 1)[1],
                                   "addr": fmt_hex(a["addr"]), "size": a["size"],
                                   "value": fmt_hex(a["value"])})
        elif ev.name.startswith("memory_region_subpage_"):
            cur["handled"].append({"subpage": True, "access": ev.name.rsplit("_", 1)[1],
                                   "offset": fmt_hex(a["offset"]), "size": a["size"],
                                   "value": fmt_hex(a["value"])})
        elif ev.name == "guest_error_invalid":
            cur["handled"].append({"rejected": True, "region": a["region"],
                                   "access": a["access"], "addr": fmt_hex(a["addr"]),
                                   "size": a["size"], "reason": a["reason"]})
    return exits


def normalize(trace: str, debugcon: str, actions: list, ops: list[dict]) -> list[dict]:
    """Per action: what reached QEMU between its mark and the next line.

    ``trace`` is trace.log (from the guest's start), ``debugcon`` the
    debugcon.log text, ``actions`` the JSON actions, ``ops`` the guest
    operations (``expand_actions`` or result.json's ``guest_ops``: dicts
    with ``op`` and ``action``), used to find the value each read returned.  Each entry has the
    action's fields, ``exits`` (every kvm_run_exit with the regions that
    handled it) and ``sequence`` (config accesses, pci_update_mappings_*,
    kvm_set_user_memory in order).  A touch also gets ``exit`` (did it
    return to QEMU at all), ``exit_reason``, ``region`` (the MemoryRegion
    whose ops served it; None when nothing did), ``rejected`` (the access
    was refused: unassigned address or write to ROM), ``subpage`` (a
    memory_region_subpage_* event was traced) and ``read_value`` (what a
    read returned, as the guest saw it; ``value`` stays what a write wrote).
    ``rejected`` entries carry the address as -d guest_errors prints it: the
    offset in the rejecting region (the GPA itself for unassigned space).
    """
    acts = validate_actions(actions)
    events = parse_log(trace, "trace.log")
    lines = _debugcon_lines(events)
    marks = {}
    for n, (text, first, last) in enumerate(lines):
        m = _MARK_RE.match(text)
        if m:
            nxt = lines[n + 1][1] if n + 1 < len(lines) else len(events)
            marks[int(m[1])] = (last + 1, nxt)
    rep = guest_results(debugcon)
    if rep["error"]:
        raise CaptureError(f"the guest reported an error: {rep['error']}")
    op_of = {}
    for n, op in enumerate(ops):
        if op["op"] in ("read32", "write32"):
            op_of[op["action"]] = n
    out = []
    for i, a in enumerate(acts):
        if i not in marks:
            raise CaptureError(f"action {i}: its mark @{i} is not in the trace")
        lo, hi = marks[i]
        window = events[lo:hi]
        entry = {"index": i, **_json_action(actions[i])}
        entry["exits"] = _exits(window)
        entry["sequence"] = _sequence(window)
        if a["op"] == "touch":
            exits = entry["exits"]
            entry["exit"] = bool(exits)
            entry["exit_reason"] = exits[0]["reason_name"] if exits else None
            handled = [h for e in exits for h in e["handled"]]
            served = [h for h in handled if not h.get("rejected") and not h.get("subpage")]
            rejected = [h for h in handled if h.get("rejected")]
            entry["region"] = (served[0]["region"] if served
                               else rejected[0]["region"] if rejected else None)
            entry["rejected"] = bool(rejected)
            entry["subpage"] = any(h.get("subpage") for h in handled)
            if served:
                entry["trace_addr"] = served[0]["addr"]
            n = op_of.get(i)
            if a["access"] == "read" and n is not None and n in rep["results"]:
                entry["read_value"] = fmt_hex(rep["results"][n])
        out.append(entry)
    return out


def _json_action(act: dict) -> dict:
    """The action as given, numbers as hex strings (JSON-safe copy)."""
    out = {}
    for k, v in act.items():
        if isinstance(v, int) and not isinstance(v, bool) and k in ("gpa", "address", "value", "reg"):
            out[k] = fmt_hex(v)
        else:
            out[k] = v
    return out


# ---------------------------------------------------------------------------
# Running QEMU
# ---------------------------------------------------------------------------

def _check_args(args) -> list[str]:
    return check_args(args, "guest run", _CONFLICTING)


def _versions(qmp_version: dict | None, debugcon: str) -> dict:
    qv = (qmp_version or {}).get("qemu", {})
    sb = re.search(r"SeaBIOS \(version ([^)]*)\)", debugcon)
    vendor, bits = host_cpu()
    kvm_params = {}
    for p in ("tdp_mmu", "mmio_caching"):
        try:
            kvm_params[p] = Path(f"/sys/module/kvm/parameters/{p}").read_text().strip()
        except OSError:
            pass
    modules = [m for m in ("kvm_intel", "kvm_amd", "kvm_pvm") if Path(f"/sys/module/{m}").exists()]
    return {
        "qemu": f"{qv.get('major')}.{qv.get('minor')}.{qv.get('micro')}",
        "qemu_package": (qmp_version or {}).get("package", "").strip(),
        "seabios": sb.group(1) if sb else None,
        "kernel_release": platform.release(),
        "host_cpu_vendor": vendor, "host_phys_bits": bits,
        "kvm_modules": modules, "kvm_parameters": kvm_params,
        "gcc": _first_line([os.environ.get("CC", "gcc"), "--version"]),
        "ld": _first_line([os.environ.get("LD", "ld"), "--version"]),
        "guest_sources_sha256_16": _guest_hash(),
    }


def run_guest(qemu_args, actions, out_dir, accel: str = "kvm", *, timeout: float = 60.0,
              qemu: str = "qemu-system-x86_64", guest_elf=None,
              keep_full_trace: bool = False, name: str | None = None,
              made_by: str | None = None) -> dict:
    """Boot the guest under ``qemu_args``, run ``actions``, record into out_dir.

    ``qemu_args`` is a QEMU command line without the binary, the kernel and
    the accelerator (any accelerator in it is replaced by ``accel``).
    Returns the content of ``result.json``.  Raises ActionError for bad
    actions, CommandLineError for options the runner sets itself, and
    CaptureError when the build fails, QEMU fails or exits early, the guest
    reports an error, or ``timeout`` seconds pass; QEMU is always ended.
    """
    args = _check_args(qemu_args)
    acts = validate_actions(actions)
    if accel not in ("kvm", "tcg"):
        raise CommandLineError(f"accel must be kvm or tcg, not {accel!r}")
    bar_info = _bar_types(args, acts)
    ops = expand_actions(acts, bar_info)
    qemu_path = shutil.which(qemu)
    if qemu_path is None:
        raise CaptureError(f"{qemu} not found on PATH")
    if accel == "kvm" and not kvm_usable(qemu):
        raise CaptureError("accel=kvm asked for, but KVM is not usable here (/dev/kvm "
                           "cannot be opened read-write, or QEMU fails with -accel kvm)")
    elf = Path(guest_elf) if guest_elf is not None else build_guest()
    out_dir = Path(out_dir)

    def debug_console(run: QemuRun) -> str:
        last = read_text(run.path("debugcon.log")).strip().splitlines()[-3:]
        return "debug console (last lines):\n" + "\n".join(last) if last else ""

    with QemuRun("guest run", timeout=timeout, prefix="vfiolab-guest-",
                 extra=debug_console) as run:
        p = {k: run.path(v) for k, v in
             {"qmp": "qmp.sock", "events": "events.txt", "log": "qemu.log",
              "dbg": "debugcon.log", "actions": "actions.bin"}.items()}
        Path(p["events"]).write_text("\n".join(TRACE_EVENTS) + "\n")
        Path(p["actions"]).write_bytes(encode_ops(ops))
        cleaned, _ = strip_accel(args)
        argv = [qemu_path] + cleaned + ["-accel", accel]
        if not any(opt_name(x) in DISPLAY_OPTIONS for x in cleaned):
            argv += ["-display", "none"]
        argv += ["-kernel", str(elf), "-initrd", p["actions"], "-no-reboot",
                 "-chardev", f"file,id=vfiolab-dbg,path={p['dbg']}",
                 "-device", f"isa-debugcon,iobase={DEBUGCON_PORT:#x},chardev=vfiolab-dbg",
                 "-qmp", f"unix:{p['qmp']},server=on,wait=off",
                 "-D", p["log"], "-d", "guest_errors", "-trace", f"events={p['events']}"]
        shown = [os.path.basename(argv[0])]
        for x in argv[1:]:
            x = x.replace(str(elf), "<guest.elf>")
            for key, ph in (("qmp", "<qmp-socket>"), ("events", "<trace-events>"),
                            ("log", "<qemu-log>"), ("dbg", "<debugcon-log>"),
                            ("actions", "<actions.bin>")):
                x = x.replace(p[key], ph)
            shown.append(x)
        run.start(argv)

        def guest_done() -> bool:
            rep = guest_results(read_text(p["dbg"]))
            if rep["error"]:
                raise run.fail(f"the guest reported: {rep['error']}")
            return rep["done"]

        run.wait_until(guest_done, "the guest to print 'done' on the debug console",
                       exited="QEMU exited (a guest triple fault ends QEMU: -no-reboot)")
        run.waiting_for = "QMP (query-version, info pci, info mtree -f, quit)"
        run.connect_qmp(p["qmp"])
        version, info_pci, mtree_f = run.qmp_calls(
            lambda q: (q.command("query-version", deadline=run.deadline),
                       q.hmp("info pci", deadline=run.deadline),
                       q.hmp("info mtree -f", deadline=run.deadline)),
            "QMP (query-version, info pci, info mtree -f, quit)")
        run.quit()
        full = read_text(p["log"])
        debugcon = read_text(p["dbg"])
        stderr_text = run.stderr_text()

    trace, boot = split_log(full)
    actions_json = [_json_action(a) for a in actions]
    per_action = normalize(trace, debugcon, actions, ops)
    out_name = name or out_dir.name
    result = {
        "name": out_name,
        "args": args,
        "command": shlex.join(args),
        "qemu_argv": shown,
        "accel": accel,
        "made_by": made_by or shlex.join(["python", "-m", "vfiolab.real.guestcap", "--args",
                                          shlex.join(args), "--actions", "actions.json",
                                          "--out", str(out_dir)]),
        "date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
                   .isoformat().replace("+00:00", "Z"),
        "versions": _versions(version, debugcon),
        "qemu_stderr": stderr_text.strip().splitlines(),
        "firmware_bars": firmware_bars(boot),
        "bar_types_from_prediction": {f"{k[0]} BAR{k[1]}": v for k, v in sorted(bar_info.items())},
        "guest_ops": _ops_json(ops),
        "actions": per_action,
    }
    files = {
        "command.txt": shlex.join(shown) + "\n",
        "actions.json": json.dumps(actions_json, indent=1) + "\n",
        "trace.log": trace,
        "trace_boot.log": boot,
        "debugcon.log": debugcon,
        "info_pci.txt": info_pci,
        "info_mtree_f.txt": mtree_f,
    }
    if keep_full_trace:
        files["trace_full.log"] = full
    result["files"] = sorted(list(files) + ["result.json"])
    out_dir.mkdir(parents=True, exist_ok=True)
    for fname, text in files.items():
        (out_dir / fname).write_text(text)
    (out_dir / "result.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


def replay_on_model(vm, mmu, actions):
    """Apply a capture's actions to a model VM, as the guest did to the real
    one: yields (action, events), the MMU's events for a touch
    (``vfiolab.model.ept.Mmu.access``), the VM's events for a BAR move or a
    decode change (``vfiolab.model.guest``)."""
    from ..model.guest import find_bdf, move_bar, set_decode
    for a in actions:
        start = len(vm.events)
        if a["op"] == "touch":
            yield a, mmu.access(parse_addr(a["gpa"]), a["access"])
            continue
        if a["op"] == "move_bar":
            move_bar(vm, a["bdf"], a["bar"], parse_addr(a["address"]), a["how"])
        elif a["op"] == "set_decode":
            set_decode(vm, find_bdf(vm, a["bdf"]), a["on"], a.get("io", False))
        yield a, vm.events[start:]


# ---------------------------------------------------------------------------
# The committed scenarios (data/kvm/)
# ---------------------------------------------------------------------------

_Q35 = ["-machine", "q35", "-m", "1G", "-nodefaults"]
_M0 = ["-object", "memory-backend-ram,id=m0,size=64M"]


def _t(gpa: str, access: str = "read", value: str | None = None, note: str = "") -> dict:
    a = {"op": "touch", "gpa": gpa, "access": access}
    if value is not None:
        a["value"] = value
    if note:
        a["note"] = note
    return a


#: The scenarios committed under data/kvm/.  Addresses were read from a
#: first run of the same command line (the firmware_bars of its capture,
#: i.e. SeaBIOS 1.16.2's placement; ``info pci`` agrees) and are checked
#: against each capture's firmware_bars by tests/test_guestcap.py.
SCENARIOS: dict[str, dict] = {
    "q35-touch": {
        "about": "touches: guest RAM, RAM BAR, MMIO BARs, MSI-X table/PBA, "
                 "unassigned, ROM, in-kernel APIC/IOAPIC, HPET, MMCONFIG",
        "args": _Q35 + _M0 + ["-device", "ivshmem-plain,memdev=m0,id=ivs0",
                              "-device", "edu,id=edu0", "-device", "e1000e,id=nic0"],
        "actions": [
            _t("0x800000", note="guest RAM (pc.ram, memslot)"),
            _t("0x800000", "write", "0x5a5a5a5a", note="guest RAM"),
            _t("0xf8000000", note="ivshmem BAR2 (RAM 'm0', memslot)"),
            _t("0xf8000000", "write", "0x12345678", note="ivshmem BAR2"),
            _t("0xfeb84000", note="ivshmem BAR0 (registers)"),
            _t("0xfea00000", note="edu BAR0 identification register"),
            _t("0xfea00004", "write", "0x0000ffff", note="edu BAR0 liveness register"),
            _t("0xfea00004", note="edu BAR0 liveness register: reads back ~value"),
            _t("0xfeb40008", note="e1000e BAR0 STATUS"),
            _t("0xfeb80000", note="e1000e BAR3 MSI-X table entry 0"),
            _t("0xfeb8000c", "write", "0x00000001", note="e1000e MSI-X entry 0 vector control"),
            _t("0xfeb82000", note="e1000e BAR3 MSI-X PBA"),
            _t("0xfe000000", note="PCI hole, nothing there"),
            _t("0x200000000", note="above 4 GiB, nothing there (-m 1G)"),
            _t("0xfffffff0", note="BIOS ROM (read-only memslot)"),
            _t("0xfffffff0", "write", "0x00000000", note="BIOS ROM, write"),
            _t("0xfee00030", note="local APIC version register"),
            _t("0xfec00000", note="IOAPIC index register"),
            _t("0xfed00000", note="HPET capabilities"),
            _t("0xb0000000", note="MMCONFIG: 00:00.0 vendor/device"),
        ],
    },
    "q35-ivshmem-move": {
        "about": "ivshmem BAR2 (64-bit, RAM) moved above 4 GiB cleanly, then back carelessly",
        "args": _Q35 + _M0 + ["-device", "ivshmem-plain,memdev=m0,id=ivs0",
                              "-device", "edu,id=edu0"],
        "actions": [
            _t("0xf8000000", "write", "0xcafef00d", note="BAR2 where the firmware put it"),
            _t("0xf8000000", note="BAR2 at the firmware's address"),
            _t("0x800000000", note="the new address, before the move"),
            {"op": "move_bar", "bdf": "00:01.0", "bar": 2, "address": "0x800000000",
             "how": "clean"},
            _t("0xf8000000", note="old address after the clean move"),
            _t("0x800000000", note="new address after the clean move"),
            {"op": "move_bar", "bdf": "00:01.0", "bar": 2, "address": "0xf8000000",
             "how": "careless"},
            _t("0x800000000", note="old address after the careless move back"),
            _t("0x8f8000000", note="the intermediate address of the careless move"),
            _t("0xf8000000", note="new address after the careless move back"),
        ],
    },
    "q35-decode-off": {
        "about": "memory decode of ivshmem turned off and on again",
        "args": _Q35 + _M0 + ["-device", "ivshmem-plain,memdev=m0,id=ivs0",
                              "-device", "edu,id=edu0"],
        "actions": [
            _t("0xf8000000", note="ivshmem BAR2, decode on"),
            _t("0xfeb00000", note="ivshmem BAR0, decode on"),
            {"op": "set_decode", "bdf": "00:01.0", "on": False},
            _t("0xf8000000", note="ivshmem BAR2, decode off"),
            _t("0xfeb00000", note="ivshmem BAR0, decode off"),
            _t("0xfea00000", note="edu BAR0 (another device, unaffected)"),
            {"op": "set_decode", "bdf": "00:01.0", "on": True},
            _t("0xf8000000", note="ivshmem BAR2, decode on again"),
            _t("0xfeb00000", note="ivshmem BAR0, decode on again"),
        ],
    },
    "q35-rootport-window": {
        "about": "ivshmem behind a pcie-root-port, BARs moved outside the port's windows and back",
        "args": _Q35 + _M0 + ["-device", "pcie-root-port,id=rp0,chassis=1,slot=1",
                              "-device", "ivshmem-plain,memdev=m0,id=ivs0,bus=rp0",
                              "-device", "edu,id=edu0"],
        "actions": [
            _t("0xf8000000", note="ivshmem BAR2 inside the root port's prefetchable window"),
            _t("0xfe800000", note="ivshmem BAR0 inside the root port's memory window"),
            {"op": "move_bar", "bdf": "01:00.0", "bar": 2, "address": "0xf0000000",
             "how": "clean"},
            _t("0xf0000000", note="BAR2's new address, outside every window of rp0"),
            _t("0xf8000000", note="BAR2's old address, still inside the window"),
            {"op": "move_bar", "bdf": "01:00.0", "bar": 0, "address": "0xfe000000",
             "how": "clean"},
            _t("0xfe000000", note="BAR0's new address, outside every window of rp0"),
            _t("0xfe800000", note="BAR0's old address, still inside the window"),
            {"op": "move_bar", "bdf": "01:00.0", "bar": 2, "address": "0xf8000000",
             "how": "clean"},
            _t("0xf8000000", note="BAR2 back inside the window"),
        ],
    },
}


def main(argv=None) -> int:
    """``python -m vfiolab.real.guestcap --scenario NAME [--out data/kvm]``,
    ``--list``, or ``--args 'QEMU ARGS' --actions FILE --out DIR``."""
    import argparse
    ap = argparse.ArgumentParser(prog="python -m vfiolab.real.guestcap")
    ap.add_argument("--scenario", action="append", default=[])
    ap.add_argument("--all", action="store_true", help="every scenario")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--out", default="data/kvm")
    ap.add_argument("--args", help="QEMU command line (one shell-quoted string)")
    ap.add_argument("--actions", help="JSON actions file (with --args)")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--full-trace", action="store_true")
    ns = ap.parse_args(argv)
    if ns.list:
        for k, v in SCENARIOS.items():
            print(f"{k}: {v['about']}")
        return 0
    try:
        jobs = []
        names = list(SCENARIOS) if ns.all else ns.scenario
        for n in names:
            if n not in SCENARIOS:
                raise CommandLineError(f"unknown scenario {n!r}; --list shows them")
            s = SCENARIOS[n]
            jobs.append((n, s["args"], s["actions"], Path(ns.out) / n,
                         f"python -m vfiolab.real.guestcap --scenario {n} --out {ns.out}"))
        if ns.args:
            if not ns.actions:
                raise CommandLineError("--args needs --actions FILE")
            try:
                acts = json.loads(Path(ns.actions).read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise CommandLineError(f"--actions {ns.actions}: {exc}") from None
            jobs.append((Path(ns.out).name, shlex.split(ns.args), acts, Path(ns.out),
                         shlex.join(["python", "-m", "vfiolab.real.guestcap", "--args", ns.args,
                                     "--actions", ns.actions, "--out", ns.out])))
        if not jobs:
            raise CommandLineError("nothing to do: give --scenario NAME, --all, --list "
                                   "or --args/--actions")
        for n, args, acts, out, made_by in jobs:
            t0 = time.monotonic()
            res = run_guest(args, acts, out, timeout=ns.timeout, name=n,
                            keep_full_trace=ns.full_trace, made_by=made_by)
            print(f"{n}: {len(res['actions'])} actions in {time.monotonic() - t0:.1f} s -> {out}")
            for a in res["actions"]:
                if a["op"] == "touch":
                    what = (f"exit {a['exit_reason']} region {a['region']}"
                            + (" (rejected)" if a["rejected"] else "")) if a["exit"] else "no exit"
                    print(f"  {a['index']:2d} touch {a['access']:5s} {a['gpa']}: {what}")
                else:
                    print(f"  {a['index']:2d} {a['op']}: "
                          + ", ".join(f"{e['ev']}" for e in a["sequence"]
                                      if not e["ev"].startswith("cfg")))
    except VfiolabError as exc:
        print(f"vfiolab guestcap: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
