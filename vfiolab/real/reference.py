"""Real QEMU captures (``data/references/<name>/``) read into the model's shape.

A capture folder, made by :mod:`vfiolab.real.capture`, holds ``command.txt`` (the
QEMU arguments), ``info_pci.txt``, ``info_mtree_f.txt``, ``info_mtree.txt``,
``trace.log`` and ``meta.json``.  :func:`load_reference` parses them with
:mod:`vfiolab.inputs` into the same JSON shape ``vfiolab predict`` prints, so
a test can compare the two field by field.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from ..addr import fmt_size
from ..errors import CaptureError
from ..inputs.cmdline import parse_qemu_args
from ..stack import parse_version
from ..inputs import flatview_for, parse_info_pci, parse_mtree_flat, parse_trace, replay_memslots
from ..records import Memslot, PciDeviceRecord, Section

__all__ = ["Reference", "load_reference", "reference_dirs", "REFERENCES", "MODEL_GAPS",
           "capture_versions", "model_gap"]

REFERENCES = Path(__file__).resolve().parents[2] / "data" / "references"

#: The stack ``predict()`` assumes when given no versions (debian12): the
#: captures every caller of :func:`reference_dirs` was first written for.
DEFAULT_VERSIONS = ("7.2", "1.16.2")

#: Captures the model does not reproduce yet, with the difference (found by
#: the capture; the tests that compare them are expected to fail until the
#: model is fixed).  Empty since the low-memory zone of SeaBIOS is modelled
#: (vfiolab.model.firmware.seabios.LowMemory: Debian's 1.16.3 on q35 ends POST
#: with rom_get_max() = 0xe7800, which leaves 0xe4000-0xe7fff writable).
MODEL_GAPS: dict[str, str] = {}


def capture_versions(meta: dict) -> tuple[str, str]:
    """(QEMU ``major.minor``, SeaBIOS ``X.Y.Z``) that made a capture: meta.json
    ``qemu_version`` (QMP query-version) and ``seabios_version`` (the SeaBIOS
    log's first line, e.g. ``1.16.3-debian-1.16.3-2~bpo12+1``)."""
    q = re.match(r"(\d+)\.(\d+)", meta.get("qemu_version") or "")
    s = re.match(r"(\d+\.\d+\.\d+)", meta.get("seabios_version") or "")
    if not q or not s:
        raise CaptureError(f"meta.json of {meta.get('name')!r} lacks qemu_version or "
                             "seabios_version")
    return f"{q.group(1)}.{q.group(2)}", s.group(1)


def model_gap(name: str, meta: dict) -> str | None:
    """Why the model cannot reproduce capture ``name`` exactly (None if it
    can).  ``meta`` is kept for callers; since issue 12 every QEMU release
    with captures (7.2, 10.0) is modelled and only :data:`MODEL_GAPS` remain."""
    capture_versions(meta)          # a capture must say what made it
    return MODEL_GAPS.get(name)


@dataclass
class Reference:
    """One real capture, parsed."""

    name: str
    args: list[str]
    meta: dict
    devices: list[PciDeviceRecord]
    sections: list[Section]
    memslots: list[Memslot]

    def predict_options(self) -> dict:
        """Keyword arguments for :func:`vfiolab.predict.predict` that describe
        the stack that made this capture: its QEMU and SeaBIOS versions,
        KVM, and the capturing host's CPU vendor and physical-address bits."""
        qemu, seabios = capture_versions(self.meta)
        return {"qemu": qemu, "seabios": seabios, "accel": "kvm",
                "cpu_vendor": self.meta.get("host_cpu_vendor") or None,
                "phys_bits": self.meta.get("host_phys_bits")}

    def to_json(self) -> dict:
        cfg = parse_qemu_args(self.args, qemu=parse_version(capture_versions(self.meta)[0], "QEMU"))
        types = {d.id: d.type for d in cfg.devices if d.id}
        devs = []
        for d in self.devices:          # every function, as query-pci lists them
            if d.qdev_id:
                d.type = types.get(d.qdev_id)
            devs.append(d.to_json())
        return {
            "machine": cfg.machine,
            "memory": fmt_size(cfg.ram_size),
            "seabios": self.meta.get("seabios_version", "").split("-")[0] or None,
            "devices": devs,
            "flatview": [s.to_json() for s in self.sections],
            "memslots": [m.to_json() for m in self.memslots],
        }


def load_reference(path) -> Reference:
    """Parse one capture folder."""
    p = Path(path)
    args = shlex.split((p / "command.txt").read_text())
    meta = json.loads((p / "meta.json").read_text()) if (p / "meta.json").exists() else {}
    devices = parse_info_pci((p / "info_pci.txt").read_text(), source=str(p / "info_pci.txt"))
    views = parse_mtree_flat((p / "info_mtree_f.txt").read_text(), source=str(p / "info_mtree_f.txt"))
    sections = flatview_for(views, "memory").sections
    trace = p / "trace.log"
    memslots = replay_memslots(parse_trace(trace.read_text(), source=str(trace))) if trace.exists() else []
    return Reference(p.name, args, meta, devices, sections, memslots)


def reference_dirs(root=REFERENCES, *, every: bool = False) -> list[Path]:
    """Capture folders under ``root``, sorted by name.

    By default only those made with the default stack (QEMU 7.2 + SeaBIOS
    1.16.2, what ``predict()`` assumes without versions) that the model
    reproduces (not in :data:`MODEL_GAPS`); ``every=True`` gives all of them
    (QEMU 10.0, SeaBIOS 1.16.3/1.17.0 ones included: predict those with
    :meth:`Reference.predict_options`).
    """
    root = Path(root)
    found = sorted(d for d in root.iterdir() if (d / "command.txt").exists()) if root.exists() else []
    if every:
        return found
    out = []
    for d in found:
        meta = json.loads((d / "meta.json").read_text()) if (d / "meta.json").exists() else {}
        if capture_versions(meta) == DEFAULT_VERSIONS and d.name not in MODEL_GAPS:
            out.append(d)
    return out
