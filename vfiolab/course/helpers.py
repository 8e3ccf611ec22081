"""Small helpers the workbook's notebooks call, so their cells stay short.

Everything here is glue over the model (:mod:`vfiolab.model`), the views
(:mod:`vfiolab.views`) and the plots (:mod:`vfiolab.plot`): building a VM from
a command line and a real host device, turning what the model did into
tables with the real interfaces' names, and showing figures the same way on
every run.  The few rules stated here (how ports 0xcf8/0xcfc and ECAM
addresses select a config register, the names of the type 0 header
registers) name their sources like the model does.

Outputs are deterministic: addresses are the model's (guest-physical ones
equal the real captures'; host-virtual ones come from the model's fixed
allocator, :mod:`vfiolab.model.host`), and nothing prints a Python object
address, a timing or an absolute path.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pandas as pd

from ..addr import MiB, fmt_hex, fmt_size
from ..errors import ConfigError, VfiolabError
from ..views import HEADER0

__all__ = [
    "REPO", "CPU_VENDOR", "setup", "show", "Table", "table", "describe_address", "resolve",
    "read_input",
    "host_device_path", "predict_vm", "fresh_vm", "vfio_device", "lspci_region_lines",
    "size_bar", "host_guest_bars", "vfio_regions_frame", "placement_frame", "placement_fig",
    "windows_frame",
    "compare_with_capture", "map_device_lines",
    "cf8_encode", "cf8_decode", "ecam_encode", "ecam_decode", "register_name", "bars64",
    "config_address_frame", "config_regions_frame", "memslots_overlapping", "owners_frame",
    "story_counts", "story_table", "dma_view", "events_table", "story", "host_bars_frame",
    "mtree_excerpt", "lanes_png", "lanes_fig", "passthrough_summary",
    "flatview_summary", "compare_flatviews", "try_predict", "sections", "memslots_frame",
    "bar_panel", "STATIC_ENV", "transient_rows", "move_strip", "move_strip_fig",
    "config_grid", "config_grid_fig", "MAPPING_OPS", "FOLD_ROWS",
]

#: the checkout (notebooks run with their own folder as working directory)
REPO = Path(__file__).resolve().parents[2]
#: the CPU vendor of the machine that made every capture in data/references/
#: (data/references/README.md); fixed so a notebook gives the same numbers on
#: any machine (vfiolab.stack.host_cpu would otherwise read /proc/cpuinfo)
CPU_VENDOR = "AuthenticAMD"


# --------------------------------------------------------------------------
# Notebook set-up and display
# --------------------------------------------------------------------------

def setup() -> None:
    """First cell of every notebook: matplotlib's inline backend with
    settings that make figures the same bytes on every run, and pandas
    display options for wide hex tables.  Prints nothing.

    * ``%matplotlib inline`` even when ``MPLBACKEND`` is set (an inherited
      ``Agg`` would make figures vanish silently);
    * PNG without the ``Software`` metadata chunk, SVG without a date and
      with fixed ids (``svg.hashsalt``), as :mod:`vfiolab.plot.style` saves.
    """
    import matplotlib
    from ..plot.style import RC
    try:
        from IPython import get_ipython
    except ImportError:                       # plain Python: nothing to configure
        get_ipython = None
    ip = get_ipython() if get_ipython else None
    if ip is not None:
        ip.run_line_magic("matplotlib", "inline")
        # what `%config InlineBackend.x = ...` does (IPython ConfigMagics.config)
        from traitlets.config import Config
        cfg = Config()
        cfg.InlineBackend.figure_formats = {"png"}
        cfg.InlineBackend.print_figure_kwargs = {"bbox_inches": "tight",
                                                 "metadata": {"Software": None}}
        for c in ip.configurables:
            if type(c).__name__ == "InlineBackend":
                c.update_config(cfg)
        backend = matplotlib.get_backend()
        if "inline" not in backend:
            raise VfiolabError(f"matplotlib backend is {backend!r}, expected the inline backend")
    matplotlib.rcParams.update(RC)
    pd.set_option("display.max_rows", 200)
    pd.set_option("display.max_columns", 30)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_colwidth", 80)


def show(fig) -> None:
    """Display a vfiolab figure as PNG with the settings of
    :func:`vfiolab.plot.style.save` (fixed DPI and fonts, no metadata), cut
    to what is drawn (labels that run past the axes stay visible): the same
    bytes on every run."""
    from IPython.display import Image, display
    from ..plot.style import show_png
    display(Image(data=show_png(fig), format="png"))


#: tables longer than this show a short part and fold the rest behind "show all"
FOLD_ROWS = 15
#: rows shown above the fold when no row is highlighted
FOLD_HEAD = 8


def _empty_columns(df: pd.DataFrame) -> list:
    """Columns with nothing in any row ("" or missing)."""
    out = []
    for c in df.columns:
        col = df[c]
        if len(col) and all(v is None or (isinstance(v, float) and v != v) or
                            (isinstance(v, str) and not v.strip()) for v in col):
            out.append(c)
    return out


class Table:
    """A DataFrame shown as a styled HTML table (:func:`vfiolab.views.styled`,
    the same bytes on every run) with a plain-text form for consoles and
    for nbval's ``text/plain`` comparison (a bare Styler's text form is its
    object address).

    For a reader: columns empty in every row are left out (``keep_empty``
    keeps them); ``highlight_rows`` (positions) are the rows that carry the
    lesson; a table longer than ``fold`` rows shows those rows (or its first
    :data:`FOLD_HEAD`) and folds the whole table behind "show all"."""

    def __init__(self, df: pd.DataFrame, caption: str | None = None, highlight_rows=None,
                 uuid=None, *, keep_empty: bool = False, fold: int | None = FOLD_ROWS):
        import hashlib
        from ..views import styled
        df = df.reset_index(drop=True)
        if not keep_empty:
            df = df.drop(columns=_empty_columns(df))
        self.df = df
        self.caption = caption
        self.highlight_rows = [i for i in (highlight_rows or ()) if 0 <= i < len(df)]
        if uuid is None:
            # one id per distinct table (two tables with the same columns in one
            # page must not share CSS rules such as row highlights), stable
            # from run to run
            key = f"{caption}|{highlight_rows}|{self.df.to_json()}"
            uuid = "vfiolab-" + hashlib.sha1(key.encode()).hexdigest()[:10]
        self.uuid = uuid
        self.styler = styled(self.df, uuid=uuid, caption=caption,
                             highlight_rows=self.highlight_rows)
        self.folded = fold is not None and len(self.df) > fold

    def _repr_html_(self) -> str:
        from ..views import styled
        full = self.styler.to_html()
        if not self.folded:
            return full
        rows = self.highlight_rows or list(range(FOLD_HEAD))
        what = (f"the {len(rows)} highlighted rows" if self.highlight_rows
                else f"the first {len(rows)} rows")
        part = self.df.iloc[rows]
        cap = (self.caption + ": " if self.caption else "") + f"{what} of {len(self.df)}"
        head = styled(part, uuid=self.uuid + "-part", caption=cap,
                      highlight_rows=list(range(len(rows))) if self.highlight_rows else None)
        return (head.to_html() + '<details class="vfiolab-fold"><summary>show all '
                f"{len(self.df)} rows</summary>{full}</details>")

    def __repr__(self) -> str:
        text = self.df.to_string(index=False) if len(self.df.columns) else "(no columns)"
        if len(self.df) == 0:
            text = "(no rows) columns: " + ", ".join(map(str, self.df.columns))
        return (self.caption + "\n" + text) if self.caption else text


def table(df: pd.DataFrame, caption: str | None = None, highlight_rows=None, uuid=None, *,
          keep_empty: bool = False, fold: int | None = FOLD_ROWS) -> Table:
    """``df`` as a :class:`Table`: styled HTML in a notebook, text elsewhere."""
    return Table(df, caption, highlight_rows, uuid, keep_empty=keep_empty, fold=fold)


def describe_address(d: dict) -> str:
    """A decoded config address (:func:`cf8_decode`, :func:`ecam_decode`) in words."""
    where = f"{d['bus']:02x}:{d['dev']:02x}.{d['fn']:x} offset {fmt_hex(d['offset'])}"
    text = f"{where} ({register_name(d['offset'])})"
    if d.get("enabled") is False:
        text += " -- but bit 31 is clear: QEMU ignores the access"
    return text


# --------------------------------------------------------------------------
# Inputs: paths, command lines, host devices
# --------------------------------------------------------------------------

def resolve(path) -> Path:
    """A path as given if it exists, else relative to the checkout (so
    ``data/devices/...`` works from ``notebooks/``), else a name under
    ``data/devices/``."""
    p = Path(path)
    for cand in (p, REPO / p, REPO / "data" / "devices" / p):
        if cand.exists():
            return cand
    raise ConfigError(f"{path!s}: not found (looked here, in the checkout and in data/devices/)")


def read_input(text_or_path) -> str:
    """Text pasted into a notebook variable, or the contents of a file."""
    if text_or_path is None:
        raise ConfigError("nothing given: paste text or give a file path")
    s = str(text_or_path)
    if "\n" in s or len(s) > 400:
        return s
    try:
        return resolve(s).read_text()
    except ConfigError:
        if s.lstrip().startswith("-"):          # a one-line command line, pasted
            return s
        raise


def host_device_path(name) -> Path:
    """A host device description: a folder of data/devices/ by name, or a path."""
    return resolve(name)


def _args(args) -> list[str]:
    if isinstance(args, str):
        return shlex.split(args)
    return list(args)


def _host_devices(host_devices) -> dict:
    out = {}
    for bdf, what in (host_devices or {}).items():
        out[bdf] = what if not isinstance(what, (str, Path)) else str(host_device_path(what))
    return out


def predict_vm(args, host_devices=None, **kwargs):
    """:func:`vfiolab.predict.predict` on a command line (a string or a list),
    with host devices named by their folder in data/devices/ (or a path), and
    the capture machine's CPU vendor unless ``cpu_vendor`` is given."""
    from ..predict import predict
    kwargs.setdefault("cpu_vendor", CPU_VENDOR)
    return predict(_args(args), host_devices=_host_devices(host_devices), **kwargs)


