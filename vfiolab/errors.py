"""Every error vfiolab raises on purpose, in one place.

A user who brings bad input (a QEMU command line we do not support, a
truncated ``info mtree -f``, a device description with a BAR that is not a
power of two) gets one of these, with a message that says *what* is wrong
and *where*.  The command line turns them into a one-line message and exit
status 2; nothing else should escape to the user as a traceback.
"""

from __future__ import annotations

import errno as _errno

__all__ = [
    "VfiolabError",
    "ParseError",
    "SizeError",
    "CommandLineError",
    "UnsupportedOption",
    "ConfigError",
    "DeviceError",
    "FirmwareError",
    "ActionError",
    "CaptureError",
    "IommuError",
]


class VfiolabError(Exception):
    """Base class: an error vfiolab explains to its user."""


class SizeError(VfiolabError, ValueError):
    """A size or address string (``64M``, ``0x4000``) could not be read."""


class ParseError(VfiolabError):
    """Text from QEMU (``info mtree``, ``info pci``, a trace) is malformed.

    ``line_no`` is 1-based; ``line`` is the offending text, ``source`` names
    the input (a file name or what kind of text it was meant to be).
    """

    def __init__(self, message: str, *, line_no: int | None = None,
                 line: str | None = None, source: str | None = None):
        self.reason = message
        self.line_no = line_no
        self.line = line
        self.source = source
        where = []
        if source:
            where.append(source)
        if line_no is not None:
            where.append(f"line {line_no}")
        prefix = ":".join(where)
        text = f"{prefix}: {message}" if prefix else message
        if line is not None:
            shown = line if len(line) <= 120 else line[:117] + "..."
            text += f": {shown!r}"
        super().__init__(text)


class CommandLineError(VfiolabError):
    """A QEMU command line given to ``vfiolab predict`` cannot be modelled."""


class UnsupportedOption(CommandLineError):
    """A QEMU option (or option value) the model does not support.

    The message names the option and lists what is supported.
    """

    def __init__(self, option: str, supported, detail: str = ""):
        self.option = option
        self.supported = sorted(supported)
        msg = f"unsupported option {option!r}"
        if detail:
            msg += f" ({detail})"
        msg += "; supported: " + ", ".join(self.supported)
        super().__init__(msg)


class ConfigError(VfiolabError):
    """An inconsistent machine or memory configuration (e.g. memdev missing)."""


class DeviceError(VfiolabError):
    """A device description is impossible; names device, field and why."""

    def __init__(self, device: str, field: str, why: str):
        self.device = device
        self.field = field
        self.why = why
        super().__init__(f"device {device}: {field}: {why}")


class FirmwareError(VfiolabError):
    """Guest firmware gave up (SeaBIOS panics such as 'out of address space')."""


class ActionError(VfiolabError):
    """A guest action in a scenario is malformed; names the action and field."""

    def __init__(self, index: int | None, field: str, why: str, op: str | None = None):
        self.index = index
        self.field = field
        self.why = why
        where = "action" if index is None else f"action {index}"
        if op:
            where += f" ({op})"
        super().__init__(f"{where}: {field}: {why}")


class CaptureError(VfiolabError):
    """Running real QEMU for a reference capture failed."""


class IommuError(VfiolabError):
    """A VFIO type1 IOMMU ioctl failed as the kernel would fail it.

    ``errno_name`` is the symbolic errno (``"ENOMEM"``, ``"EINVAL"``,
    ``"EEXIST"``, ``"ENOSPC"``, ``"EFAULT"``); ``errno`` its number on Linux
    and ``ret`` the ioctl's return value as QEMU prints it (``-errno``).
    ``message`` says what was refused and why, in QEMU's words where QEMU
    reports it (e.g. ``vfio_dma_map(...) = -12 (Cannot allocate memory)``).
    """

    def __init__(self, errno_name: str, message: str):
        self.errno_name = errno_name
        self.errno = getattr(_errno, errno_name, 0)
        self.ret = -self.errno
        self.message = message
        super().__init__(message)
