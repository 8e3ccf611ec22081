"""Helpers of chapters 09-11: BAR tables that work for either firmware,
the firmware's 64-bit window, the check's items as a table, and the widths
picture (:mod:`vfiolab.plot.widths`) built from a prediction or a check
report."""

from __future__ import annotations

import pandas as pd

from ..addr import fmt_hex, fmt_size
from ..model.boot import guest_cpu

__all__ = ["bars_frame", "mem64_window", "window_frame", "widths_column", "widths_fig",
           "widths_png", "check_frame", "fix_frame", "check_case"]


def bars_frame(prediction, *, min_size: int = 0) -> pd.DataFrame:
    """Every memory BAR of every function, as QMP query-pci lists them
    (:meth:`~vfiolab.predict.Prediction.devices`): address ``unassigned``
    when the firmware did not program it."""
    rows = []
    for d in prediction.devices():
        for b in d.bars:
            if b.type == "io" or b.size < min_size:
                continue
            rows.append({"bdf": d.bdf, "device": d.qdev_id or d.type, "bar": b.bar,
                         "type": b.type, "size": fmt_size(b.size),
                         "address": "unassigned" if b.address is None else fmt_hex(b.address)})
    return pd.DataFrame(rows)


def mem64_window(prediction) -> tuple | None:
    """The firmware's 64-bit window as ``(start, end_exclusive, why)``:
    SeaBIOS ``pci_bios_map_devices`` (only when 64-bit BARs were moved up),
    OVMF the PlatformInitLib aperture (classic or dynamic); None if none."""
    fw = prediction.vm.firmware
    ap = getattr(fw, "apertures", None)
    if ap is not None:
        if not ap.mem64_size:
            return None
        return ap.mem64_base, ap.mem64_base + ap.mem64_size, ap.why
    root = getattr(fw, "root", None)
    if root is not None and root.mem64_used and root.mem64_start:
        # pcimem64_end is exclusive (pci_bios_map_devices aligns it up to 1 GiB)
        return root.mem64_start, root.mem64_end, "SeaBIOS: sized by the 64-bit BARs"
    return None


def window_frame(predictions: dict) -> pd.DataFrame:
    """One row per named prediction: guest phys-bits and the 64-bit window."""
    rows = []
    for name, p in predictions.items():
        _, bits = guest_cpu(p.vm.config, p.stack)
        w = mem64_window(p)
        rows.append({"VM": name, "firmware": p.stack.firmware_text, "guest phys-bits": bits,
                     "64-bit window": "none" if w is None else
                     f"{fmt_hex(w[0])}-{fmt_hex(w[1] - 1)}",
                     "size": "" if w is None else fmt_size(w[1] - w[0]),
                     "why": "" if w is None else w[2]})
    return pd.DataFrame(rows)


def widths_column(prediction, title: str, *, min_size: int = 1 << 20, limits=(),
                  beyond=()):
    """A :class:`~vfiolab.plot.widths.WidthsColumn` for ``prediction``: its
    BARs of at least ``min_size``, its 64-bit window, the guest's phys-bits
    and ``limits`` (``(label, bits)``) besides."""
    from ..plot.widths import WidthsColumn
    _, bits = guest_cpu(prediction.vm.config, prediction.stack)
    mine = [(f"guest phys-bits {bits}", bits)]
    # CPUID 0x80000008 EAX[23:16], guest-phys-bits= (QEMU >= 9.0): the width the guest
    # (and OVMF 2025.02) may use for its own mappings (vfiolab.model.boot._guest_phys_bits)
    gpb = prediction.vm.config.cpu_props.get("guest-phys-bits")
    if gpb is not None:
        mine.append((f"guest-phys-bits {int(gpb)}", int(gpb)))
    col = WidthsColumn(title=title, limits=mine + list(limits), beyond=set(beyond))
    for d in prediction.devices():
        for b in d.bars:
            if b.type == "io" or b.size < min_size:
                continue
            label = f"{d.bdf} BAR{b.bar}"
            if b.address is None:
                col.unassigned.append(f"{label} ({fmt_size(b.size)})")
            else:
                col.bars.append((label, b.address, b.size))
    w = mem64_window(prediction)
    if w is not None:
        col.windows.append((f"64-bit window {fmt_size(w[1] - w[0])}", w[0], w[1]))
    return col


def widths_fig(columns, **kwargs):
    """The columns drawn by :func:`vfiolab.plot.widths.widths_figure`."""
    from ..plot.widths import widths_figure
    return widths_figure(columns, **kwargs)


def widths_png(columns, **kwargs) -> None:
    """:func:`widths_fig` shown as a PNG."""
    from .helpers import show
    show(widths_fig(columns, **kwargs))


def check_frame(report, *, all_items: bool = False) -> pd.DataFrame:
    """The check's items (:class:`vfiolab.check.Item`), failures and
    warnings first; passing items only with ``all_items``."""
    order = {"fails": 0, "warns": 1, "ok": 2}
    items = sorted(report.items, key=lambda i: order[i.verdict])
    rows = [{"verdict": i.verdict, "area": i.area, "subject": i.subject, "because": i.because,
             "prints": i.message} for i in items if all_items or i.verdict != "ok"]
    return pd.DataFrame(rows)


def fix_frame(report) -> pd.DataFrame:
    """The check's smallest fix, one row per way of writing it (the
    locked-memory limit only when a memlock item fails or warns)."""
    f = report.fix
    rows = []
    for key, what in (("qemu_args", "QEMU"), ("libvirt_xml", "libvirt"), ("proxmox", "Proxmox")):
        for a in f.get(key, []):
            rows.append({"where": what, "change": a})
    if f.get("memlock_bytes") and any(i.verdict != "ok" for i in report.by_area("memlock")):
        rows.append({"where": "RLIMIT_MEMLOCK (what type1 pins)",
                     "change": f"at least {f['memlock_bytes']} bytes "
                               f"({fmt_size(f['memlock_bytes'])})"})
    rows.append({"where": "re-checked", "change": "every item passes" if f.get("rechecked_ok")
                 else "not every item passes"})
    return pd.DataFrame(rows)


def check_case(report) -> None:
    """Show one check: the pasted error and what the check makes of it,
    the items that fail or warn (the chain), and the smallest fix."""
    from IPython.display import display
    from .helpers import table
    e = report.error
    if e is not None:
        print("the error:", e["line"])
        if e["recognised"]:
            print(f"  {e['area']}: {e['meaning']}")
            print("  reproduced by the model:", "yes" if e["reproduced"] else "no")
        else:
            print("  not recognised")
    display(table(check_frame(report), caption="what fails or warns"))
    # printed, not a table: the libvirt XML would be read as HTML tags by the styled table
    print("the smallest fix:")
    for row in fix_frame(report).itertuples(index=False):
        print(f"  {row.where}: {row.change}")