def try_predict(args, host_devices=None, **kwargs):
    """Like :func:`predict_vm`, but a bad command line or device prints the
    error's message (a :class:`~vfiolab.errors.VfiolabError`) and returns None."""
    try:
        return predict_vm(args, host_devices, **kwargs)
    except VfiolabError as exc:
        print(f"{type(exc).__name__}: {exc}")
        return None


def fresh_vm(args, host_devices=None):
    """The VM as it is when the firmware starts: machine built, devices
    realized, system reset done (:func:`vfiolab.model.boot.build_vm`,
    :func:`vfiolab.model.machine.machine_reset`), no BAR programmed yet.
    Config accesses are recorded (``vm.trace_config``)."""
    from ..inputs.cmdline import parse_qemu_args
    from ..inputs.hostdevs import resolve_host_devices
    from ..model.boot import build_vm
    from ..model.machine import machine_reset
    cfg = parse_qemu_args(_args(args))
    vm = build_vm(cfg, host_devices=resolve_host_devices(cfg, _host_devices(host_devices)))
    machine_reset(vm)
    vm.trace_config = True
    return vm


def vfio_device(vm_or_prediction, index: int = 0):
    """The ``index``-th vfio-pci device of a VM (or a Prediction/Story)."""
    vm = getattr(vm_or_prediction, "vm", vm_or_prediction)
    devs = [d for d in vm.devices if d.type_name == "vfio-pci"]
    if not devs:
        raise ConfigError("this VM has no -device vfio-pci")
    return devs[index]


def lspci_region_lines(name) -> list[str]:
    """The ``Region N:`` and ``Expansion ROM`` lines of a device's
    ``lspci -vvv`` text in data/devices/ (stripped), as the host sees it."""
    p = host_device_path(name)
    if p.is_dir():
        p = next(p / n for n in ("lspci-vvv.txt", "lspci-vv.txt") if (p / n).exists())
    out = []
    for line in p.read_text().splitlines():
        s = line.strip()
        if s.startswith("Region ") or s.startswith("Expansion ROM"):
            out.append(s)
    return out


# --------------------------------------------------------------------------
# BARs: sizing, host vs guest, placement
# --------------------------------------------------------------------------

def _bdf_devfn(bdf: str) -> tuple[int, int]:
    from ..model.guest import parse_bdf
    bus, slot, func = parse_bdf(bdf)
    return bus, slot << 3 | func


def size_bar(vm, bdf: str, bar: int):
    """Size BAR ``bar`` of ``bdf`` the way firmware does, through the VM's
    config path, and return ``(steps, size)``.

    The probe (SeaBIOS ``src/fw/pciinit.c`` ``pci_bios_get_bar()``, Linux
    ``drivers/pci/probe.c`` ``__pci_read_base()``): read the BAR, write all
    ones, read back, restore; a 64-bit BAR (type bits 2:1 = 10b) has its
    upper dword probed the same way.  The read-back has a 0 in every address
    bit below the size (QEMU keeps them read-only: ``pci_register_bar`` sets
    the write mask to ``~(size - 1)``), so size = two's complement of the
    read-back with the flag bits (3:0 for memory, 1:0 for I/O) cleared.
    """
    bus, devfn = _bdf_devfn(bdf)
    off = 0x10 + 4 * bar
    rows = []

    def rd(o, what):
        v = vm.cfg_read(bus, devfn, o, 4)
        rows.append({"access": "read", "offset": fmt_hex(o), "value": f"0x{v:08x}", "why": what})
        return v

    def wr(o, v, what):
        vm.cfg_write(bus, devfn, o, v, 4)
        rows.append({"access": "write", "offset": fmt_hex(o), "value": f"0x{v:08x}", "why": what})

    old = rd(off, "the BAR as the firmware finds it: its low bits say the type")
    io_bar = old & 1
    is64 = not io_bar and (old >> 1) & 3 == 2
    wr(off, 0xFFFFFFFF, "all ones")
    low = rd(off, "read back: 0 in every address bit below the size")
    wr(off, old, "restore")
    value = low & (0xFFFFFFFC if io_bar else 0xFFFFFFF0)
    bits = 32
    if is64:
        hold = rd(off + 4, "upper dword of the 64-bit BAR")
        wr(off + 4, 0xFFFFFFFF, "all ones")
        high = rd(off + 4, "read back")
        wr(off + 4, hold, "restore")
        value |= high << 32
        bits = 64
    size = ((~value) + 1) & ((1 << bits) - 1)
    return pd.DataFrame(rows, columns=["access", "offset", "value", "why"]), size


