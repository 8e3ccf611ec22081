"""Live: capture two configurations afresh with real QEMU and compare with
``vfiolab predict``.  The configurations are not among the committed
references, so this checks the model on machines it was not tuned on.

Skips (saying why) when qemu-system-x86_64 or a usable /dev/kvm is missing:
under TCG QEMU names its interrupt controllers differently and makes no
memslots, so the comparison would be about another thing.
"""

from __future__ import annotations

import pytest

from vfiolab.real import capture
from vfiolab.stack import host_cpu
from vfiolab.predict import predict
from vfiolab.real.reference import load_reference

pytestmark = pytest.mark.live

CONFIGS = {
    "pc-768M-ivshmem-32M-edu": "-machine pc -accel kvm -m 768M -nodefaults "
                               "-object memory-backend-ram,id=m0,size=32M "
                               "-device ivshmem-plain,memdev=m0,id=ivs0 -device edu,id=edu0",
    "q35-2G-ivshmem-512M": "-machine q35 -accel kvm -m 2G -nodefaults "
                           "-object memory-backend-ram,id=m0,size=512M "
                           "-device ivshmem-plain,memdev=m0,id=ivs0",
}


@pytest.fixture(scope="module")
def live_ok():
    if not capture.qemu_available():
        pytest.skip("qemu-system-x86_64 is not installed")
    if not capture.kvm_usable():
        pytest.skip("/dev/kvm is not usable; a TCG capture has no memslots to compare")


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_fresh_capture_matches_prediction(live_ok, tmp_path, name):
    args = CONFIGS[name].split()
    out = tmp_path / name
    capture.capture(args, out, accel="kvm", timeout=90)
    ref = load_reference(out)
    pred = predict(args, cpu_vendor=host_cpu()[0])
    want = {(d["bdf"], d["qdev_id"], b["bar"]): b["address"] for d in ref.to_json()["devices"]
            for b in d["bars"]}
    got = {(d["bdf"], d["qdev_id"], b["bar"]): b["address"] for d in pred.to_json()["devices"]
           for b in d["bars"]}
    assert got == want

    def rows(secs):
        return [(s.start, s.end, s.kind, s.prio, s.name, s.offset or None, s.kvm) for s in secs]
    assert rows(pred.sections()) == rows(ref.sections)
    assert sorted((m.guest_phys_addr, m.memory_size, m.flags) for m in pred.memslots()) == \
        sorted((m.guest_phys_addr, m.memory_size, m.flags) for m in ref.memslots)


# ---------------------------------------------------------------------------
# QEMU 10.0: a fresh capture reproduces the committed one (issue 12)
# ---------------------------------------------------------------------------

import os
import shlex
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Committed QEMU 10.0 captures that are quick to make again (~5 s each, no
#: option ROMs): their command lines are captured afresh and compared.
QEMU10_AGAIN = ["pc-512M-edu-qemu10-sb1162", "q35-512M-ivshmem-1M-qemu10-sb1162"]


@pytest.fixture(scope="module")
def qemu10_stack():
    """Run scripts/fetch-stack.sh (idempotent: it only prints what it has when
    everything is unpacked) and return (wrapper, stack folder); skip with
    the script's own reason when it exits 3 (the archive cannot serve a
    piece), or when QEMU 10.0 or KVM cannot be used here."""
    stack = Path(os.environ.get("VFIOLAB_STACK_DIR", "/tmp/vfiolab-stack"))
    try:
        res = subprocess.run([str(ROOT / "scripts" / "fetch-stack.sh")], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=1800, env=dict(os.environ, VFIOLAB_STACK_DIR=str(stack)))
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"scripts/fetch-stack.sh could not run: {exc}")
    if res.returncode == 3:
        why = [ln for ln in res.stdout.splitlines() if ln.startswith("UNAVAILABLE")]
        pytest.skip("scripts/fetch-stack.sh: " + (" ".join(why) or "exit 3"))
    assert res.returncode == 0, res.stdout[-2000:]
    wrapper = stack / "bin" / "qemu-system-x86_64-10.0"
    if not capture.qemu_available(str(wrapper)):
        pytest.skip(f"{wrapper} does not run here")
    if not capture.kvm_usable(str(wrapper)):
        pytest.skip("/dev/kvm is not usable; the 10.0 references were made under KVM")
    return wrapper, stack


@pytest.mark.parametrize("name", QEMU10_AGAIN)
def test_qemu10_capture_is_reproducible(qemu10_stack, tmp_path, name):
    """Capture the committed 10.0 reference's command line afresh with the
    same QEMU and -L folder and compare BAR placement, the flat view of
    "memory", the memslots (slot numbers included) and info pci."""
    wrapper, stack = qemu10_stack
    ref_dir = ROOT / "data" / "references" / name
    committed = load_reference(ref_dir)
    fw = stack / "L" / Path(committed.meta["firmware_dir"]).name
    out = tmp_path / name
    meta = capture.capture(committed.args, out, accel="kvm", timeout=90,
                           qemu=str(wrapper), firmware_dir=str(fw))
    assert meta["qemu_version"] == committed.meta["qemu_version"]
    assert meta["seabios_version"] == committed.meta["seabios_version"]
    fresh = load_reference(out)

    def bars(ref):
        return {(d["bdf"], d["qdev_id"], b["bar"]): (b["address"], b["size"])
                for d in ref.to_json()["devices"] for b in d["bars"]}
    assert bars(fresh) == bars(committed)

    def rows(secs):
        return [(s.start, s.end, s.kind, s.prio, s.name, s.offset, s.kvm) for s in secs]
    assert rows(fresh.sections) == rows(committed.sections)
    assert sorted((m.slot, m.guest_phys_addr, m.memory_size, m.flags) for m in fresh.memslots) \
        == sorted((m.slot, m.guest_phys_addr, m.memory_size, m.flags) for m in committed.memslots)
    assert (out / "info_pci.txt").read_text() == (ref_dir / "info_pci.txt").read_text()
