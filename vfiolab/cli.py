"""The ``vfiolab`` command line.

``vfiolab predict [--format json|mtree|mtree-tree|pci|trace|summary|argv] [--stack debian12|debian13]
[--qemu V] [--firmware F] [--kernel V] [--cpu-vendor V] [--phys-bits N]
[--command-file FILE|-] [-- <QEMU arguments>]`` describes the VM after its firmware has set up PCI, for
the named stack (:mod:`vfiolab.stack`).  The QEMU arguments may be pasted as
they come (one quoted string, libvirt's log line, ``qm showcmd --pretty``;
:mod:`vfiolab.inputs.paste`); options the model ignores are listed once on
standard error.  ``--libvirt-xml FILE`` (``virsh dumpxml``) or
``--proxmox-conf FILE`` (``/etc/pve/qemu-server/ID.conf``) give the VM as the
management layer's config instead; ``--format argv`` prints the QEMU command
line it would run.  ``vfiolab capture --name NAME -- <QEMU arguments>`` records
the same from real QEMU.  Errors the user can fix print one line and exit with 2.
"""

from __future__ import annotations

import argparse
import json
import sys

from .errors import VfiolabError

__all__ = ["main"]

SEABIOS_VERSIONS = ("1.16.2", "1.16.3", "1.17.0")
EXAMPLE = ("example:\n  vfiolab predict --stack debian13 --format pci -- "
           "-M q35 -accel kvm -m 2G -nodefaults -device edu,id=edu0")


def _stack_options(p) -> None:
    """The options every command that models a VM takes: what stack it runs on."""
    from .stack import DEFAULT_STACK, FIRMWARES, PRESETS, QEMU_VERSIONS
    g = p.add_argument_group("the stack the VM runs on (vfiolab.stack)")
    g.add_argument("--stack", choices=tuple(PRESETS), default=None,
                   help=f"a preset (default {DEFAULT_STACK}): debian12 = QEMU 7.2, SeaBIOS 1.16.2, "
                        "Linux 6.1; debian13 = QEMU 10.0, SeaBIOS 1.16.3, Linux 6.12")
    g.add_argument("--qemu", choices=tuple(QEMU_VERSIONS), default=None, help="QEMU release")
    g.add_argument("--firmware", choices=tuple(FIRMWARES), default=None, help="guest firmware")
    g.add_argument("--seabios", choices=SEABIOS_VERSIONS, default=None,
                   help="the same as --firmware seabios-VER")
    g.add_argument("--kernel", default=None, metavar="X.Y", help="host Linux release (6.1, 6.12, ...)")
    g.add_argument("--cpu-vendor", choices=("AuthenticAMD", "GenuineIntel"), default=None,
                   help="the host CPU's vendor, which KVM guests see (default: this machine's)")
    g.add_argument("--phys-bits", type=int, default=None,
                   help="the host CPU's physical-address bits (default: this machine's)")
    g.add_argument("--host-kvm-smm", action="store_true", default=False,
                   help="the host's KVM offers SMM (KVM_CAP_X86_SMM; default: not, as on the "
                        "host the reference captures were made on)")


def _management_options(p) -> None:
    """The VM as a management layer describes it, instead of ``-- QEMU ARGS``."""
    g = p.add_argument_group("the VM as libvirt or Proxmox VE describe it (instead of -- QEMU ARGS)")
    g.add_argument("--libvirt-xml", metavar="FILE", default=None,
                   help="a domain XML ('virsh dumpxml DOMAIN'): the command line libvirt "
                        "would run (vfiolab.inputs.libvirt)")
    g.add_argument("--libvirt-version", choices=("9.0.0", "11"), default="9.0.0",
                   help="the libvirt whose spelling to write (default 9.0.0, Debian 12's)")
    g.add_argument("--proxmox-conf", metavar="FILE", default=None,
                   help="a Proxmox VE VM config (/etc/pve/qemu-server/ID.conf): the command "
                        "line 'qm showcmd ID' prints (qemu-server 9.2.6 rules, "
                        "vfiolab.inputs.proxmox)")


def _make_stack(ns):
    from .stack import make_stack
    return make_stack(ns.stack, qemu=ns.qemu, firmware=ns.firmware, kernel=ns.kernel,
                      seabios=ns.seabios, cpu_vendor=ns.cpu_vendor, phys_bits=ns.phys_bits,
                      host_kvm_smm=getattr(ns, "host_kvm_smm", False))


