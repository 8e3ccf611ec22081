"""KVM memslots: QEMU's KVM memory listener.

Restates QEMU ``accel/kvm/kvm-all.c`` (7.2): ``kvm_region_add`` /
``kvm_region_del`` -> ``kvm_set_phys_mem``, ``kvm_align_section``,
``kvm_mem_flags``, ``kvm_alloc_slot`` / ``kvm_get_free_slot``,
``kvm_lookup_matching_slot`` and ``kvm_set_user_memory_region``, whose trace
event ``kvm_set_user_memory`` the event stream imitates.

When the ioctls are issued depends on the QEMU release (the listener reads
``stack``, the VM's :class:`~vfiolab.stack.Stack`):

* QEMU up to 7.2: ``kvm_region_add``/``kvm_region_del`` call
  ``kvm_set_phys_mem`` at once, so each memslot change happens inside the
  listener walk of ``address_space_update_topology_pass``: on a delete KVM
  (priority 10, called first in Reverse order) goes before VFIO (priority
  0), on an add after it.  Moving an mmapped BAR from A to B in one
  transaction gives: KVM delete A, VFIO unmap A, VFIO map B, KVM add B.
* QEMU 8.0 and later (commit f39b7d2b96 "kvm: Atomic memslot updates",
  first released in v8.0.0): ``kvm_region_add``/``kvm_region_del`` only queue
  the section (``transaction_add``/``transaction_del``), and the listener's
  ``commit`` hook ``kvm_region_commit``, which ``memory_region_transaction_commit``
  calls after every address space's topology passes, issues all the deletes,
  then all the adds (inside ``accel_ioctl_inhibit_begin/end`` when a deleted
  range overlaps an added one, so no vCPU ioctl runs in between).  Every
  VFIO map and unmap of the transaction therefore comes first: VFIO unmap
  A, VFIO map B, KVM delete A, KVM add B.

What becomes a memslot:

* a FlatRange whose region is RAM (``memory_region_is_ram``: RAM, ROM and
  ``ram_device`` such as vfio BAR mmaps) gets one slot, trimmed to host
  pages;
* a ROM device in romd mode gets a read-only slot (read-only memslots are
  supported on x86); out of romd mode its slot is removed so all accesses
  trap;
* everything else (I/O regions: emulated registers, MSI-X tables, vfio slow
  paths, ECAM) gets none: every access exits to QEMU.

Flags come from the *region*, not from the rendered range: a readonly
alias of RAM (a PAM segment in "rom" mode) prints as ``rom`` in
``info mtree -f`` yet gets a writable memslot, as real captures show
(``kvm_mem_flags`` looks only at ``mr->readonly`` and romd).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..addr import PAGE_SIZE, align_down, align_up
from ..errors import ConfigError
from ..records import Memslot
from ..stack import Stack
from .memory import AddressSpace, FlatRange, MemoryListener

__all__ = ["KVMSlot", "KvmMemoryListener", "KVM_MEM_LOG_DIRTY_PAGES", "KVM_MEM_READONLY"]

#: Linux include/uapi/linux/kvm.h
KVM_MEM_LOG_DIRTY_PAGES = 1 << 0
KVM_MEM_READONLY = 1 << 1

#: QEMU kvm-all.c: 32 slots are assumed when KVM_CAP_NR_MEMSLOTS reports 0;
#: x86 Linux reports KVM_USER_MEM_SLOTS = 32767 - 3 (include/linux/kvm_host.h).
KVM_USER_MEM_SLOTS = 32764


@dataclass
class KVMSlot:
    """QEMU ``struct KVMSlot``: one entry of the listener's slot array."""

    slot: int
    start_addr: int = 0
    memory_size: int = 0
    userspace_addr: int = 0
    flags: int = 0
    mr_name: str = ""
    #: the slot's start as an offset in the RAM block of its region: QEMU
    #: kvm_set_phys_mem (v9.1+, commit ce5a983233) stores
    #: ``(uint8_t *)ram - mr->ram_block->host`` as ``guest_memfd_offset``
    #: whether or not the block has a guest_memfd; the model has it for
    #: every release, as ``userspace_addr`` minus the block's host address
    ramblock_offset: int = 0

    def as_memslot(self, as_id: int) -> Memslot:
        return Memslot(slot=self.slot, flags=self.flags, guest_phys_addr=self.start_addr,
                       memory_size=self.memory_size, userspace_addr=self.userspace_addr,
                       as_id=as_id)


