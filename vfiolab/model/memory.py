"""QEMU's memory API: MemoryRegion trees, FlatViews, transactions and listeners.

This module restates, in Python, the rules of QEMU ``system/memory.c``
(``softmmu/memory.c`` before QEMU 8.0) that decide what a guest-physical
address reaches:

* A **MemoryRegion** is a container, RAM, ``ram_device`` (RAM whose backing
  is a host pointer to device memory, as vfio-pci's BAR mmaps), ROM, ROM
  device (``romd``), I/O (callbacks, every access handled by QEMU), or an
  **alias** (a window at ``alias_offset`` into another region).  Children sit
  at an offset in their container with a **priority**.
* **Rendering** a tree into a **FlatView** (``render_memory_region``): the
  first region rendered at an address owns it; children are rendered in
  their container's list order (highest priority first, and among equal
  priorities the most recently added first, ``memory_region_update_
  container_subregions``), before the container itself fills its own gaps;
  aliases re-render their target; disabled regions render nothing; a plain
  container fills nothing.  Adjacent ranges of the same region with
  contiguous offsets are merged (``flatview_simplify``/``can_merge``).
* A **transaction** (``memory_region_transaction_begin/commit``) batches
  changes; at the outermost commit every address space is re-rendered and
  each listener sees, per address space, every ``region_del`` (listeners in
  reverse priority order) before any ``region_add`` (forward order)
  (``address_space_update_topology_pass``).

The text forms of ``info mtree`` and ``info mtree -f`` (``mtree_print_mr``,
``mtree_print_flatview``) are produced by :func:`format_mtree` and
:func:`format_flatviews`.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from dataclasses import dataclass
from typing import Callable, Iterable

from ..addr import fmt_hex16
from ..errors import ConfigError
from ..records import Section

__all__ = [
    "UINT64_SIZE", "MemoryRegion", "FlatRange", "FlatView", "AddressSpace",
    "MemoryListener", "Memory", "format_flatviews", "format_mtree",
]

#: The size QEMU gives root containers: 2^64 (``UINT64_MAX`` + 1 as Int128).
UINT64_SIZE = 1 << 64


class MemoryRegion:
    """A node of QEMU's memory tree (QEMU ``include/exec/memory.h`` struct MemoryRegion).

    Build one with the class methods named after QEMU's initialisers
    (``init_container`` = ``memory_region_init``, ``init_io`` =
    ``memory_region_init_io``, ``init_ram``, ``init_ram_device_ptr``,
    ``init_rom``, ``init_rom_device``, ``init_alias``), then place it with
    :meth:`add_subregion`.

    ``owner`` is free text naming the QOM owner (a qdev id or type);
    ``info`` carries model facts for the views (e.g. which BAR it is).
    """

    __slots__ = ("name", "size", "ram", "ram_device", "readonly", "rom_device",
                 "romd_mode", "nonvolatile", "unmergeable", "terminates", "alias",
                 "alias_offset", "container", "addr", "priority", "enabled",
                 "subregions", "dirty_log_mask", "owner", "info", "memory",
                 "hva", "_seq")

    def __init__(self, name: str, size: int, *, terminates: bool):
        if size < 0 or size > UINT64_SIZE:
            raise ConfigError(f"MemoryRegion {name!r}: size {size:#x} out of range")
        # rule (memory_region_init): a size of UINT64_MAX means 2^64
        if size == UINT64_SIZE - 1:
            size = UINT64_SIZE
        self.name = name
        self.size = size
        self.ram = False
        self.ram_device = False
        self.readonly = False
        self.rom_device = False
        self.romd_mode = True
        self.nonvolatile = False
        self.unmergeable = False
        self.terminates = terminates
        self.alias: MemoryRegion | None = None
        self.alias_offset = 0
        self.container: MemoryRegion | None = None
        self.addr = 0
        self.priority = 0
        self.enabled = True
        self.subregions: list[MemoryRegion] = []
        self.dirty_log_mask = 0
        self.owner: str | None = None
        self.info: dict = {}
        self.memory: Memory | None = None
        #: host virtual address of the RAM block behind a RAM region (QEMU's
        #: ``memory_region_get_ram_ptr``); assigned by the VM's host model.
        self.hva: int | None = None
        self._seq = 0

    # --- constructors named after QEMU's initialisers ---------------------
    @classmethod
    def init_container(cls, name: str, size: int) -> "MemoryRegion":
        """``memory_region_init``: renders nothing itself, only its children."""
        return cls(name, size, terminates=False)

    @classmethod
    def init_io(cls, name: str, size: int) -> "MemoryRegion":
        """``memory_region_init_io``: every access is a callback into QEMU."""
        return cls(name, size, terminates=True)

    @classmethod
    def init_ram(cls, name: str, size: int) -> "MemoryRegion":
        """``memory_region_init_ram``: guest RAM backed by a RAMBlock."""
        mr = cls(name, size, terminates=True)
        mr.ram = True
        return mr

    @classmethod
    def init_ram_device_ptr(cls, name: str, size: int, hva: int | None = None) -> "MemoryRegion":
        """``memory_region_init_ram_device_ptr``: ram and ram_device set; the
        host pointer is device memory (a vfio BAR mmap)."""
        mr = cls.init_ram(name, size)
        mr.ram_device = True
        mr.hva = hva
        return mr

    @classmethod
    def init_rom(cls, name: str, size: int) -> "MemoryRegion":
        """``memory_region_init_rom``: RAM with ``readonly`` set."""
        mr = cls.init_ram(name, size)
        mr.readonly = True
        return mr

    @classmethod
    def init_rom_device(cls, name: str, size: int) -> "MemoryRegion":
        """``memory_region_init_rom_device``: reads from RAM while in romd
        mode, writes (and reads outside romd mode) call back into QEMU."""
        mr = cls(name, size, terminates=True)
        mr.rom_device = True
        mr.romd_mode = True
        return mr

    @classmethod
    def init_alias(cls, name: str, target: "MemoryRegion", offset: int, size: int) -> "MemoryRegion":
        """``memory_region_init_alias``: a window of ``size`` bytes into
        ``target`` starting at ``offset``."""
        mr = cls(name, size, terminates=False)
        mr.alias = target
        mr.alias_offset = offset
        return mr

    # --- predicates (QEMU include/exec/memory.h) ---------------------------
    def is_ram(self) -> bool:
        """``memory_region_is_ram``: RAM, ROM and ram_device regions."""
        return self.ram

    def is_romd(self) -> bool:
        """``memory_region_is_romd``: a ROM device currently in romd mode."""
        return self.rom_device and self.romd_mode

    def type_name(self) -> str:
        """The type column of ``info mtree`` (QEMU ``memory_region_type``):
        an alias prints its target's type; then ramd, romd, rom, ram, i/o."""
        mr = self
        while mr.alias is not None:
            mr = mr.alias
        if mr.ram_device:
            return "ramd"
        if mr.is_romd():
            return "romd"
        if mr.ram and mr.readonly:
            return "rom"
        if mr.ram:
            return "ram"
        return "i/o"

    # --- tree edits; each one is a (nested) transaction ---------------------
    def add_subregion(self, offset: int, child: "MemoryRegion") -> "MemoryRegion":
        """``memory_region_add_subregion``: priority 0."""
        return self.add_subregion_overlap(offset, child, 0)

    def add_subregion_overlap(self, offset: int, child: "MemoryRegion",
                              priority: int) -> "MemoryRegion":
        """``memory_region_add_subregion_overlap``.

        The child is inserted before the first sibling whose priority is less
        than or equal to its own (QEMU ``memory_region_update_container_
        subregions``), so among equal priorities the newest renders first.
        """
        if child.container is not None:
            raise ConfigError(f"MemoryRegion {child.name!r} is already in {child.container.name!r}")
        child.container = self
        child.addr = offset
        child.priority = priority
        mem = self._memory()
        if mem is not None:
            mem._seq += 1
            child._seq = mem._seq
            child._adopt(mem)

        subs = self.subregions
        # rule: insert before the first other with priority <= new priority
        for i, other in enumerate(subs):
            if priority >= other.priority:
                subs.insert(i, child)
                break
        else:
            subs.append(child)
        # rule (memory_region_update_container_subregions): an update is
        # pending only if both the container and the child are enabled
        if self.enabled and child.enabled:
            self._changed()
        return child

    def del_subregion(self, child: "MemoryRegion") -> None:
        """``memory_region_del_subregion``."""
        if child.container is not self:
            raise ConfigError(f"{child.name!r} is not a subregion of {self.name!r}")
        self.subregions.remove(child)
        child.container = None
        # rule (memory_region_del_subregion): same condition as adding
        if self.enabled and child.enabled:
            self._changed()

    def set_enabled(self, enabled: bool) -> None:
        """``memory_region_set_enabled``."""
        if enabled != self.enabled:
            self.enabled = enabled
            self._changed()

    def set_address(self, addr: int) -> None:
        """``memory_region_set_address``: re-insert at the same priority."""
        if addr == self.addr:
            return
        parent = self.container
        if parent is None:
            self.addr = addr
            return
        with self._transaction():
            prio = self.priority
            parent.del_subregion(self)
            parent.add_subregion_overlap(addr, self, prio)

    def set_alias_offset(self, offset: int) -> None:
        """``memory_region_set_alias_offset``."""
        if offset != self.alias_offset:
            self.alias_offset = offset
            self._changed()

    def set_readonly(self, readonly: bool) -> None:
        """``memory_region_set_readonly``."""
        if readonly != self.readonly:
            self.readonly = readonly
            self._changed()

    def set_size(self, size: int) -> None:
        """``memory_region_set_size``."""
        if size != self.size:
            self.size = size
            self._changed()

    def set_romd(self, romd: bool) -> None:
        """``memory_region_rom_device_set_romd``."""
        if romd != self.romd_mode:
            self.romd_mode = romd
            self._changed()

    def set_log(self, log: bool, client: int) -> None:
        """``memory_region_set_log``: dirty logging for one client bit
        (``DIRTY_MEMORY_VGA`` = 0, ``DIRTY_MEMORY_CODE`` = 1,
        ``DIRTY_MEMORY_MIGRATION`` = 2)."""
        mask = self.dirty_log_mask | (1 << client) if log else self.dirty_log_mask & ~(1 << client)
        if mask != self.dirty_log_mask:
            self.dirty_log_mask = mask
            self._changed()

    # --- helpers ----------------------------------------------------------
    def _memory(self) -> "Memory | None":
        mr = self
        while mr is not None:
            if mr.memory is not None:
                return mr.memory
            mr = mr.container
        return None

    def _adopt(self, mem: "Memory") -> None:
        """Tie this region, its subtree and the targets of its aliases to the
        VM's memory system: QEMU's "update pending" flag is global, so a
        change to a region reached only through an alias (``pc.ram``) must
        still re-render."""
        todo = [self]
        while todo:
            mr = todo.pop()
            if mr.memory is None:
                mr.memory = mem
            elif mr is not self:
                continue
            todo.extend(mr.subregions)
            if mr.alias is not None and mr.alias.memory is None:
                todo.append(mr.alias)

    def _changed(self) -> None:
        mem = self._memory()
        if mem is not None:
            mem._request_update()

    def _transaction(self):
        mem = self._memory()
        return mem.transaction() if mem is not None else _NullCtx()

    def absolute_address(self) -> int:
        """Address of this region in its root's space (sum of ``addr`` up the tree)."""
        a, mr = 0, self
        while mr is not None:
            a += mr.addr
            mr = mr.container
        return a

    def find(self, name: str) -> "MemoryRegion | None":
        """First region called ``name`` in this subtree (depth first)."""
        if self.name == name:
            return self
        for c in self.subregions:
            hit = c.find(name)
            if hit is not None:
                return hit
        return None

    def __repr__(self) -> str:
        return (f"<MemoryRegion {self.name!r} {self.type_name()} "
                f"addr={self.addr:#x} size={self.size:#x} prio={self.priority}"
                f"{'' if self.enabled else ' disabled'}>")