def _split_qemu(argv: list[str]) -> tuple[list[str], list[str]]:
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1:]
    return argv, []


def _qemu_args(ns, qemu_args: list[str]) -> list[str]:
    """The QEMU arguments: after ``--`` or from ``--command-file FILE|-``,
    as pasted (vfiolab.inputs.paste: libvirt's log line, ``qm showcmd``
    output, a quoted string, program path and environment included)."""
    from .inputs.paste import argv_from_text, read_command_file, strip_program
    if getattr(ns, "command_file", None):
        if qemu_args:
            raise VfiolabError("give the QEMU command line either after '--' or with "
                               "--command-file, not both")
        return read_command_file(ns.command_file)
    if len(qemu_args) == 1 and (" " in qemu_args[0].strip() or "\n" in qemu_args[0]):
        return argv_from_text(qemu_args[0], "the argument after '--'")
    return strip_program(qemu_args)


def _notes(cfg) -> None:
    """What the command line reader ignored, once each, and QEMU's warnings, on stderr."""
    if cfg is None:
        return
    for w in getattr(cfg, "warnings", []):
        print(f"vfiolab: warning: QEMU would warn: {w}", file=sys.stderr)
    ignored = getattr(cfg, "ignored", [])
    if ignored:
        print("vfiolab: note: ignored (no effect on PCI, the memory map, memslots or DMA): "
              + ", ".join(ignored), file=sys.stderr)


def _boots_ovmf(qemu_args: list[str]) -> bool:
    """Whether the command line's firmware is OVMF (pflash drives or an OVMF
    ``-bios``: :attr:`~vfiolab.model.config.QemuConfig.firmware_kind`).  A
    command line that does not parse is left to the real parse to report."""
    from .inputs.cmdline import parse_qemu_args
    try:
        return parse_qemu_args(list(qemu_args)).firmware_kind == "ovmf"
    except VfiolabError:
        return False


def _management_args(ns, qemu_args: list[str]):
    """The QEMU arguments for ``--libvirt-xml``/``--proxmox-conf``: (the argv
    the management layer would run, the arguments for the model, the stack).
    Without either: the command line after ``--`` for both."""
    from .stack import PRESETS, DEFAULT_STACK
    lx, pc = getattr(ns, "libvirt_xml", None), getattr(ns, "proxmox_conf", None)
    if not lx and not pc:
        if ns.firmware is None and ns.seabios is None and _boots_ovmf(qemu_args):
            # the command line boots OVMF: the stack preset's OVMF build
            preset = PRESETS[ns.stack or DEFAULT_STACK]
            ns.firmware = f"ovmf-{preset['ovmf']}"
            print(f"vfiolab: note: the command line boots OVMF; using --firmware {ns.firmware} "
                  f"(the {ns.stack or DEFAULT_STACK} preset's)", file=sys.stderr)
        return qemu_args, qemu_args, _make_stack(ns)
    if lx and pc:
        raise VfiolabError("give --libvirt-xml or --proxmox-conf, not both")
    if qemu_args:
        raise VfiolabError(f"{'--libvirt-xml' if lx else '--proxmox-conf'} gives the whole VM; "
                           "drop the QEMU arguments after '--'")
    efi = False
    if lx:
        from .inputs.libvirt import read_libvirt_xml
        notes: list = []
        argv = read_libvirt_xml(lx, libvirt=ns.libvirt_version, notes=notes)
        for n in notes:
            print(f"vfiolab: note: {n}", file=sys.stderr)
        model_args = argv[1:]
        efi = "-blockdev" in argv and any(a.startswith("pflash0=") or ",pflash0=" in a
                                          for a in argv)
    stack = None
    if pc:
        from .inputs.proxmox import read_proxmox_conf, qemu_args_for_model
        stack = _make_stack(ns)
        qemu = f"{stack.qemu[0]}.{stack.qemu[1]}"
        funcs: dict = {}
        for item in ns.host_device:
            bdf = item.split("=", 1)[0].lower()
            if len(bdf) == 10:
                bdf = "0000:" + bdf
            if "." in bdf:
                base, fn = bdf.rsplit(".", 1)
                funcs.setdefault(base, []).append(int(fn, 16))
        notes: list = []
        argv = read_proxmox_conf(pc, qemu=qemu, host_functions=funcs, notes=notes,
                                 cpu_vendor=ns.cpu_vendor)
        for n in notes:
            print(f"vfiolab: note: {n}", file=sys.stderr)
        model_args = qemu_args_for_model(argv, qemu=qemu)
        efi = any(a.startswith("if=pflash") for a in argv) or \
            any("pflash0=" in a for a in argv)
    if efi and ns.firmware is None and ns.seabios is None:
        # the config boots OVMF: the stack's OVMF build (its preset's)
        preset = PRESETS[ns.stack or DEFAULT_STACK]
        ns.firmware = f"ovmf-{preset['ovmf']}"
        print(f"vfiolab: note: the config boots OVMF; using --firmware {ns.firmware}",
              file=sys.stderr)
        stack = None
    return argv, model_args, stack or _make_stack(ns)


