"""From a QEMU command line to a VM whose firmware has finished PCI set-up.

The steps follow what really happens:

1. QEMU builds the machine (``machine.build_machine``) and realizes each
   ``-device`` in command-line order, each taking the first free slot on its
   bus unless ``addr=`` says otherwise (QEMU ``pci_qdev_realize``); without
   ``-nodefaults`` QEMU also adds its default VGA (``vl.c``
   ``default_vga``).
2. SeaBIOS runs (``seabios.pci_setup``): it sizes every BAR through config
   space, places them, programs them and enables decode; every one of those
   accesses reaches the PCI model exactly as a guest's would.
3. SeaBIOS copies option ROMs into 0xc0000.. and runs them: the VGA BIOS
   first (``src/optionroms.c`` ``vgarom_setup``), then QEMU's
   ``kvmvapic.bin`` from fw_cfg (``optionrom_setup``), whose code asks QEMU
   to map the ``kvmvapic-rom`` alias over it (``hw/i386/kvmvapic.c``).
4. SeaBIOS leaves the PAM registers as ``src/fw/shadow.c`` says.
"""

from __future__ import annotations

from dataclasses import replace

from ..errors import CommandLineError, ConfigError, UnsupportedOption
from ..stack import Stack, make_stack
from .config import DeviceSpec, QemuConfig
from .machine import build_machine, machine_reset, map_kvmvapic_rom
from .memory import MemoryRegion
from .vm import VM

__all__ = ["build_vm", "vm_stack", "guest_cpu", "firmware_platform", "boot"]

#: QEMU target/i386/cpu.c: TCG_PHYS_ADDR_BITS, the phys-bits of qemu64 and
#: the other named models unless host-phys-bits or phys-bits is set.
DEFAULT_PHYS_BITS = 40
#: QEMU hw/i386/pc.c: AMD_HT_START / AMD_HT_SIZE, the e820 hole reserved for
#: AMD vCPUs with phys-bits >= 40 on machine types >= 7.1.
AMD_HT_START = 0xfd00000000
AMD_HT_SIZE = 0x300000000


#: ISA devices' I/O regions: (name, size)
ISA_PORT_REGIONS = {"isa-debugcon": ("isa-debugcon", 1), "isa-serial": ("serial", 8),
                    "isa-parallel": ("parallel", 8), "pvpanic": ("pvpanic", 1)}


#: How much of 0xc0000.. a VGA BIOS occupies once SeaVGABIOS has initialised:
#: its image grows past the file size (the header's size byte is rewritten
#: at init).  Measured in real runs (data/references/q35-1G-multi: stdvga,
#: kvmvapic-rom at 0xcc000; pc-1G-multi: bochs-display, kvmvapic-rom at
#: 0xc9000), for Debian's seabios 1.16.2 VGA BIOS files.
VGA_BIOS_DEPLOYED_SIZE = {"vgabios-stdvga.bin": 0xc000, "vgabios-bochs-display.bin": 0x9000}


def guest_cpu(cfg: QemuConfig, stack: Stack) -> tuple[str, int]:
    """The vendor and phys-bits the guest sees, for this stack's host CPU.

    Under KVM QEMU copies the host's vendor into every CPU model
    (target/i386/host-cpu.c ``host_cpu_instance_init``); under TCG the model's
    own vendor stands (qemu64: AuthenticAMD, target/i386/cpu.c
    ``builtin_x86_defs``).  ``-cpu host``/``max`` imply host-phys-bits;
    ``phys-bits=`` overrides; otherwise 40 (``TCG_PHYS_ADDR_BITS``).
    ``vendor=`` sets the vendor explicitly."""
    if stack.accel == "tcg":
        vendor = cfg.cpu_props.get("vendor", "AuthenticAMD" if cfg.cpu_model in ("qemu64", "max")
                                   else stack.cpu_vendor)
    else:
        vendor = cfg.cpu_props.get("vendor", stack.cpu_vendor)
    bits = DEFAULT_PHYS_BITS
    if cfg.cpu_model in ("host", "max") or cfg.cpu_props.get("host-phys-bits") == "on":
        bits = stack.host_phys_bits
    if "phys-bits" in cfg.cpu_props:
        try:
            bits = int(cfg.cpu_props["phys-bits"])
        except ValueError:
            raise CommandLineError(f"-cpu phys-bits={cfg.cpu_props['phys-bits']!r} is not a number") from None
    return vendor, bits