def _type_text(kind: str, is64: bool, prefetch: bool) -> str:
    if kind == "io":
        return "io"
    return ("mem64" if is64 else "mem32") + (" pref" if prefetch else "")


def host_guest_bars(prediction, index: int = 0) -> pd.DataFrame:
    """One row per BAR of a passed-through device: where the host put it
    (``lspci`` / sysfs, the device's real BAR registers) and where the guest
    firmware put it (QEMU's emulated BAR), with the size and type.  The two
    addresses are unrelated: the physical BAR is never rewritten (Linux
    ``drivers/vfio/pci/vfio_pci_config.c`` virtualizes BAR writes)."""
    dev = vfio_device(prediction, index)
    hd = dev.hostdev
    rows = []
    for b in hd.bars:
        r = dev.io_regions[b.index]
        guest = r.addr if r is not None and r.mapped else None
        rows.append({"bar": b.index, "type": _type_text(b.kind, b.is64, b.prefetch),
                     "size": fmt_hex(b.size), "host address": fmt_hex(b.host_address)
                     if b.host_address is not None else "",
                     "guest address": fmt_hex(guest) if guest is not None else "(not mapped)"})
    return pd.DataFrame(rows)


def host_bars_frame(hostdev) -> pd.DataFrame:
    """A host device's BARs (and ROM) as its lspci/sysfs text gives them."""
    rows = []
    for b in hostdev.bars:
        rows.append({"bar": b.index, "type": _type_text(b.kind, b.is64, b.prefetch),
                     "host address": fmt_hex(b.host_address) if b.host_address is not None
                     else "(unassigned)", "size": fmt_hex(b.size) if b.size else "(unknown)"})
    rom = hostdev.rom
    if rom is not None:
        rows.append({"bar": "ROM", "type": "mem32",
                     "host address": fmt_hex(rom.host_address) if rom.host_address is not None
                     else "(unassigned)", "size": fmt_hex(rom.size) if rom.size else "(unknown)"})
    return pd.DataFrame(rows)


def vfio_regions_frame(hostdev) -> pd.DataFrame:
    """What ``VFIO_DEVICE_GET_REGION_INFO`` reports for each region index
    (:func:`vfiolab.model.vfio.region_infos`): name, size, offset in the
    device fd (index << 40) and flags."""
    from ..model.vfio import region_infos
    rows = []
    for r in region_infos(hostdev):
        rows.append({"index": r.index, "region": r.name, "size": fmt_hex(r.size),
                     "offset": fmt_hex(r.offset), "flags": r.flag_names(),
                     "msix_mappable": r.msix_mappable})
    return pd.DataFrame(rows)


def _device_names(vm) -> dict:
    return {f"{d.bus.number:02x}:{d.slot:02x}.{d.func:x}": (d.qdev_id or d.type_name)
            for d in vm.pci_devices()}


def placement_frame(prediction, *, include_io: bool = False) -> pd.DataFrame:
    """SeaBIOS's placements in the order it made them
    (``pci_region_map_entries``): which list each BAR came from (``mem``,
    ``prefmem``; ``mem64``/``prefmem64`` above 4 GiB), its size (= its
    alignment) and its address."""
    vm = prediction.vm
    names = _device_names(vm)
    rows = []
    for i, p in enumerate(vm.firmware.placements):
        if p.bar < 0 or (p.type == "io" and not include_io):
            continue
        rows.append({"order": i, "bdf": p.name, "device": names.get(p.name, ""),
                     "bar": "ROM" if p.bar == 6 else p.bar, "list": p.window,
                     "64-bit": p.is64, "size": fmt_hex(p.size), "address": fmt_hex(p.addr)})
    return pd.DataFrame(rows)


def windows_frame(prediction) -> pd.DataFrame:
    """SeaBIOS's windows (``pci_bios_map_devices``): the 32-bit window, where
    the mem and prefmem lists start inside it, and the 64-bit window."""
    root = prediction.vm.firmware.root
    start_note = ("above the ECAM window (mch_mem_addr_setup)" if prediction.vm.machine == "q35"
                  else "from RamSize (i440fx_mem_addr_setup)")
    rows = [
        {"what": "32-bit window", "start": fmt_hex(root.pcimem_start),
         "end": fmt_hex(root.pcimem_end), "note": f"{start_note}, up to the I/O APIC"},
        {"what": "list mem", "start": fmt_hex(root.mem_base),
         "end": fmt_hex(root.mem_base + root.mem_size),
         "note": f"{fmt_hex(root.mem_size)} bytes of BARs" if root.mem_size else "empty"},
        {"what": "list prefmem", "start": fmt_hex(root.prefmem_base),
         "end": fmt_hex(root.prefmem_base + root.prefmem_size),
         "note": f"{fmt_hex(root.prefmem_size)} bytes of BARs" if root.prefmem_size else "empty"},
    ]
    if root.mem64_used and root.mem64_start:
        rows.append({"what": "64-bit window", "start": fmt_hex(root.mem64_start),
                     "end": fmt_hex(root.mem64_end),
                     "note": "32-bit window too small: 64-bit BARs moved up"})
    else:
        rows.append({"what": "64-bit window", "start": "", "end": "", "note": "not needed"})
    return pd.DataFrame(rows)