def format_argv(argv: list[str]) -> str:
    """A command line one option per line (an option and its value together),
    shell-quoted, with backslash continuations: pasteable into a shell."""
    import shlex
    lines, i = [], 0
    if argv and not argv[0].startswith("-"):
        lines.append(shlex.quote(argv[0]))
        i = 1
    while i < len(argv):
        if i + 1 < len(argv) and not argv[i + 1].startswith("-"):
            lines.append(f"{shlex.quote(argv[i])} {shlex.quote(argv[i + 1])}")
            i += 2
        else:
            lines.append(shlex.quote(argv[i]))
            i += 1
    return " \\\n".join(lines) + "\n"


def _predict(ns, qemu_args: list[str]) -> int:
    from .predict import predict
    qemu_args = _qemu_args(ns, qemu_args)
    shown, qemu_args, stack = _management_args(ns, qemu_args)
    if ns.format == "argv":
        if not shown:
            raise VfiolabError("--format argv needs --libvirt-xml, --proxmox-conf or a QEMU "
                               "command line after '--'")
        sys.stdout.write(format_argv(shown))
        return 0
    if not qemu_args:
        raise VfiolabError("predict needs a QEMU command line after '--' (or --command-file FILE), "
                           "e.g. vfiolab predict -- -M q35 -m 1G -nodefaults -device edu")
    hosts = _host_map(ns.host_device)
    p = predict(qemu_args, stack=stack, accel=ns.accel, host_devices=hosts)
    _notes(p.vm.config)
    if ns.format == "json":
        sys.stdout.write(p.json_text())
    elif ns.format == "mtree":
        sys.stdout.write(p.mtree_flat())
    elif ns.format == "mtree-tree":
        sys.stdout.write(p.mtree())
    elif ns.format == "summary":
        sys.stdout.write(p.summary())
    elif ns.format == "trace":
        sys.stdout.write(p.kvm_trace())
    else:
        sys.stdout.write(p.info_pci())
    return 0


CHECK_EXAMPLE = (
    "example (a GPU on -cpu host, OVMF, a 39-bit VT-d IOMMU, 16 GiB locked memory):\n"
    "  vfiolab check --stack debian13 --firmware ovmf-2025.02 --cpu-vendor GenuineIntel \\\n"
    "      --phys-bits 46 --host-iommu intel --iommu-aw 39 --memlock 16G \\\n"
    "      --host-device 0000:01:00.0=data/devices/gpu-nvidia-rtx6000-ada -- \\\n"
    "      -M q35 -accel kvm -m 16G -nodefaults -cpu host \\\n"
    "      -drive if=pflash,format=raw,unit=0,readonly=on,file=OVMF_CODE_4M.fd \\\n"
    "      -drive if=pflash,format=raw,unit=1,file=OVMF_VARS_4M.fd \\\n"
    "      -device vfio-pci,host=0000:01:00.0,id=gpu0\n"
    "  add --error 'PASTED LINE' to ask where a line of your log comes from.\n"
    "exit status: 0 no item fails, 1 an item fails, 2 the input could not be read")


def _check(ns, qemu_args: list[str]) -> int:
    """``vfiolab check [--format text|json] ... -- <QEMU arguments>``: why a
    passthrough VM would fail (exit 1 when an item fails) and how to fix it."""
    from .addr import parse_size
    from .check import check
    qemu_args = _qemu_args(ns, qemu_args)
    _shown, qemu_args, stack = _management_args(ns, qemu_args)
    if not qemu_args:
        raise VfiolabError("check needs a QEMU command line after '--' (or --command-file, "
                           "--libvirt-xml, --proxmox-conf), e.g. "
                           "vfiolab check -- -M q35 -m 1G -nodefaults -device edu")
    memlock = parse_size(ns.memlock) if ns.memlock is not None else None
    policy, hard_limit = _memlock_policy(ns)
    r = check(qemu_args, stack=stack, accel=ns.accel,
              host_devices=_host_map(ns.host_device), host_iommu=ns.host_iommu,
              iommu_aw=ns.iommu_aw, host_sysfs=ns.host_sysfs,
              kvm_max_gpa_bits=ns.kvm_max_gpa_bits, memlock=memlock, error=ns.error,
              memlock_policy=policy, hard_limit=hard_limit)
    if ns.format == "json":
        sys.stdout.write(json.dumps(r.to_json(), indent=1) + "\n")
    else:
        sys.stdout.write(r.text())
    return 1 if r.failed else 0