def vm_stack(cfg: QemuConfig, stack: Stack | None = None, accel: str | None = None) -> Stack:
    """The stack this VM is predicted for: ``stack`` (default: the
    :data:`~vfiolab.stack.DEFAULT_STACK` preset with an assumed host CPU)
    with the command line's machine type resolved and the accelerator
    fixed: ``accel`` if given, else the command line's, else KVM, which the
    stack notes, since QEMU itself falls back to TCG when none is named."""
    stack = stack or make_stack(cpu="assumed")
    accel = accel or cfg.accel
    notes = ()
    if accel is None:
        accel = "kvm"
        notes = ("no -accel on the command line: KVM assumed (QEMU itself would use TCG)",)
    if accel not in ("kvm", "tcg"):
        raise ConfigError(f"-accel {accel}: the model knows kvm and tcg")
    s = stack.for_machine(cfg.machine_type).with_accel(accel)
    return replace(s, notes=s.notes + notes) if notes else s


def build_vm(cfg: QemuConfig, *, stack: Stack | None = None, accel: str | None = None,
             host_devices: dict | None = None) -> VM:
    """Steps 1 of the module docstring: machine, memory backends, devices.

    ``host_devices`` maps a host BDF to its :class:`HostDevice` for
    ``-device vfio-pci,host=...``."""
    from .devices import create_device
    stack = vm_stack(cfg, stack, accel)
    vm = build_machine(cfg.machine, cfg.ram_size, accel=stack.accel,
                       max_ram_below_4g=cfg.max_ram_below_4g, hpet=cfg.hpet,
                       vmport=cfg.vmport)
    vm.stack = stack
    vm.config = cfg
    for oid, (qom, size, props) in cfg.memdevs.items():
        # host_memory_backend_memory_complete: one RAM region named by the id
        mr = MemoryRegion.init_ram(oid, size)
        vm.alloc_ram(mr)
        vm.memdevs[oid] = mr
    for dtype, props in cfg.isa_devices:
        # the ISA devices' port regions: hw/char/debugcon.c (1 port at
        # "iobase", default 0xe9), hw/char/serial-isa.c ("serial", 8 ports),
        # hw/char/parallel-isa.c ("parallel", 8 ports), hw/misc/pvpanic-isa.c
        # ("pvpanic", 1 port at 0x505); names checked with QEMU 7.2 info mtree -f
        name, size = ISA_PORT_REGIONS.get(dtype, (dtype, 1))
        try:
            iobase = int(props.get("iobase", "0xe9"), 0)
        except ValueError:
            raise ConfigError(f"-device {dtype}: iobase={props.get('iobase')!r} is not a number") from None
        vm.system_io.add_subregion(iobase, MemoryRegion.init_io(name, size))
    specs = list(cfg.devices)
    if cfg.default_devices is not None:
        # the command-line reader decided QEMU's default devices; the machine
        # creates them (VGA, then NICs) before any -device (pc_init1/pc_q35_init)
        specs = list(cfg.default_devices) + specs
    elif not cfg.nodefaults and not any(s.type in ("VGA", "virtio-vga") for s in specs):
        specs.append(DeviceSpec("VGA", "", {}, len(specs)))
    for spec in specs:
        props = dict(spec.props)
        bus_name = props.pop("bus", None)
        addr = props.pop("addr", None)
        bus = _find_bus(vm, bus_name, spec)
        devfn = _parse_devfn(addr, spec) if addr is not None else None
        if props.get("multifunction") == "on":
            props.pop("multifunction")
            mf = True
        else:
            props.pop("multifunction", None)
            mf = False
        if spec.type == "vfio-pci":
            dev = _vfio_device(spec, props, host_devices or {})
        elif spec.origin:
            try:
                dev = create_device(spec.type, spec.id, props)
            except UnsupportedOption as e:
                raise UnsupportedOption(e.option, e.supported, spec.origin) from None
        else:
            dev = create_device(spec.type, spec.id, props)
        dev.multifunction = mf
        try:
            vm.add_pci_device(dev, bus=bus, devfn=devfn)
        except ConfigError as e:
            # QEMU prefixes a -device error with the option as written
            # (error_report with the option's location)
            raise ConfigError(f"-device {spec.type}{',id=' + spec.id if spec.id else ''}: {e}") from None
    # system reset reaches every device once all are plugged (qdev reset:
    # e.g. a root port's slot control reflects whether its slot is occupied)
    for dev in vm.pci_devices():
        reset = getattr(dev, "reset", None)
        if reset is not None:
            reset()
    return vm


def _vfio_device(spec, props: dict, host_devices: dict):
    """``-device vfio-pci,host=BDF``: the device behind BDF must be described."""
    from .hostdev import normalize_bdf
    from .vfio import VfioPCIDevice, check_host_device
    dev = VfioPCIDevice(spec.id, **props)
    try:
        bdf = normalize_bdf(dev.host)
    except (ValueError, AttributeError):
        raise ConfigError(f"-device vfio-pci{',id=' + spec.id if spec.id else ''}: "
                          f"host={dev.host!r} is not DOMAIN:BUS:DEV.FN") from None
    hd = host_devices.get(bdf)
    if hd is None:
        # the model reads no files: the front end describes every host device
        # (vfiolab.inputs.hostdevs.resolve_host_devices) before the VM is built
        raise ConfigError(f"-device vfio-pci,host={bdf}: no description of host device {bdf} "
                          f"(give --host-device {bdf}=PATH with its lspci -vvv or sysfs folder)")
    check_host_device(hd)
    dev.host = bdf
    dev.vname = bdf
    dev.hostdev = hd
    return dev