class _NullCtx:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@dataclass(frozen=True)
class FlatRange:
    """QEMU ``struct FlatRange``: a piece of the flattened map.

    ``start``/``size`` in the address space, the owning region ``mr`` and the
    ``offset_in_region``; the attributes inherited while rendering.
    """

    start: int
    size: int
    mr: MemoryRegion
    offset_in_region: int
    readonly: bool
    nonvolatile: bool
    unmergeable: bool
    romd_mode: bool
    dirty_log_mask: int

    @property
    def end(self) -> int:
        return self.start + self.size

    @property
    def last(self) -> int:
        return self.start + self.size - 1

    def same_as(self, other: "FlatRange") -> bool:
        """QEMU ``flatrange_equal``: everything but ``dirty_log_mask``."""
        return (self.mr is other.mr and self.start == other.start
                and self.size == other.size
                and self.offset_in_region == other.offset_in_region
                and self.romd_mode == other.romd_mode
                and self.readonly == other.readonly
                and self.nonvolatile == other.nonvolatile
                and self.unmergeable == other.unmergeable)

    def kind(self) -> str:
        """The type column of ``info mtree -f``: "rom" if the range is
        readonly (possibly inherited from an alias), else the region's type
        (QEMU ``mtree_print_flatview``)."""
        return "rom" if self.readonly else self.mr.type_name()


