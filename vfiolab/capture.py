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

The tool only stores raw text; reading it is the job of ``vfiolab.parsers``.
Everything here is the standard library.

Usage::

    python -m vfiolab.capture --name q35-1G-edu [--out data/references] \\
        [--accel auto|kvm|tcg] -- -machine q35 -m 1G -nodefaults -device edu,id=edu0
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import functools
import json
import os
import platform
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .errors import CaptureError, CommandLineError

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
}
_DISPLAY_OPTIONS = ("-display", "-nographic", "-vnc", "-spice", "-sdl", "-curses")

# Placeholders for the temporary paths in meta.json's qemu_argv.
_PH_QMP = "<qmp-socket>"
_PH_EVENTS = "<trace-events>"
_PH_TRACE = "<trace-log>"
_PH_DEBUG = "<seabios-log>"

# KVM_GET_API_VERSION = _IO(KVMIO, 0x00) with KVMIO 0xAE (Linux
# include/uapi/linux/kvm.h); the stable API answers 12 (KVM_API_VERSION).
_KVM_GET_API_VERSION = 0xAE00
_KVM_API_VERSION = 12

# A trace line from QEMU's "log" backend may start with "PID@SEC.USEC:" when
# timestamps are on (-msg timestamp=on); that prefix is machine specific.
_TRACE_PREFIX = re.compile(r"^\d+@\d+\.\d+:")


# ---------------------------------------------------------------------------
# What is on this machine
# ---------------------------------------------------------------------------

