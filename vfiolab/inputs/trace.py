"""Read QEMU trace output of the ``log`` backend, and replay KVM memslots.

What a line looks like (QEMU ``scripts/tracetool/backend/log.py`` and
``util/log.c`` ``qemu_log``; read at the 7.2.0 ... 10.2.0 release commits):

* ``<event name> <text of the trace-events format string>`` -- always.
* QEMU 7.2 ... 10.0 with ``-msg timestamp=on``: the log backend itself prints
  ``<thread id>@<seconds>.<6-digit microseconds>:`` before the name.
* QEMU 10.1 and later with ``-msg timestamp=on`` (commit 012842c075 "log: make
  '-msg timestamp=on' apply to all qemu_log usage"): ``qemu_log`` prints the
  GLib ISO 8601 UTC time and a space, ``2025-07-21T18:43:28.089797Z ``.
* Without ``file=`` the trace goes to stderr, mixed with QEMU's own messages
  (``qemu-system-x86_64: warning: ...``, also time-stamped by
  ``-msg timestamp=on``); such lines are skipped.

Event formats, from the ``trace-events`` files (argument names kept as the
``args`` keys; the release that first printed each form is given):

``accel/kvm/trace-events``
    kvm_set_user_memory
        * 2.12 ... 9.0: ``Slot#%d flags=0x%x gpa=0x%PRIx64 size=0x%PRIx64
          ua=0x%PRIx64 ret=%d`` -- ``slot`` is the uapi field, slot id |
          address-space id << 16, split here into ``slot`` and ``as_id``.
        * development tree only (72853afc63 .. ce5a983233, both first released
          in 9.1): ``AddrSpace#%d Slot#%d flags=... ua=0x.. ret=%d``.
        * 9.1 ... 10.2: ``AddrSpace#%d Slot#%d flags=0x%x gpa=0x.. size=0x..
          ua=0x.. guest_memfd=%d guest_memfd_offset=0x.. ret=%d`` (trace
          arguments ``as``, ``slot``, ``fd``, ``fd_offset``: keys ``as_id``,
          ``slot``, ``fd``, ``fd_offset``).
    kvm_run_exit ``cpu_index %d, reason %d`` (7.2 ... 10.2).

``hw/pci/trace-events`` (unchanged 7.2 ... 10.2)
    pci_update_mappings_add / _del ``%s %02x:%02x.%x %d,0x%PRIx64+0x%PRIx64``
    (dev, bus, slot, func, bar, addr, size); pci_cfg_read ``%s %02x:%02x.%x
    @0x%x -> 0x%x`` and pci_cfg_write ``... @0x%x <- 0x%x`` (dev, bus, slot,
    func, offs, val).

``hw/vfio/trace-events`` (7.2 ... 10.2, changes noted)
    vfio_region_setup, vfio_region_sparse_mmap_header/_entry, vfio_region_mmap,
    vfio_region_mmap_fault, vfio_region_mmaps_set_enabled, vfio_region_unmap,
    vfio_region_read/_write, vfio_pci_read_config/_write_config,
    vfio_pci_size_rom, vfio_rom_read, vfio_msix_fixup,
    vfio_listener_region_add_ram, vfio_listener_region_add_no_dma_map,
    vfio_listener_region_del, vfio_iommu_map_notify,
    vfio_known_safe_misalignment: one format throughout.
    vfio_msix_early_setup: ``, noresize %d`` appended from 8.2.
    vfio_listener_region_add_skip / _del_skip (``SKIPPING region_add|region_del
    0x.. - 0x..``) up to 7.2, replaced by vfio_listener_region_skip (name,
    start, end) with the same text from 8.0.
    vfio_listener_region_add_iommu: ``region_add [iommu] 0x.. - 0x..`` up to
    9.0, ``region_add [iommu] %s 0x.. - 0x..`` from 9.1, which also added
    vfio_listener_region_del_iommu ``region_del [iommu] %s``.
    vfio_pci_load_rom: up to 9.0 two lines, ``Device %s ROM:`` and
    ``  size: 0x%lx, offset: 0x%lx, flags: 0x%lx``; from 9.1 one line
    ``Device '%s' ROM: size: 0x%lx, offset: 0x%lx, flags: 0x%lx``.

``%p`` prints ``0x...`` or glibc's ``(nil)`` (read as 0).
"""

from __future__ import annotations

import fnmatch
import re

from ..errors import ParseError
from ..records import Memslot, TraceEvent
from .mtree import _lines

__all__ = ["parse_trace", "replay_memslots", "TRACE_FORMATS"]