class FlatView:
    """An ordered, non-overlapping list of FlatRanges (QEMU ``struct FlatView``)."""

    def __init__(self, root: MemoryRegion | None, ranges: list[FlatRange]):
        self.root = root
        self.ranges = ranges
        self._starts = [r.start for r in ranges]

    @classmethod
    def render(cls, root: MemoryRegion | None) -> "FlatView":
        """``generate_memory_topology``: render the root over [0, 2^64), then
        merge neighbours (``flatview_simplify``)."""
        builder = _Renderer()
        if root is not None:
            builder.render(root, 0, 0, UINT64_SIZE, False, False, False)
        return cls(root, builder.ranges())

    def lookup(self, addr: int) -> FlatRange | None:
        """The range that contains ``addr``, or None (unassigned)."""
        i = bisect_right(self._starts, addr) - 1
        if i >= 0 and addr < self.ranges[i].end:
            return self.ranges[i]
        return None

    def __iter__(self):
        return iter(self.ranges)

    def __len__(self):
        return len(self.ranges)


class _Renderer:
    """The recursion of QEMU ``render_memory_region``.

    QEMU fills, for each terminating region in render order, the gaps that
    earlier-rendered regions left.  The same result is computed here in
    two steps, which keeps 10,000-region views fast: the recursion records
    each terminating region's clipped interval in render order; then a sweep
    over the interval bounds gives every elementary piece to the *earliest*
    interval that covers it ("the first thing rendered at an address wins").
    """

    def __init__(self):
        self.cmds: list[tuple] = []

    def render(self, mr: MemoryRegion, base: int, clip_start: int, clip_end: int,
               readonly: bool, nonvolatile: bool, unmergeable: bool) -> None:
        # rule: a disabled region renders nothing
        if not mr.enabled:
            return
        # rule: the region sits at its container's base plus its own addr;
        # readonly/nonvolatile/unmergeable are inherited from the ancestors
        base += mr.addr
        readonly = readonly or mr.readonly
        nonvolatile = nonvolatile or mr.nonvolatile
        unmergeable = unmergeable or mr.unmergeable
        # rule: clip to the region's own extent
        lo = base if base > clip_start else clip_start
        end = base + mr.size
        hi = end if end < clip_end else clip_end
        if lo >= hi:
            return
        if mr.alias is not None:
            # rule: an alias renders its target, shifted so that alias_offset
            # of the target appears at the alias's base, inside the same clip
            target = mr.alias
            self.render(target, base - target.addr - mr.alias_offset, lo, hi,
                        readonly, nonvolatile, unmergeable)
            return
        # rule: children first, in list order (priority order)
        for sub in mr.subregions:
            self.render(sub, base, lo, hi, readonly, nonvolatile, unmergeable)
        # rule: a container that does not terminate leaves its holes empty;
        # a terminating region fills whatever is still free in [lo, hi)
        if mr.terminates:
            self.cmds.append((lo, hi, mr, base, readonly, nonvolatile, unmergeable))

    def ranges(self) -> list[FlatRange]:
        """Sweep: owner of each piece = earliest recorded interval covering it;
        then merge neighbours as ``flatview_simplify``/``can_merge`` do."""
        cmds = self.cmds
        if not cmds:
            return []
        starts = sorted((c[0], i) for i, c in enumerate(cmds))
        xs = sorted({c[0] for c in cmds} | {c[1] for c in cmds})
        heap: list[int] = []
        pieces: list[list] = []
        bi, nb = 0, len(starts)
        for k in range(len(xs) - 1):
            x = xs[k]
            while bi < nb and starts[bi][0] == x:
                heapq.heappush(heap, starts[bi][1])
                bi += 1
            while heap and cmds[heap[0]][1] <= x:
                heapq.heappop(heap)
            if not heap:
                continue
            idx = heap[0]
            if pieces and pieces[-1][2] == idx and pieces[-1][1] == x:
                pieces[-1][1] = xs[k + 1]
            else:
                pieces.append([x, xs[k + 1], idx])
        out: list[FlatRange] = []
        prev = None
        for s, e, idx in pieces:
            _lo, _hi, mr, base, ro, nv, um = cmds[idx]
            off = s - base
            # rule (can_merge): same region, contiguous addresses and offsets,
            # same attributes, neither unmergeable
            if (prev is not None and prev[1] == s and prev[2] is mr
                    and prev[3] + (prev[1] - prev[0]) == off and prev[4] == ro
                    and prev[5] == nv and not prev[6] and not um):
                prev[1] = e
                continue
            prev = [s, e, mr, off, ro, nv, um]
            out.append(prev)
        return [FlatRange(s, e - s, mr, off, ro, nv, um, mr.romd_mode, mr.dirty_log_mask)
                for s, e, mr, off, ro, nv, um in out]


