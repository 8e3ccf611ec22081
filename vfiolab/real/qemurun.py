"""Start real QEMU, speak QMP to it and always end it.

The one runner behind :mod:`vfiolab.real.capture` (firmware captures, stopped
at the end of SeaBIOS POST) and :mod:`vfiolab.real.guestcap` (our own minimal
guest): what this machine can run (QEMU on PATH, a usable ``/dev/kvm``),
the command-line handling both need (replacing the accelerator, refusing
options the runner owns), a minimal QMP client, and :class:`QemuRun`, which
owns the QEMU process and its temporary directory, waits for a condition
with a deadline and turns every failure into one ``CaptureError`` naming
what was being waited for, QEMU's exit status and the tail of its stderr.

Everything here is the standard library.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable

from ..errors import CaptureError, CommandLineError

__all__ = [
    "qemu_available", "kvm_usable", "choose_accel", "host_cpu", "opt_name",
    "strip_accel", "option_value", "check_args", "DISPLAY_OPTIONS", "Qmp",
    "QemuRun", "read_text", "tail",
]

#: Options that choose a display; without one the runner adds
#: ``-display none`` (QEMU ``softmmu/vl.c``).
DISPLAY_OPTIONS = ("-display", "-nographic", "-vnc", "-spice", "-sdl", "-curses")

# KVM_GET_API_VERSION = _IO(KVMIO, 0x00) with KVMIO 0xAE (Linux
# include/uapi/linux/kvm.h); the stable API answers 12 (KVM_API_VERSION).
_KVM_GET_API_VERSION = 0xAE00
_KVM_API_VERSION = 12


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


def host_cpu() -> tuple[str | None, int | None]:
    """Host CPU vendor and physical address bits (:func:`vfiolab.stack.host_cpu`),
    ``(None, None)`` when /proc/cpuinfo cannot be read."""
    from ..stack import host_cpu as read
    return read() or (None, None)


def opt_name(arg: str) -> str | None:
    """``-accel`` for ``-accel``, ``--accel`` and ``-accel=kvm``; None for a value."""
    if not arg.startswith("-") or arg == "-":
        return None
    name = "-" + arg.lstrip("-")
    return name.split("=", 1)[0]


def _split_inline(arg: str) -> str | None:
    """The value of ``-opt=value`` written as one word, else None."""
    body = arg.lstrip("-")
    return body.split("=", 1)[1] if "=" in body else None


def strip_accel(args: list[str]) -> tuple[list[str], list[str]]:
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
        name = opt_name(arg)
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


def option_value(args: list[str], names: tuple[str, ...]) -> str | None:
    """The value of the last ``-name VALUE`` (or ``-name=VALUE``) in args."""
    found = None
    for i, arg in enumerate(args):
        name = opt_name(arg)
        if name in names:
            inline = _split_inline(arg)
            if inline is not None:
                found = inline
            elif i + 1 < len(args):
                found = args[i + 1]
    return found


def check_args(args, what: str, conflicting: dict[str, str]) -> list[str]:
    """The QEMU arguments as a list of strings, refusing options the caller
    must control itself (``conflicting``: option -> why)."""
    if isinstance(args, (str, bytes)) or not all(isinstance(a, str) for a in args):
        raise CommandLineError(f"{what} args must be a list of strings "
                               "(the QEMU command line split into words)")
    args = list(args)
    for arg in args:
        name = opt_name(arg)
        if name in conflicting:
            raise CommandLineError(f"option {name} cannot be used in a {what}: "
                                   f"{conflicting[name]}")
    return args


# ---------------------------------------------------------------------------
# QMP
# ---------------------------------------------------------------------------

class Qmp:
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
# The process
# ---------------------------------------------------------------------------

def read_text(path) -> str:
    """A file's text as it is now ('' when it does not exist yet)."""
    try:
        return Path(path).read_bytes().decode(errors="replace")
    except OSError:
        return ""