# {name:conv} placeholders: x = hex digits (the "0x" stays literal text), X2 = %02x,
# d = %d, u = %u / unsigned %d, s = %s, p = %p, b = a bool printed with %d
_CONV_RE = {"x": r"[0-9a-f]+", "X2": r"[0-9a-f]{2,}", "d": r"-?\d+", "u": r"\d+",
            "s": r".*", "p": r"0x[0-9a-f]+|\(nil\)", "b": r"[01]"}


def _conv(kind: str, text: str):
    if kind in ("x", "X2"):
        return int(text, 16)
    if kind in ("d", "u"):
        return int(text)
    if kind == "p":
        return 0 if text == "(nil)" else int(text, 16)
    if kind == "b":
        return text == "1"
    return text


class _Format:
    """One version of one event's format string, as a compiled pattern."""

    def __init__(self, fmt: str, versions: str, continuation: str | None = None):
        self.fmt = fmt
        self.versions = versions
        self.kinds: dict[str, str] = {}
        self.regex = self._compile(fmt)
        self.continuation = self._compile(continuation) if continuation else None

    def _compile(self, fmt: str):
        parts, pos = [], 0
        for m in re.finditer(r"\{(\w+):(\w+)\}", fmt):
            parts.append(re.escape(fmt[pos:m.start()]))
            name, kind = m.group(1), m.group(2)
            self.kinds[name] = kind
            parts.append(f"(?P<{name}>{_CONV_RE[kind]})")
            pos = m.end()
        parts.append(re.escape(fmt[pos:]))
        return re.compile("".join(parts) + r"\Z", re.ASCII | re.DOTALL)

    def args(self, m) -> dict:
        return {k: _conv(self.kinds[k], v) for k, v in m.groupdict().items()}


_MEMSLOT_TAIL = ("flags=0x{flags:x} gpa=0x{guest_phys_addr:x} size=0x{memory_size:x} "
                 "ua=0x{userspace_addr:x}")
_BDF = "{bus:X2}:{slot:X2}.{func:x}"

