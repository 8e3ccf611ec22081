"""The event stream as a sequence diagram across the actors.

Each event of ``vm.events`` (or a Story's events) becomes one row: an arrow
from the actor that acts to the actor it reaches, or a note on one lifeline.
Who talks to whom follows the real path:

* a config access by the guest traps: guest -> QEMU (through a KVM exit);
  QEMU passes it to the kernel's vfio-pci (``vfio_pci_write_config``:
  QEMU -> VFIO);
* ``pci_update_mappings`` and the FlatView commit happen inside QEMU;
* a memslot change is an ioctl: QEMU -> KVM (``KVM_SET_USER_MEMORY_REGION``);
* a DMA map is an ioctl to the container: QEMU -> VFIO, which programs the
  IOMMU: VFIO -> IOMMU;
* an EPT fill is KVM's own work after a guest fault: guest -> KVM; an MMIO
  exit goes on to QEMU: guest -> QEMU;
* device DMA goes through the IOMMU: device -> IOMMU.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..addr import fmt_hex
from .style import FONT_SIZE, SMALL_SIZE

__all__ = ["ACTORS", "event_arrow", "draw_timeline", "TimelineArtists"]

ACTORS = ("guest", "KVM", "QEMU", "VFIO", "IOMMU", "device")
_X = {a: i for i, a in enumerate(ACTORS)}
_COLORS = {"config": "#7a4fb3", "mapping": "#2a7ab9", "memslot": "#2f9a57", "dma": "#c8741c",
           "exit": "#c0142b", "ept": "#2f9a57", "realize": "#777777", "other": "#555555"}


def _h(v) -> str:
    return fmt_hex(v) if isinstance(v, int) else str(v)


def _gpa(gfn) -> str:
    """The guest-physical address of frame ``gfn`` (an int or a hex string):
    gfn << 12 (Linux ``arch/x86/kvm/mmu``: ``gfn_to_gpa``), printed as an
    address so it is never read as one."""
    g = gfn if isinstance(gfn, int) else int(str(gfn), 16)
    return fmt_hex(g << 12)


def event_arrow(ev: dict) -> tuple[str, str, str, str] | None:
    """(from actor, to actor, label, colour key) for an event, or None to skip."""
    op = ev.get("op", "")
    if op in ("pci_cfg_write", "pci_cfg_read"):
        verb = "write" if op.endswith("write") else "read"
        val = f" = {_h(ev['value'])}" if "value" in ev and verb == "write" else ""
        return "guest", "QEMU", f"config {verb} {ev.get('bdf', '')} +{_h(ev.get('offset', 0))}{val} (trap)", "config"
    if op == "vfio_pci_write_config":
        return "QEMU", "VFIO", f"pwrite config +{_h(ev['addr'])} = {_h(ev['val'])}", "config"
    if op in ("pci_update_mappings_del", "pci_update_mappings_add"):
        verb = "unmap" if op.endswith("del") else "map"
        return "QEMU", "QEMU", f"{op}: BAR{ev['bar']} {verb} {_h(ev['addr'])}+{_h(ev['size'])}", "mapping"
    if op == "flatview_commit":
        return "QEMU", "QEMU", "FlatView commit (listeners run)", "mapping"
    if op == "set_user_memory":
        what = "delete" if not ev.get("size") else f"gpa {_h(ev['gpa'])} size {_h(ev['size'])}"
        return "QEMU", "KVM", f"SET_USER_MEMORY_REGION slot {ev['slot']}: {what}", "memslot"
    if op in ("map_dma", "unmap_dma"):
        verb = "MAP_DMA" if op == "map_dma" else "UNMAP_DMA"
        return "QEMU", "VFIO", f"VFIO_IOMMU_{verb} iova {_h(ev['iova'])} size {_h(ev['size'])}", "dma"
    if op in ("vfio_listener_region_add_ram", "vfio_listener_region_del"):
        return None                                   # shown by the map/unmap that follows
    if op == "map":
        return "guest", "KVM", f"EPT violation -> map GPA {_gpa(ev['gfn'])} level {ev.get('level')} {ev.get('memtype', '')}", "ept"
    if op == "mmio":
        return "guest", "KVM", f"EPT violation, no memslot -> MMIO SPTE at GPA {_gpa(ev['gfn'])}", "exit"
    if op == "exit_mmio":
        return "guest", "QEMU", f"KVM_EXIT_MMIO {_h(ev['gpa'])} -> {ev.get('region', '')}", "exit"
    if op == "zap":
        return "KVM", "KVM", f"zap ({ev.get('scope', '')})", "ept"
    if op == "dma":
        return "device", "IOMMU", f"DMA {_h(ev['iova'])} -> {ev.get('target', '')} {_h(ev.get('hpa', ''))}", "dma"
    if op == "dma_fault":
        return "device", "IOMMU", f"DMA fault at {_h(ev['iova'])}", "exit"
    if op == "vfio_region_setup":
        return "QEMU", "VFIO", f"GET_REGION_INFO {ev.get('name', '')}: size {_h(ev.get('size', 0))}", "realize"
    if op == "vfio_region_mmap":
        return "QEMU", "VFIO", f"mmap {ev.get('name', '')}", "realize"
    return None


@dataclass
class TimelineArtists:
    lifelines: list
    arrows: list
    labels: list
    rows: list


def draw_timeline(ax, events, *, max_rows: int = 60, actors=ACTORS) -> TimelineArtists:
    """Draw ``events`` as a sequence diagram on ``ax``; returns the artists.

    At most ``max_rows`` rows are drawn (the first ones); events with no
    arrow (listener traces repeated by their map/unmap) are skipped.
    """
    rows = []
    for ev in events:
        a = event_arrow(ev)
        if a is not None and a[0] in actors and a[1] in actors:
            rows.append((ev, a))
        if len(rows) >= max_rows:
            break
    n = max(len(rows), 1)
    xs = {a: i for i, a in enumerate(actors)}
    # the lifelines on the left, each event's words in a column on their
    # right, on the arrow's row and in its colour: no label crosses a
    # lifeline or another label, whatever the page's width (a constrained
    # layout makes room for the column)
    ax.set_xlim(-0.6, len(actors) - 0.4)
    ax.set_ylim(n + 0.5, -1.2)
    ax.axis("off")
    x_text = len(actors) - 0.4
    lifelines, arrows, labels = [], [], []
    for a, x in xs.items():
        lifelines.append(ax.plot([x, x], [-0.4, n + 0.3], color="#bbbbbb", lw=1, zorder=1)[0])
        labels.append(ax.text(x, -0.8, a, ha="center", va="center", fontsize=FONT_SIZE,
                              fontweight="bold"))
    for y, (ev, (src, dst, label, ck)) in enumerate(rows):
        color = _COLORS.get(ck, _COLORS["other"])
        x0, x1 = xs[src], xs[dst]
        if x0 == x1:
            art = ax.plot([x0], [y], marker="o", color=color, ms=4, zorder=3)[0]
        else:
            art = ax.annotate("", xy=(x1, y), xytext=(x0, y),
                              arrowprops=dict(arrowstyle="->", color=color, lw=1.1), zorder=3)
        ax.plot([max(x0, x1) + 0.1, x_text - 0.05], [y, y], color=color, lw=0.4,
                linestyle=":", zorder=2)
        tx = ax.text(x_text, y, label, fontsize=SMALL_SIZE, va="center", ha="left",
                     color=color)
        arrows.append(art)
        labels.append(tx)
    return TimelineArtists(lifelines, arrows, labels, [r[0] for r in rows])