def tail(path, limit: int = 2000) -> str:
    """The last ``limit`` bytes of a file, stripped ('' when missing)."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return ""
    return data[-limit:].decode(errors="replace").strip()


def _stop(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """End a QEMU process we started: wait ``grace`` seconds, then kill it."""
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


class QemuRun:
    """One QEMU process with a temporary directory and a deadline.

    Use as a context manager; leaving it closes QMP, kills QEMU if it is
    still running and removes the directory, whatever happened::

        with QemuRun("capture", timeout=60, prefix="vfiolab-cap-") as run:
            run.start(argv)                  # paths from run.path("qmp.sock")
            run.wait_until(lambda: ..., "SeaBIOS to finish POST")
            qmp = run.connect_qmp(run.path("qmp.sock"))
            ...
            run.quit()

    ``what`` starts every error message ("capture failed: ...");
    ``extra`` may add lines to it (the guest runner adds its debug console).
    """

    def __init__(self, what: str, *, timeout: float, prefix: str = "vfiolab-qemu-",
                 extra: Callable[["QemuRun"], str] | None = None):
        self.what = what
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.tmp = tempfile.mkdtemp(prefix=prefix)
        self.stderr_path = self.path("stderr.txt")
        self.proc: subprocess.Popen | None = None
        self.qmp: Qmp | None = None
        self.waiting_for = "QEMU to start"
        self._extra = extra

    def path(self, name: str) -> str:
        """A file name inside the run's temporary directory."""
        return os.path.join(self.tmp, name)

    def __enter__(self) -> "QemuRun":
        return self

    def __exit__(self, *exc) -> None:
        if self.qmp is not None:
            try:
                self.qmp.close()
            except OSError:
                pass
            self.qmp = None
        if self.proc is not None and self.proc.poll() is None:
            _stop(self.proc, grace=0.0)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, argv: list[str]) -> None:
        """Start QEMU (stdout discarded, stderr kept for error messages)."""
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err,
                                         cwd=self.tmp)

    def fail(self, why: str) -> CaptureError:
        """The error to raise: why, what was awaited, exit status, stderr."""
        proc = self.proc
        if proc is not None and proc.poll() is None and not why.startswith("timeout"):
            # QEMU may be on its way out (a bad option closes the QMP socket
            # first); give it a moment so its message is in.
            try:
                proc.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                pass
        msg = f"{self.what} failed: {why} (while waiting for {self.waiting_for})"
        if proc is not None and proc.poll() is not None:
            msg += f"; QEMU exited with status {proc.returncode}"
        err = tail(self.stderr_path)
        if err:
            msg += f"\nQEMU stderr (last lines):\n{err}"
        if self._extra is not None:
            more = self._extra(self)
            if more:
                msg += "\n" + more
        return CaptureError(msg)

    def wait_until(self, check: Callable[[], object], waiting_for: str, *,
                   poll: float = 0.05, exited: str = "QEMU exited",
                   timeout_detail: Callable[[], str] | None = None):
        """Poll ``check()`` until it returns something true and return it.

        Raises :meth:`fail` when QEMU exits first (``exited``) or the
        deadline passes (``timeout_detail()`` may add what was seen last);
        ``check`` may raise ``fail(...)`` itself for a condition that will
        never come right (a firmware panic, a guest error).
        """
        self.waiting_for = waiting_for
        while True:
            got = check()
            if got:
                return got
            if self.proc is not None and self.proc.poll() is not None:
                raise self.fail(exited)
            if time.monotonic() > self.deadline:
                detail = timeout_detail() if timeout_detail else ""
                raise self.fail(f"timeout after {self.timeout:g} s" + detail)
            time.sleep(poll)

    def connect_qmp(self, socket_path: str) -> "Qmp":
        """Connect to QMP and leave capabilities negotiation (QEMU
        docs/interop/qmp-spec.txt: commands work only after qmp_capabilities)."""
        # The socket file appears at bind(); connect() is refused until QEMU
        # calls listen() a moment later (a window a loaded machine can hit),
        # so a refused or missing socket is retried while QEMU runs.
        def attempt():
            try:
                return Qmp(socket_path, self.deadline)
            except (ConnectionRefusedError, FileNotFoundError):
                return None
        try:
            self.qmp = self.wait_until(attempt, self.waiting_for or "the QMP socket to listen",
                                       poll=0.02)
            self.qmp.command("qmp_capabilities", deadline=self.deadline)
        except (OSError, CaptureError) as exc:
            raise self.fail(str(exc)) from None
        return self.qmp

    def qmp_calls(self, fn: Callable[["Qmp"], object], waiting_for: str):
        """Run ``fn(qmp)``; a QMP or socket error becomes :meth:`fail`."""
        self.waiting_for = waiting_for
        try:
            return fn(self.qmp)
        except (OSError, CaptureError) as exc:
            raise self.fail(str(exc)) from None

    def quit(self) -> None:
        """QMP ``quit``, then wait for QEMU to exit before the deadline."""
        self.qmp_calls(lambda q: q.command("quit", deadline=self.deadline),
                       "QEMU to accept quit")
        self.qmp.close()
        self.qmp = None
        self.waiting_for = "QEMU to exit after quit"
        try:
            self.proc.wait(timeout=max(1.0, self.deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise self.fail("QEMU did not exit after quit") from None

    def stderr_text(self) -> str:
        return read_text(self.stderr_path)


def qom_placement(make_argv: Callable[[str], list[str]], ids, qmp_socket: str, what: str, *,
                  timeout: float = 90) -> dict:
    """Start QEMU on ``make_argv(tmp)`` (the run's temporary folder given,
    for the scratch files and sockets it names; the argv must open a QMP
    socket at ``qmp_socket``, relative to that folder, usually with ``-S``)
    and read, for each device id in ``ids``, where QEMU put it: the QOM
    properties ``addr`` (devfn) and ``parent_bus`` of
    ``/machine/peripheral/ID`` (QMP ``qom-get``).  Returns {id: (addr, parent_bus)}."""
    out: dict = {}
    with QemuRun(what, timeout=timeout) as run:
        sock = run.path(qmp_socket)
        run.start(make_argv(run.tmp))
        run.wait_until(lambda: os.path.exists(sock), "the QMP socket")
        run.connect_qmp(sock)

        def read(q):
            for did in ids:
                path = f"/machine/peripheral/{did}"
                out[did] = tuple(q.command("qom-get", {"path": path, "property": prop},
                                           deadline=run.deadline)
                                 for prop in ("addr", "parent_bus"))
        run.qmp_calls(read, "qom-get")
        run.quit()
    return out