def placement_fig(prediction):
    """SeaBIOS's placement as a memory map (:func:`vfiolab.plot.placement.placement_figure`):
    the 32-bit window and, when SeaBIOS opened it, the 64-bit window
    (``pci_bios_map_devices``), the ranges the ``mem``/``prefmem`` lists
    took, and each BAR at its address, numbered in the order SeaBIOS placed
    it (``pci_region_map_entries``: per list, largest alignment first) --
    the rows of :func:`placement_frame`, numbered by its ``order`` column."""
    from ..plot.placement import PlacementPanel, placement_figure
    vm = prediction.vm
    root = vm.firmware.root
    names = _device_names(vm)
    low = PlacementPanel("32-bit window", root.pcimem_start, root.pcimem_end, lists=[
        ("mem", root.mem_base, root.mem_base + root.mem_size),
        ("prefmem", root.prefmem_base, root.prefmem_base + root.prefmem_size)])
    panels = [low]
    high = None
    if root.mem64_used and root.mem64_start:
        # pcimem64_end is exclusive (pci_bios_map_devices aligns it up to 1 GiB)
        high = PlacementPanel("64-bit window", root.mem64_start, root.mem64_end, lists=[
            ("mem64", root.mem64_mem_base, root.mem64_mem_base + root.mem64_mem_size),
            ("prefmem64", root.mem64_pref_base, root.mem64_pref_base + root.mem64_pref_size)])
        panels.append(high)
    # the lists fill the 32-bit window top-down from its end: when they use
    # little of it, a second panel shows the used top at a readable scale
    used = [s for _, s, e in low.lists if e > s]
    zoom = low
    if used and (low.end - min(used)) * 8 < low.end - low.start:
        lo = min(used) - (low.end - min(used)) // 10
        lo -= lo % 0x100000                    # a round start: readable hex ticks
        zoom = PlacementPanel("top of the 32-bit window", lo, low.end, lists=low.lists)
        low.note = f"the lists start at {fmt_hex(min(used))}: drawn to the right"
        panels.insert(1, zoom)
    # numbered as placement_frame's "order" column: the place in SeaBIOS's placement order
    for n, p in enumerate(vm.firmware.placements):
        if p.bar < 0 or p.type == "io":        # bridge windows; I/O ports are not in these windows
            continue
        dev = names.get(p.name, "")
        label = f"{p.name}{' ' + dev if dev else ''} {'ROM' if p.bar == 6 else f'BAR{p.bar}'}"
        pan = high if high is not None and p.addr >= high.start else zoom
        pan.bars.append((n, label, p.addr, p.size))
    return placement_figure(panels, title=f"{vm.stack.firmware_text}: where each BAR lands "
                            "(#n = placed n-th: the order column of the table)")


def map_device_lines(lines) -> list[str]:
    """The ``PCI: map device`` lines of a SeaBIOS log."""
    return [ln.strip() for ln in lines if "PCI: map device" in ln]


def compare_with_capture(name: str):
    """A real capture (data/references/<name>) against the model run on the
    same command line: ``(bars, log)`` -- every BAR of ``info pci`` with the
    captured and the predicted address, and the ``PCI: map device`` lines of
    the captured SeaBIOS log next to the model's."""
    from ..real.reference import REFERENCES, load_reference
    ref = load_reference(REFERENCES / name)
    p = predict_vm(ref.args)
    model = {(d.bdf, b.bar): b for d in p.devices() for b in d.bars}
    rows = []
    for d in ref.devices:
        for b in d.bars:
            m = model.get((d.bdf, b.bar))
            cap = fmt_hex(b.address) if b.address is not None else "(not mapped)"
            mod = "" if m is None else (fmt_hex(m.address) if m.address is not None
                                        else "(not mapped)")
            rows.append({"bdf": d.bdf, "id": d.qdev_id, "bar": b.bar, "type": b.type,
                         "size": fmt_hex(b.size), "capture": cap, "model": mod,
                         "same": cap == mod})
    bars = pd.DataFrame(rows)
    cap_log = map_device_lines((REFERENCES / name / "seabios.log").read_text().splitlines())
    model_log = map_device_lines(p.vm.firmware_log)
    n = max(len(cap_log), len(model_log))
    log = pd.DataFrame({"capture (seabios.log)": cap_log + [""] * (n - len(cap_log)),
                        "model (FirmwareResult.log)": model_log + [""] * (n - len(model_log))})
    return bars, log


# --------------------------------------------------------------------------
# Config space: the two doors, the registers, who owns them
# --------------------------------------------------------------------------

#: Port of the CONFIG_ADDRESS register (PCI Local Bus spec 3.0, 3.2.2.3.2;
#: QEMU hw/pci-host/q35.c MCH_HOST_BRIDGE_CONFIG_ADDR)
CONFIG_ADDRESS_PORT = 0xCF8
#: Port of the CONFIG_DATA window (0xcfc-0xcff)
CONFIG_DATA_PORT = 0xCFC
#: q35's ECAM base as SeaBIOS programs PCIEXBAR (src/fw/pciinit.c
#: mch_mmconfig_setup, Q35_HOST_BRIDGE_PCIEXBAR_ADDR)
Q35_ECAM_BASE = 0xB0000000


def cf8_encode(bus: int, dev: int, fn: int, offset: int) -> tuple[int, int]:
    """What the guest writes to port 0xcf8, and the data port it then uses,
    for config register ``offset`` of ``bus:dev.fn``.

    Configuration mechanism #1 (PCI Local Bus spec 3.0, 3.2.2.3.2; Linux
    ``arch/x86/pci/direct.c`` ``PCI_CONF1_ADDRESS``, SeaBIOS ``src/hw/pci.c``
    ``ioconfig_cmd``): bit 31 enable, bits 23:16 bus, 15:11 device, 10:8
    function, 7:2 the dword of the register (bits 1:0 zero); the byte within
    the dword picks the data port 0xcfc + (offset & 3).  Only offsets below
    256 are reachable this way.
    """
    if not (0 <= bus < 256 and 0 <= dev < 32 and 0 <= fn < 8 and 0 <= offset < 256):
        raise ConfigError(f"cf8: bus {bus}, device {dev}, function {fn}, offset {offset:#x} "
                          "out of range (bus < 256, device < 32, function < 8, offset < 0x100)")
    value = 0x80000000 | bus << 16 | dev << 11 | fn << 8 | (offset & 0xFC)
    return value, CONFIG_DATA_PORT + (offset & 3)


def cf8_decode(value: int, port: int = CONFIG_DATA_PORT) -> dict:
    """Which register a data-port access selects after ``value`` was
    written to 0xcf8, as QEMU decodes it (``hw/pci/pci_host.c``
    ``pci_host_data_read``/``_write``: nothing unless bit 31 is set; then
    ``pci_data_read``: bus = bits 23:16, devfn = bits 15:8, offset =
    (value | (port & 3)) & 0xff).  Returns ``enabled``, ``bus``, ``dev``,
    ``fn``, ``offset``."""
    if not 0xCFC <= port <= 0xCFF:
        raise ConfigError(f"port {port:#x} is not a CONFIG_DATA port (0xcfc-0xcff)")
    addr = value | (port & 3)
    return {"enabled": bool(value & 0x80000000), "bus": (addr >> 16) & 0xFF,
            "dev": (addr >> 11) & 0x1F, "fn": (addr >> 8) & 7, "offset": addr & 0xFF}