#: event name -> formats, newest first.  The text after "<name> " must match one.
TRACE_FORMATS: dict[str, list[_Format]] = {
    # accel/kvm/trace-events
    "kvm_set_user_memory": [
        _Format("AddrSpace#{as_id:u} Slot#{slot:u} " + _MEMSLOT_TAIL
                + " guest_memfd={fd:d} guest_memfd_offset=0x{fd_offset:x} ret={ret:d}", "9.1-10.2"),
        _Format("AddrSpace#{as_id:u} Slot#{slot:u} " + _MEMSLOT_TAIL + " ret={ret:d}",
                "development tree between 9.0 and 9.1"),
        _Format("Slot#{slot:u} " + _MEMSLOT_TAIL + " ret={ret:d}", "2.12-9.0"),
    ],
    "kvm_run_exit": [_Format("cpu_index {cpu_index:d}, reason {reason:u}", "7.2-10.2")],
    # softmmu/trace-events (system/trace-events from 8.1): one line per access
    # dispatched to a MemoryRegion's ops (memory_region_dispatch_read/write)
    "memory_region_ops_read": [_Format(
        "cpu {cpu:d} mr {mr:p} addr 0x{addr:x} value 0x{value:x} size {size:u} name '{region:s}'",
        "7.2-10.2")],
    "memory_region_ops_write": [_Format(
        "cpu {cpu:d} mr {mr:p} addr 0x{addr:x} value 0x{value:x} size {size:u} name '{region:s}'",
        "7.2-10.2")],
    "memory_region_subpage_read": [_Format(
        "cpu {cpu:d} mr {mr:p} offset 0x{offset:x} value 0x{value:x} size {size:u}", "7.2-10.2")],
    "memory_region_subpage_write": [_Format(
        "cpu {cpu:d} mr {mr:p} offset 0x{offset:x} value 0x{value:x} size {size:u}", "7.2-10.2")],
    # hw/pci/trace-events
    "pci_update_mappings_add": [
        _Format("{dev:s} " + _BDF + " {bar:d},0x{addr:x}+0x{size:x}", "7.2-10.2")],
    "pci_update_mappings_del": [
        _Format("{dev:s} " + _BDF + " {bar:d},0x{addr:x}+0x{size:x}", "7.2-10.2")],
    "pci_cfg_read": [_Format("{dev:s} " + _BDF + " @0x{offs:x} -> 0x{val:x}", "7.2-10.2")],
    "pci_cfg_write": [_Format("{dev:s} " + _BDF + " @0x{offs:x} <- 0x{val:x}", "7.2-10.2")],
    # hw/vfio/trace-events
    "vfio_region_setup": [_Format(
        'Device {dev:s}, region {index:d} "{name:s}", flags: 0x{flags:x}, '
        "offset: 0x{offset:x}, size: 0x{size:x}", "7.2-10.2")],
    "vfio_region_sparse_mmap_header": [_Format(
        "Device {name:s} region {index:d}: {nr_areas:d} sparse mmap entries", "7.2-10.2")],
    "vfio_region_sparse_mmap_entry": [_Format(
        "sparse entry {i:d} [0x{start:x} - 0x{end:x}]", "7.2-10.2")],
    "vfio_region_mmap": [_Format("Region {name:s} [0x{offset:x} - 0x{end:x}]", "7.2-10.2")],
    "vfio_region_mmap_fault": [_Format(
        "Region {name:s} mmaps[{index:d}], [0x{offset:x} - 0x{size:x}], fault: {fault:d}",
        "7.2-10.2")],
    "vfio_region_mmaps_set_enabled": [_Format(
        "Region {name:s} mmaps enabled: {enabled:b}", "7.2-10.2")],
    "vfio_region_unmap": [_Format("Region {name:s} unmap [0x{offset:x} - 0x{end:x}]", "7.2-10.2")],
    "vfio_region_read": [_Format(
        " ({name:s}:region{index:d}+0x{addr:x}, {size:u}) = 0x{data:x}", "7.2-10.2")],
    "vfio_region_write": [_Format(
        " ({name:s}:region{index:d}+0x{addr:x}, 0x{data:x}, {size:u})", "7.2-10.2")],
    "vfio_pci_read_config": [_Format(
        " ({name:s}, @0x{addr:x}, len=0x{len:x}) 0x{val:x}", "7.2-10.2")],
    "vfio_pci_write_config": [_Format(
        " ({name:s}, @0x{addr:x}, 0x{val:x}, len=0x{len:x})", "7.2-10.2")],
    "vfio_pci_size_rom": [_Format("{name:s} ROM size 0x{size:x}", "7.2-10.2")],
    "vfio_pci_load_rom": [
        _Format("Device '{name:s}' ROM: size: 0x{size:x}, offset: 0x{offset:x}, flags: 0x{flags:x}",
                "9.1-10.2"),
        _Format("Device {name:s} ROM:", "7.2-9.0",
                continuation="  size: 0x{size:x}, offset: 0x{offset:x}, flags: 0x{flags:x}"),
    ],
    "vfio_rom_read": [_Format(" ({name:s}, 0x{addr:x}, 0x{size:x}) = 0x{data:x}", "7.2-10.2")],
    "vfio_msix_early_setup": [
        _Format("{name:s} PCI MSI-X CAP @0x{pos:x}, BAR {table_bar:d}, offset 0x{offset:x}, "
                "entries {entries:d}, noresize {noresize:b}", "8.2-10.2"),
        _Format("{name:s} PCI MSI-X CAP @0x{pos:x}, BAR {table_bar:d}, offset 0x{offset:x}, "
                "entries {entries:d}", "7.2-8.1"),
    ],
    "vfio_msix_fixup": [_Format(
        " ({name:s}) MSI-X region {bar:d} mmap fixup [0x{start:x} - 0x{end:x}]", "7.2-10.2")],
    "vfio_listener_region_add_ram": [_Format(
        "region_add [ram] 0x{iova_start:x} - 0x{iova_end:x} [{vaddr:p}]", "7.2-10.2")],
    "vfio_listener_region_add_no_dma_map": [_Format(
        'Region "{name:s}" 0x{iova:x} size=0x{size:x} is not aligned to 0x{page_size:x} '
        "and cannot be mapped for DMA", "7.2-10.2")],
    "vfio_listener_region_del": [_Format("region_del 0x{start:x} - 0x{end:x}", "7.2-10.2")],
    "vfio_listener_region_skip": [_Format("SKIPPING {name:s} 0x{start:x} - 0x{end:x}", "8.0-10.2")],
    "vfio_listener_region_add_skip": [_Format(
        "SKIPPING region_add 0x{start:x} - 0x{end:x}", "up to 7.2")],
    "vfio_listener_region_del_skip": [_Format(
        "SKIPPING region_del 0x{start:x} - 0x{end:x}", "up to 7.2")],
    "vfio_listener_region_add_iommu": [
        _Format("region_add [iommu] 0x{start:x} - 0x{end:x}", "7.2-9.0"),
        _Format("region_add [iommu] {name:s} 0x{start:x} - 0x{end:x}", "9.1-10.2"),
    ],
    "vfio_listener_region_del_iommu": [_Format("region_del [iommu] {name:s}", "9.1-10.2")],
    "vfio_iommu_map_notify": [_Format("iommu {op:s} @ 0x{iova_start:x} - 0x{iova_end:x}", "7.2-10.2")],
    "vfio_known_safe_misalignment": [_Format(
        'Region "{name:s}" iova=0x{iova:x} offset_within_region=0x{offset_within_region:x} '
        "qemu_real_host_page_size=0x{page_size:x}", "7.2-10.2")],
    "vfio_dma_unmap_overflow_workaround": [_Format("", "7.2-8.2")],
}

