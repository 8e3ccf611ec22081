"""``vfiolab predict``: describe a VM after its firmware has set up PCI.

Takes the QEMU command line a user would type and answers, as real QEMU
would after SeaBIOS's POST: where every BAR landed, the flat view of the
address space "memory" (``info mtree -f``), the KVM memslots, and the text
of ``info mtree -f``, ``info mtree`` and ``info pci``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .addr import fmt_columns, fmt_hex, fmt_size
from .model.boot import boot, build_vm, firmware_platform, guest_cpu
from .inputs.cmdline import parse_qemu_args
from .model.memory import MemoryRegion, format_flatviews, format_mtree, to_section
from .model.pci import PCI_BAR_UNMAPPED, PCIBridge, bar_type_name
from .model.vm import VM
from .records import BarRecord, PciDeviceRecord
from .stack import Stack, make_stack

__all__ = ["Prediction", "predict", "PCI_CLASS_NAMES", "format_info_pci", "format_kvm_trace",
           "ua_placeholder"]

#: QEMU hw/pci/pci.c ``pci_class_descriptions``, the whole table (the same at
#: v7.2.0 and v10.0.0): what ``info pci`` prints for a class; any other class
#: prints as ``Class %04d`` (``hmp_info_pci_device``)
PCI_CLASS_NAMES = {
    0x0001: "VGA controller", 0x0100: "SCSI controller", 0x0101: "IDE controller",
    0x0102: "Floppy controller", 0x0103: "IPI controller", 0x0104: "RAID controller",
    0x0106: "SATA controller", 0x0107: "SAS controller", 0x0180: "Storage controller",
    0x0200: "Ethernet controller", 0x0201: "Token Ring controller", 0x0202: "FDDI controller",
    0x0203: "ATM controller", 0x0280: "Network controller", 0x0300: "VGA controller",
    0x0301: "XGA controller", 0x0302: "3D controller", 0x0380: "Display controller",
    0x0400: "Video controller", 0x0401: "Audio controller", 0x0402: "Phone",
    0x0403: "Audio controller", 0x0480: "Multimedia controller", 0x0500: "RAM controller",
    0x0501: "Flash controller", 0x0580: "Memory controller", 0x0600: "Host bridge",
    0x0601: "ISA bridge", 0x0602: "EISA bridge", 0x0603: "MC bridge", 0x0604: "PCI bridge",
    0x0605: "PCMCIA bridge", 0x0606: "NUBUS bridge", 0x0607: "CARDBUS bridge",
    0x0608: "RACEWAY bridge", 0x0680: "Bridge", 0x0700: "Serial port", 0x0701: "Parallel port",
    0x0800: "Interrupt controller", 0x0801: "DMA controller", 0x0802: "Timer", 0x0803: "RTC",
    0x0900: "Keyboard", 0x0901: "Pen", 0x0902: "Mouse", 0x0c00: "Firewire controller",
    0x0c01: "Access bus controller", 0x0c02: "SSA controller", 0x0c03: "USB controller",
    0x0c04: "Fibre channel controller", 0x0c05: "SMBus",
}


@dataclass
class Prediction:
    """A predicted VM, with the output formats of ``vfiolab predict``."""

    vm: VM

    @property
    def stack(self) -> Stack:
        """The stack this prediction is for, machine type and accelerator resolved."""
        return self.vm.stack

    # --- records -----------------------------------------------------------
    def devices(self) -> list[PciDeviceRecord]:
        out = []
        for dev in self.vm.pci_devices():
            rec = PciDeviceRecord(bus=dev.bus.number, slot=dev.slot, func=dev.func,
                                  vendor=dev.vendor_id, device=dev.device_id,
                                  class_desc=PCI_CLASS_NAMES.get(dev.class_id, ""),
                                  qdev_id=dev.qdev_id, type=dev.type_name)
            for r in dev.bars():
                rec.bars.append(BarRecord(bar=r.index, type=bar_type_name(r.type),
                                          prefetch=r.prefetch,
                                          address=None if r.addr == PCI_BAR_UNMAPPED else r.addr,
                                          size=r.size))
            if isinstance(dev, PCIBridge):
                rec.secondary_bus = dev.config[0x19]
                rec.subordinate_bus = dev.config[0x1a]
                for kind, name in (("io", "io"), ("mem", "memory"), ("pref", "prefetchable memory")):
                    rec.windows[name] = dev.window(kind)
            out.append(rec)
        return out

    def sections(self):
        return [to_section(fr, self.vm.accel_marker) for fr in self.vm.flatview()]

    def io_sections(self):
        """The flat view of the "io" address space (port numbers)."""
        return [to_section(fr, self.vm.accel_marker) for fr in self.vm.as_io.flatview()]

    def memslots(self):
        return self.vm.memslots()

    # --- output formats -------------------------------------------------------
    def to_json(self) -> dict:
        vendor, bits = guest_cpu(self.vm.config, self.stack)
        return {
            "stack": self.stack.to_json(),
            "machine": self.vm.machine,
            "memory": fmt_size(self.vm.ram_size),
            "guest_cpu": {"vendor": vendor, "phys_bits": bits},
            # every PCI function, chipset included, as QMP query-pci lists them
            "devices": self._devices_json(),
            "firmware_notes": self.firmware_notes,
            "flatview": [s.to_json() for s in self.sections()],
            "memslots": [m.to_json() for m in self.memslots()],
            # options accepted but ignored: they cannot change PCI, the map,
            # memslots or DMA (vfiolab.inputs.cmdline), once each
            "ignored": list(getattr(self.vm.config, "ignored", [])),
            # what QEMU itself would warn about, in its words
            "warnings": list(getattr(self.vm.config, "warnings", [])),
        }

    @property
    def firmware_notes(self) -> list[str]:
        """What the firmware could not do, in words (OVMF: the BARs it left
        unassigned and why); empty when everything was placed."""
        return list(getattr(self.vm.firmware, "notes", []) or [])

    def _devices_json(self) -> list[dict]:
        """The devices; a BAR the firmware left without an address (OVMF
        rejected its function, or stopped) carries ``"unassigned": true``."""
        fw = self.vm.firmware
        left = set(getattr(fw, "rejected", []) or [])
        stopped = bool(getattr(fw, "stopped", False))
        out = []
        for d in self.devices():
            j = d.to_json()
            if stopped or j.get("bdf") in left:
                for b in j["bars"]:
                    if b["address"] is None:
                        b["unassigned"] = True
            out.append(j)
        return out

    def json_text(self) -> str:
        return json.dumps(self.to_json(), indent=1) + "\n"

    def _address_spaces(self) -> list[tuple[str, str, object]]:
        """Every address space of the VM in creation order (QEMU's
        ``address_spaces`` list) as (name, root description, root region):
        "memory" and "I/O" (``memory_map_init``), "cpu-memory-0" ...
        "cpu-memory-N" (one per vCPU of ``-smp`` cpus, hw/i386/x86.c
        ``x86_cpus_init`` -> ``cpu_address_space_init``, before any PCI
        device; real 7.2 and 10.0 captures with -smp 4 list cpu-memory-0..3,
        and with ``-smp 2,maxcpus=8`` only 0 and 1), then per PCI function its bus-master space
        (root the "bus master container") and, from QEMU 9.2, the spaces its
        realize adds (:func:`device_address_spaces`)."""
        vm = self.vm
        out = [("memory", "system", vm.system_memory), ("I/O", "io", vm.system_io)]
        out += [(f"cpu-memory-{i}", "system", vm.system_memory) for i in range(vm.smp_cpus)]
        # hw/mem/memory-device.c machine_memory_devices_init: from QEMU 8.2
        # (commit f9716f4b0d) the memory-hotplug area is also an address
        # space, "device-memory", made in pc_memory_init: after the host
        # bridge where pc realizes it first (8.1+, model/machine.py
        # build_machine), before every PCI function on q35 (real 10.0
        # info mtree -f lists it so among the empty view's spaces)
        devmem = None
        if vm.device_memory is not None and vm.stack is not None and vm.stack.qemu_at_least(8, 2):
            devmem = ("device-memory", "device-memory", vm.device_memory)
            if vm.machine == "q35":
                out.append(devmem)
        for i, dev in enumerate(vm.devices):
            out.append((dev.type_name, "bus master container", dev))
            if devmem is not None and vm.machine == "pc" and i == 0:
                out.append(devmem)
            out.extend(device_address_spaces(vm, dev))
            # a space a device's realize puts on the bus's I/O space shares the
            # "I/O" view (lsi53c895a's "lsi-pci-io", hw/scsi/lsi53c895a.c
            # lsi_scsi_realize)
            extra = getattr(dev, "pci_io_as", None)
            if extra is not None:
                out.append((extra.name, "io", extra.root))
        return out

    def mtree_flat(self) -> str:
        """``info mtree -f``: every FlatView with the address spaces that
        share it.  A bus-master space shares the view of "memory" while bus
        mastering is on (its root resolves to ``system`` through the one
        alias, memory.c ``memory_region_get_flatview_root``), else the one
        empty view, as does every other space that renders nothing
        (``generate_memory_topology`` keeps no empty views).  QEMU prints its
        FlatViews in GLib hash-table order, which changes from run to run;
        vfiolab prints "memory" first, then "I/O", then the others in the
        order their first space was created, the empty view last."""
        from .model.memory import FlatView
        vm = self.vm
        views: dict[object, tuple[list, FlatView]] = {}
        empty: list = []
        for name, desc, root in self._address_spaces():
            if root is vm.system_memory:
                key, view = "memory", vm.flatview()
            elif root is vm.system_io:
                key, view = "io", vm.as_io.flatview()
            elif not isinstance(root, MemoryRegion):      # a PCI function
                if root.bus_master_enable is not None and root.bus_master_enable.enabled:
                    key, view = "memory", vm.flatview()
                else:
                    empty.append((name, desc))
                    continue
            else:
                view = FlatView.render(root)
                if not view.ranges:
                    empty.append((name, desc))
                    continue
                key = id(root)
            views.setdefault(key, ([], view))[0].append((name, desc))
        out = list(views.values())
        if empty:
            out.append((empty, FlatView(None, [])))
        # the accelerator's marker ("KVM") only where the accelerator has the
        # memory: the views of the address spaces KVM listens to
        kvm_ranges = {id(fr) for key in ("memory", "io") if key in views
                      for fr in views[key][1].ranges}
        return format_flatviews(out, accel=lambda fr: vm.accel_marker(fr)
                                if id(fr) in kvm_ranges else None)

    def mtree(self) -> str:
        """``info mtree``: address-space trees, then the alias targets."""
        vm = self.vm
        cpus = [f"cpu-memory-{i}" for i in range(vm.smp_cpus)]
        spaces = [(cpus + ["memory"], vm.system_memory), (["I/O"], vm.system_io)]
        for name, _desc, root in self._address_spaces()[2 + vm.smp_cpus:]:
            if isinstance(root, MemoryRegion):
                spaces.append(([name], root))
            else:
                spaces.append(([name], root.bus_master_container))
        return format_mtree(spaces)

    def info_pci(self) -> str:
        return format_info_pci(self.vm)

    def kvm_trace(self) -> str:
        """``--format trace``: the memslot ioctls from machine creation to the
        end of the firmware's POST, as the stack's QEMU traces them
        (:func:`format_kvm_trace`)."""
        return format_kvm_trace(self.vm.events, self.stack)

    # --- the summary a person reads ------------------------------------------
    def summary(self) -> str:
        """``vfiolab predict --format summary``: plain text for a person, one
        screen per passed-through (vfio-pci) device, then the VM's RAM split
        and the firmware's windows, then what was ignored or assumed.

        Per device: the host BARs (the host device description), the guest
        BDF and the BAR addresses the firmware gave (:meth:`devices`), the
        flat-view ranges inside each BAR (``ramd``: the BAR's mmap of the
        host device, QEMU hw/vfio/pci.c ``vfio_bar_register`` /
        ``memory_region_init_ram_device_ptr``; any other kind is trapped
        MMIO QEMU emulates: the MSI-X table and PBA overlay, ``vfio_msix_setup``,
        and the quirks of hw/vfio/pci-quirks.c), the KVM memslots covering
        them (accel/kvm/kvm-all.c ``kvm_set_phys_mem``), and the container's
        DMA maps (hw/vfio/common.c ``vfio_listener_region_add``: IOVA = GPA,
        the RAM and ram_device sections of "memory")."""
        from .model.vfio import VfioPCIDevice
        vm = self.vm
        records = {r.bdf: r for r in self.devices()}
        sections = self.sections()
        slots = sorted(self.memslots(), key=lambda m: m.guest_phys_addr)
        st = self.stack
        out = [f"{st.name}: QEMU {st.qemu_text} ({st.machine}), {st.firmware_text}, "
               f"Linux {st.kernel[0]}.{st.kernel[1]}, {st.cpu_vendor} host, "
               f"phys-bits {st.host_phys_bits}"]
        vfio = [d for d in vm.pci_devices() if isinstance(d, VfioPCIDevice)]
        if not vfio:
            out.append("")
            out.append("No passed-through device (no -device vfio-pci).")
        for dev in vfio:
            out.append("")
            out.extend(self._summary_device(dev, records, sections, slots))
        out.append("")
        out.extend(self._summary_vm())
        out.append("")
        out.extend(self._summary_notes())
        return "\n".join(out) + "\n"

    def _summary_device(self, dev, records, sections, slots) -> list[str]:
        """One device's screen (see :meth:`summary`)."""
        rec = records[f"{dev.bus.number:02x}:{dev.slot:02x}.{dev.func:x}"]
        hd = dev.hostdev
        name = f"vfio-pci {dev.qdev_id}" if dev.qdev_id else "vfio-pci"
        cls = PCI_CLASS_NAMES.get(dev.class_id, f"class {dev.class_id:04x}")
        out = [f"== {name}: host {dev.host} ({dev.vendor_id:04x}:{dev.device_id:04x} {cls}) "
               f"-> guest {rec.bdf} =="]
        host_bars = {b.index: b for b in getattr(hd, "bars", ()) or ()}
        # a memory BAR is looked up in "memory" and its memslots; an I/O BAR
        # decodes port numbers of the "io" address space (hw/pci/pci.c
        # pci_update_mappings maps PCI_BASE_ADDRESS_SPACE_IO BARs into the
        # bus's address_space_io), which KVM gives no memslot: every IN/OUT
        # exits to QEMU (KVM_EXIT_IO, accel/kvm/kvm-all.c kvm_handle_io)
        rows, ranges, io_ranges = [], [], []
        for b in rec.bars:
            hb = host_bars.get(b.bar)
            host = fmt_hex(hb.host_address) if hb is not None and hb.host_address is not None \
                else "-"
            if b.address is None:
                guest, last = "not mapped", ""
            else:
                guest, last = fmt_hex(b.address), fmt_hex(b.address + b.size - 1)
                (io_ranges if b.type == "io" else ranges).append(
                    (b.bar, b.address, b.address + b.size))
            what = "ROM" if b.bar == 6 else f"BAR{b.bar}"
            rows.append([what, b.type, "yes" if b.prefetch else "no", fmt_size(b.size), host,
                         guest, last])
        out.append("BARs (host address from the host device; guest address after the firmware)")
        out.extend(fmt_columns(["bar", "type", "pref", "size", "host address", "guest address",
                                "guest end"], rows))
        # the flat view of "memory" inside each mapped memory BAR, of "io"
        # inside each mapped I/O BAR
        rows = []
        io_sections = self.io_sections() if io_ranges else []
        for view, bars in ((sections, ranges), (io_sections, io_ranges)):
            for bar, lo, hi in bars:
                for s in view:
                    if s.start < hi and s.end >= lo:
                        how = "mmap" if s.kind == "ramd" else "trapped"
                        rows.append([f"BAR{bar}" if bar != 6 else "ROM", fmt_hex(s.start),
                                     fmt_hex(s.end), fmt_size(s.size), s.kind, how,
                                     "KVM" if s.kvm else "-", s.name])
        out.append("Flat view inside the BARs (info mtree -f; mmap = ram_device, trapped = "
                   "QEMU emulates)")
        out.extend(fmt_columns(["bar", "start", "end", "size", "kind", "access", "accel", "name"],
                               rows) if rows else ["  (no BAR is mapped)"])
        rows = [[str(m.slot), fmt_hex(m.guest_phys_addr),
                 fmt_hex(m.guest_phys_addr + m.memory_size - 1), fmt_size(m.memory_size),
                 "READONLY" if m.readonly else "-",
                 fmt_hex(m.userspace_addr) if m.userspace_addr is not None else "-"]
                for m in slots
                if any(m.guest_phys_addr < hi and m.guest_phys_addr + m.memory_size > lo
                       for _b, lo, hi in ranges)]
        out.append("KVM memslots covering the BARs (the guest's accesses there do not exit)")
        out.extend(fmt_columns(["slot", "guest_phys_addr", "last", "memory_size", "flags",
                                "userspace_addr"], rows) if rows else ["  (none)"])
        out.append("IOMMU DMA maps of the container (IOVA = GPA; shared by every vfio-pci device)")
        out.extend(self._summary_dma())
        return out

    def _summary_dma(self) -> list[str]:
        """The VFIO listener's ``VFIO_IOMMU_MAP_DMA`` list, by IOVA."""
        lst = self.vm.vfio
        if lst is None:
            return ["  (no container: no vfio-pci device)"]
        # a ram_device section is a BAR's mmap: mapped for peer-to-peer DMA
        rows = [[fmt_hex(m.iova), fmt_hex(m.iova + m.size - 1), fmt_size(m.size),
                 "r" if m.readonly else "rw", fmt_hex(m.vaddr), "bar" if m.ram_device else "ram",
                 m.region]
                for m in sorted(lst.mappings.values(), key=lambda m: m.iova)]
        return fmt_columns(["iova", "last", "size", "perm", "vaddr", "what", "region"], rows) \
            if rows else ["  (none)"]

    def _summary_vm(self) -> list[str]:
        """RAM below and above 4 GiB (QEMU hw/i386/pc_q35.c / pc_piix.c
        ``below_4g_mem_size``/``above_4g_mem_size``, ``above_4g_mem_start``),
        and the PCI windows the firmware used: SeaBIOS src/fw/pciinit.c
        ``pcimem_start``..``pcimem_end`` and ``pcimem64_start``..``_end``;
        OVMF PlatformInitLib's apertures (``PcdPciMmio32Base``/``Size``,
        ``PcdPciMmio64Base``/``Size``)."""
        vm = self.vm
        split = vm.ram_split
        out = [f"== VM: {vm.machine}, {fmt_size(vm.ram_size)} RAM, accel {vm.accel} =="]
        rows = [["below 4G", fmt_hex(0) if split.below_4g else "-",
                 fmt_hex(split.below_4g - 1) if split.below_4g else "-", fmt_size(split.below_4g)]]
        if split.above_4g:
            rows.append(["above 4G", fmt_hex(split.above_4g_start),
                         fmt_hex(split.above_4g_start + split.above_4g - 1),
                         fmt_size(split.above_4g)])
        else:
            rows.append(["above 4G", "-", "-", "0"])
        out.append("RAM")
        out.extend(fmt_columns(["part", "start", "last", "size"], rows))
        fw = vm.firmware
        rows = []
        root = getattr(fw, "root", None)
        ap = getattr(fw, "apertures", None)
        if ap is not None:                                   # OVMF
            out.append(f"Firmware: OVMF {fw.version} (its PCI apertures)")
            rows.append(["io", fmt_hex(ap.io_base), fmt_hex(ap.io_limit),
                         fmt_size(ap.io_limit - ap.io_base + 1)])
            rows.append(["mem32", fmt_hex(ap.mem32_base), fmt_hex(ap.mem32_limit),
                         fmt_size(ap.mem32_limit - ap.mem32_base + 1)])
            if ap.mem64_size:
                rows.append(["mem64", fmt_hex(ap.mem64_base),
                             fmt_hex(ap.mem64_base + ap.mem64_size - 1), fmt_size(ap.mem64_size)])
            else:
                rows.append(["mem64", "-", "-", "0"])
            if ap.mmconfig_base is not None:
                rows.append(["mmconfig", fmt_hex(ap.mmconfig_base), "", ""])
            out.extend(fmt_columns(["window", "start", "last", "size"], rows))
            if ap.why:
                out.append(f"  64-bit window: {ap.window}, {ap.why}")
        elif root is not None:                               # SeaBIOS
            out.append(f"Firmware: SeaBIOS {fw.version} (pciinit.c windows)")
            if root.io_size:
                rows.append(["io (used)", fmt_hex(root.io_base),
                             fmt_hex(root.io_base + root.io_size - 1), fmt_size(root.io_size)])
            rows.append(["mem32", fmt_hex(root.pcimem_start), fmt_hex(root.pcimem_end - 1),
                         fmt_size(root.pcimem_end - root.pcimem_start)])
            if root.mem64_start:
                rows.append(["mem64", fmt_hex(root.mem64_start), fmt_hex(root.mem64_end - 1),
                             fmt_size(root.mem64_end - root.mem64_start)])
            if fw.mmconfig_base is not None:
                rows.append(["mmconfig", fmt_hex(fw.mmconfig_base), "", ""])
            out.extend(fmt_columns(["window", "start", "last", "size"], rows))
            if not root.mem64_start:
                out.append("  mem64: not used (every BAR fit below 4G)")
        else:
            out.append("Firmware: none ran")
        return out

    def _summary_notes(self) -> list[str]:
        """What was ignored or assumed: the command line's ignored options
        and QEMU's warnings, the stack's notes, the firmware's notes."""
        cfg = self.vm.config
        out = ["== Ignored or assumed =="]
        items = [f"ignored option: {i}" for i in getattr(cfg, "ignored", [])]
        items += [f"QEMU would warn: {w}" for w in getattr(cfg, "warnings", [])]
        items += [f"stack: {n}" for n in (self.stack.notes or ())]
        items += [f"firmware: {n}" for n in self.firmware_notes]
        # per passed-through device: what its description left to assume, and
        # the vfio-pci properties accepted but not modelled
        from .model.vfio import VfioPCIDevice
        for dev in self.vm.pci_devices():
            if isinstance(dev, VfioPCIDevice):
                notes = list(getattr(dev.hostdev, "notes", None) or [])
                notes += [dev.id_note] if dev.id_note else []
                notes += [f"ignored property: {n}" for n in dev.ignored]
                items += [f"{dev.host}: {n}" for n in notes]
        import textwrap
        for i in items:
            out.extend(textwrap.wrap(i, 100, initial_indent="  - ", subsequent_indent="    "))
        if not items:
            out.append("  (nothing)")
        return out




