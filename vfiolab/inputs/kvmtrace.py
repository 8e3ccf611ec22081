"""Read KVM's own tracepoints as ``trace-cmd report`` and ``perf script`` print them.

On a host with EPT (or NPT) the kernel records every fill of the second-level
page table; ``trace-cmd record -e kvm -e kvmmmu`` / ``trace-cmd report`` or
``perf record -e 'kvm:*' -e 'kvmmmu:*'`` / ``perf script`` turn the records
into text.  This module reads that text back into
:class:`vfiolab.records.TraceEvent` records (as :class:`KvmTraceEvent`, which
adds the CPU, the task name and the tracing system), so that
:mod:`vfiolab.real.kvmcompare` can lay the recorded fills beside
:class:`vfiolab.model.ept.Mmu`'s prediction.

The line around an event (read in the tools' source):

* ``trace-cmd report`` (trace-cmd ``tracecmd/trace-read.c`` ``trace_show_data``,
  read at 3.4): ``%16s-%-5d [%03d]`` (task, pid, CPU), the latency flags
  (``d....``; 3.4 prints them, the older trace-cmd of the real samples in
  tests/fixtures/kvmtrace does not), `` %6.1000d:`` (seconds.microseconds), then
  `` <event>: `` padded to 20 characters and the event text.  With ``-l`` the
  CPU is printed ``%3d`` without brackets and glued to the flags.  Header
  lines ``cpus=N``, ``CPU N is empty`` and ``CPU:N [... EVENTS DROPPED]`` are
  skipped.
* the kernel's own ``/sys/kernel/tracing/trace`` (``kernel/trace/trace_output.c``
  ``trace_print_context``) has the same shape (``%16s-%-7d``, optional
  ``(tgid)``, ``[%03d]``, flags, ``%5lu.%06lu:``, ``<event>: ``); ``#`` lines
  are its header.
* ``perf script`` (Linux ``tools/perf/builtin-script.c``
  ``perf_sample__fprintf_start``): ``%16s`` task, ``%7d`` tid (or
  ``%7d/%-7d`` pid/tid), ``[%03d]`` CPU, ``%12s:`` time, then the event as
  ``system:event:`` right-aligned to the longest event name, then the text.
  Blank lines and indented call-chain lines are skipped.

The event texts are the kernel's ``TP_printk`` formats (as libtraceevent
renders them: ``%p`` becomes ``0x...`` or ``(nil)``; the kernel's trace file
prints a hashed ``%p`` without ``0x``), except where libtraceevent's kvm
plugin (``plugins/plugin_kvm.c``, loaded by trace-cmd, and by perf where
libtraceevent's plugins are installed) replaces the printing of ``kvm_exit``
and of the ``kvm_mmu_*`` page events.  Formats, Linux ``arch/x86/kvm/trace.h`` (system ``kvm``),
``arch/x86/kvm/mmu/mmutrace.h`` (system ``kvmmmu``) and
``include/trace/events/kvm.h`` (system ``kvm``):

``kvm_exit`` (``TRACE_EVENT_KVM_EXIT``)
    * 5.15 ... 6.12: ``vcpu %u reason %s%s%s rip 0x%lx info1 0x%016llx
      info2 0x%016llx intr_info 0x%08x error_code 0x%08x`` -- the reason is
      the VMX/SVM exit name, then ``" "`` and VMX exit-reason flags
      (``FAILED_VMENTRY``) when set.  The intr_info/error_code part came with
      Sean Christopherson's patch "KVM: x86: Add intr/vectoring info and error
      code to kvm_exit tracepoint" (posted July 2020, so about 5.10; the exact
      first release was not checked);
    * earlier kernels, seen in real traces: ``vcpu %u reason %s rip 0x%lx info
      %llx %llx`` and ``reason %s rip 0x%lx info %llx %llx``;
    * the kvm plugin, every kernel: ``reason %s rip 0x%llx[ <func>[+0x..]] info
      %llx %llx`` (no vcpu; an unknown reason prints ``UNKNOWN (%llu)``; SVM
      names carry an ``EXIT_`` prefix, e.g. ``EXIT_NPF``).
``kvm_page_fault``
    * up to 6.0: ``address %lx error_code %x``;
    * 6.1 on: ``vcpu %u rip 0x%lx address 0x%016llx error_code 0x%llx``
      (patches by Wonhyuk Yang and Sean Christopherson posted in Aug 2022 for
      the 6.1 cycle; the 6.1 tag itself was not checked here).
    ``error_code`` is what ``vmx.c`` ``handle_ept_violation`` passes: the EPT
    violation's exit qualification (the same value as ``kvm_exit``'s info1),
    or on SVM ``npf_interception``'s EXITINFO1.
``kvm_mmu_spte_requested`` (5.15 ... 6.12): ``gfn %llx pfn %llx level %d`` --
    the faulting gfn, the host pfn including the gfn's offset inside the huge
    page, and the goal level.
``kvm_mmu_set_spte`` (5.15 ... 6.12): ``gfn %llx spte %llx (%s%s%s%s) level %d
    at %llx`` -- gfn of the leaf (aligned to its level), the 64-bit SPTE, r/w/x
    and (when KVM has a user mask) u letters, the level, the SPTE's physical
    address.  The SPTE is decoded here with :func:`vfiolab.model.ept.decode`
    when the trace is from an Intel (VMX/EPT) host; an AMD host's NPT entries
    use the x86 page-table format, which that decoder does not read.
``mark_mmio_spte`` (5.15 ... 6.12): ``sptep:%p gfn %llx access %x gen %x``
    (``access`` is ``spte & ACC_ALL``, i.e. the raw low three SPTE bits: 6 =
    W|X for EPT's MMIO value; ``gen`` the memslot generation in the SPTE).
``handle_mmio_page_fault`` (5.15 ... 6.12): ``addr:%llx gfn %llx access %x``
    (``mmu.c`` ``handle_mmio_page_fault`` zeroes ``addr`` for a direct/TDP MMU).
``kvm_mmu_prepare_zap_page`` / ``kvm_mmu_get_page`` (``KVM_MMU_PAGE_PRINTK``,
    unchanged in text 5.15 ... 6.12): ``sp gen %u gfn %llx l%u %u-byte
    q%u%s %s%s %snxe %sad root %u %s`` (get_page adds `` new``/`` existing``);
    older kernels print no ``gen %u``.  The kvm plugin
    prints the role instead as ``%u q%u%s %s%s %spae %snxe %swp%s%s%s root %u
    %s`` (without the gfn; get_page as ``new|existing sp gfn %llx <role>``), or
    ``WORD: %08x root %u %s`` for a trace from a host of other endianness.
``kvm_tdp_mmu_spte_changed`` (5.15 ... 6.12): ``as id %d gfn %llx level %d
    old_spte %llx new_spte %llx``.
``kvm_mmio`` (``include/trace/events/kvm.h``, 5.15 ... 6.12): ``mmio %s len %u
    gpa 0x%llx val 0x%llx`` with type ``unsatisfied-read``, ``read``, ``write``.
``kvm_userspace_exit`` (same file): ``reason %s (%d)`` -- a ``KVM_EXIT_*``
    name and its number, or ``restart``/``error`` and the errno.

Any other event is kept with ``args == {"text": <its text>}``.  A line of a
known event whose text matches none of its formats raises
:class:`vfiolab.errors.ParseError` with the line number; so does a line that
is neither an event line nor one of the header lines above.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ..errors import ConfigError, ParseError
from ..model.ept import decode, is_mmio_spte
from ..records import TraceEvent
from .mtree import _lines

__all__ = ["KvmTraceEvent", "parse_kvm_trace", "detect_isa", "KVM_TRACE_FORMATS"]


@dataclass(frozen=True)
class KvmTraceEvent(TraceEvent):
    """A TraceEvent from ``trace-cmd report``/``perf script``, with the
    columns those tools print around the event text.

    ``pid`` is the task id trace-cmd prints after the task name (perf: the
    tid, or the pid when ``pid/tid`` is printed, then ``tid`` is the tid);
    ``timestamp`` is the time as printed (seconds); ``cpu`` the host CPU;
    ``comm`` the task name (``CPU 0/KVM`` for QEMU's vCPU threads with
    ``debug-threads=on``); ``system`` the tracing system when perf printed it
    (``kvm``, ``kvmmmu``); ``flags`` the latency column (irqs-off,
    need-resched, hard/softirq, preempt depth, migrate-disable); ``layout``
    ``"ftrace"`` (trace-cmd report, the kernel's trace file) or ``"perf"``.
    """

    cpu: int | None = None
    comm: str | None = None
    system: str | None = None
    flags: str | None = None
    tid: int | None = None
    layout: str | None = None


# ---------------------------------------------------------------------------
# The line around the event text
# ---------------------------------------------------------------------------
_TS = r"(?P<ts>\d+(?:\.\d+)?)"
_EVENT = r"(?P<event><[^>]*>|[A-Za-z_][A-Za-z0-9_]*)"
# perf: "%16s %7d[/%-7d] [%03d] %12s: system:event: text"
_PERF = re.compile(
    r"^\s*(?P<comm>.*?)\s+(?P<pid>\d+)(?:/(?P<tid>\d+))?\s+\[(?P<cpu>\d+)\]\s+"
    + _TS + r":\s+(?P<system>[A-Za-z_][A-Za-z0-9_]*):" + _EVENT + r":(?P<text>.*)$",
    re.ASCII)
# trace-cmd report / tracefs: "%16s-%-5d [(tgid)] [%03d] [flags] time: event: text"
_FTRACE = re.compile(
    r"^\s*(?P<comm>.*?)-(?P<pid>\d+)\s+(?:\(\s*(?:\d+|-+)\)\s+)?\[(?P<cpu>\d+)\]\s+"
    r"(?:(?P<flags>\S{3,6})\s+)?" + _TS + r":\s+" + _EVENT + r":(?P<text>.*)$",
    re.ASCII)
# trace-cmd report -l: "%8.8s-%-5d %3d<flags> time: event: text"
_FTRACE_LAT = re.compile(
    r"^\s*(?P<comm>.*?)-(?P<pid>\d+)\s+(?P<cpu>\d+)(?P<flags>[^\s\d]\S{2,5})\s+"
    + _TS + r":\s+" + _EVENT + r":(?P<text>.*)$",
    re.ASCII)

#: lines that carry no event: blank lines, the trace file's '#' header,
#: trace-cmd's "cpus=N", "CPU N is empty", "CPU:N [... EVENTS DROPPED]" /
#: "[SUBBUFFER START]" and "version = N"
_SKIP_HEAD = re.compile(
    r"^\s*$|^\s*#|^cpus=\d+\s*$|^CPU \d+ is empty\s*$|^CPU:\s*\d+ \[.*\]\s*$"
    r"|^version = \d+\s*$",
    re.ASCII)
#: lines that follow an event: the trace file's stack traces ("=> func") and
#: perf's call chains ("\t ffffffff81234567 func+0x12 ([kernel.kallsyms])");
#: tried only after a line failed to be an event line
_SKIP_TAIL = re.compile(r"^\s*=> |^\s+[0-9a-f]+ \S.*\(.*\)\s*$", re.ASCII)


# ---------------------------------------------------------------------------
# Event texts
# ---------------------------------------------------------------------------
_H = r"[0-9a-fA-F]+"


class _Variant:
    """One printed form of one event: a label naming where it comes from,
    the regular expression of the text, and how each group converts."""

    def __init__(self, label: str, pattern: str, hex_=(), dec=(), flags=(), negated=(),
                 post=None):
        self.label = label
        self.regex = re.compile(pattern + r"\Z", re.ASCII)
        self.hex = set(hex_)
        self.dec = set(dec)
        self.flags = set(flags)        # present text -> True
        self.negated = set(negated)    # "!" printed -> False
        self.post = post

    def parse(self, text: str):
        m = self.regex.match(text)
        if m is None:
            return None
        args = {}
        for k, v in m.groupdict().items():
            if k in self.hex:
                args[k] = None if v is None else int(v, 16)
            elif k in self.dec:
                args[k] = None if v is None else int(v)
            elif k in self.flags:
                args[k] = v is not None
            elif k in self.negated:
                args[k] = v != "!"
            else:
                args[k] = v
        if self.post is not None:
            self.post(args)
        args["format"] = self.label
        return args


def _exit_reason(args: dict) -> None:
    """Split ``reason`` into the exit name and VMX exit-reason flags
    (``kvm_print_exit_reason``: name, then " " and the flags); the kvm plugin's
    ``UNKNOWN (n)`` keeps the number; guess the ISA from the name (VMX names
    are upper case, the kernel's SVM names lower case, the plugin's SVM names
    start ``EXIT_``)."""
    reason = args.pop("reason")
    m = re.fullmatch(r"UNKNOWN \((\d+)\)", reason)
    if m:
        args["exit_reason"], args["exit_reason_flags"] = "UNKNOWN", ()
        args["exit_code"] = int(m.group(1))
        args["isa"] = None
        return
    name, *flags = reason.split(" ")
    args["exit_reason"] = name
    args["exit_reason_flags"] = tuple(flags)
    args["isa"] = _isa_of_reason(name)


def _isa_of_reason(name: str) -> str | None:
    if name.startswith("EXIT_"):
        return "svm"
    if re.fullmatch(r"[a-z][a-z0-9_]*", name):
        return "svm"
    if re.fullmatch(r"[A-Z][A-Z0-9_]*", name):
        return "vmx"
    return None


def _userspace_exit(args: dict) -> None:
    """``reason %s (%d)``: errno < 0 prints restart/error and -errno, else the
    KVM_EXIT_* name and its number."""
    code = int(args.pop("code"))
    if args["reason"] in ("restart", "error"):
        args["errno"] = code
    else:
        args["exit_reason"] = code


def _zap_access(args: dict) -> None:
    # access_str[] = "---", "--x", "w--", ... "wux": the role's ACC_* bits
    s = args.get("access")
    if s is not None:
        args["access_bits"] = (4 if s[1] == "u" else 0) | (2 if s[0] == "w" else 0) | \
            (1 if s[2] == "x" else 0)


def _sptep(args: dict) -> None:
    # libtraceevent prints %p as glibc does ("0x..." or "(nil)"); the kernel's
    # trace file prints a hashed pointer without "0x"
    p = args["sptep"]
    args["sptep"] = 0 if p == "(nil)" else int(p, 16)


def _page_fault(args: dict) -> None:
    args.setdefault("vcpu_id", None)
    args.setdefault("guest_rip", None)


_SP_KERNEL = (r"sp (?:gen (?P<mmu_valid_gen>\d+) )?gfn (?P<gfn>{H}) l(?P<level>\d+) "
              r"(?P<gpte_bytes>\d+)-byte q(?P<quadrant>\d+)(?P<direct> direct)? "
              r"(?P<access>[w-][u-][x-])(?P<invalid> invalid)? (?P<nxe>!?)nxe "
              r"(?P<ad>!?)ad root (?P<root_count>\d+) (?P<sync>sync|unsync)").format(H=_H)
_SP_PLUGIN_ROLE = (r"(?P<level>\d+) q(?P<quadrant>\d+)(?P<direct> direct)? "
                   r"(?P<access>[w-][u-][x-])(?P<invalid> invalid)? (?P<cr4_pae>!?)pae "
                   r"(?P<nxe>!?)nxe (?P<cr0_wp>!?)wp(?P<smep> smep)?(?P<smap> smap)?"
                   r"(?P<smm> smm)? root (?P<root_count>\d+) (?P<sync>sync|unsync)")
_SP_PLUGIN_WORD = r"WORD: (?P<role_word>{H}) root (?P<root_count>\d+) (?P<sync>sync|unsync)".format(
    H=_H)
_SP_DEC = ("mmu_valid_gen", "level", "gpte_bytes", "quadrant", "root_count")
_SP_FLAGS = ("direct", "invalid", "smep", "smap", "smm")
_SP_NEG = ("nxe", "ad", "cr4_pae", "cr0_wp")


def _sp(label, pattern, extra_hex=()):
    return _Variant(label, pattern, hex_=("gfn", "role_word") + tuple(extra_hex), dec=_SP_DEC,
                    flags=_SP_FLAGS, negated=_SP_NEG, post=_zap_access)


#: event name -> (tracing system, printed forms, newest first)
KVM_TRACE_FORMATS: dict[str, tuple[str, list[_Variant]]] = {
    "kvm_exit": ("kvm", [
        _Variant("kernel 5.15-6.12 (trace.h TRACE_EVENT_KVM_EXIT)",
                 r"vcpu (?P<vcpu_id>\d+) reason (?P<reason>.+?) rip 0x(?P<guest_rip>{H}) "
                 r"info1 0x(?P<info1>{H}) info2 0x(?P<info2>{H}) intr_info 0x(?P<intr_info>{H}) "
                 r"error_code 0x(?P<error_code>{H})".format(H=_H),
                 hex_=("guest_rip", "info1", "info2", "intr_info", "error_code"),
                 dec=("vcpu_id",), post=_exit_reason),
        _Variant("older kernel with vcpu, before intr_info/error_code (trace.h kvm_exit)",
                 r"vcpu (?P<vcpu_id>\d+) reason (?P<reason>.+?) rip 0x(?P<guest_rip>{H}) "
                 r"info (?P<info1>{H}) (?P<info2>{H})".format(H=_H),
                 hex_=("guest_rip", "info1", "info2"), dec=("vcpu_id",), post=_exit_reason),
        _Variant("libtraceevent kvm plugin kvm_exit_handler (or kernel before vcpu was printed)",
                 r"reason (?P<reason>.+?) rip 0x(?P<guest_rip>{H})"
                 r"(?: (?P<guest_func>(?!info )\S+))? "
                 r"info (?P<info1>{H}) (?P<info2>{H})".format(H=_H),
                 hex_=("guest_rip", "info1", "info2"), post=_exit_reason),
        _Variant("kernel 2.6.3x (trace.h kvm_exit, no info)",
                 r"reason (?P<reason>\S+) rip 0x(?P<guest_rip>{H})".format(H=_H),
                 hex_=("guest_rip",), post=_exit_reason),
    ]),
    "kvm_page_fault": ("kvm", [
        _Variant("kernel 6.1-6.12 (trace.h kvm_page_fault)",
                 r"vcpu (?P<vcpu_id>\d+) rip 0x(?P<guest_rip>{H}) address 0x(?P<fault_address>{H}) "
                 r"error_code 0x(?P<error_code>{H})".format(H=_H),
                 hex_=("guest_rip", "fault_address", "error_code"), dec=("vcpu_id",)),
        _Variant("kernel up to 6.0 (trace.h kvm_page_fault)",
                 r"address (?P<fault_address>{H}) error_code (?P<error_code>{H})".format(H=_H),
                 hex_=("fault_address", "error_code"), post=_page_fault),
    ]),
    "kvm_mmu_spte_requested": ("kvmmmu", [
        _Variant("kernel 5.15-6.12 (mmutrace.h kvm_mmu_spte_requested)",
                 r"gfn (?P<gfn>{H}) pfn (?P<pfn>{H}) level (?P<level>-?\d+)".format(H=_H),
                 hex_=("gfn", "pfn"), dec=("level",)),
    ]),
    "kvm_mmu_set_spte": ("kvmmmu", [
        _Variant("kernel 5.15-6.12 (mmutrace.h kvm_mmu_set_spte)",
                 r"gfn (?P<gfn>{H}) spte (?P<spte>{H}) \((?P<r>[r-])(?P<w>[w-])(?P<x>[x-])"
                 r"(?P<u>[u-])?\) level (?P<level>-?\d+) at (?P<sptep>{H})".format(H=_H),
                 hex_=("gfn", "spte", "sptep"), dec=("level",),
                 post=lambda a: a.update(r=a["r"] == "r", w=a["w"] == "w", x=a["x"] == "x",
                                         u=None if a["u"] is None else a["u"] == "u")),
    ]),
    "mark_mmio_spte": ("kvmmmu", [
        _Variant("kernel 5.15-6.12 (mmutrace.h mark_mmio_spte)",
                 r"sptep:(?P<sptep>(?:0x)?{H}|\(nil\)) gfn (?P<gfn>{H}) access (?P<access>{H}) "
                 r"gen (?P<gen>{H})".format(H=_H),
                 hex_=("gfn", "access", "gen"),
                 post=_sptep),
    ]),
    "handle_mmio_page_fault": ("kvmmmu", [
        _Variant("kernel 5.15-6.12 (mmutrace.h handle_mmio_page_fault)",
                 r"addr:(?P<addr>{H}) gfn (?P<gfn>{H}) access (?P<access>{H})".format(H=_H),
                 hex_=("addr", "gfn", "access")),
    ]),
    "kvm_mmu_prepare_zap_page": ("kvmmmu", [
        _sp("kernel 5.15-6.12 (mmutrace.h KVM_MMU_PAGE_PRINTK)", _SP_KERNEL),
        _sp("libtraceevent kvm plugin kvm_mmu_print_role", _SP_PLUGIN_ROLE),
        _sp("libtraceevent kvm plugin kvm_mmu_print_role (other endianness)", _SP_PLUGIN_WORD),
    ]),
    "kvm_mmu_get_page": ("kvmmmu", [
        _sp("kernel 5.15-6.12 (mmutrace.h kvm_mmu_get_page)",
            _SP_KERNEL + r" (?P<created>new|existing)"),
        _sp("libtraceevent kvm plugin kvm_mmu_get_page_handler",
            r"(?P<created>new|existing) sp gfn (?P<gfn>{H}) ".format(H=_H) + _SP_PLUGIN_ROLE),
        _sp("libtraceevent kvm plugin kvm_mmu_get_page_handler (other endianness)",
            r"(?P<created>new|existing) sp gfn (?P<gfn>{H}) ".format(H=_H) + _SP_PLUGIN_WORD),
    ]),
    "kvm_tdp_mmu_spte_changed": ("kvmmmu", [
        _Variant("kernel 5.15-6.12 (mmutrace.h kvm_tdp_mmu_spte_changed)",
                 r"as id (?P<as_id>\d+) gfn (?P<gfn>{H}) level (?P<level>-?\d+) "
                 r"old_spte (?P<old_spte>{H}) new_spte (?P<new_spte>{H})".format(H=_H),
                 hex_=("gfn", "old_spte", "new_spte"), dec=("as_id", "level")),
    ]),
    "kvm_mmio": ("kvm", [
        _Variant("kernel 5.15-6.12 (include/trace/events/kvm.h kvm_mmio)",
                 r"mmio (?P<type>unsatisfied-read|read|write|0x{H}|\d+) len (?P<len>\d+) "
                 r"gpa 0x(?P<gpa>{H}) val 0x(?P<val>{H})".format(H=_H),
                 hex_=("gpa", "val"), dec=("len",)),
    ]),
    "kvm_userspace_exit": ("kvm", [
        _Variant("kernel 5.15-6.12 (include/trace/events/kvm.h kvm_userspace_exit)",
                 r"reason (?P<reason>\S+) \((?P<code>-?\d+)\)", post=_userspace_exit),
    ]),
}

#: x86 paging levels an SPTE can sit at (PG_LEVEL_4K .. 5-level root)
_LEVELS = range(1, 6)


def _parse_text(name: str, text: str, fail):
    variants = KVM_TRACE_FORMATS[name][1]
    for v in variants:
        args = v.parse(text)
        if args is not None:
            return args
    fail(f"{name}: text matches none of its formats ("
         + "; ".join(v.label for v in variants) + ")")


def _check(name: str, args: dict, fail) -> None:
    """Range checks a real kernel never violates: levels 1-5, 64-bit SPTEs."""
    if "level" in args and name in ("kvm_mmu_set_spte", "kvm_mmu_spte_requested",
                                    "kvm_tdp_mmu_spte_changed"):
        if args["level"] not in _LEVELS:
            fail(f"{name}: level {args['level']} is not an x86 paging level (1-5)")
    for k in ("spte", "old_spte", "new_spte", "gfn", "pfn", "sptep", "fault_address", "gpa",
              "guest_rip", "info1", "info2", "addr", "val"):
        v = args.get(k)
        if isinstance(v, int) and v >= 1 << 64:
            fail(f"{name}: {k} {v:#x} is wider than 64 bits")


def _split(line: str):
    """(layout, match) of an event line, or None."""
    m = _PERF.match(line)
    if m:
        return "perf", m
    m = _FTRACE.match(line)
    if m:
        return "ftrace", m
    m = _FTRACE_LAT.match(line)
    if m:
        return "ftrace", m
    return None


def detect_isa(events) -> str | None:
    """``"vmx"`` or ``"svm"`` from the exit names of the ``kvm_exit`` events
    (VMX_EXIT_REASONS / SVM_EXIT_REASONS names, Linux
    ``arch/x86/include/uapi/asm/vmx.h`` / ``svm.h``), or None without any."""
    for ev in events:
        if ev.name == "kvm_exit" and ev.args.get("isa"):
            return ev.args["isa"]
    return None


def parse_kvm_trace(text, source=None, isa: str | None = None) -> list[TraceEvent]:
    """Parse ``trace-cmd report`` / ``perf script`` (or the kernel's trace
    file) text into :class:`KvmTraceEvent` records, in order.

    ``isa`` (``"vmx"`` or ``"svm"``) says what kind of host recorded the
    trace; by default it comes from the ``kvm_exit`` reasons, and a trace
    without any is taken as VMX (the EPT this course teaches).  On VMX each
    ``kvm_mmu_set_spte`` gets ``args["ept"]`` (the SPTE decoded as an EPT
    entry, :func:`vfiolab.model.ept.decode`) and ``args["mmio_spte"]``; on SVM
    ``args["ept"]`` is None (NPT entries are x86 page-table entries).
    """
    if isa not in (None, "vmx", "svm"):
        raise ParseError(f"isa={isa!r}: use 'vmx' (Intel EPT) or 'svm' (AMD NPT)", source=source)
    out: list[KvmTraceEvent] = []
    for no, line in _lines(text, source):
        clean = line.replace("\x00", "")

        def fail(why, _no=no, _line=line):
            raise ParseError(why, line_no=_no, line=_line, source=source)

        if _SKIP_HEAD.match(clean):
            continue
        split = _split(clean)
        if split is None:
            if _SKIP_TAIL.match(clean):
                continue
            fail("not a trace-cmd report, perf script or trace-file event line")
        layout, m = split
        name = m.group("event")
        system = m.group("system") if layout == "perf" else None
        body = m.group("text").strip()
        known = KVM_TRACE_FORMATS.get(name)
        if known is not None and (system is None or system == known[0]):
            try:
                args = _parse_text(name, body, fail)
            except (ValueError, OverflowError) as exc:   # a number the regex let through
                fail(f"{name}: {exc}")
            _check(name, args, fail)
        else:
            args = {"text": body}
        tid = m.groupdict().get("tid")
        out.append(KvmTraceEvent(
            name=name, args=args, line_no=no, raw=line, pid=int(m.group("pid")),
            timestamp=m.group("ts"), cpu=int(m.group("cpu")), comm=m.group("comm").strip(),
            system=system, flags=m.groupdict().get("flags"),
            tid=int(tid) if tid else None, layout=layout))
    return _decode_sptes(out, isa or detect_isa(out) or "vmx", source)


def _decode_sptes(events: list[KvmTraceEvent], isa: str, source) -> list[KvmTraceEvent]:
    """Attach the EPT decoding of each kvm_mmu_set_spte SPTE (VMX hosts)."""
    out = []
    for ev in events:
        if ev.name == "kvm_mmu_set_spte" and "spte" in ev.args:
            args = dict(ev.args, isa=isa)
            if isa == "vmx":
                try:
                    args["ept"] = decode(args["spte"], args["level"])
                except ConfigError as exc:
                    raise ParseError(f"kvm_mmu_set_spte: {exc}", line_no=ev.line_no,
                                     line=ev.raw, source=source) from None
                args["mmio_spte"] = is_mmio_spte(args["spte"])
            else:
                args["ept"] = None
                args["mmio_spte"] = None
            ev = replace(ev, args=args)
        out.append(ev)
    return out
