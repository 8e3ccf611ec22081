"""A whole VM: its memory system, PCI buses, KVM listener and event stream.

``VM`` is the object the machine builders (``machine.py``) fill in and the
firmware (``seabios.py``) drives through config-space accesses.  It owns:

* ``memory``: the VM's :class:`~vfiolab.model.memory.Memory` (transactions);
* ``system_memory`` ("system") and ``system_io`` ("io"): the roots of the
  address spaces "memory" and "I/O" (QEMU ``softmmu/physmem.c``
  ``memory_map_init``);
* ``pci_memory`` ("pci") and the root bus; ``memdevs`` (memory backends by
  id);
* ``kvm``: the KVM memory listener of address space "memory", registered
  before the machine is built, as QEMU's accelerator is initialised first;
* ``events``: one ordered stream of dicts (``pci_update_mappings_*``,
  ``set_user_memory``, config accesses, ...).
"""

from __future__ import annotations

from ..errors import ConfigError
from .host import HostAddressSpace
from .kvm import KvmMemoryListener
from .memory import UINT64_SIZE, AddressSpace, FlatRange, Memory, MemoryRegion
from .pci import PCIBridge, PCIBus, PCIDevice, check_devfn

__all__ = ["VM"]


class VM:
    """State of one modelled VM (see the module docstring)."""

    def __init__(self, machine: str, ram_size: int, *, accel: str = "kvm"):
        self.machine = machine
        self.ram_size = ram_size
        self.accel = accel
        self.memory = Memory()
        self.events: list[dict] = []
        self.host = HostAddressSpace()
        self._stack = None
        # QEMU memory_map_init: "system" (a 2^64 container) and "io" (64 KiB,
        # an I/O region with unassigned_io_ops, so it fills its own holes)
        self.system_memory = MemoryRegion.init_container("system", UINT64_SIZE)
        self.system_io = MemoryRegion.init_io("io", 0x10000)
        self.system_memory.memory = self.memory
        self.system_io.memory = self.memory
        self.as_memory = AddressSpace(self.memory, self.system_memory, "memory")
        self.as_io = AddressSpace(self.memory, self.system_io, "I/O")
        self.vfio = None
        self.memory.observers.append(self._on_view_change)
        self.as_memory.observed = True          # the event stream watches it
        self.kvm: KvmMemoryListener | None = None
        if accel == "kvm":
            self.kvm = KvmMemoryListener(events=self.events)
            self.as_memory.register(self.kvm)
        self.pci_memory: MemoryRegion | None = None
        #: the "device-memory" container of ``-m ...,maxmem=`` (model/machine.py)
        self.device_memory: MemoryRegion | None = None
        #: ``-smp``: QEMU's ``MachineState.smp`` (model/machine.py
        #: smp_topology; set by model/boot.py build_vm) and its ``cpus``, the
        #: vCPUs created at start (QEMU's default: one)
        self.smp = None
        self.smp_cpus = 1
        self.root_bus: PCIBus | None = None
        self.memdevs: dict[str, MemoryRegion] = {}
        self.devices: list[PCIDevice] = []
        #: extra address spaces shown by ``info mtree`` (bus-master spaces, ...)
        self.extra_spaces: list[AddressSpace] = []
        self.firmware = None
        #: when set, every config access is recorded in ``events`` as a trap
        #: to QEMU (``pci_cfg_read``/``pci_cfg_write`` trace events)
        self.trace_config = False

    @property
    def stack(self):
        """The :class:`~vfiolab.stack.Stack` the VM is predicted for (set by
        ``boot.build_vm``); None for a VM built by hand."""
        return self._stack

    @stack.setter
    def stack(self, stack) -> None:
        # the host's page tables read the host kernel (huge PFN maps, 6.12+)
        self._stack = stack
        self.host.stack = stack

    # --- events ---------------------------------------------------------------
    def emit(self, event: dict) -> None:
        self.events.append(event)

    def _on_view_change(self, as_, old, new) -> None:
        """A transaction commit changed the flat view of "memory": QEMU's
        ``memory_region_transaction_commit`` -> ``address_space_set_flatview``;
        the listeners' region_del/region_add follow in the stream."""
        if as_ is self.as_memory:
            self.emit({"op": "flatview_commit", "as": as_.name,
                       "ranges_before": len(old.ranges), "ranges_after": len(new.ranges)})

    def vfio_container(self):
        """The VFIO container's memory listener, created (and registered,
        which replays the current view) with the first vfio-pci device
        (QEMU hw/vfio/common.c ``vfio_connect_container``)."""
        if self.vfio is None:
            from .iommu import VfioMemoryListener
            # the container maps through the kernel's type1 model, which
            # resolves vaddrs in QEMU's address space (self.host)
            lst = VfioMemoryListener(events=self.events, host=self.host)
            self.as_memory.register(lst)
            # a RAM section that could not be mapped fails the set-up
            lst.connect(self.as_memory)
            self.vfio = lst
        return self.vfio

    # --- RAM ------------------------------------------------------------------
    def alloc_ram(self, mr: MemoryRegion, kind: str = "ram") -> MemoryRegion:
        """Give a RAM region its host address (QEMU ``qemu_ram_alloc``)."""
        mr.hva = self.host.alloc(mr.size, mr.name, kind)
        return mr

    # --- PCI ------------------------------------------------------------------
    def add_pci_device(self, dev: PCIDevice, bus: PCIBus | None = None,
                       devfn: int | None = None) -> PCIDevice:
        """QEMU ``pci_qdev_realize``/``do_pci_register_device``: pick the
        first free slot (function 0) when no address is given, set up the
        config space, the bus-master address space, then realize."""
        bus = bus or self.root_bus
        if bus is None:
            raise ConfigError("machine has no PCI bus")
        if devfn is None:
            for slot in range(32):
                if slot * 8 not in bus.devices:
                    devfn = slot * 8
                    break
            else:
                raise ConfigError(f"PCI: no slot/function available for {dev.type_name}, "
                                  f"all in use on bus {bus.name}")
        check_devfn(dev, bus, devfn)
        dev.bus = bus
        dev.devfn = devfn
        dev.vm = self
        bus.devices[devfn] = dev
        dev.init_config()
        # QEMU do_pci_register_device: DMA goes through "bus master
        # container" holding the alias "bus master" of system memory, enabled
        # only while the command register's bus-master bit is set
        dev.bus_master_container = MemoryRegion.init_container("bus master container", UINT64_SIZE)
        dev.bus_master_enable = MemoryRegion.init_alias("bus master", self.system_memory, 0,
                                                        UINT64_SIZE)
        dev.bus_master_enable.enabled = False
        dev.bus_master_container.memory = self.memory
        dev.bus_master_container.add_subregion(0, dev.bus_master_enable)
        dev.bus_master_as = AddressSpace(self.memory, dev.bus_master_container, dev.type_name)
        if isinstance(dev, PCIBridge):
            sec = dev.create_secondary_bus()
            sec.address_space_mem.memory = self.memory
            sec.address_space_io.memory = self.memory
        dev.realize(self)
        if isinstance(dev, PCIBridge):
            dev.update_windows()
        self.devices.append(dev)
        return dev

    def find_device(self, bus_num: int, devfn: int) -> PCIDevice | None:
        bus = self.root_bus.find_bus(bus_num) if self.root_bus else None
        return bus.devices.get(devfn) if bus else None

    def pci_devices(self) -> list[PCIDevice]:
        return list(self.root_bus.all_devices()) if self.root_bus else []

    # --- config space as the firmware sees it ---------------------------------
    def cfg_read(self, bus: int, devfn: int, offset: int, size: int) -> int:
        """A config read reaching QEMU (``pci_data_read``/``pcie_mmcfg_data_read``):
        a missing function reads all ones."""
        dev = self.find_device(bus, devfn)
        if dev is None or offset + size > len(dev.config):
            value = (1 << (8 * size)) - 1
        else:
            value = dev.config_read(offset, size)
        if self.trace_config:
            self.emit({"op": "pci_cfg_read", "bdf": f"{bus:02x}:{devfn >> 3:02x}.{devfn & 7:x}",
                       "offset": offset, "size": size, "value": value})
        return value

    def cfg_write(self, bus: int, devfn: int, offset: int, value: int, size: int) -> None:
        """A config write reaching QEMU; writes to a missing function are dropped."""
        dev = self.find_device(bus, devfn)
        value &= (1 << (8 * size)) - 1
        if self.trace_config:
            self.emit({"op": "pci_cfg_write", "bdf": f"{bus:02x}:{devfn >> 3:02x}.{devfn & 7:x}",
                       "offset": offset, "size": size, "value": value})
        if dev is None or offset + size > len(dev.config):
            return
        dev.config_write(offset, value, size)

    # --- the Bochs VBE (DISPI) registers of the display functions -----------
    def vbe_write(self, bus: int, devfn: int, index: int, value: int) -> None:
        """A Bochs VBE register write reaching the display function at
        ``bus``/``devfn`` (hw/display/vga.c ``vbe_ioport_write_data``, QEMU
        trace event ``vga_vbe_write``), through its ``bochs dispi
        interface`` MMIO or ports 0x1ce/0x1cf (see :meth:`vbe_port_owner`).
        Only a function with a VGA core (VGA, qxl-vga, virtio-vga) has state
        the model keeps (its legacy window,
        :class:`~vfiolab.model.devices.VGACommonState`); for others
        (bochs-display's own registers reach nothing outside its BARs) the
        write is dropped."""
        dev = self.find_device(bus, devfn)
        if self.trace_config:
            self.emit({"op": "vga_vbe_write", "bdf": f"{bus:02x}:{devfn >> 3:02x}.{devfn & 7:x}",
                       "index": index, "value": value & 0xFFFF})
        vga = getattr(dev, "vga", None)
        if vga is not None:
            vga.vbe_write(index, value)

    def vbe_read(self, bus: int, devfn: int, index: int) -> int:
        """A Bochs VBE register read (``vbe_ioport_read_data``, or
        bochs-display's ``bochs_display_vbe_read``); 0xffff from a function
        without Bochs VBE registers."""
        dev = self.find_device(bus, devfn)
        regs = getattr(dev, "vga", None) or dev
        read = getattr(regs, "vbe_read", None)
        return read(index) if read is not None else 0xFFFF

    def vbe_port_owner(self) -> tuple[int, int] | None:
        """(bus, devfn) of the function whose ``vbe`` ports answer at
        0x1ce/0x1cf in the CPU's I/O space, or None (nothing there: QEMU's
        unassigned I/O reads all ones).  Every VGA core puts its ``vbe``
        ports in its bus's I/O space (``vga_init``); with several on the root
        bus the one added last wins (``memory_region_add_subregion_common``
        puts a region before those of lower or equal priority), and one
        behind a bridge is out of reach (the bridge's VGA aliases cover only
        0x3b0-0x3bb and 0x3c0-0x3df).  Real run:
        data/ovmf/q35-1G-2vga-2025.02-qemu7.2, where QemuVideoDxe drives
        qxl-vga at 00:02.0 through the ports and the VBE mode lands on the
        VGA at 00:03.0."""
        fr = self.as_io.flatview().lookup(0x1CE)
        if fr is None:
            return None
        for dev in self.pci_devices():
            vga = getattr(dev, "vga", None)
            if vga is not None and any(fr.mr is mr for mr in vga.vbe_ports):
                return dev.bus.number, dev.devfn
        return None

    # --- views -----------------------------------------------------------------
    def flatview(self):
        return self.as_memory.flatview()

    def accel_marker(self, fr: FlatRange) -> str | None:
        """The accelerator column of ``info mtree -f``."""
        if self.kvm is not None and self.kvm.covers(fr):
            return "KVM"
        return None

    def memslots(self):
        return self.kvm.memslots() if self.kvm else []