def ecam_encode(bus: int, dev: int, fn: int, offset: int, base: int = Q35_ECAM_BASE) -> int:
    """The guest-physical address of a config register through ECAM
    (PCI Express base spec, "Enhanced Configuration Access Mechanism":
    base + bus << 20 | device << 15 | function << 12 | offset, offset < 4096;
    QEMU ``include/hw/pci/pcie_host.h`` ``PCIE_MMCFG_BUS``/``_DEVFN``/``_CONFOFFSET``)."""
    if not (0 <= bus < 256 and 0 <= dev < 32 and 0 <= fn < 8 and 0 <= offset < 4096):
        raise ConfigError(f"ecam: bus {bus}, device {dev}, function {fn}, offset {offset:#x} "
                          "out of range (offset < 0x1000)")
    return base + (bus << 20 | dev << 15 | fn << 12 | offset)


def ecam_decode(gpa: int, base: int = Q35_ECAM_BASE, size: int = 256 * MiB) -> dict:
    """Which register an access at ``gpa`` inside the ECAM window selects
    (QEMU ``hw/pci/pcie_host.c`` ``pcie_mmcfg_data_read``: the offset into
    the region, bus = bits 27:20, devfn = bits 19:12, register = bits 11:0)."""
    if not base <= gpa < base + size:
        raise ConfigError(f"{gpa:#x} is outside the ECAM window [{base:#x}, {base + size:#x})")
    a = gpa - base
    return {"bus": (a >> 20) & 0xFF, "dev": (a >> 15) & 0x1F, "fn": (a >> 12) & 7,
            "offset": a & 0xFFF}


def _header_register(offset: int):
    for start in sorted(HEADER0, reverse=True):
        name, n = HEADER0[start]
        if start <= offset < start + n:
            return start, name
    return None


def bars64(dev) -> frozenset:
    """The indexes of a PCI function's 64-bit memory BARs (type bits 2:1 =
    10b, PCI Local Bus spec 3.0, 6.2.5.1; QEMU ``hw/pci/pci.c``
    ``pci_register_bar`` keeps the type in ``PCIIORegion.type``)."""
    from ..model.pci import PCI_BASE_ADDRESS_MEM_TYPE_64, PCI_BASE_ADDRESS_SPACE_IO
    return frozenset(r.index for r in getattr(dev, "io_regions", ()) if r is not None
                     and r.index < 6 and not r.type & PCI_BASE_ADDRESS_SPACE_IO
                     and r.type & PCI_BASE_ADDRESS_MEM_TYPE_64)


def register_name(offset: int, caps=None, bars64=()) -> str:
    """The register at ``offset``: a type 0 header register
    (``BAR2``, ``COMMAND+1``), or ``<capability> +n`` given ``caps``
    (offset -> name, e.g. ``HostDevice.cap_names``).

    ``bars64``: the indexes of the function's 64-bit BARs (:func:`bars64`).
    A 64-bit BAR n takes two dwords, 0x10 + 4n and the next one (PCI Local
    Bus spec 3.0, 6.2.5.1), so the register after it is ``BARn upper``,
    not BAR n+1."""
    if offset < 0x40:
        start, name = _header_register(offset)
        if 0x14 <= start < 0x28 and (start - 0x10) // 4 - 1 in set(bars64):
            name = f"BAR{(start - 0x10) // 4 - 1} upper"
        return name if start == offset else f"{name}+{offset - start}"
    if caps:
        starts = sorted(o for o in caps if o <= offset)
        if starts:
            o = starts[-1]
            return f"{caps[o]} +{fmt_hex(offset - o)}"
    return "device-specific"


def config_address_frame(vm, targets) -> pd.DataFrame:
    """For each ``(bdf, offset, size)``: how the guest reaches the register
    through 0xcf8/0xcfc and through ECAM, and the value QEMU answers (read
    through the model's config path, like a trapped access)."""
    rows = []
    ecam = getattr(vm, "ecam_base", None)
    for bdf, offset, size in targets:
        bus, devfn = _bdf_devfn(bdf)
        dev, fn = devfn >> 3, devfn & 7
        cf8, port = (cf8_encode(bus, dev, fn, offset) if offset < 256 else (None, None))
        value = vm.cfg_read(bus, devfn, offset, size)
        b64 = bars64(vm.find_device(bus, devfn))
        rows.append({"bdf": bdf, "register": register_name(offset, bars64=b64),
                     "offset": fmt_hex(offset),
                     "width": size, "write to 0xcf8": f"0x{cf8:08x}" if cf8 is not None else "",
                     "then access port": fmt_hex(port) if port is not None else "",
                     "or ECAM address": fmt_hex(ecam_encode(bus, dev, fn, offset, ecam))
                     if ecam is not None else "(no ECAM)",
                     "value": fmt_hex(value)})
    return pd.DataFrame(rows)


#: the MemoryRegions through which config space is reached (QEMU
#: hw/pci/pci_host.c pci_host_conf/data ops, hw/pci/pcie_host.c pcie-mmcfg-mmio)
CONFIG_REGION_NAMES = ("pci-conf-idx", "pci-conf-data", "pcie-mmcfg-mmio")


def config_regions_frame(prediction) -> pd.DataFrame:
    """The flat-view ranges of the config-space doors, from both views QEMU
    prints with ``info mtree -f``: ports 0xcf8-0xcff in "I/O" and ECAM in
    "memory".  ``kind`` i/o and ``none`` in the memslot column: no memslot."""
    from ..model.memory import to_section
    vm = prediction.vm
    rows = []
    for view, frs in (("I/O", vm.as_io.flatview()), ("memory", vm.flatview())):
        for fr in frs:
            s = to_section(fr, vm.accel_marker)
            near = 0xCF8 <= s.start <= 0xCFF and view == "I/O"
            if s.name in CONFIG_REGION_NAMES or near:
                rows.append({"address space": view, "start": fmt_hex(s.start),
                             "end": fmt_hex(s.end), "kind": s.kind, "region": s.name,
                             "memslot (KVM)": "KVM" if s.kvm else "none"})
    return pd.DataFrame(rows)


def memslots_overlapping(prediction, start: int, end: int) -> pd.DataFrame:
    """Memslots that overlap [start, end) -- for the ECAM window: none."""
    from ..views import memslot_frame
    slots = [m for m in prediction.memslots()
             if m.guest_phys_addr < end and start < m.guest_phys_addr + m.memory_size]
    return memslot_frame(slots)


