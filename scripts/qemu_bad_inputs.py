"""Run every case of tests/test_bad_inputs.py through real QEMU and record its verdict.

For each distinct command line of the bad-input suite this starts the real
``qemu-system-x86_64`` (default /usr/bin/qemu-system-x86_64, QEMU 7.2 on
Debian 12) twice at most:

1. the verdict: the case's own arguments after ``-accel kvm`` (unless the case
   chooses an accelerator itself), ``-S``, ``-display none`` (unless it
   chooses a display) and a QMP socket.  QEMU either exits with an error
   before its main loop (``refused``: its first error line is recorded),
   exits 0 without starting (``exited``: e.g. ``-M help`` printed a list) or
   answers QMP ``query-status`` -- which it only does once machine creation
   and every ``-device`` are done (QEMU ``softmmu/vl.c`` ``qemu_init`` runs
   before ``main_loop``) -- and is told to ``quit`` (``accepted``).
2. for an accepted pc/q35 case, ``info pci`` after SeaBIOS's POST: the same
   command line after ``-chardev file`` + ``-device isa-debugcon,iobase=0x402``
   (SeaBIOS's debug port), started, waited for until SeaBIOS prints its
   POST-done line (``vfiolab.real.capture.POST_DONE_MARKERS``), stopped and
   asked HMP ``info pci`` and ``info mtree -f`` (every FlatView; the suite
   compares the one of address space "memory" with the prediction's).

Cases whose verdict depends on this machine (a file or host device that
does not exist here: ``-drive file=x.img``, ``tap``...) and cases for
another QEMU version (``qemu="10.0"``) are recorded with a ``reason``
instead of a verdict.

Usage (from the repository root)::

    .venv/bin/python scripts/qemu_bad_inputs.py [--qemu PATH] [--jobs 2] \\
        [--out tests/fixtures/bad_inputs/qemu-7.2.json] [--json]

``--json`` prints a summary as one JSON object instead of text; ``--only
REGEX`` reruns the cases whose joined arguments match and updates them in
the existing file (recorded under ``updated_by``); ``--reclassify`` only
re-applies the machine-dependence patterns; ``--accepted`` (with or
without ``--only``) reruns only the cases the existing file records as
accepted with ``info pci``.  QEMU runs in a fresh temporary
directory holding ``x.img`` (1 MiB of zeros, the suite's disk image).  The
whole run takes ~15 minutes on 2 cores.  The fixture is what the test suite
reads; CI never runs QEMU for it.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime as dt
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from vfiolab.errors import CaptureError  # noqa: E402
from vfiolab.real.capture import POST_DONE_MARKERS, qemu_packages  # noqa: E402
from vfiolab.real.qemurun import DISPLAY_OPTIONS, Qmp, opt_name, read_text  # noqa: E402

DEFAULT_OUT = ROOT / "tests" / "fixtures" / "bad_inputs" / "qemu-7.2.json"

#: files made in QEMU's working directory before each run, so the suite's
#: disk image names resolve: name -> size in bytes (zeros, a raw image)
FILES = {"x.img": 1 << 20}

#: stderr text that shows the verdict depends on this machine, not on the
#: command line: a missing file, a host device, a permission
ENV_PATTERNS = [
    (re.compile(r"Could not open|could not open|No such file or directory"),
     "needs a file that does not exist on the capture machine"),
    (re.compile(r"could not load (kernel|PC BIOS)|Cannot read config file|failed to load"),
     "needs a file that does not exist on the capture machine"),
    (re.compile(r"/dev/net/tun|Operation not permitted|Permission denied"),
     "needs a host network device or a privilege the capture machine does not have"),
    (re.compile(r"Cannot allocate memory"),
     "needs more host memory (or address space) than the capture machine has"),
    (re.compile(r"failed to set MSR"),
     "the capture machine's nested KVM refuses an MSR of this CPU model"),
]


def _classify(rec: dict) -> None:
    """Add the ``reason`` of a refusal that depends on the capture machine."""
    error = rec.get("error")
    if rec.get("verdict") != "refused" or not error:
        return
    for pat, why in ENV_PATTERNS:
        if pat.search(error):
            rec["reason"] = why
            return


def _has_accel(args: list[str]) -> bool:
    for i, a in enumerate(args):
        name = opt_name(a)
        if name in ("-accel", "-enable-kvm", "-no-kvm"):
            return True
        if name in ("-machine", "-M") and i + 1 < len(args) and "accel=" in args[i + 1]:
            return True
    return False


def _tool_args(args: list[str], qmp: str) -> list[str]:
    """What the script adds to the case's own arguments (phase 1)."""
    extra = [] if _has_accel(args) else ["-accel", "kvm"]
    extra += ["-S", "-qmp", f"unix:{qmp},server=on,wait=off"]
    if not any(opt_name(a) in DISPLAY_OPTIONS for a in args):
        extra += ["-display", "none"]
    return extra