class MemoryListener:
    """QEMU ``struct MemoryListener``: callbacks on topology changes.

    ``priority`` orders listeners: ascending for adds ("Forward"), descending
    for deletes ("Reverse") (QEMU ``memory_listener_register``; KVM's listener
    has priority 10, vfio's 0).  Override the ``region_*`` and ``log_*``
    methods; ``address_space`` is set by :meth:`AddressSpace.register`.
    ``begin`` and ``commit`` run once per transaction, Forward, around the
    passes of every address space (``memory_region_transaction_commit``
    ``MEMORY_LISTENER_CALL_GLOBAL``); a listener that defers its work to
    ``commit`` (KVM from QEMU 8.0, ``kvm_region_commit``) therefore acts
    after every other listener's region_del/region_add of the transaction.
    """

    priority = 0
    name = "listener"

    def begin(self) -> None: ...
    def commit(self) -> None: ...
    def region_add(self, as_: "AddressSpace", fr: FlatRange) -> None: ...
    def region_del(self, as_: "AddressSpace", fr: FlatRange) -> None: ...
    def region_nop(self, as_: "AddressSpace", fr: FlatRange) -> None: ...
    def log_start(self, as_: "AddressSpace", fr: FlatRange, old: int, new: int) -> None: ...
    def log_stop(self, as_: "AddressSpace", fr: FlatRange, old: int, new: int) -> None: ...


