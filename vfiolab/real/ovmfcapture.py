"""Run real QEMU with OVMF (under TCG) and record where the firmware put the BARs.

Debian's OVMF builds are RELEASE builds: they print nothing on the debug
console, so "firmware done" is the boot manager on the serial console
(``BdsDxe: loading Boot0001`` or ``BdsDxe: failed to load``, printed by
``MdeModulePkg/Universal/BdsDxe/BdsEntry.c`` once PCI enumeration is long
over) with ``query-pci`` stable over a few polls.  When the boot manager
never comes (a firmware that stops), the capture records that too
(``meta.json`` ``boot_manager_reached: false``) with ``query-pci`` as it
was at the timeout.

OVMF cannot run under this machine's nested KVM, so captures use
``-accel tcg``; BAR placement does not depend on the accelerator.

Files: ``command.txt`` (the user's command line, what ``vfiolab predict --``
takes), ``query_pci.json``, ``info_pci.txt``, ``info_mtree_f.txt``,
``info_mtree.txt``, ``info_mtree_o.txt`` (``info mtree -o``, with owners;
captures made before it was added lack it), ``serial.log``, ``meta.json``.

Usage::

    python -m vfiolab.real.ovmfcapture --name NAME --out data/ovmf \\
        --qemu-binary /usr/bin/qemu-system-x86_64 --firmware-dir DIR -- ARGS

ARGS must hold the pflash pair (``-drive if=pflash,...``); the string
``@FW@`` in ARGS is replaced by ``--firmware-dir`` and ``@TMP@`` by the
run's temporary folder, which holds a fresh copy of ``DIR/OVMF_VARS_4M.fd``
under the same name (so ``@TMP@/OVMF_VARS_4M.fd`` is the vars unit).
``command.txt`` keeps the placeholders.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import shlex
import shutil
import sys
import time
from pathlib import Path

from .qemurun import QemuRun, read_text

__all__ = ["capture_ovmf", "BOOT_MANAGER_MARKERS", "main"]

#: MdeModulePkg/Universal/BdsDxe/BdsEntry.c ``BootBootOptions``/
#: ``EfiBootManagerBoot`` print these on the console when a boot option is tried.
BOOT_MANAGER_MARKERS = ("BdsDxe: loading Boot", "BdsDxe: failed to load", "BdsDxe: starting Boot")


def capture_ovmf(args: list[str], out_dir, *, qemu: str, firmware_dir: str,
                 timeout: float = 240.0, stable_polls: int = 3) -> dict:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fw = str(Path(firmware_dir).resolve())
    with QemuRun(f"OVMF capture {out.name}", timeout=timeout, prefix="vfiolab-ovmf-") as run:
        shutil.copyfile(Path(fw) / "OVMF_VARS_4M.fd", run.path("OVMF_VARS_4M.fd"))
        real_args = [a.replace("@FW@", fw).replace("@TMP@", run.tmp) for a in args]
        serial = run.path("serial.log")
        sock = run.path("qmp.sock")
        argv = [qemu, *real_args, "-L", fw, "-qmp", f"unix:{sock},server=on,wait=off",
                "-display", "none", "-serial", f"file:{serial}"]
        t0 = time.monotonic()
        run.start(argv)
        run.wait_until(lambda: Path(sock).exists(), "the QMP socket")
        qmp = run.connect_qmp(sock)
        reached = False
        last = None
        same = 0
        while True:
            text = read_text(serial)
            if any(m in text for m in BOOT_MANAGER_MARKERS):
                reached = True
            pci = qmp.command("query-pci", deadline=run.deadline)
            same = same + 1 if pci == last else 0
            last = pci
            if reached and same >= stable_polls:
                break
            if time.monotonic() > run.deadline - 15:
                break
            if run.proc.poll() is not None:
                raise run.fail("QEMU exited")
            time.sleep(1.0)
        elapsed = time.monotonic() - t0
        d = run.deadline
        (out / "query_pci.json").write_text(json.dumps(last, indent=1) + "\n")
        (out / "info_pci.txt").write_text(qmp.hmp("info pci", deadline=d))
        (out / "info_mtree_f.txt").write_text(qmp.hmp("info mtree -f", deadline=d))
        (out / "info_mtree.txt").write_text(qmp.hmp("info mtree", deadline=d))
        # each region's QOM owner: tells apart regions of the same name
        # (two display devices each have a "vga.vram")
        (out / "info_mtree_o.txt").write_text(qmp.hmp("info mtree -o", deadline=d))
        version = qmp.command("query-version", deadline=d)
        (out / "serial.log").write_text(read_text(serial).replace("\r\n", "\n"))
        stderr = read_text(run.stderr_path)
        qmp.command("quit", deadline=d)
    (out / "command.txt").write_text(shlex.join(args) + "\n")
    meta = {
        "name": out.name,
        "args": args,
        "command": shlex.join(args),
        "qemu_binary": qemu,
        "qemu_version": version,
        "firmware_dir": firmware_dir,
        "qemu_argv_extra": ["-L", "@FW@", "-qmp", "unix:<qmp-socket>,server=on,wait=off",
                            "-display", "none", "-serial", "file:<serial.log>"],
        "boot_manager_reached": reached,
        "seconds": round(elapsed, 1),
        "qemu_stderr": stderr,
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    return meta


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv:
        print("usage: ovmfcapture --name N --out DIR --qemu-binary Q --firmware-dir D -- ARGS",
              file=sys.stderr)
        return 2
    i = argv.index("--")
    p = argparse.ArgumentParser(prog="ovmfcapture")
    p.add_argument("--name", required=True)
    p.add_argument("--out", default="data/ovmf")
    p.add_argument("--qemu-binary", default="/usr/bin/qemu-system-x86_64")
    p.add_argument("--firmware-dir", required=True)
    p.add_argument("--timeout", type=float, default=240.0)
    ns = p.parse_args(argv[:i])
    meta = capture_ovmf(argv[i + 1:], Path(ns.out) / ns.name, qemu=ns.qemu_binary,
                        firmware_dir=ns.firmware_dir, timeout=ns.timeout)
    print(f"{ns.name}: boot manager {'reached' if meta['boot_manager_reached'] else 'NOT reached'} "
          f"in {meta['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
