"""Exercises made from a seed, with a self-check that shows the worked steps.

Modelled on the OSTEP homework simulators (remzi-arpacidusseau/ostep-homework,
e.g. ``vm-paging/paging-linear-translate.py``): a seed makes a problem, the
problem prints its parameters first (``ARG ...``) so a printed copy is
self-describing, and the solution prints the *walk*, step by step, not just
the answer.  Each generator also takes explicit inputs (a command line, a
device, a BAR) instead of the seed's choices.

Every generator returns an :class:`Exercise`:

* ``repr(ex)`` / ``print(ex)``: the question;
* ``ex.check(answer)``: right or wrong, and when wrong (or absent) the
  worked steps;
* ``ex.solution()``: the steps and the answer (OSTEP's ``-c``).

The answer is always what the model says (:mod:`vfiolab.model`, checked
against real QEMU captures); the steps are the hand method a reader would
follow, restating the rule of the real source they come from, and
``tests/test_exercises.py`` checks that the hand method and the model agree.

Randomness: only :meth:`random.Random.random` is used, which Python keeps
producing the same sequence for the same integer seed across versions
("Notes on Reproducibility" in the :mod:`random` docs), so seed 7 is the
same exercise everywhere.

From a shell: ``python -m vfiolab.course.exercises placement -s 7`` prints the
question, ``-c`` the worked solution.
"""

from __future__ import annotations

import argparse
import random
import shlex
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

from ..addr import GiB, MiB, PAGE_SIZE, align_down, align_up, fmt_hex, parse_addr, parse_size
from ..errors import ConfigError, SizeError, VfiolabError

__all__ = ["Exercise", "Check", "Rng", "exits_exercise", "bar_sizing_exercise",
           "bar_placement_exercise", "config_address_exercise", "gpa_exercise",
           "move_exercise", "ept_exercise", "dma_exercise", "listeners_exercise",
           "claims_exercise", "window_exercise", "leaf_exercise", "widths_exercise", "solve_level", "solve_ept", "solve_dma", "solve_listeners",
           "EXERCISES", "main"]

#: host BDF every generated vfio-pci device is given (any free one would do)
HOST_BDF = "0000:01:00.0"
#: the CPU vendor of the captures' machine (vfiolab.course.helpers.CPU_VENDOR)
CPU_VENDOR = "AuthenticAMD"


# --------------------------------------------------------------------------
# Seeded choices
# --------------------------------------------------------------------------

class Rng:
    """Choices drawn from ``random.Random(seed).random()`` only."""

    def __init__(self, seed: int):
        self.seed = seed
        self._r = random.Random(seed)

    def random(self) -> float:
        return self._r.random()

    def below(self, n: int) -> int:
        """An integer in [0, n)."""
        return min(int(self._r.random() * n), n - 1)

    def choice(self, seq):
        seq = list(seq)
        return seq[self.below(len(seq))]

    def chance(self, p: float) -> bool:
        return self._r.random() < p

    def sample(self, seq, k: int) -> list:
        pool = list(seq)
        out = []
        for _ in range(min(k, len(pool))):
            out.append(pool.pop(self.below(len(pool))))
        return out


# --------------------------------------------------------------------------
# The exercise object
# --------------------------------------------------------------------------

#: prose lines of a question are wrapped to this width (the tables in it are not)
WRAP = 96


def _wrap_prose(text: str, width: int = WRAP) -> str:
    """Wrap the prose lines of ``text`` at spaces (never inside a word, an
    address or a hyphenated name); indented lines (tables, lists of
    addresses) are kept as they are."""
    import re
    import textwrap
    out = []
    for line in text.split("\n"):
        item = re.match(r"(\s+)(\d+\.|[a-z]:|-) ", line)
        if len(line) <= width or (line[:1].isspace() and not item):
            out.append(line)
        else:
            # a numbered or lettered item keeps its hanging indent
            indent = " " * item.end() if item else ""
            out.append(textwrap.fill(line, width, subsequent_indent=indent,
                                     break_long_words=False, break_on_hyphens=False))
    return "\n".join(out)


def _pre_html(text: str) -> str:
    """``text`` as preformatted HTML that wraps long lines only at spaces
    (JupyterLab's output style breaks ``pre`` text anywhere, mid-word)."""
    import html
    return ('<pre style="white-space: pre-wrap; word-break: normal; overflow-wrap: normal">'
            f"{html.escape(text)}</pre>")


@dataclass
class Check:
    """The outcome of :meth:`Exercise.check` (or a worked solution).

    ``head`` is the verdict, ``body`` the worked steps (or None); ``text`` is
    both, as printed.  In a notebook the steps are folded (an HTML
    ``<details>`` element) so they do not spoil anything until opened.
    """

    ok: bool | None
    head: str
    body: str | None = None
    #: the label of the folded part
    fold: str = "Worked steps (click to open)"

    @property
    def text(self) -> str:
        if not self.body:
            return self.head
        return f"{self.head}\n\n{self.body}" if self.head else self.body

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        import html
        out = _pre_html(self.head) if self.head else ""
        if self.body:
            out += (f"<details><summary>{html.escape(self.fold)}</summary>"
                    f"{_pre_html(self.body)}</details>")
        return out

    def __bool__(self) -> bool:
        return bool(self.ok)


@dataclass
class Exercise:
    """One generated exercise (see the module docstring)."""

    kind: str
    seed: int | None
    params: list[tuple[str, str]]
    prompt: str
    answer: Any
    answer_text: str
    steps: list[str]
    #: turns a reader's answer into the answer's form; raises VfiolabError
    parse: Callable[[Any], Any] = field(repr=False, default=lambda a: a)
    #: compares parsed answer and solution: (ok, per-item notes)
    compare: Callable[[Any, Any], tuple[bool, list[str]]] | None = field(repr=False, default=None)
    hint: str = ""
    #: objects a notebook may want to show next to the question (e.g. the VM's
    #: Prediction under "prediction"); never printed
    context: dict = field(default_factory=dict, repr=False)

    def question(self) -> str:
        lines = [f"ARG {k} {v}" for k, v in self.params]
        lines.append("")
        lines.append(_wrap_prose(self.prompt))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.question()

    def _repr_html_(self) -> str:
        return _pre_html(self.question())

    __str__ = __repr__

    def solution(self) -> Check:
        """The worked steps and the answer (OSTEP's ``-c``), folded in a notebook."""
        return Check(None, "", self._steps_text() + f"\n\nAnswer: {self.answer_text}",
                     fold="Worked solution (click to open)")

    def _steps_text(self) -> str:
        return "Worked steps:\n" + "\n".join(self.steps)

    def check(self, answer) -> Check:
        """Right or wrong; when wrong, what was wrong and the worked steps."""
        if answer is None or (isinstance(answer, str) and not answer.strip()):
            msg = "No answer yet: set `answer` and run the cell again, or run .solution()."
            if self.hint:
                msg += f"\nHint: {self.hint}"
            return Check(None, msg)
        try:
            got = self.parse(answer)
        except (VfiolabError, ValueError, TypeError) as exc:
            return Check(False, f"Could not read your answer {answer!r}: {exc}")
        if self.compare is not None:
            ok, notes = self.compare(got, self.answer)
        else:
            ok, notes = got == self.answer, []
        if ok:
            return Check(True, f"Correct: {self.answer_text}.")
        head = "Not correct." + ("\n" + "\n".join(notes) if notes else "")
        return Check(False, head, f"{self._steps_text()}\n\nAnswer: {self.answer_text}")


# --------------------------------------------------------------------------
# Answer readers
# --------------------------------------------------------------------------

def _int(value) -> int:
    """An address or size: an int, ``0x..`` hex, decimal, or ``16M``/``16 MiB``."""
    if isinstance(value, bool):
        raise SizeError(f"not a number: {value!r}")
    if isinstance(value, int):
        return value
    s = str(value).strip().replace("_", "")
    low = s.lower()
    for suffix in ("ib", "b"):
        if low.endswith(suffix) and len(s) > len(suffix) and s[-len(suffix) - 1].isalpha():
            s = s[:-len(suffix)]
            break
    s = s.replace(" ", "")
    try:
        return parse_addr(s)
    except SizeError:
        return parse_size(s)


def _int_or_exit(value):
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lower() in ("exit", "none", "-", "trap", "x"):
        return None
    return _int(value)


def _yes_no(value) -> bool:
    if isinstance(value, bool):
        return value
    s = str(value).strip().lower()
    if s in ("y", "yes", "true", "1", "exit", "exits", "trap"):
        return True
    if s in ("n", "no", "false", "0"):
        return False
    raise ConfigError(f"{value!r}: say y or n")


def _yes_no_list(value) -> list[bool]:
    if isinstance(value, str):
        s = value.replace(",", " ").split()
        if len(s) == 1 and all(c in "ynYN" for c in s[0]):
            s = list(s[0])
        return [_yes_no(x) for x in s]
    return [_yes_no(x) for x in value]


def _list_of(reader):
    def parse(value):
        if isinstance(value, str):
            value = value.replace(",", " ").split()
        return [reader(v) for v in value]
    return parse


def _compare_lists(show) -> Callable:
    def compare(got, want):
        notes = []
        if len(got) != len(want):
            notes.append(f"You gave {len(got)} answer(s); there are {len(want)}.")
        for i, w in enumerate(want):
            g = got[i] if i < len(got) else "(missing)"
            mark = "right" if i < len(got) and g == w else "wrong"
            notes.append(f"  {i + 1}: you said {show(g)}, answer {show(w)}: {mark}")
        return got == want, notes
    return compare


def _show_yes_no(v) -> str:
    return "y" if v is True else "n" if v is False else str(v)


def _show_addr(v) -> str:
    if v is None:
        return "exit"
    return fmt_hex(v) if isinstance(v, int) else str(v)


# --------------------------------------------------------------------------
# Building the VMs
# --------------------------------------------------------------------------

def _predict(args, host_devices=None):
    from .helpers import predict_vm
    return predict_vm(args, host_devices, cpu_vendor=CPU_VENDOR)


def _fresh_vm(args, host_devices=None):
    from .helpers import fresh_vm
    return fresh_vm(args, host_devices)


def _bdf_of(dev) -> str:
    return f"{dev.bus.number:02x}:{dev.slot:02x}.{dev.func:x}"


#: host devices (data/devices/) with an MSI-X table inside an mmapped BAR
MSIX_IN_BAR = ("nic-mellanox-connectx7", "nvme-intel-dc-ssd", "virtio-net-this-machine",
               "nic-intel-x520", "nic-intel-xl710", "raid-lsi-megaraid-3108", "nic-huawei-hi1822")
#: every host device in data/devices/
ALL_DEVICES = ("gpu-nvidia-rtx6000-ada", "gpu-nvidia-tesla-p100", "nic-huawei-hi1822",
               "nic-intel-x520", "nic-intel-xl710", "nic-mellanox-connectx7", "nvme-intel-dc-ssd",
               "raid-highpoint-ssd7540", "raid-lsi-megaraid-3108", "virtio-net-this-machine")


# --------------------------------------------------------------------------
# 1. Does this access exit to QEMU?
# --------------------------------------------------------------------------

def _covering_slot(slots, gpa):
    for s in slots:
        if s.guest_phys_addr <= gpa < s.guest_phys_addr + s.memory_size:
            return s
    return None


def _section_at(sections, gpa):
    for s in sections:
        if s.start <= gpa <= s.end:
            return s
    return None