class AddressSpace:
    """QEMU ``struct AddressSpace``: a name, a root region and its current FlatView."""

    def __init__(self, memory: "Memory", root: MemoryRegion | None, name: str):
        self.memory = memory
        self.root = root
        self.name = name
        self._current = FlatView(root, [])
        #: the view is out of date: re-rendered when read (see ``Memory._commit_now``)
        self._stale = False
        #: the memory's observers want every change of this space's view
        #: (the VM's event stream watches "memory")
        self.observed = False
        self.listeners: list[MemoryListener] = []
        if root is not None:
            root._adopt(memory)
            if root.memory is None:
                root.memory = memory
        memory.address_spaces.append(self)
        memory._request_update()

    def register(self, listener: MemoryListener) -> None:
        """``memory_listener_register``: keep listeners sorted by priority
        (stable for equal priorities) and replay the current view to the new
        one as region_add (``listener_add_address_space``)."""
        i = 0
        while i < len(self.listeners) and self.listeners[i].priority <= listener.priority:
            i += 1
        self.listeners.insert(i, listener)
        listener.begin()
        for fr in self.current:
            listener.region_add(self, fr)
            # listener_add_address_space: logging already on is reported too
            if fr.dirty_log_mask:
                listener.log_start(self, fr, 0, fr.dirty_log_mask)
        listener.commit()

    def unregister(self, listener: MemoryListener) -> None:
        """``memory_listener_unregister``: region_del for everything."""
        listener.begin()
        for fr in self.current:
            # listener_del_address_space: stop logging, then delete
            if fr.dirty_log_mask:
                listener.log_stop(self, fr, fr.dirty_log_mask, 0)
            listener.region_del(self, fr)
        listener.commit()
        self.listeners.remove(listener)

    @property
    def current(self) -> FlatView:
        """The space's FlatView as of the last commit (rendered now if it was
        left stale: an unwatched space, see ``Memory._commit_now``)."""
        if self._stale:
            self._stale = False
            self._current = FlatView.render(self.root)
        return self._current

    @current.setter
    def current(self, view: FlatView) -> None:
        self._current = view
        self._stale = False

    @property
    def eager(self) -> bool:
        """Rendered at every commit: someone listens to it or observes it."""
        return bool(self.listeners) or self.observed

    def flatview(self) -> FlatView:
        self.memory.flush()
        return self.current

    def _set_flatview(self, new: FlatView) -> None:
        """``address_space_set_flatview``: two passes over old and new views,
        deletions first (listeners in reverse order), then additions and
        no-ops (listeners in forward order)."""
        old = self.current
        self.current = new
        if self.memory.observers and not _same_view(old, new):
            for obs in self.memory.observers:
                obs(self, old, new)
        if not self.listeners:
            return
        self._update_pass(old, new, adding=False)
        self._update_pass(old, new, adding=True)

    def _update_pass(self, old: FlatView, new: FlatView, adding: bool) -> None:
        """QEMU ``address_space_update_topology_pass``."""
        fwd = self.listeners
        rev = list(reversed(self.listeners))
        o, n = old.ranges, new.ranges
        io = inew = 0
        while io < len(o) or inew < len(n):
            frold = o[io] if io < len(o) else None
            frnew = n[inew] if inew < len(n) else None
            if frold is not None and (frnew is None or frold.start < frnew.start
                                      or (frold.start == frnew.start
                                          and not frold.same_as(frnew))):
                # in old but not in new, or changed: delete (reverse order)
                if not adding:
                    for lst in rev:
                        lst.region_del(self, frold)
                io += 1
            elif frold is not None and frnew is not None and frold.same_as(frnew):
                # unchanged, but dirty logging may have changed
                if adding:
                    for lst in fwd:
                        lst.region_nop(self, frnew)
                    if frnew.dirty_log_mask & ~frold.dirty_log_mask:
                        for lst in fwd:
                            lst.log_start(self, frnew, frold.dirty_log_mask, frnew.dirty_log_mask)
                    if frold.dirty_log_mask & ~frnew.dirty_log_mask:
                        for lst in rev:
                            lst.log_stop(self, frnew, frold.dirty_log_mask, frnew.dirty_log_mask)
                io += 1
                inew += 1
            else:
                # new: add (forward order)
                if adding:
                    for lst in fwd:
                        lst.region_add(self, frnew)
                inew += 1

    def sections(self, accel: Callable[[FlatRange], str | None] | None = None) -> list[Section]:
        """The current view as ``info mtree -f`` records."""
        return [to_section(fr, accel) for fr in self.flatview()]


