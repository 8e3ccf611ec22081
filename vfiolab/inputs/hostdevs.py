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

__all__ = ["load_host_device", "DEVICES"]

DEVICES = Path(__file__).resolve().parents[2] / "data" / "devices"
SYSFS = Path("/sys/bus/pci/devices")


def _pick(devs: list[HostDevice], bdf: str | None, where: str) -> HostDevice:
    if bdf is not None:
        for d in devs:
            if d.bdf == bdf:
                return d
        if len(devs) == 1:
            return devs[0]
        raise ConfigError(f"{where}: no device {bdf} among {', '.join(d.bdf for d in devs)}")
    if len(devs) != 1:
        raise ConfigError(f"{where}: {len(devs)} devices; say which with DOMAIN:BUS:DEV.FN")
    return devs[0]


def load_host_device(path=None, bdf: str | None = None) -> HostDevice:
    """Read one host device.  ``path`` may be a folder, a text file, or None
    (sysfs of this machine); ``bdf`` picks the device when the text has
    several (a dump's own BDF may differ from the one given on the command
    line: the dump wins for addresses, the command line names it)."""
    bdf = normalize_bdf(bdf) if bdf else None
    if path is None:
        if bdf is None:
            raise ConfigError("a host device needs a BDF or a path")
        p = SYSFS / bdf
        if not p.exists():
            raise ConfigError(f"host device {bdf}: no {p}; give --host-device {bdf}=PATH "
                              f"to an lspci -vvv dump")
        return read_sysfs_device(p, bdf)
    p = Path(path)
    if not p.exists() and (DEVICES / str(path)).exists():
        p = DEVICES / str(path)
    if not p.exists():
        raise ConfigError(f"host device description {path!s} not found")
    if p.is_dir():
        if (p / "resource").exists() and (p / "config").exists():
            return read_sysfs_device(p, bdf)
        vvv = next((p / n for n in ("lspci-vvv.txt", "lspci-vv.txt") if (p / n).exists()), None)
        xxx = next((p / n for n in ("lspci-xxxx.txt", "lspci-xxx.txt") if (p / n).exists()), None)
        if vvv is None:
            raise ConfigError(f"{p}: expected lspci-vvv.txt (or a sysfs device folder)")
        devs = parse_lspci_vvv(vvv.read_text(), source=str(vvv))
        if xxx is not None:
            devs = merge_lspci(devs, parse_lspci_x(xxx.read_text(), source=str(xxx)),
                               source=str(p))
        return _pick(devs, bdf, str(p))
    text = p.read_text()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    is_hex = len(lines) > 1 and all(ln[:2].strip() and ln[2:3] == ":" for ln in lines[1:3])
    devs = parse_lspci_x(text, source=str(p)) if is_hex else parse_lspci_vvv(text, source=str(p))
    return _pick(devs, bdf, str(p))


def resolve_host_devices(cfg, host_devices: dict | None = None) -> dict:
    """Every host device the VM's ``-device vfio-pci,host=BDF`` names, described.

    ``host_devices`` maps a BDF to a path (an lspci dump or a sysfs folder) or
    to a :class:`HostDevice` already read; a vfio-pci device with no entry is
    read from this machine's sysfs, as QEMU itself would open it, or refused
    with the option to give.  The model is then given descriptions only."""
    out: dict = {}
    for key, what in (host_devices or {}).items():
        bdf = normalize_bdf(key)
        out[bdf] = what if isinstance(what, HostDevice) else load_host_device(what, bdf)
    for spec in cfg.devices:
        if spec.type != "vfio-pci" or "host" not in spec.props:
            continue
        try:
            bdf = normalize_bdf(spec.props["host"])
        except (ValueError, AttributeError):
            continue  # the model names the bad host= with the device (model/boot.py)
        if bdf not in out:
            out[bdf] = load_host_device(None, bdf)
    return out
