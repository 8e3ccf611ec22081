"""Tests for vfiolab.real.capture and the committed reference captures.

The live tests start real QEMU under KVM, capture two small machines afresh
and compare the text with the committed references in data/references/.
They skip when qemu-system-x86_64 is missing or KVM is not usable: the
references were made under KVM, and under TCG QEMU builds other devices
(``pic``/``pit``/``ioapic`` instead of ``kvm-pic``/``kvm-pit``/``kvm-ioapic``,
no ``kvmvapic``) and ``info mtree -f`` has no ``KVM`` markers, so dropping
the markers would not make the text comparable.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from vfiolab.real import capture as cap
from vfiolab.real import qemurun
from vfiolab.errors import CaptureError, CommandLineError

ROOT = Path(__file__).resolve().parent.parent
REFS = ROOT / "data" / "references"
FILES = ("command.txt", "info_pci.txt", "info_mtree_f.txt", "info_mtree.txt",
         "trace.log", "pci_cfg_write.log", "seabios.log", "meta.json")
REF_DIRS = sorted(p for p in REFS.iterdir() if p.is_dir()) if REFS.is_dir() else []


# ---------------------------------------------------------------------------
# Comparing captures: what legitimately varies from run to run
# ---------------------------------------------------------------------------

def mtree_blocks(text: str) -> list[str]:
    """The blank-line separated blocks of ``info mtree [-f]``, sorted.

    QEMU 7.2 prints the FlatViews (``mtree_info_flatview``) and the
    address-space trees (``mtree_info_as``) while walking a GHashTable keyed
    by pointers (softmmu/memory.c), so the block order -- and with it the
    ``FlatView #N`` counter -- changes from run to run.  The blocks do not.
    """
    text = re.sub(r"^FlatView #\d+$", "FlatView #N", text, flags=re.M)
    return sorted(b.strip("\n") for b in text.split("\n\n") if b.strip())


def trace_without_ua(text: str) -> str:
    """trace.log with the QEMU process's userspace addresses masked."""
    return re.sub(r"ua=0x[0-9a-f]+", "ua=<ua>", text)


# ---------------------------------------------------------------------------
# Offline: the command line and the text handling
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("args, cleaned, asked", [
    (["-machine", "q35", "-accel", "kvm", "-m", "1G"],
     ["-machine", "q35", "-m", "1G"], ["-accel kvm"]),
    (["--accel", "tcg", "-m", "1G"], ["-m", "1G"], ["--accel tcg"]),
    (["-accel=kvm", "-m", "1G"], ["-m", "1G"], ["-accel=kvm"]),
    (["-enable-kvm", "-M", "pc"], ["-M", "pc"], ["-enable-kvm"]),
    (["-machine", "q35,accel=kvm:tcg,smm=off"], ["-machine", "q35,smm=off"],
     ["-machine q35,accel=kvm:tcg,smm=off"]),
    (["-M", "pc", "-machine", "accel=tcg"], ["-M", "pc"], ["-machine accel=tcg"]),
    (["-machine", "pc"], ["-machine", "pc"], []),
])
def test_strip_accel(args, cleaned, asked):
    assert qemurun.strip_accel(args) == (cleaned, asked)


def test_strip_accel_missing_value():
    with pytest.raises(CommandLineError, match="-accel needs a value"):
        qemurun.strip_accel(["-m", "1G", "-accel"])


def test_build_argv_adds_what_the_capture_needs():
    paths = {"qmp": "/t/q.sock", "events": "/t/ev", "trace": "/t/tr", "debug": "/t/dbg"}
    argv = cap._build_argv("/usr/bin/qemu-system-x86_64",
                           ["-machine", "pc,accel=tcg", "-m", "512M"], "kvm", paths)
    assert argv[:4] == ["/usr/bin/qemu-system-x86_64", "-machine", "pc", "-m"]
    assert argv[argv.index("-accel") + 1] == "kvm"
    assert "-S" in argv and argv[argv.index("-display") + 1] == "none"
    assert "unix:/t/q.sock,server=on,wait=off" in argv
    assert "events=/t/ev,file=/t/tr" in argv
    shown = cap._placeholder_argv(argv, paths, "/t")
    assert shown[0] == "qemu-system-x86_64"
    assert not any("/t/" in a for a in shown)
    assert "unix:<qmp-socket>,server=on,wait=off" in shown
    # A display option of the user's own is left alone.
    argv = cap._build_argv("q", ["-display", "gtk"], "tcg", paths)
    assert argv.count("-display") == 1