def _first_error(stderr: str) -> tuple[str | None, list[str]]:
    """(the first error line, the warning lines) of QEMU's stderr."""
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    warnings, errors, in_warning = [], [], False
    for ln in lines:
        prefixed = ln.startswith(("qemu-system-", "qemu: "))
        if ": warning: " in ln or ln.startswith("WARNING: "):   # the block layer's own
            in_warning = True
            warnings.append(ln)
        elif in_warning and (not prefixed or ln[:1].isspace()):
            warnings[-1] += "\n" + ln      # a warning's second line ("Please use tap=on instead")
        else:
            in_warning = False
            errors.append(ln)
    return (errors[0] if errors else None), warnings


def _run(argv: list[str], tmp: str, qmp: str, timeout: float, after_start=None):
    """Start QEMU; (exit code or None if it started, stderr, result of
    after_start(qmp client, tmp) when it started)."""
    err_path = os.path.join(tmp, "stderr")
    with open(err_path, "wb") as err:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=err, cwd=tmp)
    deadline = time.monotonic() + timeout
    result = None
    started = False
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            if os.path.exists(qmp):
                try:
                    q = Qmp(qmp, deadline)
                    q.command("qmp_capabilities", deadline=deadline)
                    # answered only from the main loop, i.e. after qemu_init
                    q.command("query-status", deadline=deadline)
                except (CaptureError, OSError):
                    time.sleep(0.05)
                    continue
                started = True
                try:
                    if after_start:
                        result = after_start(q, deadline)
                    try:
                        q.command("quit", deadline=deadline)
                    except CaptureError:
                        pass
                finally:
                    q.close()
                break
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
    stderr = read_text(err_path)
    if not started and proc.returncode is None:
        raise TimeoutError
    return (None if started else proc.returncode), stderr, result


def _pc_family(args: list[str]) -> bool:
    for i, a in enumerate(args):
        if opt_name(a) in ("-machine", "-M") and i + 1 < len(args):
            t = args[i + 1].split(",")[0]
            if t.startswith("type="):
                t = t[5:]
            return t in ("pc", "q35") or t.startswith(("pc-q35-", "pc-i440fx-"))
    return True


def run_case(qemu: str, args: list[str], timeout: float) -> dict:
    """The verdict of real QEMU on one command line (see the module text)."""
    shm_before = set(os.listdir("/dev/shm"))
    rec: dict = {"args": args}
    with tempfile.TemporaryDirectory(prefix="vfiolab-bad-") as tmp:
        for name, size in FILES.items():
            with open(os.path.join(tmp, name), "wb") as f:
                f.truncate(size)
        qmp = os.path.join(tmp, "qmp.sock")
        try:
            code, stderr, _ = _run([qemu] + _tool_args(args, qmp) + args, tmp, qmp, timeout)
        except TimeoutError:
            rec.update(verdict="timeout", reason=f"QEMU neither started nor exited in {timeout} s")
            return rec
        error, warnings = _first_error(stderr)
        if warnings:
            rec["warnings"] = warnings
        if code is None:
            rec["verdict"] = "accepted"
        elif code == 0:
            rec["verdict"] = "exited"
            rec["error"] = error
        else:
            rec["verdict"] = "refused"
            rec["error"] = error or f"(exit status {code}, no message)"
            _classify(rec)
        if rec["verdict"] == "accepted":
            if "isa-debugcon" in " ".join(args):
                rec["info_pci_reason"] = "the case has its own isa-debugcon"
            elif not _pc_family(args):
                rec["info_pci_reason"] = "not a pc/q35 machine"
            else:
                rec.update(_info_pci(qemu, args, tmp, timeout))
    for name in set(os.listdir("/dev/shm")) - shm_before:   # memory-backend-file mem-path=/dev/shm/x
        try:
            os.unlink(os.path.join("/dev/shm", name))
        except OSError:
            pass
    return rec


