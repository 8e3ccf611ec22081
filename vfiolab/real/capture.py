"""Run real QEMU once and record what it shows: the reference captures.

A capture starts ``qemu-system-x86_64`` with the user's command line, lets
SeaBIOS run its power-on self test (POST) up to the point where it tries to
boot, and then asks QEMU for the text the notebooks and ``vfiolab predict``
compare against:

``info_pci.txt``
    HMP ``info pci`` (QEMU ``hw/pci/pci.c`` ``hmp_info_pci``).
``info_mtree_f.txt`` / ``info_mtree.txt``
    HMP ``info mtree -f`` (the FlatViews) and ``info mtree`` (the
    MemoryRegion trees), QEMU ``softmmu/memory.c`` ``mtree_info``.
``trace.log``
    The trace events ``kvm_set_user_memory`` (QEMU ``accel/kvm/trace-events``,
    one line per ``KVM_SET_USER_MEMORY_REGION`` ioctl) and
    ``pci_update_mappings_add`` / ``pci_update_mappings_del`` (QEMU
    ``hw/pci/trace-events``, one line per BAR mapped or unmapped in guest
    physical address space).
``pci_cfg_write.log``
    The ``pci_cfg_write`` trace event on its own: every PCI configuration
    write the firmware made, for readers who want to follow SeaBIOS's sizing
    and programming of the BARs.
``seabios.log``
    SeaBIOS's debug output (its ``dprintf``/``printf`` text on the QEMU
    ``isa-debugcon`` port 0x402).
``command.txt``, ``meta.json``
    The user's command line (one shell-quoted line, what
    ``vfiolab predict -- ...`` takes) and how the capture was made.

The tool only stores raw text; reading it is the job of ``vfiolab.inputs``.
Everything here is the standard library.

Which QEMU and which firmware: ``--qemu-binary`` (default
``qemu-system-x86_64`` on PATH) and ``--firmware-dir`` (passed to QEMU as
``-L DIR``, searched before the folders compiled into QEMU: QEMU
``system/datadir.c`` ``qemu_add_data_dir``/``qemu_find_file``).  ``meta.json``
records what ran: the QEMU version (QMP ``query-version`` and HMP ``info
version``), the SeaBIOS version (its debug log's first line), the Debian
package versions of QEMU and of the firmware files (``dpkg-query`` for the
system's; ``versions.txt`` of ``scripts/fetch-stack.sh`` for its wrappers and
the ``MANIFEST`` of an ``-L`` folder it made), the exact command line, the
host kernel (``uname -r``) and the host CPU.

Usage::

    python -m vfiolab capture --name q35-1G-edu [--out data/references] \\
        [--accel auto|kvm|tcg] [--qemu-binary PATH] [--firmware-dir DIR] \\
        -- -machine q35 -m 1G -nodefaults -device edu,id=edu0
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ..errors import CaptureError, CommandLineError
from .qemurun import (DISPLAY_OPTIONS, QemuRun, check_args, choose_accel, host_cpu,
                      kvm_usable, opt_name, option_value, qemu_available, read_text,
                      strip_accel)

__all__ = [
    "capture", "qemu_available", "kvm_usable", "choose_accel",
    "POST_DONE_MARKERS", "TRACE_EVENTS", "CFG_EVENT", "main",
]

#: Trace events kept in ``trace.log``.  Names and formats from QEMU 7.2
#: ``accel/kvm/trace-events`` and ``hw/pci/trace-events``.
TRACE_EVENTS = ("kvm_set_user_memory", "pci_update_mappings_add",
                "pci_update_mappings_del")
#: Traced as well and split off into ``pci_cfg_write.log`` (QEMU
#: ``hw/pci/trace-events``; fired by ``pci_host_config_write_common``).
CFG_EVENT = "pci_cfg_write"

#: Lines of the SeaBIOS debug log that mean POST is over and every BAR has
#: been placed.  SeaBIOS ``src/boot.c``: ``do_boot()`` prints "Booting from
#: Floppy..." / "Hard Disk..." (and ``boot_cdrom``/``boot_cbfs``/``boot_rom``
#: "Booting from DVD/CD..." / "CBFS..." / "ROM...") before it tries each boot
#: entry, and ``boot_fail()`` prints "No bootable device." when none is left.
#: Both run from the int 19h handler, which ``startBoot()`` in ``src/post.c``
#: calls only after ``maininit()`` finished PCI setup (``pci_setup()``) and
#: the option ROMs.  "Booting from " also matches when a boot device exists,
#: and it is printed before any boot sector or option-ROM boot code runs.
POST_DONE_MARKERS = ("Booting from ", "No bootable device")

#: SeaBIOS gives up (``panic()``, then halts) with these lines when the BARs
#: do not fit: SeaBIOS ``src/fw/pciinit.c`` ``pci_bios_map_devices()``.
#: Waiting longer would only run into the timeout, so they end the wait.
SEABIOS_PANIC_MARKERS = ("PCI: out of I/O address space",
                         "PCI: out of 32bit address space")

#: Options that would fight with what the tool adds itself.
_CONFLICTING = {
    "-qmp": "the tool opens its own QMP socket",
    "-qmp-pretty": "the tool opens its own QMP socket",
    "-daemonize": "the tool must own the QEMU process",
    "-trace": "the tool sets the trace events and file itself",
    "-D": "the tool uses the log file for the trace",
    "-incoming": "a capture starts a fresh machine",
    "-loadvm": "a capture starts a fresh machine",
    "-L": "give the firmware folder with --firmware-dir (firmware_dir=), so "
          "meta.json can record its package versions",
}

# Placeholders for the temporary paths in meta.json's qemu_argv.
_PH_QMP = "<qmp-socket>"
_PH_EVENTS = "<trace-events>"
_PH_TRACE = "<trace-log>"
_PH_DEBUG = "<seabios-log>"
_PH_FIRMWARE = "<firmware-dir>"

# A trace line from QEMU's "log" backend may start with "PID@SEC.USEC:" when
# timestamps are on (-msg timestamp=on); that prefix is machine specific.
_TRACE_PREFIX = re.compile(r"^\d+@\d+\.\d+:")


# ---------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------

def _build_argv(qemu_path: str, user_args: list[str], accel: str,
                paths: dict[str, str], firmware_dir: str | None = None) -> list[str]:
    """The full argv: ``-L firmware_dir`` (when given), the user's args
    (accelerator replaced) plus what we need."""
    cleaned, _ = strip_accel(user_args)
    argv = [qemu_path] + (["-L", firmware_dir] if firmware_dir else [])
    argv += cleaned + ["-accel", accel]
    if "-S" not in cleaned:
        argv.append("-S")
    argv += ["-qmp", f"unix:{paths['qmp']},server=on,wait=off"]
    if not any(opt_name(a) in DISPLAY_OPTIONS for a in cleaned):
        argv += ["-display", "none"]
    # SeaBIOS writes its debug text to I/O port 0x402 (CONFIG_DEBUG_IO,
    # DebugOutputPort in SeaBIOS src/hw/serialio.c); QEMU's isa-debugcon
    # device turns those writes into a character stream.
    argv += ["-chardev", f"file,id=vfiolab-dbg,path={paths['debug']}",
             "-device", "isa-debugcon,iobase=0x402,chardev=vfiolab-dbg"]
    argv += ["-trace", f"events={paths['events']},file={paths['trace']}"]
    return argv


def _placeholder_argv(argv: list[str], paths: dict[str, str], tmp: str) -> list[str]:
    """argv with temporary paths (and the binary's directory) replaced."""
    subst = [(paths["qmp"], _PH_QMP), (paths["events"], _PH_EVENTS),
             (paths["trace"], _PH_TRACE), (paths["debug"], _PH_DEBUG),
             (tmp, "<tmp>")]
    if paths.get("firmware"):
        subst.append((paths["firmware"], _PH_FIRMWARE))
    out = [os.path.basename(argv[0])]
    for arg in argv[1:]:
        for real, ph in subst:
            arg = arg.replace(real, ph)
        out.append(arg)
    return out


# ---------------------------------------------------------------------------
# The capture
# ---------------------------------------------------------------------------

def _complete_lines(log: str) -> list[str]:
    """The lines of a growing log that already end in a newline."""
    return log.split("\n")[:-1]


def _post_state(log: str) -> tuple[str | None, str | None]:
    """(done marker found, panic line found) in the SeaBIOS log so far.

    Only complete lines count, so a line still being written is not taken
    for a marker.
    """
    lines = _complete_lines(log)
    for line in lines:
        for marker in SEABIOS_PANIC_MARKERS:
            if marker in line:
                return None, line.strip()
    for line in lines:
        for marker in POST_DONE_MARKERS:
            if line.startswith(marker):
                return marker, None
    return None, None


def _cut_at_marker(log: str) -> str:
    """The SeaBIOS log up to and including the first POST-done line.

    What SeaBIOS prints after it depends on how quickly the guest was
    stopped, so it is left out to keep the stored log the same from run to
    run.
    """
    out = []
    for line in _complete_lines(log):
        out.append(line)
        if any(line.startswith(m) for m in POST_DONE_MARKERS):
            break
    return "\n".join(out) + "\n" if out else ""


def _split_trace(raw: str) -> tuple[str, str]:
    """(trace.log text, pci_cfg_write.log text) from QEMU's trace file.

    Drops a ``PID@SEC.USEC:`` prefix when present (machine specific) and any
    line that is not one of our events.  ``ua=`` addresses stay: they are
    the real QEMU process's userspace addresses.
    """
    main_lines, cfg_lines = [], []
    for line in raw.splitlines():
        line = _TRACE_PREFIX.sub("", line)
        event = line.split(" ", 1)[0]
        if event in TRACE_EVENTS:
            main_lines.append(line)
        elif event == CFG_EVENT:
            cfg_lines.append(line)
    join = lambda ls: "\n".join(ls) + ("\n" if ls else "")  # noqa: E731
    return join(main_lines), join(cfg_lines)


def _seabios_version(log: str) -> str | None:
    # SeaBIOS src/output.c / src/post.c: the first line is
    # "SeaBIOS (version <VERSION>)".
    first = log.splitlines()[0] if log else ""
    m = re.match(r"SeaBIOS \(version ([^)]*)\)", first)
    return m.group(1) if m else None


def firmware_name(seabios_version: str | None) -> str | None:
    """``seabios-1.16.3`` for a SeaBIOS version string such as
    ``1.16.3-debian-1.16.3-2~bpo12+1`` (the upstream part before the first
    ``-``); the ``--firmware`` value ``vfiolab predict`` takes."""
    if not seabios_version:
        return None
    m = re.match(r"(\d+\.\d+(?:\.\d+)?)", seabios_version)
    return f"seabios-{m.group(1)}" if m else None


def _dpkg(*args: str) -> str | None:
    """stdout of ``dpkg-query ARGS`` (None when dpkg is missing or fails)."""
    try:
        res = subprocess.run(["dpkg-query", *args], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             timeout=20, text=True)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return res.stdout if res.returncode == 0 else None


def _dpkg_versions(packages) -> dict[str, str]:
    """``{package: version}`` of the installed ones among ``packages``
    (``dpkg-query -W -f '${Package}=${Version}\\n'``)."""
    out = _dpkg("-W", "-f", "${Package}=${Version}\\n", *packages) or ""
    found = {}
    for line in out.splitlines():
        name, _, version = line.partition("=")
        if name and version:
            found[name.split(":")[0]] = version
    return found


def _read_versions_txt(path: Path, piece: str) -> dict[str, str]:
    """The ``package=version`` of ``piece`` in a versions.txt written by
    ``scripts/fetch-stack.sh`` (lines ``piece package=version suite``)."""
    found = {}
    for line in read_text(path).splitlines():
        words = line.split()
        if len(words) >= 2 and not line.startswith("#") and words[0] == piece:
            name, _, version = words[1].partition("=")
            found[name] = version
    return found


def qemu_packages(qemu_path: str) -> tuple[dict[str, str], str | None]:
    """The Debian packages of the QEMU binary that ran, and where that came from.

    A wrapper ``<DIR>/bin/qemu-system-x86_64-<V>`` written by
    ``scripts/fetch-stack.sh`` runs the QEMU it unpacked as piece
    ``qemu-<V>``; ``<DIR>/versions.txt`` names its packages.  Anything else
    is looked up as an installed file: ``dpkg-query -S`` gives the owning
    package (after following symlinks), ``dpkg-query -W`` its version.
    """
    p = Path(qemu_path)
    m = re.fullmatch(r"qemu-system-x86_64-(\d+\.\d+)", p.name)
    versions_txt = p.parent.parent / "versions.txt"
    if m and p.parent.name == "bin" and versions_txt.is_file():
        found = _read_versions_txt(versions_txt, f"qemu-{m.group(1)}")
        if found:
            return found, str(versions_txt)
    real = os.path.realpath(qemu_path)
    owner = _dpkg("-S", real)
    if owner:
        names = [w.strip() for w in owner.split(":", 1)[0].split(",")]
        found = _dpkg_versions(names)
        if found:
            return found, f"dpkg-query -S {real}"
    return {}, None


#: The Debian packages that hold the firmware files QEMU loads when no -L
#: folder is given (Debian 12: /usr/share/qemu/bios-256k.bin links to the
#: seabios package's file; the NIC ROMs come from ipxe-qemu; kvmvapic.bin,
#: linuxboot_dma.bin from qemu-system-data).
SYSTEM_FIRMWARE_PACKAGES = ("seabios", "ipxe-qemu", "qemu-system-data")


def firmware_packages(firmware_dir: str | None) -> tuple[dict[str, str], str | None]:
    """The packages of the firmware files, and where that came from.

    An ``-L`` folder made by ``scripts/fetch-stack.sh`` has a ``MANIFEST``
    whose ``# packages:`` block lists ``package=version`` lines; without a
    folder the system's packages are asked with ``dpkg-query -W``.  An
    ``-L`` folder without a MANIFEST gives ``({}, None)``: nothing is guessed.
    """
    if firmware_dir is None:
        found = _dpkg_versions(SYSTEM_FIRMWARE_PACKAGES)
        return found, ("dpkg-query -W" if found else None)
    manifest = Path(firmware_dir) / "MANIFEST"
    found, on = {}, False
    for line in read_text(manifest).splitlines():
        if line.startswith("# packages:"):
            on = True
            continue
        if on:
            if line.startswith("#"):
                break
            name, eq, version = line.strip().partition("=")
            if eq:
                found[name] = version
    return found, (f"{manifest}" if found else None)


def host_cpu_model(cpuinfo: str = "/proc/cpuinfo") -> str | None:
    """The host CPU's ``model name`` line of /proc/cpuinfo."""
    m = re.search(r"^model name\s*:\s*(.+)$", read_text(cpuinfo), re.M)
    return m.group(1).strip() if m else None


def _varies(qemu_version: tuple[int, int]) -> dict:
    # QEMU 8.2 moved softmmu/ to system/ (commit "softmmu: Rename softmmu/
    # to system/", first in v8.2.0).
    src = "system" if qemu_version >= (8, 2) else "softmmu"
    return {
        "trace.log": "ua=... are userspace addresses of the QEMU process "
                     "that made the capture; they differ from run to run",
        "seabios.log": "kvmclock / CPU Mhz lines give the host TSC "
                       "frequency",
        "info_mtree_f.txt": "the order of the FlatView blocks and so their "
                            "'FlatView #N' numbers: QEMU walks a hash table "
                            f"keyed by pointers ({src}/memory.c "
                            "mtree_info_flatview); the blocks themselves "
                            "are the same",
        "info_mtree.txt": "the order of the address-space: and "
                          "memory-region: blocks, for the same reason "
                          f"({src}/memory.c mtree_info_as)",
        "meta.json": "date, kernel_release, host_* describe the capturing host",
    }


def _tool_options(accel: str, qemu: str, firmware_dir: str | None) -> list[str]:
    """The capture options that make the same capture again."""
    opts = ["--accel", accel]
    if qemu != "qemu-system-x86_64":
        opts += ["--qemu-binary", qemu]
    if firmware_dir:
        opts += ["--firmware-dir", firmware_dir]
    return opts


def _default_made_by(out_dir: Path, opts: list[str], args: list[str]) -> str:
    out = out_dir.parent
    try:
        out = out.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        pass
    return shlex.join(["python", "-m", "vfiolab", "capture", "--name", out_dir.name,
                       "--out", str(out), *opts, "--", *args])


def capture(args: list[str], out_dir, *, accel: str = "auto",
            timeout: float = 60.0, qemu: str = "qemu-system-x86_64",
            firmware_dir: str | None = None, made_by: str | None = None) -> dict:
    """Run QEMU with ``args`` until SeaBIOS finished POST; record into out_dir.

    ``args`` is the QEMU command line without the binary.  ``qemu`` is the
    binary (a name on PATH or a path); ``firmware_dir``, when given, is
    passed as ``-L`` before ``args``.  Returns the metadata written to
    ``meta.json``.  Raises ``CaptureError`` (with the tail of QEMU's stderr
    and what was being waited for) when QEMU fails, SeaBIOS panics or
    ``timeout`` seconds pass; the QEMU process is always ended.  Files are
    written only when the capture succeeded.
    """
    args = check_args(args, "capture", _CONFLICTING)
    out_dir = Path(out_dir)
    qemu_path = shutil.which(qemu)
    if qemu_path is None:
        raise CaptureError(f"{qemu} not found on PATH")
    if firmware_dir is not None:
        firmware_dir = str(firmware_dir)
        if not Path(firmware_dir).is_dir():
            raise CaptureError(f"firmware folder {firmware_dir} (QEMU -L) is not a directory")
    chosen = choose_accel(accel, qemu)
    _, requested = strip_accel(args)

    with QemuRun("capture", timeout=timeout, prefix="vfiolab-cap-") as run:
        tmp = run.tmp
        paths = {"qmp": run.path("qmp.sock"), "events": run.path("events.txt"),
                 "trace": run.path("trace.raw"), "debug": run.path("seabios.log"),
                 "firmware": firmware_dir}
        Path(paths["events"]).write_text("\n".join(TRACE_EVENTS + (CFG_EVENT,)) + "\n")
        argv = _build_argv(qemu_path, args, chosen, paths, firmware_dir)
        run.start(argv)

        # 1. QMP socket; the machine starts stopped (-S) until we say cont.
        run.wait_until(lambda: os.path.exists(paths["qmp"]),
                       "QEMU to start and open its QMP socket", poll=0.02,
                       exited="QEMU exited early")
        run.waiting_for = "QMP qmp_capabilities/cont"
        run.connect_qmp(paths["qmp"])
        run.qmp_calls(lambda q: q.command("cont", deadline=run.deadline),
                      "QMP qmp_capabilities/cont")

        # 2. SeaBIOS POST.
        def post_done():
            marker, panic = _post_state(read_text(paths["debug"]))
            if panic:
                raise run.fail(f"SeaBIOS gave up: {panic!r}")
            return marker

        def last_line() -> str:
            last = read_text(paths["debug"]).strip().splitlines()[-1:] or ["(empty)"]
            return f"; last SeaBIOS line: {last[0]!r}"

        marker = run.wait_until(
            post_done, "SeaBIOS to finish POST (a debug-log line starting with "
            + " or ".join(repr(m) for m in POST_DONE_MARKERS) + ")",
            timeout_detail=last_line)

        # 3. Snapshot.  The guest is stopped first so the pictures match.
        def snapshot(q):
            dl = run.deadline
            q.command("stop", deadline=dl)
            return (q.hmp("info pci", deadline=dl), q.hmp("info mtree -f", deadline=dl),
                    q.hmp("info mtree", deadline=dl), q.command("query-version", deadline=dl),
                    q.hmp("info version", deadline=dl))

        info_pci, mtree_f, mtree, version, info_version = run.qmp_calls(
            snapshot, "QMP answers (stop, info pci, info mtree, query-version, "
                      "info version, quit)")
        run.quit()

        trace, cfg = _split_trace(read_text(paths["trace"]))
        seabios = _cut_at_marker(read_text(paths["debug"]))
        stderr_text = run.stderr_text()

    qv = (version or {}).get("qemu", {})
    vendor, phys_bits = host_cpu()
    seabios_version = _seabios_version(seabios)
    qpk, qpk_from = qemu_packages(qemu_path)
    fpk, fpk_from = firmware_packages(firmware_dir)
    opts = _tool_options(accel, qemu, firmware_dir)
    meta = {
        "name": out_dir.name,
        "args": args,
        "command": shlex.join(args),
        "qemu_binary": qemu,
        "firmware_dir": firmware_dir,
        "qemu_argv": _placeholder_argv(argv, paths, tmp),
        "accel": chosen,
        "accel_asked": accel,
        "accel_in_args": requested,
        "qemu_version": f"{qv.get('major')}.{qv.get('minor')}.{qv.get('micro')}",
        "qemu_package": (version or {}).get("package", "").strip(),
        "qemu_info_version": (info_version or "").strip(),
        "qemu_packages": qpk,
        "qemu_packages_from": qpk_from,
        "seabios_version": seabios_version,
        "firmware": firmware_name(seabios_version),
        "firmware_packages": fpk,
        "firmware_packages_from": fpk_from,
        "post_marker": marker,
        "host_cpu_vendor": vendor,
        "host_cpu_model": host_cpu_model(),
        "host_phys_bits": phys_bits,
        "guest_cpu": option_value(args, ("-cpu",)),
        "kernel_release": platform.release(),
        "date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
                   .isoformat().replace("+00:00", "Z"),
        "made_by": made_by or _default_made_by(out_dir, opts, args),
        "qemu_stderr": stderr_text.strip().splitlines(),
        "varies": _varies((qv.get("major") or 0, qv.get("minor") or 0)),
        "notes": [
            "HMP output (info pci, info mtree) is stored with LF line ends; "
            "QMP's human-monitor-command returns it with CRLF.",
            "The tool adds an isa-debugcon device at I/O port 0x402 for the "
            "SeaBIOS log; it shows in info mtree as 'isa-debugcon'.",
            "The guest was stopped (QMP stop) right after the POST marker, "
            "before the snapshot; seabios.log ends at the marker line.",
        ],
    }
    files = {
        "command.txt": shlex.join(args) + "\n",
        "info_pci.txt": info_pci,
        "info_mtree_f.txt": mtree_f,
        "info_mtree.txt": mtree,
        "trace.log": trace,
        "pci_cfg_write.log": cfg,
        "seabios.log": seabios,
    }
    meta["files"] = sorted(list(files) + ["meta.json"])
    out_dir.mkdir(parents=True, exist_ok=True)
    for fname, text in files.items():
        (out_dir / fname).write_text(text)
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

_USAGE = ("usage: python -m vfiolab capture --name NAME [--out DIR] "
          "[--accel auto|kvm|tcg] [--timeout SECONDS] [--qemu-binary PATH] "
          "[--firmware-dir DIR] -- QEMU ARGS...")

#: ``--qemu`` is the older spelling of ``--qemu-binary``.
_ALIASES = {"qemu": "qemu-binary"}


def _parse_cli(argv: list[str]) -> dict:
    if "--" not in argv:
        raise CommandLineError("the QEMU command line must follow '--'; " + _USAGE)
    cut = argv.index("--")
    own, qemu_args = argv[:cut], argv[cut + 1:]
    opts = {"name": None, "out": "data/references", "accel": "auto",
            "timeout": "60", "qemu-binary": "qemu-system-x86_64", "firmware-dir": None}
    i = 0
    while i < len(own):
        word = own[i]
        if word in ("-h", "--help"):
            opts["help"] = True
            i += 1
            continue
        key, eq, val = word.partition("=")
        if key[2:] in _ALIASES:
            key = "--" + _ALIASES[key[2:]]
        if not key.startswith("--") or key[2:] not in opts:
            raise CommandLineError(f"unknown option {word!r}; " + _USAGE)
        if not eq:
            if i + 1 >= len(own):
                raise CommandLineError(f"{key} needs a value; " + _USAGE)
            val = own[i + 1]
            i += 1
        opts[key[2:]] = val
        i += 1
    if opts.get("help"):
        return opts
    name = opts["name"]
    if not name or "/" in name or name in (".", "..") or name.startswith("-"):
        raise CommandLineError(f"--name must be a plain folder name, not {name!r}")
    if opts["accel"] not in ("auto", "kvm", "tcg"):
        raise CommandLineError(f"--accel must be auto, kvm or tcg, not {opts['accel']!r}")
    try:
        opts["timeout"] = float(opts["timeout"])
    except ValueError:
        raise CommandLineError(f"--timeout must be a number of seconds, not {opts['timeout']!r}") from None
    if opts["firmware-dir"] is not None and not Path(opts["firmware-dir"]).is_dir():
        raise CommandLineError(f"--firmware-dir {opts['firmware-dir']}: not a directory")
    if not qemu_args:
        raise CommandLineError("no QEMU arguments after '--'")
    opts["args"] = qemu_args
    return opts


def main(argv=None) -> int:
    """``python -m vfiolab capture --name NAME [--out DIR] [--accel A]
    [--qemu-binary PATH] [--firmware-dir DIR] -- ARGS``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv in ([], ["-h"], ["--help"]):
            print(_USAGE)
            return 0
        opts = _parse_cli(argv)
        if opts.get("help"):
            print(_USAGE)
            return 0
        out_dir = Path(opts["out"]) / opts["name"]
        tool = _tool_options(opts["accel"], opts["qemu-binary"], opts["firmware-dir"])
        made_by = shlex.join(["python", "-m", "vfiolab", "capture", "--name", opts["name"],
                              "--out", opts["out"], *tool, "--", *opts["args"]])
        t0 = time.monotonic()
        meta = capture(opts["args"], out_dir, accel=opts["accel"],
                       timeout=opts["timeout"], qemu=opts["qemu-binary"],
                       firmware_dir=opts["firmware-dir"], made_by=made_by)
    except (CaptureError, CommandLineError) as exc:
        print(f"vfiolab capture: error: {exc}", file=sys.stderr)
        return 2
    took = time.monotonic() - t0
    print(f"captured {opts['name']} with {meta['accel']} in {took:.1f} s "
          f"(QEMU {meta['qemu_version']}, SeaBIOS {meta['seabios_version']}, "
          f"POST marker {meta['post_marker']!r})")
    for fname in meta["files"]:
        print(f"  wrote {out_dir / fname}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