@pytest.mark.parametrize("bad", ["-qmp", "-daemonize", "-trace", "-D"])
def test_conflicting_options_rejected(bad):
    with pytest.raises(CommandLineError, match=re.escape(bad)):
        qemurun.check_args(["-m", "1G", bad, "x"], "capture", cap._CONFLICTING)


def test_args_must_be_a_list():
    with pytest.raises(CommandLineError, match="list of strings"):
        qemurun.check_args("-m 1G", "capture", cap._CONFLICTING)


def test_split_trace():
    # Lines in the formats of QEMU 7.2's trace-events-all; the first carries
    # the "PID@SEC.USEC:" prefix the log backend adds with -msg timestamp=on.
    raw = ("1234@1700000000.123456:kvm_set_user_memory Slot#0 flags=0x0 gpa=0x0 "
           "size=0x40000000 ua=0x7f0ccbe00000 ret=0\n"
           "pci_cfg_write edu 00:02.0 @0x10 <- 0xffffffff\n"
           "pci_update_mappings_add edu 00:02.0 0,0xfea00000+0x100000\n"
           "something else\n")
    main, cfg = cap._split_trace(raw)
    assert main.splitlines() == [
        "kvm_set_user_memory Slot#0 flags=0x0 gpa=0x0 size=0x40000000 "
        "ua=0x7f0ccbe00000 ret=0",
        "pci_update_mappings_add edu 00:02.0 0,0xfea00000+0x100000"]
    assert cfg == "pci_cfg_write edu 00:02.0 @0x10 <- 0xffffffff\n"


def test_post_markers_need_complete_lines():
    assert cap._post_state("e820 map\nBooting from Hard") == (None, None)
    assert cap._post_state("e820 map\nBooting from Hard Disk...\n") == ("Booting from ", None)
    assert cap._post_state("No bootable device.\n") == ("No bootable device", None)
    assert cap._post_state("PCI: out of 32bit address space\n") == (
        None, "PCI: out of 32bit address space")
    assert cap._cut_at_marker("a\nBooting from Floppy...\nBoot failed\nx") == (
        "a\nBooting from Floppy...\n")


@pytest.mark.parametrize("argv, msg", [
    (["--name", "x"], "must follow '--'"),
    (["--name", "a/b", "--", "-m", "1G"], "plain folder name"),
    (["--name", "x", "--accel", "hvf", "--", "-m", "1G"], "auto, kvm or tcg"),
    (["--name", "x", "--"], "no QEMU arguments"),
    (["--bogus", "--", "-m", "1G"], "unknown option"),
])
def test_cli_errors(argv, msg, capsys):
    assert cap.main(argv) == 2
    assert msg in capsys.readouterr().err


def test_capture_missing_binary(tmp_path):
    with pytest.raises(CaptureError, match="not found"):
        cap.capture(["-m", "1G"], tmp_path / "x", qemu="no-such-qemu-binary-here")
    assert not (tmp_path / "x").exists()


# ---------------------------------------------------------------------------
# The committed references are complete and consistent
# ---------------------------------------------------------------------------

def test_references_exist():
    assert len(REF_DIRS) >= 12


@pytest.mark.parametrize("ref", REF_DIRS, ids=lambda p: p.name)
def test_reference_is_complete(ref):
    for fname in FILES:
        assert (ref / fname).is_file(), f"{ref.name}: {fname} missing"
    meta = json.loads((ref / "meta.json").read_text())
    assert meta["name"] == ref.name
    assert (ref / "command.txt").read_text() == shlex.join(meta["args"]) + "\n"
    assert meta["accel"] == "kvm"
    assert "-nodefaults" in meta["args"]
    # Every -device of the user's carries an id=.
    for i, word in enumerate(meta["args"]):
        if word == "-device":
            assert "id=" in meta["args"][i + 1], meta["args"][i + 1]
    # POST finished, and the log ends at the marker.
    last = (ref / "seabios.log").read_text().splitlines()[-1]
    assert last.startswith(cap.POST_DONE_MARKERS)
    assert meta["seabios_version"] and meta["qemu_version"]
    # No machine-specific paths slipped into the recorded argv.
    assert not any("/tmp" in a or "vfiolab-cap" in a for a in meta["qemu_argv"])
    # The script regenerates it with the same command line.
    script = (ROOT / "scripts" / "make-references.sh").read_text()
    assert f"--name {ref.name} -- {shlex.join(meta['args'])}\n" in script
    assert f"--name {ref.name} " in meta["made_by"]