def exits_exercise(seed: int = 0, *, n: int = 5, device: str | None = None,
                   machine: str | None = None) -> Exercise:
    """For each of ``n`` guest accesses, does it exit to QEMU?

    The VM: 2 GiB of RAM, an ivshmem-plain device (64 MiB of shared RAM),
    and a real host device passed through with vfio-pci.  The rules:

    * port I/O: KVM returns to QEMU with ``KVM_EXIT_IO`` for every port it
      does not emulate itself (QEMU ``accel/kvm/kvm-all.c`` ``kvm_cpu_exec``
      -> ``kvm_handle_io``); no memslot can cover a port;
    * memory: a KVM memslot covers only RAM, RAM devices and ROMs
      (``kvm_set_phys_mem`` skips other regions, and trims partial host pages
      in ``kvm_align_section``); an access where no memslot is exits with
      ``KVM_EXIT_MMIO`` (``kvm_cpu_exec`` -> ``address_space_rw``); a write to
      a ``KVM_MEM_READONLY`` slot exits too (Linux
      ``Documentation/virt/kvm/api.rst``, KVM_SET_USER_MEMORY_REGION);
      otherwise the access stays in the guest once KVM has filled the EPT
      entry on first touch.
    """
    rng = Rng(seed)
    machine = machine or rng.choice(("q35", "q35", "pc"))
    device = device or rng.choice(MSIX_IN_BAR)
    args = (f"-machine {machine} -m 2G -nodefaults -object memory-backend-ram,id=m0,size=64M "
            f"-device ivshmem-plain,memdev=m0,id=ivs0 -device vfio-pci,host={HOST_BDF},id=pt0")
    p = _predict(args, {HOST_BDF: device})
    secs = p.sections()
    slots = p.memslots()
    vm = p.vm
    cands = []                       # (label, space, addr, write)

    def mem_in(sec_filter, label, write=None, page_aligned=True):
        picks = [s for s in secs if sec_filter(s)]
        if not picks:
            return
        s = rng.choice(picks)
        span = s.size
        off = rng.below(max(1, span // PAGE_SIZE)) * PAGE_SIZE if span > PAGE_SIZE else 0
        off += rng.below(64) * 8 if span - off > 0x200 else 0
        addr = s.start + min(off, span - 8)
        w = rng.chance(0.5) if write is None else write
        cands.append((label, "memory", addr, w))

    # guest RAM (a KVM slot, no exit)
    mem_in(lambda s: s.name == "pc.ram" and s.kind == "ram" and s.size > 16 * MiB, "guest RAM")
    # the passed-through BAR mmap, inside its memslot
    bar_slots = [m for m in slots if m.userspace_addr is not None
                 and getattr(vm.host.find(m.userspace_addr), "kind", "") == "pfnmap"]
    if bar_slots:
        m = rng.choice(bar_slots)
        off = rng.below(max(1, m.memory_size // PAGE_SIZE)) * PAGE_SIZE + rng.below(32) * 4
        cands.append(("the passed-through device's BAR", "memory",
                      m.guest_phys_addr + min(off, m.memory_size - 4), rng.chance(0.5)))
    # emulated MMIO: MSI-X table, ivshmem registers
    mem_in(lambda s: s.name == "msix-table", "the device's MSI-X table")
    mem_in(lambda s: s.name == "ivshmem-mmio", "ivshmem's registers (BAR0)")
    # ivshmem's shared memory (BAR2, RAM)
    mem_in(lambda s: s.name == "m0", "ivshmem's shared memory (BAR2)")
    # ECAM (q35)
    mem_in(lambda s: s.name == "pcie-mmcfg-mmio", "the ECAM window")
    # the BIOS ROM: read (no exit) or write (exit)
    bios = next((s for s in secs if s.name == "pc.bios"), None)
    if bios is not None:
        cands.append(("the BIOS ROM", "memory", bios.start + rng.below(0x3f) * 0x1000,
                      rng.chance(0.5)))
    # a hole between the end of RAM and the PCI window
    ram_end = vm.ram_split.below_4g
    hole = ram_end + 0x1000 * (1 + rng.below(0x100))
    if _section_at(secs, hole) is None:
        cands.append(("nothing (a hole in the map)", "memory", hole, False))
    # config ports
    cands.append(("CONFIG_ADDRESS", "io", 0xCF8, True))
    cands.append(("CONFIG_DATA", "io", 0xCFC + rng.below(4), rng.chance(0.5)))

    def exits(c) -> bool:
        _, space, addr, write = c
        if space == "io":
            return True
        slot = _covering_slot(slots, addr)
        return slot is None or (write and slot.readonly)

    chosen = rng.sample(cands, n)
    # make sure both answers occur
    if len({exits(c) for c in chosen}) == 1:
        other = [c for c in cands if exits(c) != exits(chosen[0]) and c not in chosen]
        if other:
            chosen[-1] = rng.choice(other)
    answer = [exits(c) for c in chosen]

    rows = []
    steps = []
    for i, c in enumerate(chosen, 1):
        label, space, addr, write = c
        rw = "write" if write else "read"
        if space == "io":
            rows.append(f"  {i}. {rw} of port {fmt_hex(addr)}")
            steps.append(f"{i}. Port {fmt_hex(addr)} ({label}) is in the I/O address space: "
                         "ports never have a memslot, and QEMU emulates this one -> KVM_EXIT_IO: "
                         "exits.")
            continue
        rows.append(f"  {i}. {rw} of guest-physical {fmt_hex(addr)}")
        sec = _section_at(secs, addr)
        where = (f"flat view: {fmt_hex(sec.start)}-{fmt_hex(sec.end)} {sec.kind} \"{sec.name}\""
                 if sec else "flat view: no range covers it (unassigned)")
        slot = _covering_slot(slots, addr)
        if slot is None:
            why = ("no memslot covers it (KVM makes slots for RAM and ROM only, whole host pages "
                   "only) -> KVM_EXIT_MMIO: exits.")
        elif write and slot.readonly:
            why = (f"memslot {slot.slot} covers it but is KVM_MEM_READONLY, and this is a write "
                   "-> KVM_EXIT_MMIO: exits.")
        else:
            why = (f"memslot {slot.slot} covers it (guest_phys_addr "
                   f"{fmt_hex(slot.guest_phys_addr)}, "
                   f"memory_size {fmt_hex(slot.memory_size)}) -> KVM fills the EPT entry on the "
                   "first touch; no exit to QEMU.")
        steps.append(f"{i}. {fmt_hex(addr)}: {where}; {why}")
    view = "\n".join(f"  {fmt_hex(s.start):>12}-{fmt_hex(s.end):<12} {s.kind:<4} {s.name}"
                     for s in secs)
    prompt = ("The flat view of the VM's address space \"memory\" (info mtree -f, the KVM "
              "column left out):\n" + view +
              "\n\nThe guest makes these accesses. For each one: does it exit to QEMU (y) or "
              "stay in the guest (n)?\n" + "\n".join(rows) +
              "\n\nAnswer with one letter per access, e.g. 'ynnyn'.")
    params = [("seed", str(seed)), ("command", args), ("host device", f"{HOST_BDF}={device}"),
              ("cpu_vendor", CPU_VENDOR)]
    return Exercise("exits", seed, params, prompt, answer,
                    "".join("y" if a else "n" for a in answer), steps,
                    parse=_yes_no_list,
                    compare=_compare_lists(_show_yes_no),
                    hint="only RAM, RAM devices (a BAR mmap) and ROM get a memslot; "
                         "ports never do.",
                    context={"prediction": p})


# --------------------------------------------------------------------------
# 2. Size a BAR from what the probe read back
# --------------------------------------------------------------------------

def bar_sizing_exercise(seed: int = 0, *, device: str | None = None,
                        bar: int | None = None) -> Exercise:
    """The firmware's BAR probe on a passed-through device: from the values
    read back, what is the BAR's size?

    The probe runs through the model's config path, against QEMU's emulated
    BARs (``pci_register_bar`` makes the address bits below the size
    read-only).  The rule (SeaBIOS ``src/fw/pciinit.c``
    ``pci_bios_get_bar()``; Linux ``drivers/pci/probe.c`` ``__pci_read_base()``,
    ``decode_bar()``): the type comes from the original low bits (bit 0 I/O;
    bits 2:1 = 10b 64-bit; bit 3 prefetchable); clear the flag bits of the
    read-back (3:0 memory, 1:0 I/O), take the two's complement.
    """
    from .helpers import size_bar
    from ..inputs.hostdevs import load_host_device
    from .helpers import host_device_path
    rng = Rng(seed)
    if device is None:
        device = rng.choice(ALL_DEVICES)
    hd = load_host_device(host_device_path(device))
    if bar is None:
        bar = rng.choice([b.index for b in hd.bars])
    hb = hd.bar(bar)
    if hb is None:
        raise ConfigError(f"{device} has no BAR {bar}; it has "
                          f"{', '.join(str(b.index) for b in hd.bars)}")
    args = f"-machine q35 -m 1G -nodefaults -device vfio-pci,host={HOST_BDF},id=pt0"
    vm = _fresh_vm(args, {HOST_BDF: device})
    dev = next(d for d in vm.devices if d.type_name == "vfio-pci")
    bdf = _bdf_of(dev)
    frame, size = size_bar(vm, bdf, bar)
    vals = [int(v, 16) for v in frame["value"]]
    orig, back = vals[0], vals[2]
    is_io = orig & 1
    is64 = not is_io and (orig >> 1) & 3 == 2
    lines = [f"  original BAR{bar} (offset {fmt_hex(0x10 + 4 * bar)}): 0x{orig:08x}",
             f"  after writing 0xffffffff it reads:   0x{back:08x}"]
    if is64:
        high_back = vals[6]
        lines.append(f"  upper dword (offset {fmt_hex(0x14 + 4 * bar)}) after writing 0xffffffff "
                     f"reads: 0x{high_back:08x}")
    prompt = (f"The firmware probes BAR{bar} of the passed-through device at {bdf} (the host "
              f"device is in ARG host device):\n" + "\n".join(lines) +
              "\n\nWhat is the BAR's size in bytes (e.g. 0x4000 or 16K)? "
              "And what type is it?")
    steps = []
    if is_io:
        steps.append(f"1. Bit 0 of 0x{orig:08x} is 1: an I/O BAR; flag bits are 1:0.")
        masked = back & 0xFFFFFFFC
        steps.append(f"2. Clear the flag bits: 0x{back:08x} & 0xfffffffc = 0x{masked:08x}.")
        inv = ~masked & 0xFFFFFFFF
        steps.append(f"3. Invert (32 bits): 0x{inv:08x}; add 1: {fmt_hex(inv + 1)}.")
        kind = "I/O"
    else:
        kind = ("64-bit" if is64 else "32-bit") + (" prefetchable" if orig & 8 else
                                                    " non-prefetchable") + " memory"
        steps.append(f"1. Bit 0 of 0x{orig:08x} is 0: memory; bits 2:1 = {(orig >> 1) & 3:02b}b "
                     f"({'64-bit: the next BAR holds the upper half' if is64 else '32-bit'}); "
                     f"bit 3 = {(orig >> 3) & 1} "
                     f"({'prefetchable' if orig & 8 else 'not prefetchable'}).")
        masked = back & 0xFFFFFFF0
        steps.append(f"2. Clear the flag bits 3:0: 0x{back:08x} & 0xfffffff0 = 0x{masked:08x}.")
        if is64:
            value = masked | vals[6] << 32
            steps.append(f"3. Put the upper dword on top: 0x{value:016x}.")
            inv = ~value & (1 << 64) - 1
            steps.append(f"4. Invert (64 bits): 0x{inv:016x}; add 1: {fmt_hex(inv + 1)}.")
        else:
            inv = ~masked & 0xFFFFFFFF
            steps.append(f"3. Invert (32 bits): 0x{inv:08x}; add 1: {fmt_hex(inv + 1)}.")
    steps.append(f"{len(steps) + 1}. So BAR{bar} is a {kind} BAR of {fmt_hex(size)} bytes "
                 f"({_size_word(size)}); the host's lspci says [size={_size_word(size)}].")
    if hb.size != size:
        raise VfiolabError(f"model sizing {size:#x} differs from the dump's {hb.size:#x}")
    params = [("seed", str(seed)), ("host device", device), ("bar", str(bar))]
    return Exercise("sizing", seed, params, prompt, size, f"{fmt_hex(size)} ({_size_word(size)}, "
                    f"{kind})", steps, parse=_int,
                    hint="clear the flag bits, invert, add one.")


def _size_word(v: int) -> str:
    for unit, name in ((1 << 40, "T"), (GiB, "G"), (MiB, "M"), (1 << 10, "K")):
        if v >= unit and v % unit == 0:
            return f"{v // unit}{name}"
    return str(v)


# --------------------------------------------------------------------------
# 3. Where does SeaBIOS put a BAR?
# --------------------------------------------------------------------------

#: SeaBIOS src/fw/pciinit.c BUILD_PCIMEM_END: the 32-bit window ends below the I/O APIC
PCIMEM_END = 0xFEC00000
#: PCI class of USB controllers: never moved above 4 GiB (pci_region_migrate_64bit_entries)
PCI_CLASS_SERIAL_USB = 0x0C03


@dataclass
class _Entry:
    bdf: str
    name: str
    bar: int
    size: int
    type: str
    is64: bool
    cls: int

    @property
    def label(self) -> str:
        b = "ROM" if self.bar == 6 else f"BAR{self.bar}"
        return f"{self.bdf} {b}"


def _insert_sorted(lst: list, e: _Entry) -> None:
    """pciinit.c ``pci_region_create_entry()``: descending alignment (= size
    for a BAR), then descending size; a newcomer goes after equal ones."""
    i = 0
    while i < len(lst) and lst[i].size >= e.size:
        i += 1
    lst.insert(i, e)


def _lalign(lst) -> int:
    """``pci_region_align()``: the first entry's alignment, 1 for an empty list."""
    return lst[0].size if lst else 1


def _lsum(lst) -> int:
    return sum(e.size for e in lst)


def _fmt_list(lst) -> str:
    if not lst:
        return "(empty)"
    return ", ".join(f"{e.label} {fmt_hex(e.size)}" for e in lst)


def solve_placement(entries: list[_Entry], pcimem_start: int, ram_over_4g: int):
    """SeaBIOS 1.16.2 placement of root-bus memory BARs, by hand: returns
    ``({(bdf, bar): address}, steps)``.  Restates ``pci_bios_check_devices``
    (lists), ``pci_bios_init_root_regions_mem`` (top-down in the 32-bit
    window), ``pci_bios_map_devices`` (64-bit window when the 32-bit one is
    too small; 1.16.2 has no pci_mem64_top) and ``pci_region_map_entries``
    (each list upwards from its base)."""
    steps = []
    lists = {"mem": [], "prefmem": []}
    for e in entries:
        _insert_sorted(lists[e.type], e)
    steps.append("1. Sort each list by alignment (= size), largest first; equal ones keep scan "
                 "order (pci_region_create_entry):")
    steps.append(f"     mem:     {_fmt_list(lists['mem'])}")
    steps.append(f"     prefmem: {_fmt_list(lists['prefmem'])}")

    def place32(mem, pref, n):
        a_mem, a_pref = _lalign(mem), _lalign(pref)
        if a_mem < a_pref:
            top, bottom, tname, bname = mem, pref, "mem", "prefmem"
        else:
            top, bottom, tname, bname = pref, mem, "prefmem", "mem"
        steps.append(f"{n}. Top-down from 0xfec00000 (pci_bios_init_root_regions_mem): "
                     f"alignment mem {fmt_hex(a_mem)}, prefmem {fmt_hex(a_pref)} -> {tname} goes "
                     f"on top" + (" (mem needs less alignment)" if tname == "mem" else "") + ".")
        top_base = align_down(PCIMEM_END - _lsum(top), _lalign(top))
        steps.append(f"     {tname} base = align_down(0xfec00000 - {fmt_hex(_lsum(top))}, "
                     f"{fmt_hex(_lalign(top))}) = {fmt_hex(top_base)}")
        bot_base = align_down(top_base - _lsum(bottom), _lalign(bottom))
        steps.append(f"     {bname} base = align_down({fmt_hex(top_base)} - "
                     f"{fmt_hex(_lsum(bottom))}, {fmt_hex(_lalign(bottom))}) = "
                     f"{fmt_hex(bot_base) if bot_base >= 0 else '(below 0)'}")
        ok = pcimem_start <= bot_base <= PCIMEM_END
        steps.append(f"     {fmt_hex(bot_base) if bot_base >= 0 else 'it'} "
                     f"{'>=' if ok else '<'} {fmt_hex(pcimem_start)}, the window's start: "
                     f"{'fits' if ok else 'does not fit'}.")
        return ok, {tname: top_base, bname: bot_base}

    ok, bases = place32(lists["mem"], lists["prefmem"], 2)
    layout = [("mem", lists["mem"], bases["mem"]), ("prefmem", lists["prefmem"], bases["prefmem"])]
    n = 3
    if not ok:
        r64 = {"mem": [], "prefmem": []}
        for t in ("mem", "prefmem"):
            keep = []
            for e in lists[t]:
                (r64[t] if e.is64 and e.cls != PCI_CLASS_SERIAL_USB else keep).append(e)
            lists[t] = keep
        steps.append(f"{n}. The 32-bit window is too small: every 64-bit BAR moves to the 64-bit "
                     f"lists, in order (pci_region_migrate_64bit_entries):")
        steps.append(f"     mem64:     {_fmt_list(r64['mem'])}")
        steps.append(f"     prefmem64: {_fmt_list(r64['prefmem'])}")
        steps.append(f"     left below 4 GiB: mem {_fmt_list(lists['mem'])}; prefmem "
                     f"{_fmt_list(lists['prefmem'])}")
        ok2, bases = place32(lists["mem"], lists["prefmem"], n + 1)
        if not ok2:
            raise ConfigError("SeaBIOS would panic: out of 32-bit address space")
        base = (1 << 32) + ram_over_4g
        m64 = align_up(align_up(base, _lalign(r64["mem"])), GiB)
        p64 = align_up(align_up(m64 + _lsum(r64["mem"]), _lalign(r64["prefmem"])), GiB)
        steps.append(f"{n + 2}. 64-bit window (pci_bios_map_devices): start = 4 GiB + RAM above "
                     f"4 GiB = {fmt_hex(base)};")
        steps.append(f"     mem64 base = align_up(align_up({fmt_hex(base)}, "
                     f"{fmt_hex(_lalign(r64['mem']))}), 1 GiB) = {fmt_hex(m64)}")
        steps.append(f"     prefmem64 base = align_up(align_up({fmt_hex(m64)} + "
                     f"{fmt_hex(_lsum(r64['mem']))}, {fmt_hex(_lalign(r64['prefmem']))}), 1 GiB) "
                     f"= {fmt_hex(p64)}")
        layout = [("mem64", r64["mem"], m64), ("prefmem64", r64["prefmem"], p64),
                  ("mem", lists["mem"], bases["mem"]), ("prefmem", lists["prefmem"],
                                                        bases["prefmem"])]
        n += 3
    steps.append(f"{n}. Lay each list out upwards from its base (pci_region_map_entries):")
    where = {}
    for name, lst, base in layout:
        if not lst:
            continue
        parts = []
        a = base
        for e in lst:
            where[(e.bdf, e.bar)] = a
            parts.append(f"{e.label} -> {fmt_hex(a)}")
            a += e.size
        steps.append(f"     {name} from {fmt_hex(base)}: " + "; ".join(parts))
    return where, steps


def placement_inputs(prediction) -> tuple[list[_Entry], int, int]:
    """The inputs of the hand method, from a VM's firmware run: the memory
    BARs as sizing found them (scan order; slots below 4 KiB rounded up, as
    ``pci_bios_check_devices`` does), the 32-bit window's start and the RAM
    above 4 GiB.  Only root-bus devices: refuses VMs with bridges."""
    vm = prediction.vm
    fw = vm.firmware
    if fw.bridge_windows or fw.max_pci_bus:
        raise ConfigError("the placement exercise covers devices on the root bus only "
                          "(this VM has a bridge)")
    names = {}
    for d in vm.pci_devices():
        names[d.bus.number << 8 | d.devfn] = d.qdev_id or d.type_name
    cls = {d.bdf: d.class_code for d in fw.devices}
    entries = []
    for b in fw.bars:
        if b.type == "io":
            continue
        entries.append(_Entry(b.name, names.get(b.bdf, ""), b.bar, b.size, b.type, b.is64,
                              cls.get(b.bdf, 0)))
    return entries, fw.pcimem_start, vm.ram_split.above_4g


def _random_vm(rng: Rng):
    machine = rng.choice(("q35", "pc"))
    mem = rng.choice(("512M", "1G", "2G", "3G", "4G"))
    parts = [f"-machine {machine} -m {mem} -nodefaults"]
    hosts = {}
    n = 1 + rng.below(3)
    kinds = rng.sample(("ivshmem", "ivshmem", "edu", "vfio", "vfio", "e1000e", "virtio"), n)
    for i, k in enumerate(kinds):
        if k == "ivshmem":
            size = rng.choice(("1M", "16M", "64M", "256M", "512M", "1G"))
            parts.append(f"-object memory-backend-ram,id=m{i},size={size} "
                         f"-device ivshmem-plain,memdev=m{i},id=ivs{i}")
        elif k == "edu":
            parts.append(f"-device edu,id=edu{i}")
        elif k == "e1000e":
            parts.append(f"-device e1000e,id=nic{i}")
        elif k == "virtio":
            parts.append(f"-device virtio-net-pci,id=vnet{i}")
        else:
            host = f"0000:{i + 1:02x}:00.0"
            dev = rng.choice(("gpu-nvidia-tesla-p100", "nic-intel-x520", "nic-intel-xl710",
                              "nic-mellanox-connectx7", "nvme-intel-dc-ssd",
                              "raid-lsi-megaraid-3108", "nic-huawei-hi1822"))
            hosts[host] = dev
            parts.append(f"-device vfio-pci,host={host},id=pt{i}")
    return " ".join(parts), hosts


def bar_placement_exercise(seed: int = 0, *, args=None, host_devices=None,
                           target: tuple[str, int] | None = None) -> Exercise:
    """Where does SeaBIOS 1.16.2 put a BAR?  The seed picks a VM (machine,
    RAM, devices) and a BAR, unless ``args`` (a QEMU command line, with
    ``host_devices`` for vfio-pci) and ``target`` (bdf, bar) are given.

    The rules are SeaBIOS ``src/fw/pciinit.c`` (see :func:`solve_placement`);
    the answer is the model's firmware run (:mod:`vfiolab.model.firmware.seabios`,
    checked against real captures), and the test suite checks that the hand
    method gives the same address.
    """
    rng = Rng(seed)
    if args is None:
        args, host_devices = _random_vm(rng)
    # one line, whatever the reader pasted (line breaks, extra spaces)
    args = shlex.join(shlex.split(args) if isinstance(args, str) else list(args))
    p = _predict(args, host_devices)
    entries, start, above = placement_inputs(p)
    user = {_bdf_of(d) for d in p.vm.pci_devices() if d.qdev_id}
    if target is None:
        mine = [e for e in entries if e.bdf in user and e.bar != 6] or entries
        e = rng.choice(mine)
        target = (e.bdf, e.bar)
    bdf, bar = target
    tgt = next((e for e in entries if (e.bdf, e.bar) == (bdf, bar)), None)
    if tgt is None:
        raise ConfigError(f"no memory BAR {bar} on {bdf} in this VM")
    answer = p.vm.firmware.address(bdf, bar)
    where, steps = solve_placement(entries, start, above)
    steps.append(f"So {tgt.label} ({tgt.name}) is at {fmt_hex(where[(bdf, bar)])}.")
    if where[(bdf, bar)] != answer:     # the hand method must agree with the model
        raise VfiolabError(f"hand method {where[(bdf, bar)]:#x} != model {answer:#x} for {target}")
    below = p.vm.ram_split.below_4g
    rows = ["  bdf      device        bar  type     64-bit  slot size"]
    for e in entries:
        b = "ROM" if e.bar == 6 else str(e.bar)
        rows.append(f"  {e.bdf}  {e.name[:12]:<12}  {b:<3}  {e.type:<7}  "
                    f"{'yes' if e.is64 else 'no':<6}  {fmt_hex(e.size)}")
    prompt = (f"SeaBIOS 1.16.2 has sized these memory BARs (in scan order; a memory BAR smaller "
              f"than 4 KiB takes a 4 KiB slot):\n" + "\n".join(rows) +
              f"\n\nRAM below 4 GiB ends at {fmt_hex(below)}; RAM above 4 GiB: {fmt_hex(above)}."
              f"\nThe 32-bit window is [{fmt_hex(start)}, 0xfec00000)."
              f"\n\nAt which guest-physical address does SeaBIOS put {tgt.label} ({tgt.name})?")
    params = [("seed", str(seed)), ("command", args)]
    if host_devices:
        params.append(("host devices", ", ".join(f"{k}={v}" for k, v in host_devices.items())))
    params.append(("seabios", "1.16.2"))
    return Exercise("placement", seed, params, prompt, answer, fmt_hex(answer), steps, parse=_int,
                    hint="two lists (mem, prefmem) sorted by size, stacked top-down under "
                         "0xfec00000; then each list is filled upwards.",
                    context={"prediction": p})


# --------------------------------------------------------------------------
# 4. Config-space addresses: 0xcf8/0xcfc and ECAM
# --------------------------------------------------------------------------

def _parse_bdf_offset(value):
    """``00:01.0 0x10`` / ``00:01.0@0x10`` / (bus, dev, fn, offset) -> tuple."""
    from ..model.guest import parse_bdf
    if isinstance(value, (tuple, list)):
        if len(value) == 4:
            return tuple(_int(v) for v in value)
        if len(value) == 2:
            b, d, f = parse_bdf(str(value[0]))
            return (b, d, f, _int(value[1]))
        raise ConfigError("give (bus, device, function, offset) or 'bb:dd.f 0xOFF'")
    s = str(value).replace("@", " ").replace(",", " ").split()
    if len(s) != 2:
        raise ConfigError("give 'bb:dd.f 0xOFF', e.g. '00:01.0 0x10'")
    b, d, f = parse_bdf(s[0])
    return (b, d, f, _int(s[1]))


def _parse_pair(value):
    if isinstance(value, (tuple, list)):
        return tuple(_int(v) for v in value)
    return tuple(_int(v) for v in str(value).replace(",", " ").split())


def config_address_exercise(seed: int = 0, *, variant: str | None = None) -> Exercise:
    """Decode or encode a config-space address, the two ways a guest has.

    Variants: ``cf8-decode`` (which register does 0xcf8 value + data port
    select?), ``cf8-encode`` (what to write to 0xcf8, which port to use),
    ``ecam-encode`` (the guest-physical address of a register),
    ``ecam-decode`` (which register an ECAM address selects).  Rules:
    :func:`vfiolab.course.helpers.cf8_encode`, ``cf8_decode``, ``ecam_encode``,
    ``ecam_decode`` (PCI Local Bus spec 3.0 3.2.2.3.2; PCI Express base spec
    ECAM; QEMU ``hw/pci/pci_host.c``, ``include/hw/pci/pcie_host.h``).
    """
    from .helpers import (Q35_ECAM_BASE, cf8_decode, cf8_encode, ecam_decode, ecam_encode,
                         register_name)
    rng = Rng(seed)
    variant = variant or rng.choice(("cf8-decode", "cf8-encode", "ecam-encode", "ecam-decode"))
    device = rng.choice(MSIX_IN_BAR)
    args = f"-machine q35 -m 1G -nodefaults -device vfio-pci,host={HOST_BDF},id=pt0"
    p = _predict(args, {HOST_BDF: device})
    vm = p.vm
    devs = vm.pci_devices()
    dev = rng.choice([d for d in devs if d.qdev_id] * 2 + devs)
    bdf = _bdf_of(dev)
    bus, slot, fn = dev.bus.number, dev.slot, dev.func
    regs = [(0x00, 2), (0x04, 2), (0x06, 2), (0x0a, 2), (0x0e, 1), (0x34, 1), (0x3c, 1), (0x3d, 1)]
    regs += [(0x10 + 4 * r.index, 4) for r in dev.bars() if r.index < 6]
    if variant.startswith("ecam") and len(dev.config) > 256:
        regs.append((0x100, 4))
    offset, width = rng.choice(regs)
    value = vm.cfg_read(bus, dev.devfn, offset, width)
    reg = register_name(offset)
    params = [("seed", str(seed)), ("variant", variant), ("command", args),
              ("host device", f"{HOST_BDF}={device}")]
    steps = []
    if variant.startswith("cf8"):
        cf8, port = cf8_encode(bus, slot, fn, offset)
        fields = (f"bit 31 = 1 (enable); bits 23:16 bus = {bus:#04x}; bits 15:11 device = "
                  f"{slot:#04x}; bits 10:8 function = {fn}; bits 7:2 dword = {offset & 0xfc:#04x}")
        if variant == "cf8-decode":
            prompt = (f"The guest writes 0x{cf8:08x} to port 0xcf8, then reads {width} byte(s) "
                      f"from port {fmt_hex(port)}.\nWhich function and which config offset does "
                      f"it read? Answer like '00:01.0 0x10'.")
            d = cf8_decode(cf8, port)
            steps.append(f"1. 0x{cf8:08x} = {fields}.")
            steps.append(f"2. The data port adds the byte in the dword: {fmt_hex(port)} & 3 = "
                         f"{port & 3}; offset = {offset & 0xfc:#04x} + {port & 3} = {offset:#04x} "
                         f"(QEMU pci_host_data_read: config_reg | (port & 3)).")
            steps.append(f"3. So it reads {reg} of {bus:02x}:{slot:02x}.{fn} (offset "
                         f"{offset:#04x}); QEMU answers {fmt_hex(value)}.")
            answer = (d["bus"], d["dev"], d["fn"], d["offset"])
            text = f"{bus:02x}:{slot:02x}.{fn} {offset:#04x} ({reg})"
            return Exercise("config", seed, params, prompt, answer, text, steps,
                            parse=_parse_bdf_offset,
                            hint="bus = bits 23:16, device = bits 15:11, function = bits 10:8.")
        prompt = (f"The guest wants {reg} (offset {offset:#04x}, {width} byte(s)) of "
                  f"{bdf} through ports 0xcf8/0xcfc.\nWhat does it write to 0xcf8, and which "
                  f"data port does it then read? Answer like '0x80000810 0xcfc'.")
        steps.append(f"1. CONFIG_ADDRESS = 0x80000000 | bus << 16 | device << 11 | function << 8 "
                     f"| (offset & 0xfc) (Linux arch/x86/pci/direct.c PCI_CONF1_ADDRESS).")
        steps.append(f"2. = 0x80000000 | {bus:#x} << 16 | {slot:#x} << 11 | {fn} << 8 | "
                     f"{offset & 0xfc:#04x} = 0x{cf8:08x}.")
        steps.append(f"3. Data port = 0xcfc + (offset & 3) = {fmt_hex(port)}; QEMU answers "
                     f"{fmt_hex(value)}.")
        return Exercise("config", seed, params, prompt, (cf8, port), f"0x{cf8:08x} {fmt_hex(port)}",
                        steps, parse=_parse_pair,
                        hint="the register's dword goes in bits 7:2; the byte in it picks "
                             "the port.")
    gpa = ecam_encode(bus, slot, fn, offset)
    if variant == "ecam-encode":
        prompt = (f"q35's ECAM window starts at {fmt_hex(Q35_ECAM_BASE)}. At which "
                  f"guest-physical address does the guest read {reg} (offset {offset:#04x}) of "
                  f"{bdf}?")
        steps.append("1. ECAM address = base + (bus << 20 | device << 15 | function << 12 | "
                     "offset) (PCIe ECAM; QEMU PCIE_MMCFG_BUS/_DEVFN/_CONFOFFSET).")
        steps.append(f"2. = {fmt_hex(Q35_ECAM_BASE)} + ({bus:#x} << 20 | {slot:#x} << 15 | {fn} "
                     f"<< 12 | {offset:#x}) = {fmt_hex(gpa)}.")
        steps.append(f"3. That address is in pcie-mmcfg-mmio, an I/O region: the read exits to "
                     f"QEMU, which answers {fmt_hex(value)}.")
        return Exercise("config", seed, params, prompt, gpa, fmt_hex(gpa), steps, parse=_int,
                        hint="bus in bits 27:20, device 19:15, function 14:12, register 11:0.")
    d = ecam_decode(gpa)
    prompt = (f"q35's ECAM window starts at {fmt_hex(Q35_ECAM_BASE)}. The guest reads {width} "
              f"byte(s) at guest-physical {fmt_hex(gpa)}.\nWhich function and which config offset? "
              f"Answer like '00:01.0 0x10'.")
    rel = gpa - Q35_ECAM_BASE
    steps.append(f"1. Offset in the window: {fmt_hex(gpa)} - {fmt_hex(Q35_ECAM_BASE)} = "
                 f"{fmt_hex(rel)}.")
    steps.append(f"2. bits 27:20 bus = {d['bus']:#04x}; bits 19:15 device = {d['dev']:#04x}; "
                 f"bits 14:12 function = {d['fn']}; bits 11:0 offset = {d['offset']:#05x} "
                 f"(QEMU pcie_mmcfg_data_read).")
    steps.append(f"3. So it reads {reg} of {bdf}; QEMU answers {fmt_hex(value)}.")
    return Exercise("config", seed, params, prompt, (d["bus"], d["dev"], d["fn"], d["offset"]),
                    f"{bdf} {offset:#04x} ({reg})", steps, parse=_parse_bdf_offset,
                    hint="subtract the base; then bus = bits 27:20, device 19:15, function 14:12.")


# --------------------------------------------------------------------------
# 5. GPA -> HVA through the memslots
# --------------------------------------------------------------------------

def gpa_exercise(seed: int = 0, *, n: int = 4, device: str | None = None) -> Exercise:
    """Translate guest-physical addresses to QEMU's virtual addresses the way
    KVM does, or say the access exits.

    Rule (Linux ``virt/kvm/kvm_main.c`` ``__gfn_to_hva_memslot``): find the
    memslot with ``guest_phys_addr <= gpa < guest_phys_addr + memory_size``;
    hva = ``userspace_addr + (gpa - guest_phys_addr)``.  No memslot: KVM
    exits to QEMU (``KVM_EXIT_MMIO``).  For a BAR mmap the HVA is in QEMU's
    mmap of the device fd, so the host physical address is the host BAR's
    address plus the same offset (``vfio_pci_core_mmap``: a PFN map of the
    BAR).
    """
    from ..views import memslot_frame
    rng = Rng(seed)
    device = device or rng.choice(MSIX_IN_BAR)
    mem = rng.choice(("2G", "4G"))
    args = f"-machine q35 -m {mem} -nodefaults -device vfio-pci,host={HOST_BDF},id=pt0"
    p = _predict(args, {HOST_BDF: device})
    secs = p.sections()
    slots = sorted(p.memslots(), key=lambda m: m.guest_phys_addr)
    host = p.vm.host
    picks = []
    ram = [m for m in slots if m.memory_size >= 16 * MiB]
    bars = [m for m in slots if (host.find(m.userspace_addr) is not None
                                 and host.find(m.userspace_addr).kind == "pfnmap")]
    io = [s for s in secs if s.kind == "i/o" and not s.name.startswith("kvm-")
          and _covering_slot(slots, s.start) is None]
    for pool in (ram, bars, ram, bars):
        if pool and len(picks) < n - 1:
            m = rng.choice(pool)
            off = rng.below(max(1, m.memory_size // PAGE_SIZE)) * PAGE_SIZE + rng.below(256) * 8
            picks.append(m.guest_phys_addr + min(off, m.memory_size - 8))
    s = rng.choice(io)
    picks.append(s.start + align_down(rng.below(max(1, s.size)), 4))
    order = rng.sample(range(len(picks)), len(picks))
    picks = [picks[i] for i in order]
    answer = []
    steps = []
    for i, gpa in enumerate(picks, 1):
        m = _covering_slot(slots, gpa)
        if m is None:
            sec = _section_at(secs, gpa)
            answer.append(None)
            steps.append(f"{i}. {fmt_hex(gpa)}: no memslot covers it ("
                         + (f"it is {sec.kind} \"{sec.name}\"" if sec else "unassigned")
                         + ") -> KVM_EXIT_MMIO: exit.")
            continue
        hva = m.userspace_addr + (gpa - m.guest_phys_addr)
        answer.append(hva)
        line = (f"{i}. {fmt_hex(gpa)}: memslot {m.slot} (guest_phys_addr "
                f"{fmt_hex(m.guest_phys_addr)}, memory_size {fmt_hex(m.memory_size)}); offset "
                f"{fmt_hex(gpa - m.guest_phys_addr)}; hva = {fmt_hex(m.userspace_addr)} + "
                f"{fmt_hex(gpa - m.guest_phys_addr)} = {fmt_hex(hva)}")
        t = host.translate(hva)
        if t is not None and t.kind == "pfnmap":
            line += (f"; that is QEMU's mmap \"{t.mapping.name}\" of the device, so the host "
                     f"physical address is {fmt_hex(t.hpa)} (the host BAR + offset)")
        steps.append(line + ".")
    table = memslot_frame(slots).to_string(index=False)
    prompt = ("The VM's KVM memslots (KVM_SET_USER_MEMORY_REGION as QEMU issued them):\n\n"
              + table + "\n\nFor each guest-physical address, which host virtual address "
              "(in QEMU) does KVM use, or does the access exit to QEMU?\n"
              + "\n".join(f"  {i}. {fmt_hex(g)}" for i, g in enumerate(picks, 1))
              + "\n\nAnswer with a list, e.g. [0x7f0000123000, 'exit', ...].")
    params = [("seed", str(seed)), ("command", args), ("host device", f"{HOST_BDF}={device}")]
    return Exercise("gpa", seed, params, prompt, answer,
                    "[" + ", ".join(_show_addr(a) for a in answer) + "]", steps,
                    parse=_list_of(_int_or_exit), compare=_compare_lists(_show_addr),
                    hint="hva = userspace_addr + (gpa - guest_phys_addr) of the slot that "
                         "covers gpa.",
                    context={"prediction": p})


# --------------------------------------------------------------------------
# 6. Moving a BAR: where does QEMU map it on the way?
# --------------------------------------------------------------------------

#: QEMU hw/pci/pci.c pci_bar_address: HWADDR_MAX, the last address a BAR may end below
HWADDR_MAX = (1 << 64) - 1


def _decoded(addr: int, size: int, is64: bool) -> int | None:
    """QEMU ``pci_bar_address`` for a memory BAR with decode on: None where
    it would be unmapped (address 0, wrap-around, a 32-bit BAR reaching
    4 GiB - 1, or the end at HWADDR_MAX)."""
    new = addr & ~(size - 1)
    last = new + size - 1
    if new == 0 or last >= HWADDR_MAX or (not is64 and last >= 0xFFFFFFFF):
        return None
    return new


def solve_move(old: int, new: int, size: int, is64: bool, how: str):
    """Addresses where QEMU maps the BAR, in order, and the steps.

    ``clean`` (decode off around the writes): pci_update_mappings unmaps on
    the COMMAND write, the BAR writes change nothing, the last COMMAND write
    maps at the new address.  ``careless`` (decode on): every BAR write runs
    pci_update_mappings (QEMU ``pci_default_write_config``), so a 64-bit BAR
    whose both halves change is decoded at (new low, old high) in between.
    """
    steps = []
    maps = []
    if how == "clean":
        steps.append(f"1. COMMAND write clears MEMORY: pci_bar_address says unmapped -> unmap "
                     f"{fmt_hex(old)}.")
        steps.append(f"2. BAR write(s) with decode off: nothing is mapped, nothing changes.")
        steps.append(f"3. COMMAND write sets MEMORY: the BAR decodes at {fmt_hex(new)} -> map "
                     f"{fmt_hex(new)}.")
        return [new], steps
    cur = old
    writes = [("low dword", (new & 0xFFFFFFFF) | (old & ~0xFFFFFFFF if is64 else 0))]
    if is64:
        writes.append(("high dword", new))
    for i, (what, raw) in enumerate(writes, 1):
        dec = _decoded(raw, size, is64)
        line = f"{i}. Write the {what}: the BAR now holds {fmt_hex(raw)}"
        if dec == cur:
            steps.append(line + " -> same address as before: nothing happens.")
            continue
        acts = []
        if cur is not None:
            acts.append(f"unmap {fmt_hex(cur)}")
        if dec is None:
            acts.append("not mapped (pci_bar_address refuses address 0)")
        else:
            acts.append(f"map {fmt_hex(dec)}")
            maps.append(dec)
        steps.append(line + " -> " + ", ".join(acts) + ".")
        cur = dec
    return maps, steps


def move_exercise(seed: int = 0, *, device: str | None = None, how: str | None = None,
                  new: int | None = None) -> Exercise:
    """The guest kernel moves a 64-bit BAR of a passed-through device: at
    which guest-physical addresses does QEMU map it, in order?  (The
    ``pci_update_mappings_add`` events; the model's answer comes from
    :func:`vfiolab.simulate.run_story`.)"""
    from ..simulate import run_story
    rng = Rng(seed)
    choices = [("gpu-nvidia-tesla-p100", 3), ("nic-mellanox-connectx7", 0),
               ("nic-intel-xl710", 0), ("virtio-net-this-machine", 0), ("nic-huawei-hi1822", 4)]
    if device is None:
        device, bar = rng.choice(choices)
    else:
        bar = dict(choices).get(device)
        if bar is None:
            raise ConfigError(f"move_exercise devices: {', '.join(d for d, _ in choices)}")
    how = how or ("careless" if rng.chance(0.6) else "clean")
    args = f"-machine q35 -m 2G -nodefaults -device vfio-pci,host={HOST_BDF},id=pt0"
    p = _predict(args, {HOST_BDF: device})
    dev = next(d for d in p.vm.devices if d.type_name == "vfio-pci")
    r = dev.io_regions[bar]
    size, old = r.size, r.addr
    is64 = bool(r.type & 4)
    if new is None:
        hi = rng.choice((0x10, 0x20, 0x40, 0x80, 0x100))
        # mostly a new low half too (the careless case then passes an
        # intermediate address); sometimes 0 or the old low half
        anywhere = align_down(rng.below(0x100) * 0x1000000, size)
        lo = align_down(rng.choice([anywhere, anywhere, anywhere, 0, old & 0xFFFFFFFF]), size)
        new = hi << 32 | lo
    bdf = _bdf_of(dev)
    story = run_story(args.split(), host_devices={HOST_BDF: _dev_path(device)}, bdf=bdf, bar=bar,
                      moves=[(new, how)], cpu_vendor=CPU_VENDOR)
    step = story.steps[-1][0]
    answer = [e["addr"] for e in story.events(step)
              if e["op"] == "pci_update_mappings_add" and e["bar"] == bar]
    maps, steps = solve_move(old, new, size, is64, how)
    if maps != answer:
        raise VfiolabError(f"hand method {maps} != model {answer}")
    where = ", ".join(fmt_hex(a) for a in answer) or "nowhere"
    steps.append(f"So QEMU maps it at: {where}.")
    way = ("clean: memory decode off, write both dwords, decode on" if how == "clean" else
           "careless: memory decode left on, low dword written first, then the high dword")
    prompt = (f"BAR{bar} of {bdf} (a {'64' if is64 else '32'}-bit BAR of {fmt_hex(size)} bytes) "
              f"is at {fmt_hex(old)}.\nThe guest kernel moves it to {fmt_hex(new)}, {way}.\n"
              f"List every guest-physical address at which QEMU maps the BAR during the move "
              f"(the pci_update_mappings_add events), in order.")
    params = [("seed", str(seed)), ("command", args), ("host device", f"{HOST_BDF}={device}"),
              ("bar", str(bar)), ("how", how)]
    return Exercise("move", seed, params, prompt, answer,
                    "[" + ", ".join(fmt_hex(a) for a in answer) + "]", steps,
                    parse=_list_of(_int), compare=_compare_lists(_show_addr),
                    hint="QEMU re-decodes the BAR after every config write that touches it.",
                    context={"prediction": p, "story": story})


def _dev_path(name) -> str:
    from .helpers import host_device_path
    return str(host_device_path(name))


# --------------------------------------------------------------------------
# 7. EPT fills: what does KVM do on each touch? (notebook 04)
# --------------------------------------------------------------------------

#: host devices whose BARs give memslots of several sizes (1G-, 2M- and
#: 4K-mappable) and, for some, an MSI-X table page without a memslot
EPT_DEVICES = ("gpu-nvidia-tesla-p100", "gpu-nvidia-rtx6000-ada", "nvme-intel-dc-ssd",
               "nic-mellanox-connectx7", "nic-intel-xl710", "virtio-net-this-machine")
#: x86 page sizes by EPT level (PG_LEVEL_4K/2M/1G)
LEVEL_LABELS = {1: "4K", 2: "2M", 3: "1G"}
LEVEL_BYTES = {1: PAGE_SIZE, 2: 2 * MiB, 3: GiB}
_HOST_LEVEL = {PAGE_SIZE: 1, 2 * MiB: 2, GiB: 3}
#: the answers an EPT touch can have besides a page size
NOTHING, EXIT = "-", "exit"


def solve_level(slot, gpa: int, host_page: int, max_level: int = 3):
    """Hand method: the EPT level KVM maps the first touch of ``gpa`` at,
    and why, for a memslot record ``slot`` (guest_phys_addr, memory_size,
    userspace_addr) and the size of the host page-table entry behind the
    HVA.

    Rules (Linux ``arch/x86/kvm/mmu/mmu.c`` ``kvm_mmu_hugepage_adjust``,
    ``__kvm_mmu_max_mapping_level``, ``host_pfn_mapping_level``;
    ``arch/x86/kvm/x86.c`` ``kvm_alloc_memslot_metadata``, whose
    ``disallow_lpage`` marks the huge frames a slot cannot use): start at the
    largest page EPT offers (1G); a huge page is allowed only when the
    slot's guest_phys_addr and userspace_addr are congruent modulo its size
    and its aligned frame around ``gpa`` lies wholly inside the slot;
    otherwise try the next size down.  The result is capped by the host's
    own page for that HVA (2M for THP-backed RAM, up to 1G for a BAR's PFN
    map, 4K otherwise).  Returns ``(level, reasons)``.
    """
    start, end = slot.guest_phys_addr, slot.guest_phys_addr + slot.memory_size
    reasons = []
    level = max_level
    while level > 1:
        size, name = LEVEL_BYTES[level], LEVEL_LABELS[level]
        frame = gpa & ~(size - 1)
        if (slot.guest_phys_addr - slot.userspace_addr) % size:
            reasons.append(f"not {name}: guest_phys_addr {fmt_hex(start)} and userspace_addr "
                           f"{fmt_hex(slot.userspace_addr)} differ modulo {name}")
        elif frame < start or frame + size > end:
            reasons.append(f"not {name}: the {name} frame at {fmt_hex(frame)} sticks out of "
                           f"the slot [{fmt_hex(start)}, {fmt_hex(end)})")
        else:
            reasons.append(f"the {name} frame at {fmt_hex(frame)} lies inside the slot, and "
                           f"GPA and HVA are congruent modulo {name}")
            break
        level -= 1
    host_level = _HOST_LEVEL.get(host_page, 1)
    if host_level < level:
        reasons.append(f"but the host maps that HVA with a {LEVEL_LABELS[host_level]} page, "
                       f"so {LEVEL_LABELS[host_level]}")
        level = host_level
    elif level == 1 and not reasons:
        reasons.append("4K")
    return level, reasons


def solve_ept(touches, slots, sections, host, max_level: int = 3):
    """Hand method for a sequence of guest accesses ``(gpa, kind)`` on a VM
    whose EPT starts empty: per access ``"4K"``/``"2M"``/``"1G"`` (KVM
    installs a leaf of that size and the access completes in the guest),
    ``"-"`` (a leaf already maps it with the permission: no exit at all) or
    ``"exit"`` (it reaches QEMU); and the steps.

    Rules: no memslot covers the GPA -> the EPT violation finds no slot and
    KVM returns ``KVM_EXIT_MMIO`` (``kvm_handle_noslot_fault``, after
    installing an MMIO SPTE that makes later accesses exit too); a write to
    a ``KVM_MEM_READONLY`` slot exits as well (``kvm_handle_error_pfn``);
    otherwise a present leaf covering the GPA means no exit, and a missing
    one is filled at :func:`solve_level`'s size (a huge leaf replaces the
    smaller leaves under it).
    """
    leaves: set[tuple[int, int]] = set()
    answer, steps = [], []
    for i, (gpa, kind) in enumerate(touches, 1):
        sec = _section_at(sections, gpa)
        where = (f"{sec.kind} \"{sec.name}\"" if sec else "nothing (unassigned)")
        slot = _covering_slot(slots, gpa)
        head = f"{i}. {kind} {fmt_hex(gpa)} ({where}): "
        if slot is None:
            answer.append(EXIT)
            steps.append(head + "no memslot covers it -> EPT violation, KVM finds no slot, "
                                "installs an MMIO SPTE (if not there yet) and returns "
                                "KVM_EXIT_MMIO: exit.")
            continue
        if kind == "write" and slot.readonly:
            answer.append(EXIT)
            steps.append(head + f"memslot {slot.slot} is KVM_MEM_READONLY and this is a write "
                                "-> KVM_EXIT_MMIO: exit.")
            continue
        cover = next(((lv, b) for lv, b in sorted(leaves, reverse=True)
                      if b <= gpa < b + LEVEL_BYTES[lv]), None)
        if cover is not None:
            answer.append(NOTHING)
            steps.append(head + f"the {LEVEL_LABELS[cover[0]]} leaf at {fmt_hex(cover[1])} "
                                "installed earlier already maps it (writable: the slot is not "
                                "read-only) -> no exit, nothing to do: -.")
            continue
        hva = slot.userspace_addr + (gpa - slot.guest_phys_addr)
        t = host.translate(hva)
        page = t.page_size if t is not None else PAGE_SIZE
        level, why = solve_level(slot, gpa, page, max_level)
        size = LEVEL_BYTES[level]
        base = gpa & ~(size - 1)
        leaves = {(lv, b) for lv, b in leaves if not (lv < level and base <= b < base + size)}
        leaves.add((level, base))
        answer.append(LEVEL_LABELS[level])
        steps.append(head + f"memslot {slot.slot} (guest_phys_addr {fmt_hex(slot.guest_phys_addr)}"
                            f", memory_size {fmt_hex(slot.memory_size)}), no leaf yet -> EPT "
                            f"violation; " + "; ".join(why) + f" -> KVM maps a "
                            f"{LEVEL_LABELS[level]} leaf at {fmt_hex(base)}.")
    return answer, steps


def _ept_label(events) -> str:
    """What the model's Mmu did for one access, as an answer."""
    if any(e.get("exit") for e in events):
        return EXIT
    maps = [e for e in events if e["op"] == "map"]
    if maps:
        return LEVEL_LABELS[maps[-1]["level"]]
    return NOTHING


def _ept_item(value) -> str:
    if isinstance(value, bool):
        raise ConfigError(f"{value!r}: say 4K, 2M, 1G, - or exit")
    if isinstance(value, int):
        return {PAGE_SIZE: "4K", 2 * MiB: "2M", GiB: "1G"}.get(value, fmt_hex(value))
    s = str(value).strip().strip("'\"").upper().replace("IB", "").replace("B", "")
    if s in ("-", "NONE", "NOTHING", "N", "HIT", ""):
        return NOTHING
    if s in ("EXIT", "X", "QEMU", "TRAP"):
        return EXIT
    s = {"4096": "4K", "4KI": "4K", "2048K": "2M", "1024M": "1G"}.get(s, s)
    if s in ("4K", "2M", "1G"):
        return s
    raise ConfigError(f"{value!r}: say 4K, 2M, 1G, - (nothing: already mapped) or exit")


def _ept_answers(value) -> list[str]:
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    return [_ept_item(v) for v in value]


def _slot_host_page(p, slot) -> int:
    t = p.vm.host.translate(slot.userspace_addr)
    return t.page_size if t is not None else PAGE_SIZE


def ept_exercise(seed: int = 0, *, n: int = 6, device: str | None = None) -> Exercise:
    """A guest touches a few guest-physical addresses, one after another,
    on a VM whose EPT is still empty: for each, does KVM install an EPT leaf
    (of which size), find one already there (``-``), or exit to QEMU?

    The answer is :class:`vfiolab.model.ept.Mmu` run on the sequence; the
    steps are :func:`solve_ept` (KVM's rules, restated), which
    ``tests/test_exercises.py`` checks against the model.
    """
    from ..model.ept import Mmu
    from ..views import memslot_frame
    rng = Rng(seed)
    device = device or rng.choice(EPT_DEVICES)
    mem = rng.choice(("2G", "4G"))
    args = f"-machine q35 -m {mem} -nodefaults -device vfio-pci,host={HOST_BDF},id=pt0"
    p = _predict(args, {HOST_BDF: device})
    secs, slots, host = p.sections(), p.memslots(), p.vm.host
    cands: list[tuple[str, int, str]] = []          # (what, gpa, kind)

    def page(lo: int, hi: int) -> int:
        return lo + rng.below(max(1, (hi - lo) // PAGE_SIZE)) * PAGE_SIZE + rng.below(64) * 8

    rw = lambda: "write" if rng.chance(0.4) else "read"           # noqa: E731
    cands.append(("guest RAM below 1 MiB", page(0x1000, 0x9F000), rw()))
    cands.append(("guest RAM just above 1 MiB", page(0x100000, 0x200000), rw()))
    big = max((m for m in slots if not m.readonly and host.find(m.userspace_addr) is not None
               and host.find(m.userspace_addr).kind == "ram"), key=lambda m: m.memory_size)
    cands.append(("guest RAM", page(big.guest_phys_addr + 2 * MiB,
                                    big.guest_phys_addr + big.memory_size), rw()))
    bar_slots = [m for m in slots if getattr(host.find(m.userspace_addr), "kind", "") == "pfnmap"]
    for m in rng.sample(bar_slots, 2):
        cands.append(("the passed-through device's BAR",
                      page(m.guest_phys_addr, m.guest_phys_addr + m.memory_size), rw()))
    for name, what in (("msix-table", "the MSI-X table"), ("ahci", "the AHCI controller's BAR5"),
                       ("hpet", "the HPET")):
        s = next((s for s in secs if s.name == name), None)
        if s is not None:
            cands.append((what, s.start + 4 * rng.below(max(1, min(s.size, 0x100) // 4)), rw()))
    bios = next(s for s in secs if s.name == "pc.bios")
    cands.append(("the BIOS ROM", bios.start + rng.below(0x3F) * 0x1000,
                  "write" if rng.chance(0.5) else "read"))
    hole = p.vm.ram_split.below_4g + 0x1000 * (1 + rng.below(0x100))
    if _section_at(secs, hole) is None:
        cands.append(("nothing (a hole in the map)", hole, "read"))
    chosen = rng.sample(cands, max(2, n - 2))
    # two follow-ups: another page in the frame of an earlier RAM touch, and a
    # second access to an earlier address
    ram = [c for c in chosen if c[0].startswith("guest RAM")]
    if ram:
        what, gpa, _ = rng.choice(ram)
        other = (gpa & ~(2 * MiB - 1)) + rng.below(512) * PAGE_SIZE + rng.below(64) * 8
        chosen.append((f"{what} (the same 2 MiB frame as before)", other, rw()))
    what, gpa, kind = rng.choice(chosen)
    chosen.append((f"{what} (again)", gpa, "write" if kind == "read" else "read"))
    touches = [(gpa, kind) for _, gpa, kind in chosen]
    mmu = Mmu(p.vm, record=False)
    answer = [_ept_label(mmu.access(gpa, kind)) for gpa, kind in touches]
    mmu.detach()
    hand, steps = solve_ept(touches, slots, secs, host)
    if hand != answer:                      # the hand method must agree with the model
        raise VfiolabError(f"hand method {hand} != model {answer} ({args}, {device})")
    table = memslot_frame(sorted(slots, key=lambda m: m.guest_phys_addr), secs)
    table["host page"] = [LEVEL_LABELS[_HOST_LEVEL.get(_slot_host_page(p, m), 1)]
                          for m in sorted(slots, key=lambda m: m.guest_phys_addr)]
    rows = [f"  {i}. {kind} of guest-physical {fmt_hex(gpa)}"
            for i, (gpa, kind) in enumerate(touches, 1)]
    prompt = ("The VM's memslots (KVM_SET_USER_MEMORY_REGION), with the size of the host page "
              "behind each slot's HVAs (THP for guest RAM, PFN-map pages for a BAR):\n\n"
              + table.to_string(index=False) +
              "\n\nKVM's EPT is empty (no access yet) and offers 4K, 2M and 1G pages. The guest "
              "makes these accesses, in this order:\n" + "\n".join(rows) +
              "\n\nFor each: the size of the EPT leaf KVM installs (4K, 2M or 1G), '-' if one "
              "already maps it (no exit at all), or 'exit' if it reaches QEMU.\n"
              "Answer with a list, e.g. ['2M', '-', 'exit', ...].")
    params = [("seed", str(seed)), ("command", args), ("host device", f"{HOST_BDF}={device}"),
              ("cpu_vendor", CPU_VENDOR)]
    return Exercise("ept", seed, params, prompt, answer, "[" + ", ".join(answer) + "]", steps,
                    parse=_ept_answers, compare=_compare_lists(str),
                    hint="no memslot -> exit; else the largest of 1G/2M whose frame lies inside "
                         "the slot with GPA and HVA congruent, capped by the host page.",
                    context={"prediction": p, "touches": touches})


# --------------------------------------------------------------------------
# 8. A passed-through device's DMA through the type1 IOMMU (notebook 05)
# --------------------------------------------------------------------------

FAULT, MSI = "fault", "msi"


def solve_dma(maps, iova: int, access: str):
    """Hand method for one DMA request without a vIOMMU: ``(result, why)``
    with result an HPA, ``"fault"`` or ``"msi"``.

    Rules: a write to 0xfee00000-0xfeefffff is an interrupt request, not
    translated, and a read there is blocked (VT-d spec 3.14); otherwise the
    IOMMU walks the page table QEMU's VFIO listener filled at IOVA = GPA
    (QEMU ``hw/vfio/common.c`` ``vfio_listener_region_add``, Linux
    ``vfio_iommu_type1.c`` ``vfio_pin_map_dma``): no run covers the IOVA, or
    a write to a run mapped without ``VFIO_DMA_MAP_FLAG_WRITE`` -> a DMA
    remapping fault (reasons 0x6 / 0x5); else HPA = run's HPA + offset.
    ``maps`` are :class:`vfiolab.views.IommuMap` runs."""
    from ..model.iommu import MSI_RANGE_END, MSI_RANGE_START
    if MSI_RANGE_START <= iova <= MSI_RANGE_END:
        if access == "write":
            return MSI, "a write to the interrupt range is an MSI (VT-d 3.14): msi."
        return FAULT, "a read of the interrupt range is not translated (VT-d 3.14): fault."
    run = next((m for m in maps if m.iova <= iova < m.end), None)
    if run is None:
        return FAULT, "no run of the map list covers it (QEMU mapped nothing here) -> fault 0x6/0x5."
    if access == "write" and not run.write:
        return FAULT, (f"the run at {fmt_hex(run.iova)} ({run.name}) was mapped READ only "
                       f"-> write fault 0x5.")
    hpa = run.hpa + (iova - run.iova)
    what = "the device's own BAR (peer to peer)" if run.kind == "pfnmap" else "guest memory"
    return hpa, (f"run at IOVA {fmt_hex(run.iova)} ({run.name}) -> HPA {fmt_hex(run.hpa)} + "
                 f"{fmt_hex(iova - run.iova)} = {fmt_hex(hpa)}, {what}.")


def _dma_item(value):
    if isinstance(value, str) and value.strip().lower() in ("fault", "f", "dmar", "x"):
        return FAULT
    if isinstance(value, str) and value.strip().lower() in ("msi", "interrupt", "irq"):
        return MSI
    return _int(value)


def _show_dma(v) -> str:
    return fmt_hex(v) if isinstance(v, int) else str(v)


def dma_exercise(seed: int = 0, *, n: int = 5, device: str | None = None) -> Exercise:
    """The passed-through device issues DMA requests (no vIOMMU): for each,
    the host physical address it reaches, ``fault`` or ``msi``.  The answer
    is :func:`vfiolab.model.iommu.iommu_for` (the VT-d page table QEMU's
    maps filled); the steps are :func:`solve_dma` on the map list."""
    from ..model.guest import set_bus_master
    from ..model.iommu import MSI_RANGE_START, iommu_for
    from ..views import iommu_maps
    rng = Rng(seed)
    device = device or rng.choice(EPT_DEVICES)
    mem = rng.choice(("2G", "4G"))
    args = f"-machine q35 -m {mem} -nodefaults -device vfio-pci,host={HOST_BDF},id=pt0"
    p = _predict(args, {HOST_BDF: device})
    vm = p.vm
    # the guest's driver has set Bus Master Enable (pci_set_master), else
    # the device issues no requests at all
    set_bus_master(vm, next(d for d in vm.devices if d.type_name == "vfio-pci"))
    maps = iommu_maps(vm.vfio.container, vm.host)
    secs = p.sections()
    cands: list[tuple[int, str]] = []

    def inside(m, span=None):
        span = span or m.size
        return m.iova + rng.below(max(1, span // PAGE_SIZE)) * PAGE_SIZE + rng.below(512) * 8

    ram = [m for m in maps if m.kind == "ram" and m.write]
    big = max(ram, key=lambda m: m.size)
    cands.append((inside(big), "write" if rng.chance(0.6) else "read"))
    cands.append((inside(ram[0]), "read"))
    bars = [m for m in maps if m.kind == "pfnmap"]
    if bars:
        cands.append((inside(rng.choice(bars), 64 * MiB), "write" if rng.chance(0.5) else "read"))
    ro = [m for m in maps if not m.write]
    if ro:
        cands.append((inside(rng.choice(ro)), "write"))
        cands.append((inside(rng.choice(ro)), "read"))
    hole = vm.ram_split.below_4g + PAGE_SIZE * rng.below(0x100) + 0x40
    if not any(m.iova <= hole < m.end for m in maps):
        cands.append((hole, "read"))
    cands.append((MSI_RANGE_START + 4 * rng.below(0x400), "write"))
    for name in ("pcie-mmcfg-mmio", "msix-table"):
        s = next((s for s in secs if s.name == name), None)
        if s is not None:
            cands.append((s.start + 8 * rng.below(32), "read"))
    reqs = rng.sample(cands, n)
    bdf = _bdf_of(next(d for d in vm.devices if d.type_name == "vfio-pci"))
    io = iommu_for(vm)
    answer, steps = [], []
    for i, (iova, access) in enumerate(reqs, 1):
        ev = io.dma(bdf, iova, access)[0]
        got = (int(ev["hpa"], 16) if ev["op"] == "dma" else
               MSI if ev["op"] == "interrupt_request" else FAULT)
        hand, why = solve_dma(maps, iova, access)
        if hand != got:
            raise VfiolabError(f"hand method {hand!r} != model {got!r} for {access} {iova:#x}")
        answer.append(got)
        steps.append(f"{i}. {access} {fmt_hex(iova)}: {why}")
    lines = ["  IOVA (= GPA)          size          HPA               device may  host mapping"]
    for m in maps:
        lines.append(f"  {fmt_hex(m.iova):<20}  {fmt_hex(m.size):<12}  {fmt_hex(m.hpa):<16}  "
                     f"{'read+write' if m.write else 'read only':<10}  {m.name}")
    rows = [f"  {i}. DMA {acc} of IOVA {fmt_hex(iova)}" for i, (iova, acc) in enumerate(reqs, 1)]
    prompt = ("QEMU's VFIO listener mapped these runs into the device's IOMMU domain "
              "(VFIO_IOMMU_MAP_DMA, no vIOMMU):\n" + "\n".join(lines) +
              f"\n\nThe device at guest {bdf} (host {HOST_BDF}) issues:\n" + "\n".join(rows) +
              "\n\nFor each: the host physical address it reaches, 'fault' (a DMA remapping "
              "fault), or 'msi' (an interrupt request).\nAnswer with a list, e.g. "
              "[0x100200040, 'fault', 'msi', ...].")
    params = [("seed", str(seed)), ("command", args), ("host device", f"{HOST_BDF}={device}"),
              ("cpu_vendor", CPU_VENDOR)]
    return Exercise("dma", seed, params, prompt, answer,
                    "[" + ", ".join(_show_dma(a) for a in answer) + "]", steps,
                    parse=_list_of(_dma_item), compare=_compare_lists(_show_dma),
                    hint="IOVA = GPA: find the run, check its permission, add the offset to its "
                         "HPA; 0xfee00000-0xfeefffff is for interrupts.",
                    context={"prediction": p, "requests": reqs})


# --------------------------------------------------------------------------
# 9. A BAR move as the listeners see it: KVM and VFIO calls in order (06)
# --------------------------------------------------------------------------

#: one letter per call a listener makes: KVM_SET_USER_MEMORY_REGION that
#: deletes (d) or creates (c) a memslot, VFIO_IOMMU_UNMAP_DMA (u) / MAP_DMA (m)
CALL_CODES = {"d": "KVM_SET_USER_MEMORY_REGION, memory_size 0 (delete the memslot)",
              "c": "KVM_SET_USER_MEMORY_REGION (create the memslot)",
              "u": "VFIO_IOMMU_UNMAP_DMA", "m": "VFIO_IOMMU_MAP_DMA"}


def _call_codes(events) -> list[str]:
    out = []
    for e in events:
        if e["op"] == "set_user_memory":
            out.append("d" if e["size"] == 0 else "c")
        elif e["op"] == "unmap_dma":
            out.append("u")
        elif e["op"] == "map_dma":
            out.append("m")
    return out


def bar_ranges(sections, start: int, size: int) -> list[tuple[int, int]]:
    """The memslot-able pieces of a BAR mapped at ``start``: its ``ramd``
    ranges in the flat view, each trimmed to whole 4 KiB pages (QEMU
    ``kvm_align_section``; the VFIO listener trims the same way), as
    (offset in the BAR, size); empty pieces dropped."""
    out = []
    for s in sections:
        if s.kind != "ramd" or not start <= s.start < start + size:
            continue
        lo, hi = align_up(s.start, PAGE_SIZE), align_down(s.end + 1, PAGE_SIZE)
        if hi > lo:
            out.append((lo - start, hi - lo))
    return out


def _move_actions(old: int, new: int, size: int, is64: bool, how: str):
    """The BAR's unmap/map actions ('del'|'add', address) during a move of
    one BAR (QEMU ``pci_update_mappings`` after each config write)."""
    if how == "clean":
        return None                   # decode off/on: every memory BAR, see solve_listeners
    acts, cur = [], old
    writes = [(new & 0xFFFFFFFF) | (old & ~0xFFFFFFFF if is64 else 0)]
    if is64:
        writes.append(new)
    for raw in writes:
        dec = _decoded(raw, size, is64)
        if dec == cur:
            continue
        if cur is not None:
            acts.append(("del", cur))
        if dec is not None:
            acts.append(("add", dec))
        cur = dec
    return acts


def solve_listeners(bars, moved: int, new: int, how: str):
    """Hand method: the KVM and VFIO calls of a BAR move, in order.

    ``bars`` maps each mapped memory BAR of the function to (address, size,
    is64, pieces) with pieces from :func:`bar_ranges`.  Rules: a clean move
    turns memory decode off, which unmaps every memory BAR of the function
    in index order, and on again, which maps them all (QEMU ``hw/pci/pci.c``
    ``pci_update_mappings`` walks the BARs in order); a careless one re-maps
    the moved BAR after each dword (see :func:`solve_move`).  Each unmap
    removes the BAR's pieces from the FlatView and each map adds them;
    ``address_space_update_topology_pass`` (QEMU ``softmmu/memory.c``) hands
    a removed range to the listeners in reverse priority order -- KVM's
    (priority 10) deletes the memslot, then VFIO's (priority 0) unmaps the
    IOVA range: ``d u`` -- and an added range in forward order -- VFIO maps,
    then KVM creates the memslot: ``m c``."""
    if how == "clean":
        acts = [("del", b, bars[b][0]) for b in sorted(bars)]
        acts += [("add", b, new if b == moved else bars[b][0]) for b in sorted(bars)]
    else:
        addr, size, is64, _ = bars[moved]
        acts = [(k, moved, a) for k, a in _move_actions(addr, new, size, is64, how)]
    codes, steps = [], []
    for k, b, a in acts:
        pieces = bars[b][3]
        per = ["d", "u"] if k == "del" else ["m", "c"]
        codes += per * len(pieces)
        what = ", ".join(f"{fmt_hex(a + off)}+{fmt_hex(sz)}" for off, sz in pieces) or "none"
        steps.append(f"{len(steps) + 1}. {'unmap' if k == 'del' else 'map'} BAR{b} at "
                     f"{fmt_hex(a)}: its memslot-able pieces {what} -> "
                     + (" ".join(per) + " for each" if pieces else "no call") + ".")
    return codes, steps


def listeners_exercise(seed: int = 0, *, device: str | None = None, how: str | None = None,
                       new: int | None = None) -> Exercise:
    """The guest kernel moves a BAR of a passed-through device: which
    ``KVM_SET_USER_MEMORY_REGION`` and ``VFIO_IOMMU_(UN)MAP_DMA`` calls
    follow, in order?  The answer is the event stream of
    :func:`vfiolab.simulate.run_story`; the steps are
    :func:`solve_listeners`."""
    from ..model.pci import PCI_BASE_ADDRESS_SPACE_IO, PCI_ROM_SLOT
    from ..simulate import run_story
    rng = Rng(seed)
    choices = [("gpu-nvidia-tesla-p100", 3), ("gpu-nvidia-tesla-p100", 1),
               ("nic-mellanox-connectx7", 0), ("nic-intel-xl710", 0),
               ("virtio-net-this-machine", 0), ("nvme-intel-dc-ssd", 0)]
    if device is None:
        device, bar = rng.choice(choices)
    else:
        bar = next((b for d, b in choices if d == device), None)
        if bar is None:
            raise ConfigError(f"listeners_exercise devices: "
                              f"{', '.join(sorted({d for d, _ in choices}))}")
    how = how or ("careless" if rng.chance(0.5) else "clean")
    args = f"-machine q35 -m 2G -nodefaults -device vfio-pci,host={HOST_BDF},id=pt0"
    p = _predict(args, {HOST_BDF: device})
    dev = next(d for d in p.vm.devices if d.type_name == "vfio-pci")
    secs = p.sections()
    bars = {}
    for r in dev.bars():
        if r.index == PCI_ROM_SLOT or r.type & PCI_BASE_ADDRESS_SPACE_IO or not r.mapped:
            continue
        bars[r.index] = (r.addr, r.size, bool(r.type & 4), bar_ranges(secs, r.addr, r.size))
    old, size, is64, _ = bars[bar]
    if new is None:
        hi = rng.choice((0x10, 0x20, 0x40, 0x80))
        lo = align_down(rng.choice([rng.below(0x100) * 0x1000000, 0, old & 0xFFFFFFFF]), size)
        new = hi << 32 | lo
    bdf = _bdf_of(dev)
    story = run_story(args.split(), host_devices={HOST_BDF: _dev_path(device)}, bdf=bdf, bar=bar,
                      moves=[(new, how)], cpu_vendor=CPU_VENDOR)
    answer = _call_codes(story.events(story.steps[-1][0]))
    codes, steps = solve_listeners(bars, bar, new, how)
    if codes != answer:
        raise VfiolabError(f"hand method {codes} != model {answer} ({device} BAR{bar} {how})")
    steps.append("So: " + " ".join(answer) + ".")
    way = ("clean: memory decode off, write the BAR, decode on" if how == "clean" else
           "careless: decode left on, low dword first" + (", then the high dword" if is64 else ""))
    lines = [f"  BAR{b} at {fmt_hex(a)} ({fmt_hex(s)} bytes): memslot-able pieces "
             + (", ".join(f"+{fmt_hex(o)} size {fmt_hex(z)}" for o, z in pcs) or "none")
             for b, (a, s, _, pcs) in sorted(bars.items())]
    prompt = (f"The passed-through device at {bdf} has these memory BARs (the pieces are the "
              f"BAR's RAM-device ranges in the flat view, trimmed to whole pages; an MSI-X table "
              f"page is not one):\n" + "\n".join(lines) +
              f"\n\nThe guest kernel moves BAR{bar} to {fmt_hex(new)}, {way}.\n"
              "List the calls QEMU's listeners make, in order, one letter each:\n"
              + "\n".join(f"  {k}: {v}" for k, v in CALL_CODES.items()) +
              "\nAnswer with a string of these letters, in order.")
    params = [("seed", str(seed)), ("command", args), ("host device", f"{HOST_BDF}={device}"),
              ("bar", str(bar)), ("how", how)]
    return Exercise("listeners", seed, params, prompt, answer, "".join(answer), steps,
                    parse=_codes, compare=_compare_lists(str),
                    hint="a removed range: KVM first, then VFIO (d u); an added one: VFIO first, "
                         "then KVM (m c).",
                    context={"prediction": p, "story": story})


def _codes(value) -> list[str]:
    if isinstance(value, str):
        s = value.replace(",", " ").replace("'", " ").split()
        if len(s) == 1:
            s = list(s[0])
        value = s
    out = []
    for v in value:
        c = (fmt_hex(v) if isinstance(v, int) else str(v)).strip().lower()
        out.append(c)
    return out


# --------------------------------------------------------------------------
# 10. True or false: the thread's claims on one VM (notebook 07)
# --------------------------------------------------------------------------

def claims_exercise(seed: int = 0, *, n: int = 5, device: str | None = None) -> Exercise:
    """Statements about one VM in the thread's terms; say which are true.
    Every truth value is computed from the model (the VM, its
    :class:`~vfiolab.model.ept.Mmu`, its IOMMU, a BAR move); the steps give
    the evidence and the rule behind it."""
    from ..model.ept import Mmu
    from ..model.guest import move_bar, set_bus_master
    from ..model.iommu import iommu_for
    from ..model.pci import PCI_BASE_ADDRESS_SPACE_IO, PCI_ROM_SLOT
    rng = Rng(seed)
    device = device or rng.choice(EPT_DEVICES)
    args = f"-machine q35 -m 2G -nodefaults -device vfio-pci,host={HOST_BDF},id=pt0"
    p = _predict(args, {HOST_BDF: device})
    vm, secs, slots, host = p.vm, p.sections(), p.memslots(), p.vm.host
    dev = next(d for d in vm.devices if d.type_name == "vfio-pci")
    bdf = _bdf_of(dev)
    mem_bars = [r for r in dev.bars() if r.index != PCI_ROM_SLOT and r.mapped
                and not r.type & PCI_BASE_ADDRESS_SPACE_IO]
    bar = rng.choice(mem_bars)
    makers = []

    def ram_mapped_before():
        gpa = 0x100000 + 2 * MiB * (1 + rng.below(500)) + rng.below(512) * PAGE_SIZE
        mmu = Mmu(vm, record=False)
        truth = mmu.lookup(gpa) is not None
        mmu.detach()
        return (f"Before the guest has touched guest-physical {fmt_hex(gpa)} (guest RAM), KVM's "
                "EPT already maps it.", truth,
                f"a fresh Mmu has {sum(mmu.stats()['leaves'].values())} leaves: QEMU gave KVM "
                "memslots, not EPT entries; KVM fills an entry on the first EPT violation "
                "(kvm_tdp_mmu_page_fault).")
    makers.append(ram_mapped_before)

    def bar_first_touch():
        pick = [s for s in secs if bar.addr <= s.start < bar.addr + bar.size]
        s = rng.choice(pick)
        gpa = s.start + 4 * rng.below(max(1, min(s.size, 0x1000) // 4))
        mmu = Mmu(vm, record=False)
        evs = mmu.access(gpa, "read")
        mmu.detach()
        truth = any(e.get("exit") for e in evs)
        slot = _covering_slot(slots, gpa)
        why = (f"memslot {slot.slot} covers it: KVM maps the BAR's host page itself"
               if slot else f"no memslot covers it ({s.kind} \"{s.name}\"): KVM_EXIT_MMIO")
        return (f"The guest's first read of guest-physical {fmt_hex(gpa)} (inside BAR{bar.index} "
                f"of {bdf}) exits to QEMU.", truth, why + ".")
    makers.append(bar_first_touch)

    def ecam_exits():
        from .helpers import ecam_encode, register_name
        off = rng.choice((0x0, 0x4, 0x10, 0x2C, 0x34))
        gpa = ecam_encode(dev.bus.number, dev.slot, dev.func, off)
        mmu = Mmu(vm, record=False)
        truth = any(e.get("exit") for e in mmu.access(gpa, "read"))
        mmu.detach()
        return (f"After the guest kernel has booted, its read of {register_name(off)} of {bdf} "
                f"through ECAM (guest-physical {fmt_hex(gpa)}) exits to QEMU.", truth,
                "the ECAM window is an I/O region (pcie-mmcfg-mmio) with no memslot: every "
                "access, at any time, is KVM_EXIT_MMIO; the firmware plays no part.")
    makers.append(ecam_exits)

    def iova_is_gpa():
        ram = next(m for m in slots if m.guest_phys_addr == 0x100000)
        gpa = ram.guest_phys_addr + rng.below(ram.memory_size // PAGE_SIZE) * PAGE_SIZE + 0x80
        set_bus_master(vm, dev)         # its driver's pci_set_master(), else no DMA at all
        ev = iommu_for(vm).dma(bdf, gpa, "write")[0]
        t = host.translate(ram.userspace_addr + (gpa - ram.guest_phys_addr))
        truth = ev["op"] == "dma" and int(ev["hpa"], 16) == t.hpa
        return (f"A DMA write by {bdf} to IOVA {fmt_hex(gpa)} lands in the same host page as "
                f"the guest's own access to guest-physical {fmt_hex(gpa)}.", truth,
                f"without a vIOMMU QEMU maps guest RAM at IOVA = GPA: the DMA reaches "
                f"{ev.get('hpa', ev['op'])}, the memslot's HVA translates to {fmt_hex(t.hpa)}.")
    makers.append(iova_is_gpa)

    def bar_pinned():
        evs = [e for e in vm.events if e["op"] == "vfio_iommu_map_dma" and e.get("ret") == 0
               and bar.addr <= e["iova"] < bar.addr + bar.size]
        pinned = sum(e["pinned_pages"] for e in evs)
        return (f"The VFIO container pins the pages of BAR{bar.index}'s mmap (they count "
                "against RLIMIT_MEMLOCK).", pinned > 0,
                f"its {len(evs)} VFIO_IOMMU_MAP_DMA call(s) pinned {pinned} pages: a BAR mmap "
                "is VM_PFNMAP, device memory with no struct page, so vfio_pin_pages_remote "
                "neither pins nor counts it.")
    makers.append(bar_pinned)

    def ecam_memslot():
        truth = any(m.guest_phys_addr < 0xC0000000 and 0xB0000000 < m.guest_phys_addr
                    + m.memory_size for m in slots)
        return ("A KVM memslot covers the ECAM window [0xb0000000, 0xc0000000).", truth,
                "kvm_set_phys_mem makes memslots for RAM, RAM devices and ROM only; the ECAM "
                "window is an I/O region.")
    makers.append(ecam_memslot)

    def rom_write():
        gpa = 0xFFFC0000 + rng.below(0x40) * PAGE_SIZE
        mmu = Mmu(vm, record=False)
        truth = not any(e.get("exit") for e in mmu.access(gpa, "write"))
        mmu.detach()
        return (f"A guest write to {fmt_hex(gpa)} (the BIOS ROM) completes inside KVM, without "
                "reaching QEMU.", truth,
                "pc.bios is a KVM_MEM_READONLY memslot: reads are mapped, a write exits "
                "(KVM_EXIT_MMIO) and QEMU drops it.")
    makers.append(rom_write)

    chosen = rng.sample(makers, min(n, len(makers)))
    # the move statements change the VM: build them on a second VM, last
    p2 = _predict(args, {HOST_BDF: device})
    vm2 = p2.vm
    dev2 = next(d for d in vm2.devices if d.type_name == "vfio-pci")
    # the BAR to move: a 64-bit one, moved above the RAM (any 64-bit address
    # aligned to its size will do), else the chosen BAR one size lower
    mbar = rng.choice([r for r in mem_bars if r.type & 4] or [bar])
    r2 = dev2.io_regions[mbar.index]
    if r2.type & 4:
        new = align_up((0x10 + rng.below(0x30)) << 32, r2.size)
    else:
        new = r2.addr - r2.size if r2.addr - r2.size >= 0xC0000000 else r2.addr + r2.size
    mmu2 = Mmu(vm2, record=False)
    start = len(vm2.events)
    move_bar(vm2, bdf, mbar.index, new, "clean")
    evs = vm2.events[start:]
    created = [e for e in evs if e["op"] == "set_user_memory" and e["size"]
               and new <= e["gpa"] < new + r2.size]
    move_statements = []
    if created:
        t = vm2.host.translate(created[0]["ua"])
        hb = dev2.hostdev.bar(mbar.index)
        move_statements.append((
            f"When the guest kernel moves BAR{mbar.index} to {fmt_hex(new)}, the device's "
            f"physical BAR (at host {fmt_hex(hb.host_address)}) is reprogrammed to "
            f"{fmt_hex(new)}.", t.hpa != hb.host_address + (created[0]["gpa"] - new),
            f"after the move the new memslot at {fmt_hex(created[0]['gpa'])} has userspace_addr "
            f"{fmt_hex(created[0]['ua'])}, which still translates to HPA {fmt_hex(t.hpa)}: the "
            "same host BAR; the guest's value went to QEMU's emulated BAR (and vfio-pci's "
            "virtual copy), never to the device."))
    move_statements.append((
        f"Moving BAR{mbar.index} (decode off, write, decode on) makes QEMU call "
        "KVM_SET_USER_MEMORY_REGION.",
        any(e["op"] == "set_user_memory" for e in evs),
        f"{sum(1 for e in evs if e['op'] == 'set_user_memory')} calls: the old memslots deleted "
        "when decode goes off, new ones created when it comes back on."))
    move_statements.append((
        f"Moving BAR{mbar.index} makes KVM install EPT entries for the new address before the "
        "guest touches it.", mmu2.counters["maps"] > 0,
        f"during the move KVM's MMU installed {mmu2.counters['maps']} leaves and zapped "
        f"{mmu2.counters['zaps']} time(s): a memslot change only invalidates; entries come on "
        "the first touch."))
    mmu2.detach()
    k = rng.below(2) + 1
    items = [m() for m in chosen[:max(1, n - k)]] + rng.sample(move_statements,
                                                              min(k, len(move_statements)))
    if len({t for _, t, _ in items}) == 1:
        # both answers should occur: swap in a statement with the other truth
        rest = [m() for m in makers if m not in chosen]
        other = [it for it in rest if it[1] != items[0][1]]
        if other:
            items[-1] = other[0]
    order = rng.sample(range(len(items)), len(items))
    items = [items[i] for i in order]
    answer = [bool(t) for _, t, _ in items]
    steps = [f"{i}. {'true' if t else 'false'}: {why}" for i, (_, t, why) in enumerate(items, 1)]
    prompt = (f"A q35 guest with 2 GiB of RAM has {device} passed through at {bdf} (no vIOMMU), "
              "and its firmware has run. True (y) or false (n)?\n"
              + "\n".join(f"  {i}. {text}" for i, (text, _, _) in enumerate(items, 1))
              + "\n\nAnswer with one letter per statement, e.g. 'ynnyn'.")
    params = [("seed", str(seed)), ("command", args), ("host device", f"{HOST_BDF}={device}"),
              ("cpu_vendor", CPU_VENDOR)]
    return Exercise("claims", seed, params, prompt, answer,
                    "".join("y" if a else "n" for a in answer), steps,
                    parse=_yes_no_list, compare=_compare_lists(_show_yes_no),
                    hint="memslots are made by QEMU, EPT entries by KVM on first touch; config "
                         "space never has a memslot; IOVA = GPA without a vIOMMU.",
                    context={"prediction": p})


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


# --------------------------------------------------------------------------
# 11. OVMF's 64-bit window (notebook 09)
# --------------------------------------------------------------------------

#: the OVMF flash pair a command line needs for the model to boot OVMF
OVMF_PFLASH = ("-drive if=pflash,format=raw,unit=0,readonly=on,file=OVMF_CODE_4M.fd "
               "-drive if=pflash,format=raw,unit=1,file=OVMF_VARS_4M.fd")


def window_exercise(seed: int = 0, *, bits: int | None = None) -> Exercise:
    """Where does OVMF 2025.02 put its 64-bit window for a vCPU with
    ``bits`` phys-bits it trusts?

    Rule (EDK2 ``OvmfPkg/Library/PlatformInitLib/MemDetect.c``,
    edk2-stable202502): ``PlatformAddressWidthFromCpuid`` trusts an Intel
    vCPU's width of 41 bits or more (capped at 46 with 4-level paging, and
    at 40 without 1 GiB pages, hence ``pdpe1gb=on``);
    ``PlatformDynamicMmioWindow`` then takes the top eighth of the address
    space: base ``2**bits - 2**(bits - 3)``, size ``2**(bits - 3)``.
    """
    from .helpers import predict_vm
    from .widths import mem64_window
    rng = Rng(seed)
    bits = bits or rng.choice((41, 42, 43, 44, 45, 46))
    args = (f"-machine q35 -accel kvm -m 4G -nodefaults {OVMF_PFLASH} "
            f"-cpu qemu64,phys-bits={bits},pdpe1gb=on -device edu,id=edu0")
    p = predict_vm(args, stack="debian13", firmware="ovmf-2025.02", cpu_vendor="GenuineIntel",
                   phys_bits=46)
    start, end, why = mem64_window(p)
    steps = [f"1. OVMF reads the vCPU's phys-bits from CPUID: {bits}; on an Intel vCPU 41 bits "
             "or more are trusted (PlatformAddressWidthFromCpuid), and pdpe1gb keeps them above "
             "40.",
             f"2. The address space is 2**{bits} = {fmt_hex(1 << bits)}; the dynamic window is "
             f"its top eighth (PlatformDynamicMmioWindow): 2**{bits - 3} = "
             f"{fmt_hex(1 << (bits - 3))} bytes.",
             f"3. Its base: {fmt_hex(1 << bits)} - {fmt_hex(1 << (bits - 3))} = {fmt_hex(start)} "
             f"(the model: {why}; window {fmt_hex(start)}-{fmt_hex(end - 1)})."]
    prompt = ("OVMF 2025.02 boots this VM on an Intel host. At which guest-physical address does "
              "its 64-bit PCI window start? Answer with an address, e.g. 0x1c000000000.")
    params = [("seed", str(seed)), ("command", args), ("firmware", "ovmf-2025.02")]
    return Exercise("window", seed, params, prompt, start, fmt_hex(start), steps, parse=_int,
                    hint="an eighth of the address space, at its top", context={"prediction": p})


# --------------------------------------------------------------------------
# 12. The page size of a passthrough BAR by stack (notebook 10)
# --------------------------------------------------------------------------

def leaf_exercise(seed: int = 0, *, stack: str | None = None, bar: int | None = None,
                  device: str = "gpu-nvidia-tesla-p100") -> Exercise:
    """Which page size does KVM map on the first touch of a passthrough BAR,
    on Debian 12 or Debian 13?

    Rules: the host mapping of a BAR mmap is 4 KiB on Linux 6.1 and may be
    2 MiB or 1 GiB on 6.12 with THP ``always`` (``vfio_pci_mmap_huge_fault``,
    :attr:`vfiolab.model.host.HostAddressSpace.huge_pfnmap`); QEMU 9.2
    aligns the mmap to the BAR's size up to 1 GiB (``vfio_region_mmap``);
    KVM takes the largest level at which the host mapping, the memslot and
    the GPA/HVA alignment all allow it (``kvm_mmu_max_mapping_level``).
    """
    from ..model.ept import Mmu
    from .helpers import predict_vm
    from .lessons import touch_table
    rng = Rng(seed)
    stack = stack or rng.choice(("debian12", "debian13"))
    args = f"-machine q35 -m 2G -nodefaults -device vfio-pci,host={HOST_BDF},id=gpu0"
    p = predict_vm(args, {HOST_BDF: device}, stack=stack, cpu_vendor=CPU_VENDOR)
    d = next(d for d in p.devices() if d.qdev_id == "gpu0")
    bars = [b for b in d.bars if b.type != "io" and b.address is not None]
    b = next(x for x in bars if x.bar == bar) if bar is not None else rng.choice(bars)
    how = touch_table(Mmu(p.vm), [(b.address, "read", "")])["KVM"].iloc[0]
    level = next(lv for lv, lab in LEVEL_LABELS.items() if f"{lab} leaf" in how)
    answer = LEVEL_BYTES[level]
    vb = next(v for v in _vfio_bars(p) if v[0] == b.bar)
    steps = [f"1. The stack: QEMU {'.'.join(map(str, p.stack.qemu))}, Linux "
             f"{'.'.join(map(str, p.stack.kernel))}. BAR{b.bar} is {fmt_hex(b.size)} bytes at "
             f"guest-physical {fmt_hex(b.address)}.",
             f"2. QEMU's mmap of the BAR is at {fmt_hex(vb[1])} "
             + ("(QEMU >= 9.2 aligns it to the BAR's size, up to 1 GiB)."
                if p.stack.qemu_at_least(9, 2) else "(QEMU 7.2: page aligned only)."),
             "3. The host maps the BAR " + ("with 2 MiB and 1 GiB entries where aligned (Linux "
                                            ">= 6.12, THP always)." if p.vm.host.pfnmap_huge
                                            else "4 KiB at a time (Linux 6.1)."),
             f"4. KVM takes the largest page that the host mapping and the alignment of GPA and "
             f"HVA allow: {how}."]
    prompt = (f"The guest's first touch of BAR{b.bar} of the passed-through device: which page "
              "size does KVM put in the EPT? Answer 4K, 2M or 1G.")
    params = [("seed", str(seed)), ("stack", stack), ("command", args),
              ("host device", f"{HOST_BDF}={device}")]
    return Exercise("leaf", seed, params, prompt, answer, LEVEL_LABELS[level], steps,
                    parse=_int, hint="look at the mmap's alignment and the host kernel",
                    context={"prediction": p})


def _vfio_bars(p) -> list:
    """(bar, mmap HVA) of the first vfio-pci device's mmapped BARs."""
    from .helpers import vfio_device
    dev = vfio_device(p)
    return [(b.index, b.mmaps[0].vaddr) for b in dev.vbars if b.mmaps]


# --------------------------------------------------------------------------
# 13. The host IOMMU's width against OVMF's window (notebook 11)
# --------------------------------------------------------------------------

def widths_exercise(seed: int = 0, *, n: int = 3, iommu_aw: int | None = None,
                    bits=None, device: str = "nic-mellanox-connectx7") -> Exercise:
    """For VMs with different phys-bits under OVMF 2025.02, does the host
    IOMMU refuse QEMU's DMA map of the device's BARs (IOVA = GPA)?

    Rules: OVMF's window (``MemDetect.c``: classic 32 GiB above RAM when
    the width is not trusted, the top eighth of the address space when it
    is); type1 on Linux 6.12 refuses an IOVA past the domain's aperture
    (``vfio_iommu_iova_dma_valid``: -EINVAL), which QEMU 10.0 reports as a
    warning for a BAR.  The verdicts are :func:`vfiolab.check.check`'s.
    """
    from ..check import check
    from .widths import mem64_window
    rng = Rng(seed)
    aw = iommu_aw or rng.choice((39, 39, 48))
    widths = list(bits) if bits else rng.sample((36, 39, 40, 41, 43, 46), n)
    hosts = {HOST_BDF: _dev_path(device)}
    answer, steps, cmds = [], [], []
    for i, b in enumerate(widths, 1):
        args = (f"-machine q35 -accel kvm -m 4G -nodefaults {OVMF_PFLASH} "
                f"-cpu qemu64,phys-bits={b},pdpe1gb=on -device vfio-pci,host={HOST_BDF},id=nic0")
        r = check(args.split(), stack="debian13", firmware="ovmf-2025.02",
                  cpu_vendor="GenuineIntel", phys_bits=46, host_iommu="intel", iommu_aw=aw,
                  host_devices=hosts, fix=False)
        refused = any(it.verdict != "ok" and "BAR" in it.subject for it in r.by_area("iommu"))
        answer.append(refused)
        w = mem64_window(r.prediction)
        cmds.append(f"  {i}. -cpu qemu64,phys-bits={b},pdpe1gb=on")
        steps.append(f"{i}. phys-bits {b}: {w[2]}; window {fmt_hex(w[0])}-{fmt_hex(w[1] - 1)}; "
                     f"the IOMMU maps below {fmt_hex(1 << aw)}: "
                     + ("the BAR's map is refused (-22)." if refused else "the BAR maps."))
    prompt = (f"The host's VT-d unit maps {aw}-bit addresses. OVMF 2025.02 boots each VM below "
              f"(QEMU 10.0, Linux 6.12); for each, is QEMU's DMA map of the device's BARs "
              f"refused?\n" + "\n".join(cmds) + "\n\nAnswer y or n for each, e.g. \"yny\".")
    params = [("seed", str(seed)), ("host IOMMU width", str(aw)),
              ("host device", f"{HOST_BDF}={device}")]
    return Exercise("widths", seed, params, prompt, answer,
                    "".join(_show_yes_no(a) for a in answer), steps, parse=_yes_no_list,
                    compare=_compare_lists(_show_yes_no),
                    hint="is OVMF's window trusted-and-at-the-top, or the classic one above RAM?")


EXERCISES = {
    "exits": exits_exercise,
    "sizing": bar_sizing_exercise,
    "placement": bar_placement_exercise,
    "config": config_address_exercise,
    "gpa": gpa_exercise,
    "move": move_exercise,
    "ept": ept_exercise,
    "dma": dma_exercise,
    "listeners": listeners_exercise,
    "claims": claims_exercise,
    "window": window_exercise,
    "leaf": leaf_exercise,
    "widths": widths_exercise,
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vfiolab.course.exercises",
                                 description="Generate an exercise from a seed; -c shows the "
                                             "worked solution.")
    ap.add_argument("kind", choices=sorted(EXERCISES))
    ap.add_argument("-s", "--seed", type=int, default=0)
    ap.add_argument("-c", "--compute", action="store_true", help="show the worked solution")
    ns = ap.parse_args(argv)
    try:
        ex = EXERCISES[ns.kind](ns.seed)
    except VfiolabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(ex.question())
    if ns.compute:
        print()
        print(ex.solution())
    return 0


if __name__ == "__main__":
    sys.exit(main())
