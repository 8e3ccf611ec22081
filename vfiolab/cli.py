"""The ``vfiolab`` command line.

``vfiolab predict [--format json|mtree|pci] [--seabios VER] [--cpu-vendor V]
[--phys-bits N] -- <QEMU arguments>`` describes the VM after SeaBIOS has set
up PCI.  ``vfiolab capture --name NAME -- <QEMU arguments>`` records the same
from real QEMU.  Errors the user can fix print one line and exit with 2.
"""

from __future__ import annotations

import argparse
import json
import sys

from .errors import VfiolabError

__all__ = ["main"]

SEABIOS_VERSIONS = ("1.16.2", "1.16.3", "1.17.0")


def _split_qemu(argv: list[str]) -> tuple[list[str], list[str]]:
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1:]
    return argv, []


def _predict(ns, qemu_args: list[str]) -> int:
    from .predict import predict
    if not qemu_args:
        raise VfiolabError("predict needs a QEMU command line after '--', e.g. "
                           "vfiolab predict -- -M q35 -m 1G -nodefaults -device edu")
    hosts = _host_map(ns.host_device)
    p = predict(qemu_args, seabios=ns.seabios, accel=ns.accel, cpu_vendor=ns.cpu_vendor,
                phys_bits=ns.phys_bits, host_devices=hosts)
    if ns.format == "json":
        sys.stdout.write(p.json_text())
    elif ns.format == "mtree":
        sys.stdout.write(p.mtree_flat())
    elif ns.format == "mtree-tree":
        sys.stdout.write(p.mtree())
    else:
        sys.stdout.write(p.info_pci())
    return 0


def _host_map(items) -> dict:
    hosts = {}
    for item in items:
        if "=" not in item:
            raise VfiolabError(f"--host-device {item!r}: expected DOMAIN:BUS:DEV.FN=PATH")
        bdf, path = item.split("=", 1)
        hosts[bdf] = path
    return hosts


def _simulate(ns, qemu_args: list[str]) -> int:
    from .simulate import load_actions, simulate
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
    if not qemu_args:
        raise VfiolabError("simulate needs a QEMU command line after '--'")
    events = simulate(qemu_args, load_actions(actions_path), host_devices=_host_map(ns.host_device),
                      seabios=ns.seabios, cpu_vendor=ns.cpu_vendor)
    sys.stdout.write(json.dumps(events, indent=1) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ours, qemu_args = _split_qemu(argv)
    parser = argparse.ArgumentParser(
        prog="vfiolab",
        description="Where a passthrough device's BARs and DMA land, as QEMU, KVM and VFIO do it.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("predict", help="describe a VM after firmware PCI set-up")
    pp.add_argument("--format", choices=("json", "mtree", "mtree-tree", "pci"), default="json",
                    help="json (default), mtree (= info mtree -f), mtree-tree (= info mtree), pci (= info pci)")
    pp.add_argument("--seabios", choices=SEABIOS_VERSIONS, default="1.16.2")
    pp.add_argument("--accel", choices=("kvm", "tcg"), default="kvm")
    pp.add_argument("--cpu-vendor", choices=("AuthenticAMD", "GenuineIntel"), default=None,
                    help="the vendor QEMU passes to the guest (default: this machine's)")
    pp.add_argument("--phys-bits", type=int, default=None)
    pp.add_argument("--host-device", action="append", default=[], metavar="BDF=PATH",
                    help="describe the host device behind vfio-pci,host=BDF: an lspci -vvv "
                         "(and -xxxx) dump, a data/devices/ folder, or a sysfs folder")
    sp = sub.add_parser("simulate", help="boot, then run guest actions (--actions FILE)")
    sp.add_argument("--actions", default=None, help="JSON list of actions")
    sp.add_argument("--seabios", choices=SEABIOS_VERSIONS, default="1.16.2")
    sp.add_argument("--cpu-vendor", choices=("AuthenticAMD", "GenuineIntel"), default=None)
    sp.add_argument("--host-device", action="append", default=[], metavar="BDF=PATH")
    cp = sub.add_parser("capture", help="record a reference from real QEMU")
    cp.add_argument("rest", nargs=argparse.REMAINDER)
    ns = parser.parse_args(ours)
    try:
        if ns.cmd == "predict":
            return _predict(ns, qemu_args)
        if ns.cmd == "simulate":
            return _simulate(ns, qemu_args)
        from .real import capture
        return capture.main(ns.rest + (["--"] + qemu_args if qemu_args else []))
    except VfiolabError as e:
        print(f"vfiolab: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