# ---------------------------------------------------------------------------
# Live: capture afresh and compare with the committed text
# ---------------------------------------------------------------------------

def _live_skip_reason() -> str | None:
    if not cap.qemu_available():
        return "qemu-system-x86_64 not found (live capture test)"
    if not cap.kvm_usable():
        return ("KVM not usable (/dev/kvm not read-write or QEMU -accel kvm fails); "
                "the references were captured under KVM and TCG output differs "
                "in device names and KVM markers, so the live comparison is skipped")
    return None


@pytest.mark.live
@pytest.mark.parametrize("name", ["pc-512M-edu", "q35-512M-ivshmem-1M"])
def test_live_capture_matches_reference(name, tmp_path):
    reason = _live_skip_reason()
    if reason:
        pytest.skip(reason)
    ref = REFS / name
    args = shlex.split((ref / "command.txt").read_text())
    out = tmp_path / name
    meta = cap.capture(args, out, accel="kvm", timeout=60)

    for fname in FILES:
        assert (out / fname).is_file(), fname
    assert meta["accel"] == "kvm"
    assert meta["args"] == args
    assert (out / "command.txt").read_text() == (ref / "command.txt").read_text()

    # info pci walks the buses in order: identical text.
    assert (out / "info_pci.txt").read_text() == (ref / "info_pci.txt").read_text()
    # info mtree [-f]: identical blocks, in whatever order QEMU printed them.
    for fname in ("info_mtree_f.txt", "info_mtree.txt"):
        assert mtree_blocks((out / fname).read_text()) == \
            mtree_blocks((ref / fname).read_text()), fname
    # The same memslot and BAR events in the same order; only ua= differs.
    assert trace_without_ua((out / "trace.log").read_text()) == \
        trace_without_ua((ref / "trace.log").read_text())
    assert (out / "pci_cfg_write.log").read_text() == \
        (ref / "pci_cfg_write.log").read_text()


# ---------------------------------------------------------------------------
# --qemu-binary / --firmware-dir and what meta.json records, with a stand-in
# process for QEMU (a small Python program that speaks just enough QMP)
# ---------------------------------------------------------------------------

# The stand-in writes its argv where STANDIN_ARGV says, opens the QMP socket
# of "-qmp unix:PATH,...", and after "cont" writes a SeaBIOS log (the
# isa-debugcon chardev's file) and a trace (the -trace file=).  Answers
# follow QEMU's QMP shapes (qapi/control.json, qapi/misc.json query-version).
STANDIN = r'''
import json, os, socket, sys
argv = sys.argv
json.dump(argv, open(os.environ["STANDIN_ARGV"], "w"))
def opt(name):
    return argv[argv.index(name) + 1]
qmp = opt("-qmp")[len("unix:"):].split(",")[0]
debug = opt("-chardev").split("path=")[1]
trace = opt("-trace").split("file=")[1]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(qmp); srv.listen(1)
conn, _ = srv.accept()
f = conn.makefile("rwb")
def send(obj):
    f.write(json.dumps(obj).encode() + b"\n"); f.flush()
send({"QMP": {"version": {"qemu": {"major": 10, "minor": 0, "micro": 2},
                          "package": "Debian 1:10.0.2+ds-2+deb13u1~bpo12+1"},
              "capabilities": []}})
HMP = {"info version": "10.0.2Debian 1:10.0.2+ds-2+deb13u1~bpo12+1\r\n",
       "info pci": "  Bus  0, device   0, function 0:\r\n",
       "info mtree -f": "FlatView #0\r\n", "info mtree": "address-space: memory\r\n"}
for line in f:
    msg = json.loads(line)
    cmd, ret = msg["execute"], {}
    if cmd == "cont":
        with open(trace, "w") as t:
            t.write("kvm_set_user_memory AddrSpace#0 Slot#0 flags=0x0 gpa=0x0 "
                    "size=0x20000000 ua=0x7f0000000000 ret=0\n"
                    "pci_cfg_write edu 00:02.0 @0x10 <- 0xffffffff\n")
        with open(debug, "w") as d:
            d.write("SeaBIOS (version 1.16.3-debian-1.16.3-2~bpo12+1)\n"
                    "Booting from Hard Disk...\nBoot failed\n")
    elif cmd == "query-version":
        ret = {"qemu": {"major": 10, "minor": 0, "micro": 2},
               "package": " Debian 1:10.0.2+ds-2+deb13u1~bpo12+1"}
    elif cmd == "human-monitor-command":
        ret = HMP[msg["arguments"]["command-line"]]
    send({"return": ret, "id": msg["id"]})
    if cmd == "quit":
        break
'''