def _find_bus(vm: VM, name: str | None, spec):
    if name is None:
        return vm.root_bus
    if name in ("pcie.0", "pci.0"):
        if name != vm.root_bus.name:
            raise ConfigError(f"-device {spec.type}: bus {name!r} not found "
                              f"(the {vm.machine} root bus is {vm.root_bus.name!r})")
        return vm.root_bus
    for dev in vm.devices:
        sec = getattr(dev, "sec_bus", None)
        if sec is not None and (dev.qdev_id == name or sec.name == name):
            return sec
    raise ConfigError(f"-device {spec.type}{',id=' + spec.id if spec.id else ''}: "
                      f"bus {name!r} not found")


def _parse_devfn(addr: str, spec) -> int:
    """``addr=SLOT[.FN]`` in hex, as QEMU's PCI address property reads it."""
    try:
        if "." in addr:
            s, f = addr.split(".", 1)
            slot, fn = int(s, 16), int(f, 16)
        else:
            slot, fn = int(addr, 16), 0
    except ValueError:
        raise ConfigError(f"-device {spec.type}: addr={addr!r} is not SLOT[.FUNCTION] in hex") from None
    if not (0 <= slot < 32 and 0 <= fn < 8):
        raise ConfigError(f"-device {spec.type}: addr={addr!r} out of range (slot 0-0x1f, function 0-7)")
    return slot << 3 | fn


def firmware_platform(vm: VM, cfg: QemuConfig):
    """What the firmware of ``vm.stack`` learns from fw_cfg and CPUID for this VM."""
    from .firmware.seabios import FirmwarePlatform
    stack = vm.stack
    if stack.firmware != "seabios":
        raise ConfigError(f"firmware {stack.firmware_text}: OVMF's BAR placement is not "
                          f"modelled yet; vfiolab models SeaBIOS 1.16.2, 1.16.3 and 1.17.0")
    vendor, bits = guest_cpu(cfg, stack)
    reserved = []
    # hw/i386/pc.c pc_memory_init: AMD vCPUs with phys-bits >= 40 get the
    # HyperTransport hole reserved in e820
    if vendor == "AuthenticAMD" and bits >= 40:
        reserved.append((AMD_HT_START, AMD_HT_SIZE))
    split = vm.ram_split
    return FirmwarePlatform(machine=vm.machine, ram_size=split.below_4g,
                            ram_size_over_4g=split.above_4g, e820_reserved=reserved,
                            reserved_memory_end=None, cpu_vendor=vendor, phys_bits=bits,
                            version=stack.firmware_version)


def boot(vm: VM, platform) -> object:
    """Steps 2-4: SeaBIOS's PCI set-up, option ROMs, final PAM state."""
    from .firmware import seabios
    log: list = []
    machine_reset(vm)
    result = seabios.pci_setup(vm, platform, log,
                               before_readonly=lambda: _run_option_roms(vm))
    vm.firmware = result
    vm.firmware_log = log
    return result


#: SeaBIOS drivers that enable bus mastering on the controllers they drive
#: (``pci_enable_busmaster`` in src/hw/ahci.c ``ahci_controller_setup`` and
#: src/hw/nvme.c ``nvme_controller_setup``), by PCI class.
BUSMASTER_DRIVER_CLASSES = {0x0106: "ahci", 0x0108: "nvme"}


def _run_option_roms(vm: VM) -> None:
    """What POST does between pci_setup and make_bios_readonly (SeaBIOS
    src/post.c ``maininit``): block-device drivers start their controllers
    (``device_hardware_setup``: bus mastering on), then option ROMs run
    (``optionrom_setup``)."""
    for dev in vm.pci_devices():
        if dev.class_id in BUSMASTER_DRIVER_CLASSES:
            cmd = vm.cfg_read(dev.bus.number, dev.devfn, 0x04, 2)
            vm.cfg_write(dev.bus.number, dev.devfn, 0x04, cmd | 0x4, 2)
    # option ROMs: the VGA BIOS of the first display device at 0xc0000
    # (src/optionroms.c vgarom_setup: class VGA first, else any display),
    # then kvmvapic.bin right after it (optionrom_setup, genroms/)
    rom_end = 0xc0000
    displays = [d for d in vm.pci_devices() if d.class_id in (0x0300, 0x0380)
                and getattr(d, "rom_file", None)]
    displays.sort(key=lambda d: d.class_id != 0x0300)
    if displays:
        rom = displays[0].rom_file.rsplit("/", 1)[-1]
        rom_end += VGA_BIOS_DEPLOYED_SIZE.get(rom, 0)
    map_kvmvapic_rom(vm, rom_end)
