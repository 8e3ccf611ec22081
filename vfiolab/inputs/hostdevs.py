"""Finding a host device's description: a dump folder, a file, or sysfs.

``vfiolab predict -- ... -device vfio-pci,host=0000:01:00.0`` needs to know
the device behind ``host=``.  ``--host-device 0000:01:00.0=PATH`` names
where: a folder (as in ``data/devices/<name>/``: ``lspci-vvv.txt``, and
optionally ``lspci-xxxx.txt`` and a ``sysfs/`` folder), a single
``lspci -vvv`` or ``lspci -xxxx`` text, or a sysfs device folder.  Without
it, on a real host, ``/sys/bus/pci/devices/<bdf>`` is read.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from ..model.hostdev import HostDevice, normalize_bdf
from . import merge_lspci, parse_lspci_vvv, parse_lspci_x, read_sysfs_device
from .lspci import _normalize as normalize_lspci_text, decode_text

__all__ = ["load_host_device", "load_host_devices", "resolve_host_devices", "DEVICES"]

DEVICES = Path(__file__).resolve().parents[2] / "data" / "devices"
SYSFS = Path("/sys/bus/pci/devices")


def _pick(devs: list[HostDevice], bdf: str | None, where: str,
          errors: dict | None = None) -> HostDevice:
    """The function ``bdf`` among the functions of one description.

    lspci prints ``bb:dd.f`` without the domain unless it is not 0 or ``-D``
    was given (pciutils ``lspci.c`` ``show_slot_name()``): both sides are
    normalized to ``dddd:bb:dd.f`` before they are compared.  A file with a
    single function is that function whatever its own address (a dump
    taken before the device moved, or on another host): the command line
    names it, and a note says so."""
    errors = errors or {}
    if bdf is not None:
        for d in devs:
            if d.bdf == bdf:
                return d
        if bdf in errors:
            raise errors[bdf]
        if len(devs) == 1 and not errors:
            d = devs[0]
            return d.with_changes(notes=d.notes + (
                f"{where} describes {d.bdf}; used for host device {bdf} as the command line "
                "names it",))
        raise ConfigError(f"{where}: no function {bdf} among the {len(devs)} it describes "
                          f"({', '.join(d.bdf for d in devs)})")
    if len(devs) == 0 and len(errors) == 1:
        raise next(iter(errors.values()))
    if len(devs) + len(errors) != 1:
        names = sorted([d.bdf for d in devs] + list(errors))
        raise ConfigError(f"{where}: {len(names)} functions ({', '.join(names)}); "
                          "say which with --host-device DOMAIN:BUS:DEV.FN=FILE")
    return devs[0]


def _read_text(p: Path) -> str:
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {p}: {exc.strerror}") from None
    return decode_text(data, source=str(p))


def load_host_devices(path, bdf: str | None = None,
                      errors: dict | None = None) -> list[HostDevice]:
    """Every function a description holds: a folder (``lspci-vvv.txt`` and
    an optional ``lspci-xxxx.txt``, or a sysfs device folder, which holds
    one), or one text file (``lspci -v``/``-vv``/``-vvv`` of any number of
    functions, or an ``lspci -x``/``-xxx``/``-xxxx`` dump).  ``bdf`` is
    only used for a sysfs folder whose name is not an address.  ``errors``
    collects the functions that could not be read, by address (see
    ``parse_lspci_vvv``)."""
    p = Path(path)
    if not p.exists() and (DEVICES / str(path)).exists():
        p = DEVICES / str(path)
    if not p.exists():
        raise ConfigError(f"host device description {path!s} not found")
    if p.is_dir():
        if (p / "resource").exists() and ((p / "config").exists() or (p / "uevent").exists()):
            return [read_sysfs_device(p, bdf)]
        vvv = next((p / n for n in ("lspci-vvv.txt", "lspci-vv.txt", "lspci-v.txt")
                    if (p / n).exists()), None)
        xxx = next((p / n for n in ("lspci-xxxx.txt", "lspci-xxx.txt") if (p / n).exists()),
                   None)
        if vvv is None:
            raise ConfigError(f"{p}: expected lspci-vvv.txt (or a sysfs device folder with "
                              "resource and config)")
        devs = parse_lspci_vvv(_read_text(vvv), source=str(vvv), errors=errors)
        if xxx is not None:
            devs = merge_lspci(devs, parse_lspci_x(_read_text(xxx), source=str(xxx)),
                               source=str(p))
        return devs
    text = _read_text(p)
    # what lspci printed, with mail quoting and indentation undone
    lines = [ln for _, ln in normalize_lspci_text(text, str(p))[0] if ln.strip()]
    is_hex = len(lines) > 1 and all(ln[:2].strip() and ln[2:3] == ":" for ln in lines[1:3])
    if is_hex:
        return parse_lspci_x(text, source=str(p))
    return parse_lspci_vvv(text, source=str(p), errors=errors)


def load_host_device(path=None, bdf: str | None = None) -> HostDevice:
    """Read one host device.  ``path`` may be a folder, a text file, or None
    (sysfs of this machine); ``bdf`` picks the function when the text has
    several (see :func:`_pick`)."""
    bdf = normalize_bdf(bdf) if bdf else None
    if path is None:
        if bdf is None:
            raise ConfigError("a host device needs a BDF or a path")
        p = SYSFS / bdf
        if not p.exists():
            raise ConfigError(f"host device {bdf}: no {p}; give --host-device {bdf}=PATH "
                              f"to an lspci -vvv dump")
        return read_sysfs_device(p, bdf)
    errors: dict = {}
    return _pick(load_host_devices(path, bdf, errors), bdf, str(path), errors)


def resolve_host_devices(cfg, host_devices: dict | None = None) -> dict:
    """Every host device the VM's ``-device vfio-pci,host=BDF`` names, described.

    ``host_devices`` maps a BDF to a path (an lspci dump or a sysfs folder) or
    to a :class:`HostDevice` already read.  A vfio-pci device with no entry
    is taken from a file given for another BDF when that file holds its
    exact address (a GPU's audio function beside the GPU in one ``lspci
    -vvv``), else read from this machine's sysfs, as QEMU itself would open
    it, or refused with the option to give.  The model is then given
    descriptions only."""
    out: dict = {}
    others: dict = {}               # functions of the given files, by address
    unreadable: dict = {}           # functions of the given files that could not be read
    for key, what in (host_devices or {}).items():
        try:
            bdf = normalize_bdf(key)
        except (ValueError, AttributeError):
            raise ConfigError(f"--host-device {key!r}: not DOMAIN:BUS:DEV.FN (or BUS:DEV.FN)") \
                from None
        if isinstance(what, HostDevice):
            out[bdf] = what
            continue
        errors: dict = {}
        devs = load_host_devices(what, bdf, errors)
        out[bdf] = _pick(devs, bdf, str(what), errors)
        for d in devs:
            others.setdefault(d.bdf, (d, str(what)))
        for ebdf, exc in errors.items():
            unreadable.setdefault(ebdf, exc)
    for spec in cfg.devices:
        if spec.type != "vfio-pci":
            continue
        sysfsdev = spec.props.get("sysfsdev")
        if "host" not in spec.props and sysfsdev:
            # hw/vfio/pci.c vfio_realize: the device is the sysfsdev folder,
            # named by its basename
            name = str(sysfsdev).rstrip("/").rsplit("/", 1)[-1]
            try:
                bdf = normalize_bdf(name)
            except ValueError:
                continue  # the model names the bad sysfsdev= with the device
            if bdf not in out:
                out[bdf] = read_sysfs_device(Path(sysfsdev), bdf) if Path(sysfsdev).is_dir() \
                    else load_host_device(None, bdf)
            continue
        if "host" not in spec.props:
            continue
        try:
            bdf = normalize_bdf(spec.props["host"])
        except (ValueError, AttributeError):
            continue  # the model names the bad host= with the device (model/boot.py)
        if bdf in out:
            continue
        if bdf in unreadable:
            raise unreadable[bdf]
        if bdf in others:
            d, where = others[bdf]
            out[bdf] = d.with_changes(notes=d.notes + (
                f"host device {bdf} taken from {where}, given for another function",))
            continue
        out[bdf] = load_host_device(None, bdf)
    return out