def device_address_spaces(vm: VM, dev) -> list[tuple[str, str, object]]:
    """The address spaces a PCI function's realize creates besides its
    bus-master one, as (name, root description, root region), from QEMU 9.2
    (commit 55fa4be6f7 "virtio-pci: fix memory_region_find for
    VirtIOPCIRegion's MR"; plain code, not a compat property):

    * a PCI bridge (hw/pci/pci_bridge.c ``pci_bridge_initfn``):
      "pci_bridge_pci_mem" over its secondary bus's memory space
      ``pci_bridge_pci`` and "pci_bridge_pci_io" over ``pci_bridge_io``;
    * a virtio-pci function with the modern interface
      (hw/virtio/virtio-pci.c ``virtio_pci_realize``):
      "virtio-pci-cfg-mem-as" over its modern BAR ``virtio-pci`` (rendered
      from the BAR's address, as ``render_memory_region`` adds the root's
      own offset), and with ``modern-pio-notify`` (``virtio_pci_device_plugged``)
      "virtio-pci-cfg-io-as" over ``virtio-pci-io``.

    Up to 9.1 there are none (the 7.2 captures list none)."""
    if vm.stack is None or not vm.stack.qemu_at_least(9, 2):
        return []
    out = []
    if isinstance(dev, PCIBridge) and getattr(dev, "sec_bus", None) is not None:
        out.append(("pci_bridge_pci_mem", "pci_bridge_pci", dev.sec_bus.address_space_mem))
        out.append(("pci_bridge_pci_io", "pci_bridge_io", dev.sec_bus.address_space_io))
    modern = getattr(dev, "modern_bar", None)
    if modern is not None:
        out.append(("virtio-pci-cfg-mem-as", "virtio-pci", modern))
    io_bar = getattr(dev, "io_bar", None)
    if modern is not None and io_bar is not None:
        out.append(("virtio-pci-cfg-io-as", "virtio-pci-io", io_bar))
    return out


