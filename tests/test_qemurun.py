"""The shared QEMU runner (vfiolab.real.qemurun) without QEMU: a stand-in
process shows that failures name what was awaited, the exit status and the
stderr tail, and that the process and its directory never outlive the run."""

from __future__ import annotations

import os
import sys

import pytest

from vfiolab.errors import CaptureError
from vfiolab.real.qemurun import QemuRun


def _py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_early_exit_names_status_stderr_and_what_was_awaited():
    with pytest.raises(CaptureError) as info:
        with QemuRun("capture", timeout=20) as run:
            tmp = run.tmp
            run.start(_py("import sys; sys.stderr.write('bad option -foo\\n'); sys.exit(1)"))
            run.wait_until(lambda: False, "QEMU to open its QMP socket",
                           exited="QEMU exited early")
    msg = str(info.value)
    assert msg.startswith("capture failed: QEMU exited early "
                          "(while waiting for QEMU to open its QMP socket)")
    assert "QEMU exited with status 1" in msg
    assert "bad option -foo" in msg
    assert not os.path.exists(tmp)


def test_timeout_kills_the_process_and_adds_the_callers_detail():
    with pytest.raises(CaptureError) as info:
        with QemuRun("guest run", timeout=0.3,
                     extra=lambda run: "debug console (last lines):\nhello") as run:
            run.start(_py("import time; time.sleep(60)"))
            proc = run.proc
            run.wait_until(lambda: False, "the guest to print 'done'",
                           timeout_detail=lambda: "; last line: 'x'")
    msg = str(info.value)
    assert msg.startswith("guest run failed: timeout after 0.3 s; last line: 'x' "
                          "(while waiting for the guest to print 'done')")
    assert msg.endswith("debug console (last lines):\nhello")
    assert proc.poll() is not None          # ended by the runner


def test_check_may_raise_its_own_failure():
    with pytest.raises(CaptureError, match="SeaBIOS gave up: 'PCI: out of I/O'"):
        with QemuRun("capture", timeout=20) as run:
            run.start(_py("import time; time.sleep(60)"))

            def check():
                raise run.fail("SeaBIOS gave up: 'PCI: out of I/O'")
            run.wait_until(check, "SeaBIOS to finish POST")


def test_wait_until_returns_the_checks_value():
    with QemuRun("capture", timeout=20) as run:
        run.start(_py("import time; time.sleep(60)"))
        calls = []

        def check():
            calls.append(1)
            return "Booting from " if len(calls) > 2 else None
        assert run.wait_until(check, "POST", poll=0.001) == "Booting from "


# A stand-in QMP server that binds its socket, waits, and only then listens:
# QEMU's socket file exists from bind(), and a connect() before listen() is
# refused (ECONNREFUSED).  The runner must wait for it, not fail.
_LATE_LISTENER = r"""
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
time.sleep(0.5)
s.listen(1)
c, _ = s.accept()
f = c.makefile("rwb")
f.write(b'{"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 22}}}}\n'); f.flush()
req = json.loads(f.readline())
f.write(json.dumps({"return": {}, "id": req.get("id")}).encode() + b"\n"); f.flush()
time.sleep(5)
"""


def test_connect_waits_for_a_socket_that_is_bound_but_not_yet_listening():
    with QemuRun("capture", timeout=20) as run:
        sock = run.path("qmp.sock")
        run.start([sys.executable, "-c", _LATE_LISTENER, sock])
        run.wait_until(lambda: os.path.exists(sock), "the socket file", poll=0.01)
        qmp = run.connect_qmp(sock)
        assert qmp.version["qemu"]["major"] == 7