def owners_frame(dev) -> pd.DataFrame:
    """Who answers each register of a passed-through function's config
    space (:func:`vfiolab.model.vfio.config_owners`), consecutive bytes of
    one register and one owner folded into a row.

    ``qemu``: QEMU's emulated copy (``emulated_config_bits``: BARs, ROM,
    capability pointers, MSI/MSI-X); ``device``: read from and written to
    the device through the kernel's vfio-pci config region (which itself
    virtualizes a few fields, Linux ``vfio_pci_config.c``);
    ``qemu+device``: some bits of the byte each."""
    from ..model.hostdev import CAP_NAMES
    from ..model.vfio import config_owners
    caps = {c.offset: CAP_NAMES.get(c.id, f"capability {c.id:#04x}") + f" capability @{c.offset:#x}"
            for c in dev.hostdev.capabilities if c.id is not None}
    rows = []
    for r in config_owners(dev):
        reg = register_name(r["offset"], caps, bars64(dev)).split("+")[0].strip()
        if r["offset"] >= 0x40 and reg == "device-specific":
            reg = "device-specific"
        if rows and rows[-1]["register"] == reg and rows[-1]["owner"] == r["owner"] \
                and rows[-1]["_end"] == r["offset"]:
            rows[-1]["_end"] = r["offset"] + 1
            continue
        rows.append({"register": reg, "_start": r["offset"], "_end": r["offset"] + 1,
                     "owner": r["owner"], "emulated mask": f"0x{r['emulated_mask']:02x}"})
    out = []
    for r in rows:
        out.append({"offsets": f"{r['_start']:#04x}-{r['_end'] - 1:#04x}"
                    if r["_end"] - r["_start"] > 1 else f"{r['_start']:#04x}",
                    "register": r["register"], "owner": r["owner"],
                    "emulated mask": r["emulated mask"] if r["owner"] != "device" else ""})
    return pd.DataFrame(out)


def config_grid_fig(dev, title: str | None = None):
    """The ownership of a passed-through function's config space as a
    byte grid (:func:`vfiolab.plot.config.config_grid_figure`), from the
    rows of :func:`owners_frame`."""
    from ..plot.config import config_grid_figure
    segments = []
    for r in owners_frame(dev).itertuples(index=False):
        a, _, b = r.offsets.partition("-")
        start = int(a, 16)
        end = int(b, 16) + 1 if b else start + 1
        segments.append((start, end, r.register, r.owner))
    if title is None:
        title = f"who answers each config byte of {dev.hostdev.device_name or 'the device'}"
    fig, _, _ = config_grid_figure(segments, title)
    return fig


def config_grid(dev, title: str | None = None) -> None:
    """:func:`config_grid_fig` shown as a PNG."""
    show(config_grid_fig(dev, title))


# --------------------------------------------------------------------------
# The story: events by step
# --------------------------------------------------------------------------

#: event op -> (who acts, what the real interface is called)
EVENT_WHO = {
    "pci_cfg_read": "guest -> QEMU", "pci_cfg_write": "guest -> QEMU",
    "vfio_pci_write_config": "QEMU -> vfio-pci",
    "pci_update_mappings_del": "QEMU", "pci_update_mappings_add": "QEMU",
    "flatview_commit": "QEMU", "set_user_memory": "QEMU -> KVM",
    "vfio_listener_region_add_ram": "QEMU", "vfio_listener_region_del": "QEMU",
    "vfio_listener_region_add_skip": "QEMU", "vfio_listener_region_del_skip": "QEMU",
    "map_dma": "QEMU -> IOMMU", "unmap_dma": "QEMU -> IOMMU",
    "vfio_region_setup": "QEMU -> vfio-pci", "vfio_region_mmap": "QEMU -> vfio-pci",
}


def story_counts(story) -> pd.DataFrame:
    """Per step of a :class:`~vfiolab.model.story.Story`: how many config
    accesses trapped, how many BAR (un)mappings QEMU made, how many memslot
    calls and IOMMU map/unmap calls followed."""
    rows = []
    for name, _, _ in story.steps:
        ev = story.events(name)
        count = lambda *ops: sum(1 for e in ev if e["op"] in ops)   # noqa: E731
        rows.append({
            "step": name,
            "config accesses (trapped)": count("pci_cfg_read", "pci_cfg_write"),
            "BAR map/unmap (QEMU)": count("pci_update_mappings_add", "pci_update_mappings_del"),
            "KVM_SET_USER_MEMORY_REGION": count("set_user_memory"),
            "VFIO_IOMMU_MAP/UNMAP_DMA": count("map_dma", "unmap_dma"),
            "BAR mmaps (vfio)": count("vfio_region_mmap"),
        })
    return pd.DataFrame(rows)


def _event_text(e: dict, b64=()) -> tuple[str, str, str, str]:
    """(what, address, size, detail) of one event, in the interfaces' words;
    ``b64``: the 64-bit BARs of the event's function (:func:`bars64`)."""
    op = e["op"]
    if op in ("pci_cfg_read", "pci_cfg_write"):
        reg = register_name(e["offset"], bars64=b64)
        arrow = "->" if op.endswith("read") else "<-"
        return (f"config {'read' if arrow == '->' else 'write'} {e['bdf']} {reg}", "", "",
                f"@{fmt_hex(e['offset'])} {arrow} {fmt_hex(e['value'])} (trap)")
    if op == "vfio_pci_write_config":
        a = e["addr"]
        bar = 0x10 <= a < 0x28 or 0x30 <= a < 0x34
        why = ("vfio-pci keeps it in its virtual BARs" if bar else
               "vfio-pci filters it, then writes the device")
        return ("pwrite to the device fd's config region", "", "",
                f"@{fmt_hex(a)} {fmt_hex(e['val'])}: {why}")
    if op in ("pci_update_mappings_del", "pci_update_mappings_add"):
        verb = "unmap" if op.endswith("del") else "map"
        return (f"{verb} BAR{e['bar']} of {e['bdf']}", fmt_hex(e["addr"]), fmt_hex(e["size"]),
                "pci_update_mappings")
    if op == "flatview_commit":
        return ("FlatView of \"memory\" re-rendered", "", "",
                f"{e['ranges_before']} -> {e['ranges_after']} ranges")
    if op == "set_user_memory":
        if e["size"] == 0:
            return (f"delete memslot {e['slot']}", fmt_hex(e["gpa"]), "0x0", e.get("region", ""))
        return (f"memslot {e['slot']}: guest_phys_addr -> userspace_addr {fmt_hex(e['ua'])}",
                fmt_hex(e["gpa"]), fmt_hex(e["size"]), e.get("region", ""))
    if op in ("map_dma", "unmap_dma"):
        what = "VFIO_IOMMU_MAP_DMA iova = GPA" if op == "map_dma" else "VFIO_IOMMU_UNMAP_DMA"
        return (what, fmt_hex(e["iova"]), fmt_hex(e["size"]), e.get("region", ""))
    if op in ("vfio_listener_region_add_skip", "vfio_listener_region_del_skip"):
        return ("VFIO listener skips (not RAM)", fmt_hex(e["start"]),
                fmt_hex(e["end"] - e["start"] + 1), e.get("region", ""))
    if op == "vfio_region_mmap":
        return (f"mmap {e['name']}", fmt_hex(e["vaddr"]), fmt_hex(e["end"] - e["offset"] + 1),
                f"host BAR at {fmt_hex(e['hpa'])}" if e.get("hpa") is not None else "")
    return (op, "", "", "")


