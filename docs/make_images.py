"""Write the figures of docs/images/ (deterministic: same bytes on every run).

Each figure starts from the command line of a real capture in
data/references/ (``command.txt``):

* ``lanes.png`` -- ``q35-4G-ivshmem-2G`` predicted by vfiolab: GPA (the flat
  view of "memory") and HVA (QEMU's RAM blocks), memslot bands between them;
  RAM above 4 GiB and the 2 GiB BAR in SeaBIOS's 64-bit window.
* ``lanes-capture.png`` -- ``q35-1G-multi`` straight from the real capture
  (info mtree -f and the kvm_set_user_memory trace; the HVA side is rebuilt
  from the memslots, as a capture does not list QEMU's mappings).
* ``lanes-moved.png`` -- ``q35-1G-ivshmem-1G`` predicted, after the guest
  moved ivshmem BAR2 to 0x800000000 the clean way (highlighted).
* ``lanes-four.png`` -- the same VM with the HPA and IOVA lanes shown
  (empty: no vfio device yet).

Run from the repository root:  .venv/bin/python docs/make_images.py
"""

from __future__ import annotations

import hashlib
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import matplotlib  # noqa: E402

matplotlib.use("Agg")

from vfiolab.model.guest import move_bar  # noqa: E402
from vfiolab.plot.lanes import lanes_figure  # noqa: E402
from vfiolab.plot.style import save  # noqa: E402
from vfiolab.predict import predict  # noqa: E402
from vfiolab.reference import REFERENCES, load_reference  # noqa: E402
from vfiolab.views import lanes_data, lanes_from_records  # noqa: E402

OUT = ROOT / "docs" / "images"


def command(name: str) -> list[str]:
    return shlex.split((REFERENCES / name / "command.txt").read_text())


def write(name: str, data) -> Path:
    fig, ax, art = lanes_figure(data)
    path = OUT / name
    save(fig, path)
    return path


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    written = []

    p = predict(command("q35-4G-ivshmem-2G"), cpu_vendor="AuthenticAMD")
    written.append(write("lanes.png", lanes_data(p, highlight={"m0"})))

    ref = load_reference(REFERENCES / "q35-1G-multi")
    written.append(write("lanes-capture.png", lanes_from_records(ref.sections, ref.memslots)))

    p = predict(command("q35-1G-ivshmem-1G"), cpu_vendor="AuthenticAMD")
    move_bar(p.vm, "00:01.0", 2, 0x800000000, how="clean")
    written.append(write("lanes-moved.png", lanes_data(p, highlight={"m0"})))
    written.append(write("lanes-four.png",
                         lanes_data(p, lanes=("gpa", "hva", "hpa", "iova"), highlight={"m0"})))

    for path in written:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        print(f"{path.relative_to(ROOT)}  sha256:{digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