# 7.2 ... 10.0, -msg timestamp=on: "%d@%zu.%06zu:" (thread id, seconds, microseconds)
_PID_PREFIX = re.compile(r"(?P<pid>\d+)@(?P<ts>\d+\.\d{6}):", re.ASCII)
# 10.1+, -msg timestamp=on: g_date_time_format_iso8601() of a UTC time, then " "
_ISO_PREFIX = re.compile(
    r"(?P<ts>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}(?::\d{2}){0,2})) ",
    re.ASCII)
_TOKEN = re.compile(r"[A-Za-z0-9_]+", re.ASCII)
# what an unknown trace event name looks like: lower-case C identifier with a
# subsystem prefix ("kvm_...", "vfio_..."); anything else is log noise
_EVENT_NAME = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+\Z", re.ASCII)

_U16 = 0xFFFF
_U32 = 0xFFFFFFFF
_U64 = (1 << 64) - 1


def _event_filter(events):
    """``events``: None, names / glob patterns (as in a ``-trace events=FILE``
    file, matched like QEMU's g_pattern_match_simple), or that file's text."""
    if events is None:
        return None
    if isinstance(events, str):
        events = [ln.strip() for ln in events.splitlines()]
    pats = [e for e in events if e and not e.startswith("#")]
    exact = {p for p in pats if not any(c in p for c in "*?")}
    globs = [p for p in pats if p not in exact]

    def keep(name):
        return name in exact or any(fnmatch.fnmatchcase(name, g) for g in globs)
    return keep


def _check_kvm_set_user_memory(args: dict, old_format: bool, fail):
    if old_format:
        # the uapi slot field: bits 0-15 slot id, bits 16-31 address-space id
        # (Linux include/uapi/linux/kvm.h; QEMU kvm_set_user_memory_region builds
        # it as slot | as_id << 16)
        if args["slot"] > _U32:
            fail("slot field wider than 32 bits")
        args["as_id"], args["slot"] = args["slot"] >> 16, args["slot"] & _U16
    elif args["slot"] > _U16 or args["as_id"] > _U16:
        fail("slot / address-space id wider than 16 bits")
    if args["flags"] > _U32:
        fail("flags wider than 32 bits")
    for k in ("guest_phys_addr", "memory_size", "userspace_addr"):
        if args[k] > _U64:
            fail(f"{k} wider than 64 bits")


