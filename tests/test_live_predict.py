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