def _bar_line(r, new_style: bool) -> str:
    """One BAR line of ``info pci``.  Up to QEMU 9.1 every line ends in a dot
    and an unmapped BAR prints address -1 with a wrapped end; from 9.2
    (commit aa37616fb4, hw/pci/pci-hmp-cmds.c ``hmp_info_pci_device``) there
    is no dot and an unmapped BAR prints ``(not mapped)``."""
    label = f"      BAR{r.index}: "
    unmapped = r.addr == PCI_BAR_UNMAPPED
    if r.type & 1:
        what = "I/O"
        where, width = "I/O at", 4
    else:
        what = f"{64 if r.type & 4 else 32} bit{' prefetchable' if r.type & 8 else ''} memory"
        where, width = f"{what} at", 8
    if new_style:
        if unmapped:
            return f"{label}{what} (not mapped)"
        return f"{label}{where} 0x{r.addr:0{width}x} [0x{r.addr + r.size - 1:0{width}x}]"
    last = (r.addr + r.size - 1) & ((1 << 64) - 1)
    return f"{label}{where} 0x{r.addr:0{width}x} [0x{last:0{width}x}]."


def format_info_pci(vm: VM) -> str:
    """``info pci`` text (QEMU hw/pci/pci-hmp-cmds.c / pci.c ``hmp_info_pci``)
    as the stack's QEMU prints it: a class name from ``pci_class_descriptions``
    or ``Class %04d`` (decimal), the subsystem ids for type 0 headers, IRQ and
    pin when a pin is set, bridge bus numbers and windows, then each BAR
    (:func:`_bar_line`: the 9.2 change)."""
    new_style = vm.stack.qemu_at_least(9, 2)
    lines = []
    for dev in vm.pci_devices():
        c = dev.config
        lines.append(f"  Bus {dev.bus.number:2d}, device {dev.slot:3d}, function {dev.func}:")
        name = PCI_CLASS_NAMES.get(dev.class_id)
        cls = name if name else f"Class {dev.class_id:04d}"
        lines.append(f"    {cls}: PCI device {dev.vendor_id:04x}:{dev.device_id:04x}")
        if not isinstance(dev, PCIBridge):
            sv = int.from_bytes(c[0x2c:0x2e], "little")
            sd = int.from_bytes(c[0x2e:0x30], "little")
            lines.append(f"      PCI subsystem {sv:04x}:{sd:04x}")
        pin = c[0x3d]
        if pin:
            lines.append(f"      IRQ {c[0x3c]}, pin {chr(ord('A') + pin - 1)}")
        if isinstance(dev, PCIBridge):
            lines.append(f"      BUS {c[0x18]}.")
            lines.append(f"      secondary bus {c[0x19]}.")
            lines.append(f"      subordinate bus {c[0x1a]}.")
            # hmp_info_pci_device: "IO range [0x%04x, 0x%04x]", the memory
            # ranges "[0x%08x, 0x%08x]"
            for kind, label, width in (("io", "IO range", 4), ("mem", "memory range", 8),
                                       ("pref", "prefetchable memory range", 8)):
                b, lm = dev.window(kind)
                lines.append(f"      {label} [0x{b:0{width}x}, 0x{lm:0{width}x}]")
        for r in dev.bars():
            lines.append(_bar_line(r, new_style))
        lines.append(f'      id "{dev.qdev_id}"')
    return "\n".join(lines) + "\n"