@pytest.fixture
def standin_stack(tmp_path, monkeypatch):
    """A folder laid out as scripts/fetch-stack.sh makes it, with the
    stand-in as its QEMU 10.0 wrapper."""
    import stat
    import sys
    stack = tmp_path / "stack"
    (stack / "bin").mkdir(parents=True)
    qemu = stack / "bin" / "qemu-system-x86_64-10.0"
    qemu.write_text(f"#!{sys.executable}\n" + STANDIN)
    qemu.chmod(qemu.stat().st_mode | stat.S_IXUSR)
    (stack / "versions.txt").write_text(
        "# piece package=version suite   (written by fetch-stack.sh)\n"
        "qemu-10.0 qemu-system-x86=1:10.0.2+ds-2+deb13u1~bpo12+1 bookworm-backports\n"
        "qemu-10.0 qemu-system-data=1:10.0.2+ds-2+deb13u1~bpo12+1 bookworm-backports\n"
        "seabios-1.16.3 seabios=1.16.3-2~bpo12+1 bookworm-backports\n")
    fw = stack / "L" / "seabios-1.16.3"
    fw.mkdir(parents=True)
    (fw / "MANIFEST").write_text(
        "# -L folder assembled by fetch-stack.sh\n# packages:\n"
        "seabios=1.16.3-2~bpo12+1\nipxe-qemu=1.21.1+git20250501.dad20602+dfsg-1\n"
        "# files: name <- package\nbios-256k.bin <- seabios=1.16.3-2~bpo12+1\n")
    argv_file = tmp_path / "argv.json"
    monkeypatch.setenv("STANDIN_ARGV", str(argv_file))
    return qemu, fw, argv_file


def test_capture_with_qemu_binary_and_firmware_dir(standin_stack, tmp_path):
    qemu, fw, argv_file = standin_stack
    args = ["-machine", "pc", "-m", "512M", "-nodefaults", "-device", "edu,id=edu0"]
    meta = cap.capture(args, tmp_path / "out" / "x", accel="tcg", timeout=30,
                       qemu=str(qemu), firmware_dir=str(fw))
    argv = json.loads(argv_file.read_text())
    # -L comes first, before the user's arguments, which follow unchanged
    assert argv[1:3] == ["-L", str(fw)]
    assert argv[3:3 + len(args)] == args
    assert meta["qemu_argv"][:3] == ["qemu-system-x86_64-10.0", "-L", "<firmware-dir>"]
    assert meta["command"] == shlex.join(args)
    assert meta["qemu_binary"] == str(qemu) and meta["firmware_dir"] == str(fw)
    assert meta["qemu_version"] == "10.0.2"
    assert meta["qemu_package"] == "Debian 1:10.0.2+ds-2+deb13u1~bpo12+1"
    assert meta["qemu_info_version"] == "10.0.2Debian 1:10.0.2+ds-2+deb13u1~bpo12+1"
    # the wrapper's packages come from the stack's versions.txt, piece qemu-10.0
    assert meta["qemu_packages"] == {"qemu-system-x86": "1:10.0.2+ds-2+deb13u1~bpo12+1",
                                     "qemu-system-data": "1:10.0.2+ds-2+deb13u1~bpo12+1"}
    assert meta["qemu_packages_from"].endswith("versions.txt")
    # the firmware's from the -L folder's MANIFEST
    assert meta["firmware_packages"] == {"seabios": "1.16.3-2~bpo12+1",
                                         "ipxe-qemu": "1.21.1+git20250501.dad20602+dfsg-1"}
    assert meta["firmware_packages_from"] == str(fw / "MANIFEST")
    assert meta["seabios_version"] == "1.16.3-debian-1.16.3-2~bpo12+1"
    assert meta["firmware"] == "seabios-1.16.3"
    import platform
    assert meta["kernel_release"] == platform.release()
    assert meta["host_cpu_model"] == cap.host_cpu_model()
    # QEMU >= 8.2 keeps memory.c in system/
    assert "system/memory.c" in meta["varies"]["info_mtree_f.txt"]
    assert "--qemu-binary" in meta["made_by"] and "--firmware-dir" in meta["made_by"]
    out = tmp_path / "out" / "x"
    assert (out / "seabios.log").read_text().splitlines()[-1] == "Booting from Hard Disk..."
    assert (out / "trace.log").read_text().startswith("kvm_set_user_memory AddrSpace#0 Slot#0")
    assert (out / "info_pci.txt").read_text() == "  Bus  0, device   0, function 0:\n"


