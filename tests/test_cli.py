"""The command line: QEMU option reading, `vfiolab predict` output and errors.

Option syntax expectations come from QEMU's own rules (util/qemu-option.c:
``,,`` is a literal comma, the first bare word is the implied key;
softmmu/vl.c: ``-m`` without a suffix is MiB).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vfiolab.cli import main
from vfiolab.errors import CommandLineError, UnsupportedOption
from vfiolab.inputs.cmdline import parse_qemu_args, split_opts


def test_split_opts_implied_key_and_escaped_comma():
    assert split_opts("ivshmem-plain,memdev=m0,id=a,,b", "driver") == \
        {"driver": "ivshmem-plain", "memdev": "m0", "id": "a,b"}


def test_m_defaults_to_mib_and_accepts_suffixes():
    assert parse_qemu_args(["-m", "512"]).ram_size == 512 << 20
    assert parse_qemu_args(["-m", "4G"]).ram_size == 4 << 30
    assert parse_qemu_args(["-m", "size=3G"]).ram_size == 3 << 30


def test_machine_names():
    assert parse_qemu_args(["-M", "q35"]).machine == "q35"
    assert parse_qemu_args(["-machine", "pc-q35-7.2,accel=kvm"]).machine == "q35"
    assert parse_qemu_args(["-machine", "type=pc-i440fx-7.2"]).machine == "pc"


def test_unsupported_option_names_it_and_lists_supported():
    with pytest.raises(UnsupportedOption) as e:
        parse_qemu_args(["-M", "q35", "-numa", "node"])
    msg = str(e.value)
    assert "'-numa'" in msg and "-device" in msg and "-machine" in msg


def test_unsupported_machine():
    with pytest.raises(UnsupportedOption, match="microvm"):
        parse_qemu_args(["-M", "microvm"])


def test_object_needs_size_and_id():
    # real QEMU 7.2.22: "-object memory-backend-ram,id=m0: Parameter 'size' is missing"
    # (tests/fixtures/bad_inputs/qemu-7.2.json)
    with pytest.raises(CommandLineError, match="Parameter .size. is missing"):
        parse_qemu_args(["-object", "memory-backend-ram,id=m0"])
    with pytest.raises(CommandLineError, match="size"):
        parse_qemu_args(["-object", "memory-backend-ram,id=m0,size=lots"])


def test_ignored_options_are_accepted():
    cfg = parse_qemu_args(["-M", "q35", "-accel", "kvm", "-display", "none", "-nographic",
                           "-monitor", "stdio", "-smp", "2", "-nodefaults"])
    assert cfg.nodefaults and cfg.accel == "kvm"


def test_predict_json_shape(capsys):
    rc = main(["predict", "--cpu-vendor", "AuthenticAMD", "--", "-M", "q35", "-m", "1G",
               "-nodefaults", "-object", "memory-backend-ram,id=m0,size=64M",
               "-device", "ivshmem-plain,memdev=m0,id=ivs0"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"stack", "machine", "memory", "guest_cpu", "devices", "firmware_notes",
                        "flatview", "memslots", "ignored", "warnings"}
    assert out["machine"] == "q35" and out["memory"] == "1G"
    # the stack names every assumption: the default preset, the resolved
    # machine type, the host CPU given, the accelerator QEMU was not told
    st = out["stack"]
    assert (st["name"], st["qemu"], st["firmware"], st["kernel"]) == \
        ("debian12", "7.2", "seabios-1.16.2", "6.1")
    assert st["machine"] == "pc-q35-7.2" and st["cpu_vendor"] == "AuthenticAMD"
    assert st["cpu_from"] == "given" and st["accel"] == "kvm" and st["notes"]
    # qemu64 under KVM: the host's vendor, TCG_PHYS_ADDR_BITS (target/i386/cpu.c)
    assert out["guest_cpu"] == {"vendor": "AuthenticAMD", "phys_bits": 40}
    # every function, as query-pci lists them: q35's MCH, ICH9 LPC, AHCI and SMBus too
    # (QEMU hw/i386/pc_q35.c pc_q35_init: 00:00.0 mch, 00:1f.0/.2/.3)
    assert [d["bdf"] for d in out["devices"]] == ["00:00.0", "00:01.0", "00:1f.0", "00:1f.2",
                                                 "00:1f.3"]
    dev = out["devices"][1]
    assert dev["qdev_id"] == "ivs0" and dev["type"] == "ivshmem-plain"
    bar2 = [b for b in dev["bars"] if b["bar"] == 2][0]
    assert bar2["type"] == "mem64" and bar2["prefetch"] is True
    assert all(s["start"].startswith("0x") for s in out["flatview"])


@pytest.mark.parametrize("fmt,needle", [("mtree", "FlatView #0"), ("pci", "Bus  0, device"),
                                        ("mtree-tree", "address-space: memory")])
def test_predict_other_formats(capsys, fmt, needle):
    assert main(["predict", "--format", fmt, "--", "-M", "pc", "-m", "512M", "-nodefaults",
                 "-device", "edu,id=e"]) == 0
    assert needle in capsys.readouterr().out


@pytest.mark.parametrize("name,stack", [
    ("pc-512M-edu", ["--qemu", "7.2", "--seabios", "1.16.2"]),
    ("pc-512M-edu-qemu10-sb1162", ["--qemu", "10.0", "--seabios", "1.16.2"]),
])
def test_predict_format_trace(capsys, name, stack):
    """``--format trace`` prints the capture's kvm_set_user_memory lines
    (data/references/NAME/trace.log, real QEMU 7.2 and 10.0), ua= aside,
    which it writes as <REGION+0xOFFSET>."""
    import re
    from vfiolab.real.reference import REFERENCES, load_reference
    ref = load_reference(REFERENCES / name)
    opts = ref.predict_options()
    assert main(["predict", "--format", "trace", *stack, "--cpu-vendor", opts["cpu_vendor"],
                 "--phys-bits", str(opts["phys_bits"]), "--", *ref.args]) == 0
    out = capsys.readouterr().out.splitlines()
    real = [ln for ln in (REFERENCES / name / "trace.log").read_text().splitlines()
            if ln.startswith("kvm_set_user_memory ")]
    assert out[0].split(" ua=")[1].startswith("<pc.ram+0x0> ")
    assert [re.sub(r" ua=<[^>]*> ", " ", ln) for ln in out] == \
        [re.sub(r" ua=0x[0-9a-f]+ ", " ", ln) for ln in real]


def test_predict_help_says_what_trace_ua_is(capsys):
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    assert "<REGION+0xOFFSET>" in capsys.readouterr().out


@pytest.mark.parametrize("args,needle", [
    (["-M", "q35", "-numa", "node"], "unsupported option '-numa'"),
    (["-M", "q35", "-device", "no-such-device,id=x"], "no-such-device"),
    (["-M", "q35", "-device", "ivshmem-plain,memdev=nope,id=x"], "nope"),
    (["-M", "q35", "-device", "edu,bus=rp9"], "rp9"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, args, needle):
    assert main(["predict", "--"] + args) == 2
    err = capsys.readouterr().err
    assert err.startswith("vfiolab: error:") and needle in err and "Traceback" not in err


def test_module_entry_point_runs():
    r = subprocess.run([sys.executable, "-m", "vfiolab", "predict", "--format", "pci", "--",
                        "-M", "pc", "-m", "256", "-nodefaults"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "8086:1237" in r.stdout


@pytest.mark.parametrize("stack,want", [("debian12", "ovmf-2022.11"), ("debian13", "ovmf-2025.02")])
def test_pflash_command_line_takes_the_presets_ovmf(capsys, stack, want):
    """Issue 13: "the stack preset picks it by default": a command line with
    OVMF flash and no --firmware is predicted with the preset's OVMF build
    (Debian 12: ovmf 2022.11, Debian 13: 2025.02), and the note says so."""
    args = ["-machine", "q35", "-m", "1G", "-nodefaults",
            "-drive", "if=pflash,format=raw,unit=0,readonly=on,file=OVMF_CODE_4M.fd",
            "-drive", "if=pflash,format=raw,unit=1,file=OVMF_VARS_4M.fd"]
    assert main(["predict", "--stack", stack, "--format", "json", "--", *args]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["stack"]["firmware"].endswith(want.split("-")[1])
    assert f"using --firmware {want}" in err