def ua_placeholder(ev: dict) -> str:
    """What ``--format trace`` prints for ``ua=``: ``<REGION+0xOFFSET>``,
    the RAM region behind the slot and the slot's offset in its RAM block.

    The real ``ua`` is a host virtual address of the QEMU process (where
    the RAM block was mmapped), which changes from run to run and which the
    model cannot know; the angle brackets make the field impossible to read
    as an address (QEMU prints ``ua=0x...``; vfiolab.inputs.trace refuses
    this form).  Two lines with the same REGION are in the same RAM block,
    so the difference of their real ``ua`` values is the difference of
    their offsets."""
    return f"<{ev.get('region', '')}+{fmt_hex(ev.get('ramblock_offset', 0))}>"


def format_kvm_trace(events, stack: Stack) -> str:
    """The ``kvm_set_user_memory`` events of ``events`` (``VM.events``), one
    line each, as QEMU's ``log`` trace backend prints them without
    ``-msg timestamp=on`` (``kvm_set_user_memory <text>``; vfiolab.inputs.trace
    reads both forms back).  The text is the format string of
    ``accel/kvm/trace-events``, which ``kvm_set_user_memory_region``
    (``accel/kvm/kvm-all.c``) fills:

    * QEMU before 9.1 (v7.2.0 ... v9.0.0):
      ``Slot#%d flags=0x%x gpa=0x%PRIx64 size=0x%PRIx64 ua=0x%PRIx64 ret=%d``,
      where ``Slot#`` is the uapi ``slot`` field, the slot id ORed with the
      address-space id shifted left by 16 (``mem.slot = slot->slot |
      (kml->as_id << 16)``);
    * QEMU 9.1 and later (``stack.qemu_at_least(9, 1)``): ``AddrSpace#%d
      Slot#%d flags=... ua=0x%PRIx64 guest_memfd=%d guest_memfd_offset=0x%PRIx64
      ret=%d``.  Commit 72853afc63 ("trace/kvm: Split address space and slot
      id in trace_kvm_set_user_memory()") split ``AddrSpace#`` off the slot
      and commit ce5a983233 ("kvm: Enable KVM_SET_USER_MEMORY_REGION2 for
      memslot") added the two guest_memfd fields; both were first released
      in v9.1.0 (neither is in v9.0.0) and the text is the same at v10.0.0.
      ``kvm_set_phys_mem`` sets ``guest_memfd`` to the RAM block's: -1 as
      ``qemu_ram_alloc_internal`` and ``qemu_ram_alloc_from_fd`` leave it
      (system/physmem.c; ``ram_block_add`` creates a guest_memfd only for a
      ``RAM_GUEST_MEMFD`` block, i.e. with confidential-guest support, which
      the model does not have), and ``guest_memfd_offset`` to ``ram -
      ram_block->host``, the slot's offset in its RAM block, in every case
      up to 10.1;
    * QEMU 10.2 and later (``stack.qemu_at_least(10, 2)``; commit
      00c0911c68 "accel/kvm: Set guest_memfd_offset to non-zero value only
      when guest_memfd is valid", first released in v10.2.0):
      ``guest_memfd_offset`` is that offset only when ``guest_memfd >= 0``,
      so 0x0 for every slot the model makes.

    A delete re-issues the slot with size 0 and flags 0 and keeps its other
    fields (``kvm_set_phys_mem``), as the model's events do.  ``ret`` is 0:
    the model's ioctls succeed (a failure is an error instead).

    ``ua=`` is printed by :func:`ua_placeholder` (``<REGION+0xOFFSET>``),
    never as a made-up address: the model cannot know the QEMU process's
    host addresses."""
    new = stack.qemu_at_least(9, 1)
    offset_without_memfd = not stack.qemu_at_least(10, 2)
    lines = []
    for ev in events:
        if ev.get("op") != "set_user_memory":
            continue
        tail = (f"flags={fmt_hex(ev['flags'])} gpa={fmt_hex(ev['gpa'])} "
                f"size={fmt_hex(ev['size'])} ua={ua_placeholder(ev)}")
        if new:
            fd_offset = ev["ramblock_offset"] if offset_without_memfd else 0
            text = (f"AddrSpace#{ev['as_id']} Slot#{ev['slot']} {tail} guest_memfd=-1 "
                    f"guest_memfd_offset={fmt_hex(fd_offset)} ret=0")
        else:
            text = f"Slot#{ev['slot'] | ev['as_id'] << 16} {tail} ret=0"
        lines.append("kvm_set_user_memory " + text)
    return "".join(line + "\n" for line in lines)