def _info_pci(qemu: str, args: list[str], tmp: str, timeout: float) -> dict:
    qmp = os.path.join(tmp, "qmp2.sock")
    log = os.path.join(tmp, "seabios.log")
    extra = [a for a in _tool_args(args, qmp) if a != "-S"]
    extra += ["-chardev", f"file,id=vfiolab-dbg,path={log}",
              "-device", "isa-debugcon,iobase=0x402,chardev=vfiolab-dbg"]

    def after(q, deadline):
        while time.monotonic() < deadline:
            lines = read_text(log).split("\n")[:-1]
            if any(ln.startswith(POST_DONE_MARKERS) for ln in lines):
                q.command("stop", deadline=deadline)
                # both from the same stopped guest: the PCI config SeaBIOS
                # left and the flat views it produced
                return (q.hmp("info pci", deadline=deadline),
                        q.hmp("info mtree -f", deadline=deadline))
            time.sleep(0.05)
        return None

    try:
        code, stderr, text = _run([qemu] + extra + args, tmp, qmp, timeout * 2, after)
    except TimeoutError:
        return {"info_pci_reason": "QEMU did not start for the info pci run"}
    if code is not None or text is None:
        return {"info_pci_reason": "no SeaBIOS POST-done line before the timeout"
                if code is None else f"the info pci run failed: {_first_error(stderr)[0]}"}
    return {"info_pci": text[0], "info_mtree_f": text[1]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--qemu", default="/usr/bin/qemu-system-x86_64")
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=15.0)
    ap.add_argument("--limit", type=int, default=None, help="only the first N cases (a trial)")
    ap.add_argument("--only", default=None,
                    help="rerun only the cases whose joined arguments match this regular "
                         "expression and update them in the existing --out file")
    ap.add_argument("--accepted", action="store_true",
                    help="rerun only the cases the existing --out file records as accepted "
                         "with info pci (and update them there)")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    ap.add_argument("--reclassify", action="store_true",
                    help="only re-apply the machine-dependence patterns to the --out file")
    opts = ap.parse_args(argv)
    if opts.reclassify:
        data = json.loads(Path(opts.out).read_text())
        for rec in data["cases"]:
            _classify(rec)
        Path(opts.out).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
        return 0

    import test_bad_inputs as suite   # the cases are defined once, in the test module

    version = subprocess.run([opts.qemu, "--version"], capture_output=True, text=True).stdout
    version = version.splitlines()[0] if version else None
    todo, seen = [], set()
    skipped = []
    for c in suite.CASES:
        key = tuple(c.args)
        if key in seen:
            continue
        seen.add(key)
        if c.qemu is not None:
            skipped.append({"args": c.args, "verdict": "skipped",
                            "reason": f"the case is for QEMU {c.qemu}, not the capture's QEMU"})
            continue
        todo.append(c.args)
    if opts.limit:
        todo = todo[:opts.limit]
    previous = None
    if opts.only or opts.accepted:
        previous = json.loads(Path(opts.out).read_text())
        if opts.only:
            todo = [a for a in todo if re.search(opts.only, " ".join(a))]
        if opts.accepted:
            had_pci = {tuple(r["args"]) for r in previous["cases"] if "info_pci" in r}
            todo = [a for a in todo if tuple(a) in had_pci]
        skipped = []
    t0 = time.monotonic()
    with cf.ThreadPoolExecutor(opts.jobs) as pool:
        records = list(pool.map(lambda a: run_case(opts.qemu, a, opts.timeout), todo))
    records += skipped
    if previous is not None:
        fresh = {tuple(r["args"]): r for r in records}
        records = [fresh.get(tuple(r["args"]), r) for r in previous["cases"]]
    pkgs, pkgs_from = qemu_packages(opts.qemu)
    out = {
        "made_by": "scripts/qemu_bad_inputs.py " + shlex.join(argv if argv is not None
                                                               else sys.argv[1:]),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "qemu": opts.qemu,
        "qemu_version": version,
        "packages": pkgs,
        "packages_from": pkgs_from,
        "host": {"kernel": platform.release(), "machine": platform.machine()},
        "command": "QEMU [-accel kvm if ARGS choose no accelerator] -S "
                   "-qmp unix:SOCK,server=on,wait=off [-display none if ARGS choose no "
                   "display] ARGS; QMP qmp_capabilities, query-status, quit",
        "info_pci_command": "QEMU [-accel kvm] -qmp unix:SOCK,server=on,wait=off "
                            "[-display none] -chardev file,id=vfiolab-dbg,path=LOG "
                            "-device isa-debugcon,iobase=0x402,chardev=vfiolab-dbg ARGS; wait for "
                            "SeaBIOS's 'Booting from '/'No bootable device' line; QMP stop, "
                            "human-monitor-command 'info pci', "
                            "human-monitor-command 'info mtree -f', quit",
        "files": {name: f"{size} bytes of zeros in QEMU's working directory"
                  for name, size in FILES.items()},
        "cases": records,
    }
    if previous is not None:
        # a partial rerun: the file still comes from the full run, plus these
        out["made_by"] = previous["made_by"]
        out["updated_by"] = previous.get("updated_by", []) + [
            {"command": "scripts/qemu_bad_inputs.py " + shlex.join(argv if argv is not None
                                                                   else sys.argv[1:]),
             "date": out["date"], "cases": len(todo)}]
        out["date"] = previous["date"]
        out["files"] = previous.get("files", {})
        out["files"].update({name: f"{size} bytes of zeros in QEMU's working directory (from "
                                   f"the update of {out['updated_by'][-1]['date']})"
                             for name, size in FILES.items() if name not in out["files"]})
    path = Path(opts.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    counts: dict[str, int] = {}
    for r in records:
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
    summary = {"cases": len(records), "verdicts": counts,
               "with_info_pci": sum("info_pci" in r for r in records),
               "with_info_mtree_f": sum("info_mtree_f" in r for r in records),
               "seconds": round(time.monotonic() - t0, 1), "out": str(path)}
    if opts.json:
        print(json.dumps(summary))
    else:
        for k, v in summary.items():
            print(f"{k}: {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