def to_section(fr: FlatRange, accel: Callable[[FlatRange], str | None] | None = None) -> Section:
    return Section(start=fr.start, end=fr.last, prio=fr.mr.priority, kind=fr.kind(),
                   name=fr.mr.name, offset=fr.offset_in_region or None,
                   accel=accel(fr) if accel else None, nonvolatile=fr.nonvolatile)


def _same_view(a: FlatView, b: FlatView) -> bool:
    if len(a.ranges) != len(b.ranges):
        return False
    return all(x.same_as(y) and x.dirty_log_mask == y.dirty_log_mask
               for x, y in zip(a.ranges, b.ranges))


class Memory:
    """The memory system of one VM: its address spaces and the transaction depth.

    QEMU keeps this state in globals (``memory_region_transaction_depth``,
    ``address_spaces``); here each VM has its own.
    """

    def __init__(self):
        self.address_spaces: list[AddressSpace] = []
        #: callables (address_space, old_view, new_view) told of every change
        #: of a view, before the listeners (for the event stream)
        self.observers: list = []
        self.depth = 0
        self.pending = False
        self._seq = 0
        self.commits = 0

    def _request_update(self) -> None:
        self.pending = True
        if self.depth == 0:
            self._commit_now()

    def begin(self) -> None:
        """``memory_region_transaction_begin``."""
        self.depth += 1

    def commit(self) -> None:
        """``memory_region_transaction_commit``: at depth 0, re-render."""
        if self.depth <= 0:
            raise ConfigError("memory transaction commit without begin")
        self.depth -= 1
        if self.depth == 0 and self.pending:
            self._commit_now()

    def transaction(self):
        mem = self

        class _Tx:
            def __enter__(self):
                mem.begin()
                return mem

            def __exit__(self, *exc):
                mem.commit()
                return False

        return _Tx()

    def flush(self) -> None:
        if self.depth == 0 and self.pending:
            self._commit_now()

    def _commit_now(self) -> None:
        self.pending = False
        self.commits += 1
        # rule: views are rendered once per distinct root (flatviews_reset)
        views: dict[int, FlatView] = {}
        listeners = []
        for as_ in self.address_spaces:
            for lst in as_.listeners:
                if lst not in listeners:
                    listeners.append(lst)
        listeners.sort(key=lambda l: l.priority)
        for lst in listeners:
            lst.begin()
        for as_ in self.address_spaces:
            if not as_.eager:
                # QEMU renders every address space at each commit
                # (flatviews_reset); a space with no listener and no
                # observer gets the same view when it is next read, so the
                # model renders it then (a VM with many bus-master spaces
                # would otherwise re-render each of them on every commit)
                as_._stale = True
                continue
            key = id(as_.root)
            if key not in views:
                views[key] = FlatView.render(as_.root)
            as_._set_flatview(views[key])
        for lst in listeners:
            lst.commit()