def predict(args: list[str], *, stack: Stack | str | None = None, qemu: str | None = None,
            firmware: str | None = None, kernel: str | None = None, seabios: str | None = None,
            accel: str | None = None, cpu_vendor: str | None = None,
            phys_bits: int | None = None, host_devices: dict | None = None) -> Prediction:
    """Build the VM for ``args`` (a QEMU command line), run its firmware's PCI
    set-up, and return the resulting Prediction.

    ``stack`` is a :class:`~vfiolab.stack.Stack` or a preset name
    (``debian12``, ``debian13``); ``qemu``, ``firmware``, ``kernel``,
    ``seabios`` (``firmware="seabios-VER"``), ``cpu_vendor`` and ``phys_bits``
    (the host CPU's) override it, as :func:`vfiolab.stack.make_stack` says;
    with none of them the host CPU is this machine's.  ``host_devices`` maps a
    host BDF (of ``-device vfio-pci,host=BDF``) to a HostDevice or to a path
    understood by :func:`vfiolab.inputs.hostdevs.load_host_device`."""
    from .inputs.hostdevs import resolve_host_devices
    if not isinstance(stack, Stack):
        stack = make_stack(stack, qemu=qemu, firmware=firmware, kernel=kernel,
                           seabios=seabios, cpu_vendor=cpu_vendor, phys_bits=phys_bits)
    cfg = parse_qemu_args(args, qemu=stack.qemu)
    hds = resolve_host_devices(cfg, host_devices)
    vm = build_vm(cfg, stack=stack, accel=accel, host_devices=hds)
    boot(vm, firmware_platform(vm, cfg))
    return Prediction(vm)