#: events shown by default in story tables (the listeners' bookkeeping
#: events vfio_listener_region_* repeat what map_dma/unmap_dma say)
STORY_OPS = ("pci_cfg_write", "vfio_pci_write_config", "pci_update_mappings_del",
             "pci_update_mappings_add", "flatview_commit", "set_user_memory", "map_dma",
             "unmap_dma", "vfio_listener_region_add_skip", "vfio_listener_region_del_skip")


#: the events that change what the guest's address space maps, and the
#: config writes that cause them
MAPPING_OPS = ("pci_cfg_write", "pci_update_mappings_del", "pci_update_mappings_add",
               "set_user_memory", "map_dma", "unmap_dma")


def _bars64_by_bdf(vm):
    """bdf -> :func:`bars64` of that function, for a VM (empty without one)."""
    cache: dict = {}

    def get(bdf):
        if vm is None or not bdf:
            return ()
        if bdf not in cache:
            try:
                bus, devfn = _bdf_devfn(bdf)
                cache[bdf] = bars64(vm.find_device(bus, devfn))
            except VfiolabError:
                cache[bdf] = ()
        return cache[bdf]
    return get


def events_table(events, ops=STORY_OPS, first: int = 0, vm=None) -> pd.DataFrame:
    """Events (dicts of ``VM.events`` or ``Story.events``), in order, one
    row each: ``who`` acts, ``what`` happens (named after the trace event or
    ioctl), the address (GPA, or IOVA which equals it) and size.  ``#`` is
    the event's sequence number (``seq``, else ``first`` + position).
    ``vm`` (a VM, Prediction or Story) names config registers by the
    function's BAR layout (the upper dword of a 64-bit BAR)."""
    vm = getattr(vm, "vm", vm)
    b64 = _bars64_by_bdf(vm)
    rows = []
    for i, e in enumerate(events):
        if ops is not None and e["op"] not in ops:
            continue
        what, addr, size, detail = _event_text(e, b64(e.get("bdf")))
        rows.append({"#": e.get("seq", first + i), "who": EVENT_WHO.get(e["op"], ""),
                     "event": e["op"], "what": what, "address": addr, "size": size,
                     "detail": detail})
    return pd.DataFrame(rows, columns=["#", "who", "event", "what", "address", "size", "detail"])


def transient_rows(df: pd.DataFrame) -> list[int]:
    """The rows of an event table (:func:`events_table`) that concern a
    place the BAR only passed through: every ``pci_update_mappings_add``
    but the last maps the BAR where it will not stay, and the rows whose
    address lies in such a mapping follow from it (a careless move's
    half-written BAR, :mod:`vfiolab.model.guest`).  For ``highlight_rows``."""
    adds = [(int(a, 16), int(z, 16)) for e, a, z in zip(df["event"], df["address"], df["size"])
            if e == "pci_update_mappings_add"]
    spans = adds[:-1]
    out = []
    for i, a in enumerate(df["address"]):
        if isinstance(a, str) and a.startswith("0x"):
            v = int(a, 16)
            if any(s <= v < s + z for s, z in spans):
                out.append(i)
    return out


def move_strip_fig(story, steps, bdf: str, bar: int):
    """The BAR's place after each config write of the moves ``steps`` of a
    Story, one row per move (:func:`vfiolab.plot.moves.move_strip_figure`):
    the careless move's half-written BAR shows as a place it only passes
    through."""
    from ..plot.moves import MoveRow, move_strip_figure
    from ..views import bar_positions
    vm = getattr(story, "vm", story)
    b64 = bars64(vm.find_device(*_bdf_devfn(bdf)))
    rows = []
    start = None
    size = 0
    # the BAR's place before the first move: the last mapping QEMU made of it before
    first = dict((name, (a, z)) for name, a, z in story.steps)[steps[0]][0]
    for e in vm.events[:first]:
        if e.get("bdf") == bdf and e.get("bar") == bar:
            if e["op"] == "pci_update_mappings_add":
                start, size = e["addr"], e["size"]
            elif e["op"] == "pci_update_mappings_del":
                start = None
    for step in steps:
        moments = bar_positions(story.events(step), bdf, bar, start, size)
        labels = ["before"] + [
            f"write {register_name(m.offset, bars64=b64)}\n= {fmt_hex(m.value)}"
            for m in moments[1:]]
        rows.append(MoveRow(f"{step.replace('move_', '')} move of {bdf} BAR{bar}", moments,
                            labels))
        start, size = moments[-1].address, moments[-1].size
    fig, _, _ = move_strip_figure(rows)
    return fig


def move_strip(story, steps, bdf: str, bar: int) -> None:
    """:func:`move_strip_fig` shown as a PNG."""
    show(move_strip_fig(story, steps, bdf, bar))


def story_table(story, step: str, ops=STORY_OPS) -> pd.DataFrame:
    """The events of one step of a Story (see :func:`events_table`)."""
    return events_table(story.events(step), ops, vm=story)


def story(args, host_devices=None, *, bdf=None, bar=None, moves=()):
    """:func:`vfiolab.simulate.run_story` with the notebooks' conventions
    (a command-line string, host devices by name, the captures' CPU vendor)."""
    from ..simulate import run_story
    return run_story(_args(args), host_devices=_host_devices(host_devices), bdf=bdf, bar=bar,
                     moves=list(moves), cpu_vendor=CPU_VENDOR)


# --------------------------------------------------------------------------
# Trees, flat views, figures
# --------------------------------------------------------------------------

def mtree_excerpt(prediction, contains: str, space: str = "memory") -> str:
    """The part of ``info mtree`` for address space ``space`` around the
    regions whose line contains ``contains``: their ancestors (so the
    nesting shows) and their whole subtrees (overlays such as
    ``msix-table`` included)."""
    text = prediction.mtree()
    out, stack, inside, keep_below = [], [], False, None
    for line in text.splitlines():
        if line.startswith("address-space:"):
            inside = line.split(":", 1)[1].strip() == space
            if inside and not out:
                out.append(line)
            stack, keep_below = [], None
            continue
        if not inside or not line.strip():
            continue
        depth = (len(line) - len(line.lstrip(" "))) // 2
        stack = stack[:depth - 1] + [line]
        if keep_below is not None and depth > keep_below:
            out.append(line)
            continue
        keep_below = None
        if contains in line:
            for s_ in stack[:-1]:
                if s_ not in out:
                    out.append(s_)
            out.append(line)
            keep_below = depth
    return "\n".join(out)


#: set (to anything but "" or "0") by a static-site build: :func:`bar_panel`
#: then gives the kernel-free view
STATIC_ENV = "VFIOLAB_STATIC"