def parse_trace(text, source=None, events=None) -> list[TraceEvent]:
    """Parse a ``log``-backend trace (QEMU 7.2 ... 10.x) into TraceEvents.

    Known events (``TRACE_FORMATS``) get typed ``args``; a known event whose
    text matches none of its formats raises ParseError naming the line.
    Unknown events are kept with ``args == {}`` and the raw line.  Lines that
    are not trace lines (QEMU warnings, blank lines) are skipped.  ``events``
    restricts the result to those names / glob patterns.
    """
    keep = _event_filter(events)
    lines = list(_lines(text, source))
    out: list[TraceEvent] = []
    i = 0
    while i < len(lines):
        no, line = lines[i]
        i += 1
        if not line.strip():
            continue

        def fail(msg, no=no, line=line):
            raise ParseError(msg, line_no=no, line=line, source=source)

        body, pid, ts = line, None, None
        m = _PID_PREFIX.match(line)
        if m:
            pid, ts, body = int(m["pid"]), m["ts"], line[m.end():]
        else:
            m = _ISO_PREFIX.match(line)
            if m:
                ts, body = m["ts"], line[m.end():]
            elif re.match(r"\d+@", line, re.ASCII) or re.match(r"\d{4}-\d\d-\d\dT", line, re.ASCII):
                fail("malformed '-msg timestamp=on' prefix")
        m = _TOKEN.match(body)
        if not m:
            continue                                   # not a trace line
        name, after = m.group(), body[m.end():]
        if after and not after.startswith(" "):
            if any(name.startswith(k) for k in TRACE_FORMATS):
                fail("known trace event name not followed by a space")
            continue                                   # e.g. "qemu-system-x86_64: ..."
        argtext = after[1:]
        if keep is not None and not keep(name):
            continue
        formats = TRACE_FORMATS.get(name)
        if formats is None:
            if _EVENT_NAME.match(name):
                out.append(TraceEvent(name=name, args={}, line_no=no, raw=line,
                                      pid=pid, timestamp=ts))
            continue
        for fmt in formats:
            fm = fmt.regex.match(argtext)
            if fm is None:
                continue
            args = fmt.args(fm)
            raw = line
            if fmt.continuation is not None:
                # the format holds "\n": its second half is the next log line
                if i >= len(lines):
                    fail(f"{name}: continuation line missing (QEMU {fmt.versions} "
                         "prints this event on two lines)")
                cno, cline = lines[i]
                cm = fmt.continuation.match(cline)
                if cm is None:
                    fail(f"{name}: continuation line does not match", no=cno, line=cline)
                args.update(fmt.args(cm))
                raw = line + "\n" + cline
                i += 1
            if name == "kvm_set_user_memory":
                _check_kvm_set_user_memory(args, "as_id" not in args, fail)
            out.append(TraceEvent(name=name, args=args, line_no=no, raw=raw,
                                  pid=pid, timestamp=ts))
            break
        else:
            versions = "; ".join(f"{f.versions}: {f.fmt!r}" for f in formats)
            fail(f"{name} arguments match no known format ({versions})")
    return out


def replay_memslots(events) -> list[Memslot]:
    """Apply ``kvm_set_user_memory`` events in order; return the live memslots.

    Semantics of KVM_SET_USER_MEMORY_REGION(2) (Linux ``virt/kvm/kvm_main.c``
    ``__kvm_set_memory_region``) as QEMU uses it (``accel/kvm/kvm-all.c``
    ``kvm_set_user_memory_region``; reference qemu-kvm-vfio.md 4.3-4.4):

    * a slot is named by (address-space id, slot id);
    * ``memory_size`` 0 deletes the slot (QEMU re-issues the slot with size 0);
      deleting a slot that is not live fails in the kernel, so with ``ret=0``
      it means the trace is incomplete: ParseError;
    * otherwise the slot is created, or replaced (flag changes such as dirty
      logging; QEMU flips KVM_MEM_READONLY through an untraced size-0 call, so
      the trace shows a plain replacement);
    * a call with ``ret`` != 0 failed and changed nothing; it is ignored;
    * a new slot overlapping another live slot of the same address space is
      refused by the kernel (-EEXIST), so with ``ret=0`` it is a ParseError.

    Result sorted by guest_phys_addr (then address space).  ``Memslot.slot``
    is the 16-bit slot id; ``as_id`` the address space.
    """
    live: dict[tuple[int, int], Memslot] = {}
    for ev in events:
        if getattr(ev, "name", None) != "kvm_set_user_memory":
            continue
        try:
            a = ev.args
            key = (a.get("as_id", 0), a["slot"])
            ret, size, gpa = a["ret"], a["memory_size"], a["guest_phys_addr"]
            flags, ua = a["flags"], a["userspace_addr"]
        except (KeyError, TypeError, AttributeError) as exc:
            raise ParseError(f"kvm_set_user_memory event lacks argument {exc}",
                             line_no=getattr(ev, "line_no", None),
                             line=getattr(ev, "raw", None)) from None
        if ret != 0:
            continue
        if size == 0:
            if key not in live:
                raise ParseError(f"deletes slot {key[1]} (address space {key[0]}) "
                                 "which is not live", line_no=ev.line_no, line=ev.raw)
            del live[key]
            continue
        for other_key, s in live.items():
            if other_key != key and other_key[0] == key[0] and \
                    gpa < s.guest_phys_addr + s.memory_size and s.guest_phys_addr < gpa + size:
                raise ParseError(f"slot {key[1]} overlaps live slot {other_key[1]} "
                                 "(the kernel refuses this with EEXIST)",
                                 line_no=ev.line_no, line=ev.raw)
        live[key] = Memslot(slot=key[1], flags=flags, guest_phys_addr=gpa,
                            memory_size=size, userspace_addr=ua, as_id=key[0])
    return sorted(live.values(), key=lambda s: (s.guest_phys_addr, s.as_id, s.slot))