def test_capture_cli_options(standin_stack, tmp_path, capsys):
    from vfiolab.cli import main as vfiolab_main
    qemu, fw, argv_file = standin_stack
    rc = vfiolab_main(["capture", "--name", "y", "--out", str(tmp_path / "o"),
                       "--accel", "tcg", "--qemu-binary", str(qemu),
                       "--firmware-dir", str(fw), "--", "-machine", "q35", "-m", "1G"])
    assert rc == 0, capsys.readouterr().err
    meta = json.loads((tmp_path / "o" / "y" / "meta.json").read_text())
    assert meta["made_by"] == shlex.join(
        ["python", "-m", "vfiolab", "capture", "--name", "y", "--out", str(tmp_path / "o"),
         "--accel", "tcg", "--qemu-binary", str(qemu), "--firmware-dir", str(fw),
         "--", "-machine", "q35", "-m", "1G"])
    assert json.loads(argv_file.read_text())[1:3] == ["-L", str(fw)]
    assert "QEMU 10.0.2, SeaBIOS 1.16.3" in capsys.readouterr().out


def test_firmware_dir_must_be_a_folder(tmp_path, capsys):
    assert cap.main(["--name", "x", "--firmware-dir", str(tmp_path / "nope"),
                     "--", "-m", "1G"]) == 2
    assert "--firmware-dir" in capsys.readouterr().err
    with pytest.raises(CaptureError, match="not a directory"):
        cap.capture(["-m", "1G"], tmp_path / "x", qemu="sh", firmware_dir=tmp_path / "nope")


def test_dash_L_in_the_args_is_refused():
    with pytest.raises(CommandLineError, match="--firmware-dir"):
        qemurun.check_args(["-L", "/x", "-m", "1G"], "capture", cap._CONFLICTING)


def test_firmware_and_qemu_packages_from_dpkg(monkeypatch, tmp_path):
    """Without -L, the firmware packages are the system's (dpkg-query -W);
    a binary outside a fetch-stack folder is looked up with dpkg-query -S."""
    calls = []

    def fake(*args):
        calls.append(args)
        if args[0] == "-S":
            return "qemu-system-x86: /usr/bin/qemu-system-x86_64\n"
        return "".join(f"{p}=1.0-{i}\n" for i, p in enumerate(args[3:]))
    monkeypatch.setattr(cap, "_dpkg", fake)
    found, src = cap.firmware_packages(None)
    assert found == {"seabios": "1.0-0", "ipxe-qemu": "1.0-1", "qemu-system-data": "1.0-2"}
    assert src == "dpkg-query -W"
    found, src = cap.qemu_packages("/usr/bin/true")
    assert found == {"qemu-system-x86": "1.0-0"}
    assert src.startswith("dpkg-query -S ")
    # an -L folder without a MANIFEST: nothing is guessed
    assert cap.firmware_packages(str(tmp_path)) == ({}, None)


@pytest.mark.parametrize("text, name", [
    ("1.16.3-debian-1.16.3-2~bpo12+1", "seabios-1.16.3"),
    ("1.16.2-debian-1.16.2-1", "seabios-1.16.2"),
    ("rel-1.17.0", None), (None, None)])
def test_firmware_name(text, name):
    assert cap.firmware_name(text) == name