def bar_panel(prediction, bdf: str | None = None, bar: int | None = None, **kwargs):
    """The "move the BAR" panel of a page: the live
    :class:`~vfiolab.widgets.BarPanel` in JupyterLab; the precomputed,
    kernel-free :func:`~vfiolab.course.static.static_bar_view` when the
    notebook is executed for a static page (environment variable
    :data:`STATIC_ENV` set), so each page shows exactly one panel."""
    import os
    if os.environ.get(STATIC_ENV, "") not in ("", "0"):
        from .static import static_bar_view
        return static_bar_view(prediction, bdf, bar, **kwargs)
    from ..widgets import BarPanel
    return BarPanel(prediction, bdf=bdf, bar=bar, **kwargs)


def dma_view(prediction, **kwargs):
    """The DMA view of a page: the live :class:`~vfiolab.widgets.DmaView`
    in JupyterLab; both of its states precomputed and switched in the browser
    (:func:`~vfiolab.course.static.static_dma_view`) when the notebook is
    executed for a static page (:data:`STATIC_ENV` set)."""
    import os
    if os.environ.get(STATIC_ENV, "") not in ("", "0"):
        from .static import static_dma_view
        return static_dma_view(prediction, **kwargs)
    from ..widgets import DmaView
    return DmaView(prediction, **kwargs)


def lanes_fig(data):
    """:class:`~vfiolab.views.LanesData` drawn by :func:`vfiolab.plot.lanes.lanes_figure`."""
    from ..plot.lanes import lanes_figure
    fig, _, _ = lanes_figure(data)
    return fig


def lanes_png(data) -> None:
    """:func:`lanes_fig` shown as a PNG (:func:`show`)."""
    show(lanes_fig(data))


def passthrough_summary(prediction, index: int = 0) -> pd.DataFrame:
    """The thread's answer in one table, per mmapped BAR area of a
    passed-through device: the host BAR (HPA, from the host's lspci), the
    mmap QEMU made of it (HVA), where the guest put the BAR (GPA), and the
    KVM memslot that joins GPA to HVA."""
    dev = vfio_device(prediction, index)
    slots = prediction.memslots()
    rows = []
    for vb in dev.vbars:
        if not vb.size:
            continue
        r = dev.io_regions[vb.index]
        gpa = r.addr if r is not None and r.mapped else None
        if not vb.mmaps:
            rows.append({"bar": vb.index, "size": fmt_hex(vb.size),
                         "host BAR (HPA)": fmt_hex(vb.host_address) if vb.host_address is not None
                         else "", "QEMU mmap (HVA)": "(none: slow path)",
                         "guest BAR (GPA)": fmt_hex(gpa) if gpa is not None else "(not mapped)",
                         "memslot": "(none: every access exits)"})
            continue
        for m in vb.mmaps:
            g = None if gpa is None else gpa + m.offset
            # the slots whose host side lies in this mmap (kvm_align_section
            # may have trimmed a partial page at either end)
            mine = [s for s in slots if s.userspace_addr is not None
                    and m.vaddr <= s.userspace_addr < m.vaddr + m.size]
            hpa = None if vb.host_address is None else vb.host_address + m.offset
            rows.append({"bar": vb.index, "size": fmt_hex(m.size),
                         "host BAR (HPA)": fmt_hex(hpa) if hpa is not None else "",
                         "QEMU mmap (HVA)": fmt_hex(m.vaddr),
                         "guest BAR (GPA)": fmt_hex(g) if g is not None else "(not mapped)",
                         "memslot": "; ".join(f"slot {s.slot}: {fmt_hex(s.guest_phys_addr)} -> "
                                              f"{fmt_hex(s.userspace_addr)}" for s in mine)
                         or "(none)"})
    return pd.DataFrame(rows)


def sections(x) -> list:
    """The flat view of address space "memory" as Section records, of a
    Prediction, a Story or a VM."""
    from ..model.memory import to_section
    vm = getattr(x, "vm", x)
    return [to_section(fr, vm.accel_marker) for fr in vm.flatview()]


def memslots_frame(x) -> pd.DataFrame:
    """The live memslots of a Prediction, a Story or a VM, with the region
    each one backs (:func:`vfiolab.views.memslot_frame`)."""
    from ..views import memslot_frame
    vm = getattr(x, "vm", x)
    return memslot_frame(vm.memslots(), sections(vm))


def flatview_summary(sections, memslots=None) -> pd.DataFrame:
    """What lands where in a flat view: one row per range, with what a guest
    access there costs.  A range a KVM memslot backs runs in the guest once
    KVM has filled the EPT entry (writes still exit when the slot is
    ``KVM_MEM_READONLY``); anything else exits to QEMU (QEMU
    ``accel/kvm/kvm-all.c`` ``kvm_set_phys_mem`` makes memslots for RAM and
    ROM only), except the interrupt controllers KVM emulates itself
    (``kvm-ioapic``, ``kvm-apic-msi``).  Without ``memslots`` (a captured
    ``info mtree -f``), the flat view's ``KVM`` marker is used."""
    rows = []
    for s in sections:
        slot = None
        if memslots is not None:
            slot = next((m for m in memslots
                         if m.guest_phys_addr <= s.start < m.guest_phys_addr + m.memory_size), None)
            backed = slot is not None
        else:
            backed = s.kvm
        if s.name.startswith("kvm-"):
            cost = "handled inside KVM"
        elif backed:
            cost = "no exit (memslot)"
            if slot is not None and slot.readonly:
                cost += "; writes exit (read-only slot)"
            elif slot is None and s.kind in ("rom", "romd"):
                cost = "reads: no exit (memslot)"
        else:
            cost = "exits to QEMU"
        rows.append({"start": fmt_hex(s.start), "end": fmt_hex(s.end), "size": fmt_size(s.size),
                     "kind": s.kind, "region": s.name, "access": cost})
    return pd.DataFrame(rows)


def _range_text(s) -> str:
    return "" if s is None else f"{s.kind} {s.name}" + (" KVM" if s.kvm else "")


def compare_flatviews(captured, predicted) -> pd.DataFrame:
    """Range by range: a captured flat view (parsed ``info mtree -f``)
    against a predicted one; ``same`` is True when start, end, kind, name and
    the KVM marker agree."""
    def key(s):
        return (s.start, s.end)
    cap = {key(s): s for s in captured}
    pred = {key(s): s for s in predicted}
    rows = []
    for k in sorted(set(cap) | set(pred)):
        c, p = cap.get(k), pred.get(k)
        same = (c is not None and p is not None
                and (c.kind, c.name, c.kvm) == (p.kind, p.name, p.kvm))
        rows.append({"start": fmt_hex(k[0]), "end": fmt_hex(k[1]),
                     "captured": _range_text(c), "predicted": _range_text(p), "same": same})
    return pd.DataFrame(rows)
