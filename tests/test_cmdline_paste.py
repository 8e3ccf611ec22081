"""Pasted command lines (vfiolab.inputs.paste) and the CLI's --command-file.

The pasted forms are written as the tools print them: libvirt's
/var/log/libvirt/qemu/NAME.log (src/qemu/qemu_process.c writes the
timestamped "starting up" line, then the environment, the program and one
option per line with \\-newline, as virCommandToString does since libvirt
6.2), tests/fixtures/cmdline/libvirt10-q35.log; Proxmox's `qm showcmd VMID
--pretty` (PVE/CLI/qm.pm: "/usr/bin/kvm \\" then one quoted option per line),
tests/fixtures/cmdline/qm-showcmd-pretty.txt, written in that form.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from vfiolab.cli import main
from vfiolab.errors import CommandLineError
from vfiolab.inputs.paste import argv_from_text, read_command_file, strip_program

FIX = Path(__file__).parent / "fixtures" / "cmdline"


def test_libvirt_log():
    argv = argv_from_text((FIX / "libvirt10-q35.log").read_text())
    assert argv[:4] == ["-name", "guest=win11,debug-threads=on", "-S", "-object"]
    assert argv[-2:] == ["-msg", "timestamp=on"]       # the log lines after it are not read
    assert argv[argv.index("-machine") + 1].startswith("pc-q35-7.2,usb=off")
    assert not any(a.startswith(("LC_ALL=", "PATH=", "/usr/bin/qemu")) for a in argv)


def test_old_libvirt_one_line_with_timestamp():
    text = ("2019-01-02 03:04:05.678+0000: LC_ALL=C PATH=/usr/bin HOME=/root QEMU_AUDIO_DRV=none "
            "/usr/bin/qemu-system-x86_64 -name guest=vm -machine pc-q35-7.2,accel=kvm "
            "-m 1024 -nodefaults -device 'edu,id=e,,x'\n"
            "2019-01-02 03:04:06.000+0000: Domain id=1 is tainted: host-cpu\n")
    assert argv_from_text(text) == ["-name", "guest=vm", "-machine", "pc-q35-7.2,accel=kvm",
                                    "-m", "1024", "-nodefaults", "-device", "edu,id=e,,x"]


def test_qm_showcmd_pretty_predicts():
    argv = argv_from_text((FIX / "qm-showcmd-pretty.txt").read_text())
    assert argv[:4] == ["-accel", "kvm", "-id", "100"]      # /usr/bin/kvm prefers KVM
    from vfiolab.predict import predict
    p = predict(argv, cpu_vendor="AuthenticAMD", phys_bits=40)
    assert p.stack.machine == "pc-q35-7.2"
    got = [(d.bus, d.slot, d.func, d.type) for d in p.devices() if d.type != "mch"]
    assert (0, 16, 0, "pcie-root-port") in got and (0, 16, 1, "pcie-root-port") in got
    assert (2, 0, 0, "e1000e") in got


@pytest.mark.parametrize("text, want", [
    ("-M q35 -m 1G", ["-M", "q35", "-m", "1G"]),
    ("qemu-system-x86_64 -M q35 \\\n  -m 1G\n", ["-M", "q35", "-m", "1G"]),
    ("  -M q35\n  -m 1G\n", ["-M", "q35", "-m", "1G"]),            # one option per line
    ('["/usr/bin/qemu-system-x86_64", "-M", "q35"]', ["-M", "q35"]),
    ("-device '{\"driver\":\"edu\"}'", ["-device", '{"driver":"edu"}']),
    (b"-M pc", ["-M", "pc"]),
])
def test_forms(text, want):
    assert argv_from_text(text) == want


@pytest.mark.parametrize("text, says", [
    ("", "no QEMU command line"),
    ("hello world", "no QEMU command line"),
    ("-M 'q35", "cannot split"),
    (b"\xff\xfe-M", "not UTF-8"),
    ("-M q35\x00", "NUL"),
    ("[1, 2]", "strings only"),
    ("[-M", "JSON"),
    ("FOO=1 /bin/ls -M q35", "no QEMU command line"),
    ("FOO=1 /bin/qemu-img -M q35", "not a QEMU program"),
])
def test_bad_pastes(text, says):
    with pytest.raises(CommandLineError, match=says):
        argv_from_text(text)


def test_strip_program():
    """A program whose name ends in "kvm" prefers KVM when no accelerator is
    named (softmmu/vl.c configure_accelerators: "kvm:tcg"; qemu-system-*
    gets "tcg:kvm"), so it leaves -accel kvm behind."""
    assert strip_program(["LC_ALL=C", "/usr/libexec/qemu-kvm", "-M", "q35"]) == \
        ["-accel", "kvm", "-M", "q35"]
    assert strip_program(["/usr/bin/kvm", "-M", "q35,accel=tcg"]) == ["-M", "q35,accel=tcg"]
    assert strip_program(["kvm", "-accel", "tcg"]) == ["-accel", "tcg"]
    assert strip_program(["/usr/bin/qemu-system-x86_64", "-M", "q35"]) == ["-M", "q35"]
    assert strip_program(["-M", "q35"]) == ["-M", "q35"]


def test_program_accel_sees_every_line():
    """qm showcmd --pretty puts one option per line: an -accel on a later
    line counts."""
    assert argv_from_text("/usr/bin/kvm \\\n  -M q35 \\\n  -accel tcg\n") == \
        ["-M", "q35", "-accel", "tcg"]
    assert argv_from_text("/usr/bin/kvm \\\n  -M q35\n") == ["-accel", "kvm", "-M", "q35"]


def test_cli_command_file_and_stdin(tmp_path, capsys, monkeypatch):
    f = tmp_path / "cmd.txt"
    f.write_text("2025-01-02 03:04:05.678+0000: starting up libvirt version: 10.0.0\n"
                 "LC_ALL=C \\\n/usr/bin/qemu-system-x86_64 \\\n-name guest=x \\\n-M q35 \\\n"
                 "-m 512M \\\n-nodefaults \\\n-object '{\"qom-type\":\"secret\",\"id\":\"k\","
                 "\"data\":\"x\"}' \\\n-msg timestamp=on\n")
    assert main(["predict", "--format", "json", "--cpu-vendor", "AuthenticAMD",
                 "--command-file", str(f)]) == 0
    cap = capsys.readouterr()
    out = json.loads(cap.out)
    assert out["ignored"] == ["-name", "-object secret", "-msg"]
    # the note on stderr names each once
    assert cap.err.count("-object secret") == 1 and "ignored" in cap.err
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(f.read_bytes())))
    assert main(["predict", "--format", "pci", "--cpu-vendor", "AuthenticAMD",
                 "--command-file", "-"]) == 0
    assert "Host bridge" in capsys.readouterr().out


def test_cli_single_string_after_dashes_and_errors(capsys, tmp_path):
    assert main(["predict", "--format", "pci", "--cpu-vendor", "AuthenticAMD", "--",
                 "qemu-system-x86_64 -M q35 -m 512M -nodefaults"]) == 0
    capsys.readouterr()
    assert main(["predict", "--command-file", str(tmp_path / "missing"), "--", "-M", "q35"]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["predict", "--command-file", str(tmp_path / "missing")]) == 2
    assert "--command-file" in capsys.readouterr().err


def test_m_hex_warning_on_stderr(capsys):
    assert main(["predict", "--format", "pci", "--cpu-vendor", "AuthenticAMD", "--",
                 "-M", "q35", "-m", "0x100", "-nodefaults"]) == 0
    assert "Using a multiplier suffix on hex numbers is deprecated: 0x100M" in capsys.readouterr().err