def _memlock_policy(ns):
    """The management layer whose locked-memory rule applies
    (vfiolab.model.memlock): ``--memlock-policy``, else the one the VM came
    from (``--libvirt-xml``: the ``--libvirt-version`` release, its
    ``<memtune><hard_limit>`` read too; ``--proxmox-conf``: Proxmox VE),
    else none."""
    from .model.memlock import parse_policy
    lx, pc = getattr(ns, "libvirt_xml", None), getattr(ns, "proxmox_conf", None)
    text = ns.memlock_policy
    if text is None and lx:
        text = f"libvirt-{ns.libvirt_version}"
    elif text is None and pc:
        text = "proxmox"
    policy = parse_policy(text)
    hard = None
    if lx and policy.layer == "libvirt":
        from .inputs.libvirt import read_libvirt_memtune
        hard = read_libvirt_memtune(lx)["hard_limit"]
    return policy, hard


def _host_map(items) -> dict:
    hosts = {}
    for item in items:
        if "=" not in item:
            raise VfiolabError(f"--host-device {item!r}: expected DOMAIN:BUS:DEV.FN=PATH")
        bdf, path = item.split("=", 1)
        hosts[bdf] = path
    return hosts


def _simulate(ns, qemu_args: list[str]) -> int:
    from .simulate import load_actions, simulate_vm
    # `vfiolab simulate -- QEMU ARGS --actions FILE` and `--actions FILE --` both work
    actions_path = ns.actions
    if "--actions" in qemu_args:
        i = qemu_args.index("--actions")
        if i + 1 >= len(qemu_args):
            raise VfiolabError("--actions needs a file name")
        actions_path = qemu_args[i + 1]
        qemu_args = qemu_args[:i] + qemu_args[i + 2:]
    if not actions_path:
        raise VfiolabError("simulate needs --actions FILE (a JSON list of actions)")
    qemu_args = _qemu_args(ns, qemu_args)
    _shown, qemu_args, stack = _management_args(ns, qemu_args)
    if not qemu_args:
        raise VfiolabError("simulate needs a QEMU command line after '--' (or --command-file FILE)")
    vm, events = simulate_vm(qemu_args, load_actions(actions_path),
                             host_devices=_host_map(ns.host_device), stack=stack)
    _notes(getattr(vm, "config", None))
    if ns.format == "table":
        from .simulate import events_table
        sys.stdout.write(events_table(events))
    else:
        sys.stdout.write(json.dumps({"stack": vm.stack.to_json(), "events": events}, indent=1)
                         + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ours, qemu_args = _split_qemu(argv)
    if ours[:1] == ["capture"] and not {"-h", "--help"} & set(ours[1:]):
        # The capture tool parses its own options (--name, --qemu-binary,
        # --firmware-dir, ...); argparse's REMAINDER would refuse a leading
        # "--name" as an unknown option of "vfiolab".
        from .real import capture
        return capture.main(ours[1:] + (["--"] + qemu_args if qemu_args else []))
    parser = argparse.ArgumentParser(
        prog="vfiolab",
        description="Where a passthrough device's BARs and DMA land, as QEMU, KVM and VFIO do it.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("predict", help="describe a VM after firmware PCI set-up",
                        usage="vfiolab predict [options] -- QEMU ARGS", epilog=EXAMPLE,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    pp.add_argument("--format", choices=("json", "mtree", "mtree-tree", "pci", "trace", "summary",
                                         "argv"),
                    default="json",
                    help="json (default), mtree (= info mtree -f), mtree-tree (= info mtree), "
                         "pci (= info pci), trace (= -trace kvm_set_user_memory, in the stack's "
                         "QEMU's format, from machine creation to the end of POST; ua= is "
                         "written <REGION+0xOFFSET>, the RAM region and the offset in its RAM "
                         "block, because the host address is QEMU's and cannot be predicted), "
                         "summary (plain text per passed-through device: "
                         "BARs, flat view, memslots, DMA maps; then RAM and firmware windows), argv (the QEMU command line, e.g. the one "
                         "--libvirt-xml/--proxmox-conf stand for)")
    pp.add_argument("--accel", choices=("kvm", "tcg"), default=None,
                    help="overrides the command line's -accel (default: the command line's, else kvm)")
    _stack_options(pp)
    pp.add_argument("--command-file", default=None, metavar="FILE",
                    help="read the QEMU command line from FILE ('-': standard input) as pasted: "
                         "libvirt's log line, qm showcmd --pretty output, a shell command")
    _management_options(pp)
    pp.add_argument("--host-device", action="append", default=[], metavar="BDF=PATH",
                    help="describe the host device behind vfio-pci,host=BDF: an lspci -vvv "
                         "(and -xxxx) dump, a data/devices/ folder, or a sysfs folder")
    sp = sub.add_parser("simulate", help="boot, then run guest actions (--actions FILE)",
                        usage="vfiolab simulate [options] --actions FILE -- QEMU ARGS",
                        epilog="example:\n  vfiolab simulate --actions acts.json -- -M q35 -accel kvm "
                               "-m 1G -nodefaults -device edu,id=edu0",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    sp.add_argument("--actions", default=None, help="JSON list of actions")
    sp.add_argument("--format", choices=("json", "table"), default="json",
                    help="json (default: {stack, events}) or table (one aligned line per event)")
    _stack_options(sp)
    _management_options(sp)
    sp.add_argument("--host-device", action="append", default=[], metavar="BDF=PATH")
    sp.add_argument("--command-file", default=None, metavar="FILE",
                    help="read the QEMU command line from FILE ('-': standard input)")
    cp = sub.add_parser("capture", help="record a reference from real QEMU")
    cp.add_argument("rest", nargs=argparse.REMAINDER)
    kp = sub.add_parser("check", help="why doesn't my passthrough work? verdicts and a fix",
                        usage="vfiolab check [options] -- QEMU ARGS", epilog=CHECK_EXAMPLE,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    kp.add_argument("--format", choices=("text", "json"), default="text")
    kp.add_argument("--accel", choices=("kvm", "tcg"), default=None,
                    help="overrides the command line's -accel")
    _stack_options(kp)
    kp.add_argument("--command-file", default=None, metavar="FILE",
                    help="read the QEMU command line from FILE ('-': standard input), as pasted")
    _management_options(kp)
    kp.add_argument("--host-device", action="append", default=[], metavar="BDF=PATH",
                    help="the host device behind vfio-pci,host=BDF (as for predict)")
    g = kp.add_argument_group("the host")
    g.add_argument("--host-iommu", choices=("intel", "amd"), default=None,
                   help="the host IOMMU (default: the CPU vendor's)")
    g.add_argument("--iommu-aw", type=int, default=None, metavar="BITS",
                   help="the host IOMMU domain's address width (default 48)")
    g.add_argument("--host-sysfs", default=None, metavar="DIR",
                   help="a copy of the host's /sys: class/iommu/dmar*/intel-iommu/cap and "
                        "kernel/iommu_groups/*/reserved_regions")
    g.add_argument("--kvm-max-gpa-bits", type=int, default=None, metavar="N",
                   help="KVM's largest GPA width (default: the host's phys-bits)")
    g.add_argument("--memlock", default=None, metavar="BYTES",
                   help="QEMU's RLIMIT_MEMLOCK (e.g. 16G or 17179869184)")
    g.add_argument("--memlock-policy", default=None, metavar="LAYER",
                   help="the management layer that sets QEMU's locked-memory limit: "
                        "libvirt-X.Y (e.g. libvirt-9.0.0), proxmox, kubevirt-1.8, kubevirt-1.9, "
                        "kubevirt-main, none (default: the one --libvirt-xml/--proxmox-conf "
                        "name, else none)")
    kp.add_argument("--error", default=None, metavar="LINE",
                    help="a line from a QEMU log, dmesg or Device Manager: which item produces it")
    ns = parser.parse_args(ours)
    try:
        if ns.cmd == "predict":
            return _predict(ns, qemu_args)
        if ns.cmd == "simulate":
            return _simulate(ns, qemu_args)
        if ns.cmd == "check":
            return _check(ns, qemu_args)
        from .real import capture
        return capture.main(ns.rest + (["--"] + qemu_args if qemu_args else []))
    except VfiolabError as e:
        print(f"vfiolab: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