def qemu_available(qemu: str = "qemu-system-x86_64") -> bool:
    """True when ``qemu`` is on PATH and answers ``--version``."""
    path = shutil.which(qemu)
    if path is None:
        return False
    try:
        res = subprocess.run([path, "--version"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return res.returncode == 0


def _dev_kvm_opens() -> bool:
    """/dev/kvm opens read-write and speaks the stable KVM API (version 12)."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return fcntl.ioctl(fd, _KVM_GET_API_VERSION) == _KVM_API_VERSION
    except OSError:
        return False
    finally:
        os.close(fd)


@functools.lru_cache(maxsize=None)
def kvm_usable(qemu: str = "qemu-system-x86_64") -> bool:
    """True when /dev/kvm opens read-write and QEMU starts with ``-accel kvm``.

    The probe starts an empty machine (``-machine none``) with KVM, which
    makes QEMU create a KVM VM, and quits it over QMP on stdin.
    """
    if not _dev_kvm_opens():
        return False
    path = shutil.which(qemu)
    if path is None:
        return False
    script = b'{"execute": "qmp_capabilities"}\n{"execute": "quit"}\n'
    try:
        res = subprocess.run(
            [path, "-machine", "none", "-accel", "kvm", "-nodefaults",
             "-display", "none", "-S", "-qmp", "stdio"],
            input=script, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return res.returncode == 0 and b'"return"' in res.stdout


def choose_accel(accel: str = "auto", qemu: str = "qemu-system-x86_64") -> str:
    """``"kvm"`` or ``"tcg"`` for an ``accel`` of ``auto``, ``kvm`` or ``tcg``.

    ``auto`` takes KVM when ``kvm_usable()``; ``kvm`` insists on it and
    raises ``CaptureError`` when it is not usable.
    """
    if accel == "auto":
        return "kvm" if kvm_usable(qemu) else "tcg"
    if accel == "kvm":
        if not kvm_usable(qemu):
            raise CaptureError("accel=kvm asked for, but KVM is not usable here "
                               "(/dev/kvm cannot be opened read-write, or QEMU "
                               "fails to start with -accel kvm)")
        return "kvm"
    if accel == "tcg":
        return "tcg"
    raise CommandLineError(f"accel must be auto, kvm or tcg, not {accel!r}")


def _host_cpu() -> tuple[str | None, int | None]:
    """Host CPU vendor and physical address bits from /proc/cpuinfo."""
    vendor = bits = None
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return None, None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "vendor_id" and vendor is None:
            vendor = value.strip()
        elif key == "address sizes" and bits is None:
            # "address sizes : 48 bits physical, 48 bits virtual"
            m = re.search(r"(\d+)\s+bits physical", value)
            if m:
                bits = int(m.group(1))
        if vendor is not None and bits is not None:
            break
    return vendor, bits


# ---------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------

def _opt_name(arg: str) -> str | None:
    """``-accel`` for ``-accel``, ``--accel`` and ``-accel=kvm``; None for a value."""
    if not arg.startswith("-") or arg == "-":
        return None
    name = "-" + arg.lstrip("-")
    return name.split("=", 1)[0]


def _split_inline(arg: str) -> str | None:
    """The value of ``-opt=value`` written as one word, else None."""
    body = arg.lstrip("-")
    return body.split("=", 1)[1] if "=" in body else None


def _strip_accel(args: list[str]) -> tuple[list[str], list[str]]:
    """Remove every accelerator choice from ``args``.

    Returns the cleaned arguments and what the user asked for, as written
    (e.g. ``["-accel kvm"]``, ``["-machine q35,accel=kvm"]``).  Handles
    ``-accel X``/``--accel X``/``-accel=X``, ``-enable-kvm``, ``-no-kvm`` and
    an ``accel=`` key inside ``-machine``/``-M`` (QEMU ``softmmu/vl.c``
    accepts all of these).
    """
    out: list[str] = []
    requested: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        name = _opt_name(arg)
        if name == "-accel":
            inline = _split_inline(arg)
            if inline is not None:
                requested.append(arg)
                i += 1
                continue
            if i + 1 >= len(args):
                raise CommandLineError("-accel needs a value (e.g. -accel kvm)")
            requested.append(f"{arg} {args[i + 1]}")
            i += 2
            continue
        if name in ("-enable-kvm", "-no-kvm"):
            requested.append(arg)
            i += 1
            continue
        if name in ("-machine", "-M"):
            inline = _split_inline(arg) if name == "-machine" else None
            if inline is not None:
                value, consumed = inline, 1
            else:
                if i + 1 >= len(args):
                    raise CommandLineError(f"{arg} needs a value (e.g. {arg} q35)")
                value, consumed = args[i + 1], 2
            parts = value.split(",")
            kept = [p for p in parts if not p.startswith("accel=")]
            if len(kept) != len(parts):
                requested.append(" ".join(args[i:i + consumed]))
                if kept and any(kept):
                    out.extend([arg.split("=", 1)[0] if inline is not None else arg,
                                ",".join(kept)])
                # else: "-machine accel=kvm" alone says nothing else; drop it
            else:
                out.extend(args[i:i + consumed])
            i += consumed
            continue
        out.append(arg)
        i += 1
    return out, requested


def _option_value(args: list[str], names: tuple[str, ...]) -> str | None:
    """The value of the last ``-name VALUE`` (or ``-name=VALUE``) in args."""
    found = None
    for i, arg in enumerate(args):
        name = _opt_name(arg)
        if name in names:
            inline = _split_inline(arg)
            if inline is not None:
                found = inline
            elif i + 1 < len(args):
                found = args[i + 1]
    return found


def _check_args(args, what: str = "capture", conflicting=None) -> list[str]:
    """The QEMU arguments as a list of strings, refusing options the tool
    must control itself (``conflicting``: option -> why)."""
    conflicting = _CONFLICTING if conflicting is None else conflicting
    if isinstance(args, (str, bytes)) or not all(isinstance(a, str) for a in args):
        raise CommandLineError(f"{what} args must be a list of strings "
                               "(the QEMU command line split into words)")
    args = list(args)
    for arg in args:
        name = _opt_name(arg)
        if name in conflicting:
            raise CommandLineError(f"option {name} cannot be used in a {what}: "
                                   f"{conflicting[name]}")
    return args


def _build_argv(qemu_path: str, user_args: list[str], accel: str,
                paths: dict[str, str]) -> list[str]:
    """The full argv: user's args (accelerator replaced) plus what we need."""
    cleaned, _ = _strip_accel(user_args)
    argv = [qemu_path] + cleaned + ["-accel", accel]
    if "-S" not in cleaned:
        argv.append("-S")
    argv += ["-qmp", f"unix:{paths['qmp']},server=on,wait=off"]
    if not any(_opt_name(a) in _DISPLAY_OPTIONS for a in cleaned):
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
    out = [os.path.basename(argv[0])]
    for arg in argv[1:]:
        for real, ph in subst:
            arg = arg.replace(real, ph)
        out.append(arg)
    return out


# ---------------------------------------------------------------------------
# QMP
# ---------------------------------------------------------------------------

class _Qmp:
    """A minimal QMP client (QEMU docs/interop/qmp-spec.txt): one JSON
    object per line; replies carry the ``id`` we sent; events are skipped."""

    def __init__(self, path: str, deadline: float):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._set_timeout(deadline)
        self.sock.connect(path)
        self.rfile = self.sock.makefile("rb")
        self._next_id = 0
        greeting = self._read(deadline)
        if "QMP" not in greeting:
            raise CaptureError(f"QMP greeting expected, got {greeting!r}")
        self.version = greeting["QMP"].get("version", {})

    def _set_timeout(self, deadline: float) -> None:
        self.sock.settimeout(max(0.05, deadline - time.monotonic()))

    def _read(self, deadline: float) -> dict:
        self._set_timeout(deadline)
        try:
            line = self.rfile.readline()
        except socket.timeout:
            raise CaptureError("QMP: no answer before the timeout") from None
        if not line:
            raise CaptureError("QMP: QEMU closed the connection")
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            raise CaptureError(f"QMP: not JSON: {line[:200]!r}") from None

    def command(self, name: str, arguments: dict | None = None, *,
                deadline: float):
        self._next_id += 1
        msg = {"execute": name, "id": self._next_id}
        if arguments:
            msg["arguments"] = arguments
        self._set_timeout(deadline)
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self._read(deadline)
            if "event" in reply:
                continue
            if reply.get("id") != self._next_id:
                continue
            if "error" in reply:
                err = reply["error"]
                raise CaptureError(f"QMP {name}: {err.get('class')}: {err.get('desc')}")
            return reply.get("return")

    def hmp(self, command_line: str, *, deadline: float) -> str:
        text = self.command("human-monitor-command",
                            {"command-line": command_line}, deadline=deadline)
        # HMP text comes back with CRLF line ends; we store LF.
        return (text or "").replace("\r\n", "\n")

    def close(self) -> None:
        try:
            self.rfile.close()
        finally:
            self.sock.close()


# ---------------------------------------------------------------------------
# The capture
# ---------------------------------------------------------------------------

def _tail(path: str, limit: int = 2000) -> str:
    try:
        data = Path(path).read_bytes()
    except OSError:
        return ""
    return data[-limit:].decode(errors="replace").strip()


def _read_text(path: str) -> str:
    try:
        return Path(path).read_bytes().decode(errors="replace")
    except OSError:
        return ""


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


def _stop(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """End the QEMU process we started: wait a little, then kill it."""
    if proc.poll() is not None:
        return
    try:
        proc.wait(timeout=grace)
        return
    except subprocess.TimeoutExpired:
        pass
    proc.kill()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def _default_made_by(out_dir: Path, accel: str, args: list[str]) -> str:
    out = out_dir.parent
    try:
        out = out.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        pass
    return shlex.join(["python", "-m", "vfiolab.capture", "--name", out_dir.name,
                       "--out", str(out), "--accel", accel, "--", *args])


def capture(args: list[str], out_dir, *, accel: str = "auto",
            timeout: float = 60.0, qemu: str = "qemu-system-x86_64",
            made_by: str | None = None) -> dict:
    """Run QEMU with ``args`` until SeaBIOS finished POST; record into out_dir.

    ``args`` is the QEMU command line without the binary.  Returns the
    metadata written to ``meta.json``.  Raises ``CaptureError`` (with the
    tail of QEMU's stderr and what was being waited for) when QEMU fails,
    SeaBIOS panics or ``timeout`` seconds pass; the QEMU process is always
    ended.  Files are written only when the capture succeeded.
    """
    args = _check_args(args)
    out_dir = Path(out_dir)
    qemu_path = shutil.which(qemu)
    if qemu_path is None:
        raise CaptureError(f"{qemu} not found on PATH")
    chosen = choose_accel(accel, qemu)
    _, requested = _strip_accel(args)

    deadline = time.monotonic() + timeout
    tmp = tempfile.mkdtemp(prefix="vfiolab-cap-")
    paths = {"qmp": os.path.join(tmp, "qmp.sock"),
             "events": os.path.join(tmp, "events.txt"),
             "trace": os.path.join(tmp, "trace.raw"),
             "debug": os.path.join(tmp, "seabios.log"),
             "stderr": os.path.join(tmp, "stderr.txt")}
    Path(paths["events"]).write_text("\n".join(TRACE_EVENTS + (CFG_EVENT,)) + "\n")
    argv = _build_argv(qemu_path, args, chosen, paths)

    proc = None
    qmp = None
    waiting_for = "QEMU to start and open its QMP socket"
    try:
        with open(paths["stderr"], "wb") as err, open(os.devnull, "wb") as null:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=null,
                                    stderr=err, cwd=tmp)

        def fail(why: str) -> CaptureError:
            if proc.poll() is None and not why.startswith("timeout"):
                # QEMU may be on its way out (a bad option closes the QMP
                # socket first); give it a moment so its message is in.
                try:
                    proc.wait(timeout=1.0)
                except subprocess.TimeoutExpired:
                    pass
            tail = _tail(paths["stderr"])
            msg = f"capture failed: {why} (while waiting for {waiting_for})"
            if proc is not None and proc.poll() is not None:
                msg += f"; QEMU exited with status {proc.returncode}"
            if tail:
                msg += f"\nQEMU stderr (last lines):\n{tail}"
            return CaptureError(msg)

        # 1. QMP socket.
        while not os.path.exists(paths["qmp"]):
            if proc.poll() is not None:
                raise fail("QEMU exited early")
            if time.monotonic() > deadline:
                raise fail(f"timeout after {timeout:g} s")
            time.sleep(0.02)
        try:
            qmp = _Qmp(paths["qmp"], deadline)
            waiting_for = "QMP qmp_capabilities/cont"
            qmp.command("qmp_capabilities", deadline=deadline)
            qmp.command("cont", deadline=deadline)
        except (OSError, CaptureError) as exc:
            raise fail(str(exc)) from None

        # 2. SeaBIOS POST.
        waiting_for = ("SeaBIOS to finish POST (a debug-log line starting with "
                       + " or ".join(repr(m) for m in POST_DONE_MARKERS) + ")")
        marker = None
        while True:
            log = _read_text(paths["debug"])
            marker, panic = _post_state(log)
            if panic:
                raise fail(f"SeaBIOS gave up: {panic!r}")
            if marker:
                break
            if proc.poll() is not None:
                raise fail("QEMU exited")
            if time.monotonic() > deadline:
                last = log.strip().splitlines()[-1:] or ["(empty)"]
                raise fail(f"timeout after {timeout:g} s; last SeaBIOS line: {last[0]!r}")
            time.sleep(0.05)

        # 3. Snapshot.  The guest is stopped first so the pictures match.
        waiting_for = "QMP answers (stop, info pci, info mtree, query-version, quit)"
        try:
            qmp.command("stop", deadline=deadline)
            info_pci = qmp.hmp("info pci", deadline=deadline)
            mtree_f = qmp.hmp("info mtree -f", deadline=deadline)
            mtree = qmp.hmp("info mtree", deadline=deadline)
            version = qmp.command("query-version", deadline=deadline)
            qmp.command("quit", deadline=deadline)
        except (OSError, CaptureError) as exc:
            raise fail(str(exc)) from None
        qmp.close()
        qmp = None
        waiting_for = "QEMU to exit after quit"
        try:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise fail("QEMU did not exit after quit") from None

        trace, cfg = _split_trace(_read_text(paths["trace"]))
        seabios = _cut_at_marker(_read_text(paths["debug"]))
        stderr_text = _read_text(paths["stderr"])
    finally:
        if qmp is not None:
            try:
                qmp.close()
            except OSError:
                pass
        if proc is not None and proc.poll() is None:
            _stop(proc, grace=0.0)
        shutil.rmtree(tmp, ignore_errors=True)

    qv = (version or {}).get("qemu", {})
    vendor, phys_bits = _host_cpu()
    meta = {
        "name": out_dir.name,
        "args": args,
        "command": shlex.join(args),
        "qemu_argv": _placeholder_argv(argv, paths, tmp),
        "accel": chosen,
        "accel_asked": accel,
        "accel_in_args": requested,
        "qemu_version": f"{qv.get('major')}.{qv.get('minor')}.{qv.get('micro')}",
        "qemu_package": (version or {}).get("package", "").strip(),
        "seabios_version": _seabios_version(seabios),
        "post_marker": marker,
        "host_cpu_vendor": vendor,
        "host_phys_bits": phys_bits,
        "guest_cpu": _option_value(args, ("-cpu",)),
        "kernel_release": platform.release(),
        "date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
                   .isoformat().replace("+00:00", "Z"),
        "made_by": made_by or _default_made_by(out_dir, accel, args),
        "qemu_stderr": stderr_text.strip().splitlines(),
        "varies": {
            "trace.log": "ua=... are userspace addresses of the QEMU process "
                         "that made the capture; they differ from run to run",
            "seabios.log": "kvmclock / CPU Mhz lines give the host TSC "
                           "frequency",
            "info_mtree_f.txt": "the order of the FlatView blocks and so their "
                                "'FlatView #N' numbers: QEMU walks a hash table "
                                "keyed by pointers (softmmu/memory.c "
                                "mtree_info_flatview); the blocks themselves "
                                "are the same",
            "info_mtree.txt": "the order of the address-space: and "
                              "memory-region: blocks, for the same reason "
                              "(softmmu/memory.c mtree_info_as)",
            "meta.json": "date, kernel_release, host_* describe the capturing host",
        },
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

_USAGE = ("usage: python -m vfiolab.capture --name NAME [--out DIR] "
          "[--accel auto|kvm|tcg] [--timeout SECONDS] [--qemu BINARY] -- QEMU ARGS...")


def _parse_cli(argv: list[str]) -> dict:
    if "--" not in argv:
        raise CommandLineError("the QEMU command line must follow '--'; " + _USAGE)
    cut = argv.index("--")
    own, qemu_args = argv[:cut], argv[cut + 1:]
    opts = {"name": None, "out": "data/references", "accel": "auto",
            "timeout": "60", "qemu": "qemu-system-x86_64"}
    i = 0
    while i < len(own):
        word = own[i]
        if word in ("-h", "--help"):
            opts["help"] = True
            i += 1
            continue
        key, eq, val = word.partition("=")
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
    if not qemu_args:
        raise CommandLineError("no QEMU arguments after '--'")
    opts["args"] = qemu_args
    return opts


def main(argv=None) -> int:
    """``python -m vfiolab.capture --name NAME [--out DIR] [--accel A] -- ARGS``."""
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
        made_by = shlex.join(["python", "-m", "vfiolab.capture", "--name", opts["name"],
                              "--out", opts["out"], "--accel", opts["accel"],
                              "--", *opts["args"]])
        t0 = time.monotonic()
        meta = capture(opts["args"], out_dir, accel=opts["accel"],
                       timeout=opts["timeout"], qemu=opts["qemu"], made_by=made_by)
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