# --- text output -------------------------------------------------------------

def _mr_size_last(size: int) -> int:
    """QEMU ``MR_SIZE``: size - 1, or 0 for an empty region."""
    return 0 if size == 0 else size - 1


def format_flatviews(views: Iterable[tuple[list[tuple[str, str]], FlatView]],
                     accel: Callable[[FlatRange], str | None] | None = None) -> str:
    """``info mtree -f`` text for FlatViews (QEMU ``mtree_print_flatview``).

    ``views`` is a sequence of ``([(as_name, root_description), ...], view)``.
    """
    out = []
    for n, (spaces, view) in enumerate(views):
        out.append(f"FlatView #{n}")
        for as_name, root_desc in spaces:
            out.append(f' AS "{as_name}", root: {root_desc}')
        out.append(f" Root memory region: {view.root.name if view.root is not None else '(none)'}")
        if not view.ranges:
            out.append("  No rendered FlatView")
        for fr in view:
            line = (f"  {fmt_hex16(fr.start)}-{fmt_hex16(fr.last)} (prio {fr.mr.priority}, "
                    f"{'nv-' if fr.nonvolatile else ''}{fr.kind()}): {fr.mr.name}")
            if fr.offset_in_region:
                line += f" @{fmt_hex16(fr.offset_in_region)}"
            mark = accel(fr) if accel else None
            if mark:
                line += f" {mark}"
            out.append(line)
        out.append("")
    return "\n".join(out) + "\n"