@dataclass
class KvmMemoryListener(MemoryListener):
    """The KVM listener of one address space (``kvm_memory_listener_register``).

    ``events`` receives one dict per ``KVM_SET_USER_MEMORY_REGION`` call,
    shaped like QEMU's ``kvm_set_user_memory`` trace (a delete is the same
    slot re-issued with ``size`` 0 and ``flags`` 0, its other fields kept):
    ``as_id``, ``slot``, ``flags``, ``gpa``, ``size``, ``ua`` (the model's
    host address), ``region`` (the RAM region's name) and
    ``ramblock_offset`` (the slot's offset in that region's RAM block).
    """

    as_id: int = 0
    host_page_size: int = PAGE_SIZE
    readonly_mem_allowed: bool = True
    nr_slots: int = KVM_USER_MEM_SLOTS
    events: list = field(default_factory=list)
    slots: list = field(default_factory=list)
    priority: int = 10          # QEMU kvm_memory_listener_register: priority 10
    name: str = "kvm"
    #: callables given each ``set_user_memory`` event dict *before* it is
    #: recorded: QEMU ``kvm_set_user_memory_region`` traces after the ioctl
    #: returned, so what KVM does inside the ioctl (e.g. the EPT zap of
    #: ``vfiolab.model.ept``) comes first in the stream
    slot_observers: list = field(default_factory=list)
    #: the VM's stack (``boot.build_vm`` sets it); None is read as QEMU 7.2
    stack: Stack | None = None
    #: QEMU >= 8.0 ``KVMMemoryListener.transaction_del``/``transaction_add``
    pending_del: list = field(default_factory=list)
    pending_add: list = field(default_factory=list)

    def __hash__(self):
        return id(self)

    def __eq__(self, other):
        return self is other

    # --- rules ---------------------------------------------------------------
    def mem_flags(self, fr: FlatRange) -> int:
        """``kvm_mem_flags``: dirty logging if the region logs; read-only if
        the region itself is readonly or a ROM device in romd mode, and only
        when KVM supports read-only memslots (``kvm_readonly_mem_allowed``)."""
        mr = fr.mr
        flags = 0
        if fr.dirty_log_mask & ~(1 << 1):   # DIRTY_MEMORY_CODE is TCG-only
            flags |= KVM_MEM_LOG_DIRTY_PAGES
        if (mr.readonly or mr.is_romd()) and self.readonly_mem_allowed:
            flags |= KVM_MEM_READONLY
        return flags

    def align_section(self, fr: FlatRange) -> tuple[int, int]:
        """``kvm_align_section``: round the start up and the size down to
        whole host pages; returns (start, size), size 0 if nothing is left."""
        start = align_up(fr.start, self.host_page_size)
        delta = start - fr.start
        if delta > fr.size:
            return start, 0
        size = align_down(fr.size - delta, self.host_page_size)
        return start, size

    def wants(self, fr: FlatRange) -> tuple[bool, bool]:
        """(handled, add_as_delete) per the head of ``kvm_set_phys_mem``."""
        mr = fr.mr
        writable = not mr.readonly and not mr.rom_device
        if not mr.is_ram():
            if writable or not self.readonly_mem_allowed:
                return False, False        # pure I/O: never a memslot
            if not mr.romd_mode:
                return True, True          # ROM device out of romd: remove
        return True, False

    @property
    def atomic_updates(self) -> bool:
        """Whether memslot changes wait for the end of the transaction:
        QEMU >= 8.0 (commit f39b7d2b96 "kvm: Atomic memslot updates"); see
        the module docstring."""
        return self.stack is not None and self.stack.qemu_at_least(8, 0)

    # --- listener callbacks ----------------------------------------------------
    def region_add(self, as_: AddressSpace, fr: FlatRange) -> None:
        if self.atomic_updates:
            self.pending_add.append(fr)        # kvm_region_add: queue only
        else:
            self._set_phys_mem(fr, add=True)   # 7.2: the ioctl now

    def region_del(self, as_: AddressSpace, fr: FlatRange) -> None:
        if self.atomic_updates:
            self.pending_del.append(fr)        # kvm_region_del: queue only
        else:
            self._set_phys_mem(fr, add=False)

    def commit(self) -> None:
        """QEMU >= 8.0 ``kvm_region_commit``: all queued deletes, then all
        queued adds, each in the order queued (the topology passes walk
        the views by address); nothing queued before 8.0."""
        dels, adds = self.pending_del, self.pending_add
        self.pending_del, self.pending_add = [], []
        for fr in dels:
            self._set_phys_mem(fr, add=False)
        for fr in adds:
            self._set_phys_mem(fr, add=True)

    def log_start(self, as_, fr, old, new) -> None:
        # QEMU kvm_log_start/kvm_section_update_flags: flags are re-issued
        # on the existing slot (no delete)
        self._update_flags(fr)

    def log_stop(self, as_, fr, old, new) -> None:
        self._update_flags(fr)

    def _update_flags(self, fr: FlatRange) -> None:
        start, size = self.align_section(fr)
        mem = self._lookup(start, size)
        if mem is None:
            return
        flags = self.mem_flags(fr)
        if flags != mem.flags:
            mem.flags = flags
            self._emit(mem)

    def _set_phys_mem(self, fr: FlatRange, add: bool) -> None:
        handled, as_delete = self.wants(fr)
        if not handled:
            return
        if as_delete:
            add = False
        start, size = self.align_section(fr)
        if size == 0:
            return                                  # nothing left after trimming
        # the slot's userspace address: the region's host pointer plus the
        # offset of the aligned start inside the region
        mr_offset = fr.offset_in_region + (start - fr.start)
        ua = (fr.mr.hva or 0) + mr_offset
        if not add:
            mem = self._lookup(start, size)
            if mem is None:
                return                              # kvm_lookup_matching_slot: no exact match
            mem.memory_size = 0
            mem.flags = 0
            self._emit(mem, deleted_start=start)
            return
        mem = self._alloc()
        mem.start_addr = start
        mem.memory_size = size
        mem.userspace_addr = ua
        mem.flags = self.mem_flags(fr)
        mem.mr_name = fr.mr.name
        # fr.mr is the RAM region itself (aliases resolved), whose RAM block
        # starts at its offset 0
        mem.ramblock_offset = mr_offset
        self._emit(mem)

    def _lookup(self, start: int, size: int) -> KVMSlot | None:
        """``kvm_lookup_matching_slot``: exact (start, size) match."""
        for mem in self.slots:
            if mem.memory_size and mem.start_addr == start and mem.memory_size == size:
                return mem
        return None

    def _alloc(self) -> KVMSlot:
        """``kvm_get_free_slot``: the first entry whose memory_size is 0."""
        for mem in self.slots:
            if mem.memory_size == 0:
                return mem
        if len(self.slots) >= self.nr_slots:
            raise ConfigError("kvm_alloc_slot: no free slot available")
        mem = KVMSlot(slot=len(self.slots))
        self.slots.append(mem)
        return mem

    def _emit(self, mem: KVMSlot, deleted_start: int | None = None) -> None:
        ev = {
            "op": "set_user_memory", "as_id": self.as_id, "slot": mem.slot,
            "flags": mem.flags, "gpa": mem.start_addr, "size": mem.memory_size,
            "ua": mem.userspace_addr, "region": mem.mr_name,
            "ramblock_offset": mem.ramblock_offset,
        }
        for observer in self.slot_observers:
            observer(ev)
        self.events.append(ev)

    # --- queries -------------------------------------------------------------
    def memslots(self) -> list[Memslot]:
        """Live memslots, sorted by guest_phys_addr."""
        live = [m.as_memslot(self.as_id) for m in self.slots if m.memory_size]
        return sorted(live, key=lambda m: m.guest_phys_addr)

    def covers(self, fr: FlatRange) -> bool:
        """Whether ``info mtree -f`` prints the accelerator marker for this
        range: QEMU ``mtree_print_flatview`` asks ``kvm_accel_has_memory``
        with the range's own start and size, which needs a slot matching
        exactly (``kvm_lookup_matching_slot``), so a range trimmed to host
        pages has a slot but no marker."""
        return self._lookup(fr.start, fr.size) is not None
