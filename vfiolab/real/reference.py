"""Real QEMU captures (``data/references/<name>/``) read into the model's shape.

A capture folder, made by :mod:`vfiolab.real.capture`, holds ``command.txt`` (the
QEMU arguments), ``info_pci.txt``, ``info_mtree_f.txt``, ``info_mtree.txt``,
``trace.log`` and ``meta.json``.  :func:`load_reference` parses them with
:mod:`vfiolab.inputs` into the same JSON shape ``vfiolab predict`` prints, so
a test can compare the two field by field.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path

from ..addr import fmt_size
from ..inputs.cmdline import parse_qemu_args
from ..inputs import flatview_for, parse_info_pci, parse_mtree_flat, parse_trace, replay_memslots
from ..records import Memslot, PciDeviceRecord, Section

__all__ = ["Reference", "load_reference", "reference_dirs", "REFERENCES"]

REFERENCES = Path(__file__).resolve().parents[2] / "data" / "references"


@dataclass
class Reference:
    """One real capture, parsed."""

    name: str
    args: list[str]
    meta: dict
    devices: list[PciDeviceRecord]
    sections: list[Section]
    memslots: list[Memslot]

    def to_json(self) -> dict:
        cfg = parse_qemu_args(self.args)
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


def reference_dirs(root=REFERENCES) -> list[Path]:
    """Every capture folder under ``root``, sorted by name."""
    root = Path(root)
    return sorted(d for d in root.iterdir() if (d / "command.txt").exists()) if root.exists() else []