def format_mtree(spaces: Iterable[tuple[list[str], MemoryRegion]],
                 display_disabled: bool = False) -> str:
    """``info mtree`` text (QEMU ``mtree_info_as`` / ``mtree_print_mr``).

    ``spaces`` is a sequence of ``([as names sharing the root], root)``.
    Children print sorted by address, then by descending priority; alias
    targets are queued and printed afterwards as ``memory-region:`` blocks.
    """
    out: list[str] = []
    alias_queue: list[MemoryRegion] = []

    def pr(mr: MemoryRegion, level: int, base: int) -> None:
        start = base + mr.addr
        last = start + _mr_size_last(mr.size)
        prefix = "[DETECTED OVERFLOW!] " if last >= UINT64_SIZE else ""
        last &= UINT64_SIZE - 1
        nv = "nv-" if mr.nonvolatile else ""
        dis = "" if mr.enabled else " [disabled]"
        if mr.enabled or display_disabled:
            head = f"{prefix}{'  ' * level}{fmt_hex16(start)}-{fmt_hex16(last)} (prio {mr.priority}, {nv}{mr.type_name()}): "
            if mr.alias is not None:
                if all(a is not mr.alias for a in alias_queue):
                    alias_queue.append(mr.alias)
                out.append(head + f"alias {mr.name} @{mr.alias.name} "
                           f"{fmt_hex16(mr.alias_offset)}-{fmt_hex16(mr.alias_offset + _mr_size_last(mr.size))}{dis}")
            else:
                out.append(head + mr.name + dis)
        elif mr.alias is not None and all(a is not mr.alias for a in alias_queue):
            alias_queue.append(mr.alias)
        # rule: print order is by address, then higher priority first; the
        # insertion keeps the earlier of equal keys first
        order: list[MemoryRegion] = []
        for sub in mr.subregions:
            for i, o in enumerate(order):
                if sub.addr < o.addr or (sub.addr == o.addr and sub.priority > o.priority):
                    order.insert(i, sub)
                    break
            else:
                order.append(sub)
        for sub in order:
            pr(sub, level + 1, start)

    for names, root in spaces:
        for name in names:
            out.append(f"address-space: {name}")
        if root is not None:
            pr(root, 1, 0)
        out.append("")
    i = 0
    while i < len(alias_queue):
        mr = alias_queue[i]
        out.append(f"memory-region: {mr.name}")
        pr(mr, 1, 0)
        out.append("")
        i += 1
    return "\n".join(out) + "\n"
