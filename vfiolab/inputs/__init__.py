"""Parsers for real QEMU text: ``info mtree [-f]``, ``info pci`` and traces.

Each parser reads what a named QEMU function prints (formats checked in the
QEMU source at the 7.2.0 ... 10.2.0 releases) and returns the shared records
of ``vfiolab.records``, so a capture compares field by field with the model:

* ``parse_mtree_flat`` / ``flatview_for``: ``info mtree -f``
  (``system/memory.c`` ``mtree_print_flatview``) -> FlatViewRecord list;
* ``parse_mtree``: ``info mtree`` (``mtree_info_as`` / ``mtree_print_mr``)
  -> MtreeRecord;
* ``parse_info_pci``: ``info pci`` (``hmp_info_pci_device``, in
  ``monitor/hmp-cmds.c`` 7.2 / ``hw/pci/pci-hmp-cmds.c`` 8.0+)
  -> PciDeviceRecord list;
* ``parse_trace``: ``log`` trace backend output (``trace-events`` formats of
  accel/kvm, hw/pci, hw/vfio) -> TraceEvent list, and ``replay_memslots``
  -> the live KVM memslots after the ``kvm_set_user_memory`` calls.

Malformed text raises ``vfiolab.errors.ParseError`` with the line number and
the offending line; no other exception escapes.
"""

from .kvmtrace import KvmTraceEvent, parse_kvm_trace
from .lspci import merge as merge_lspci, parse_lspci_vvv, parse_lspci_x
from .mtree import flatview_for, parse_mtree, parse_mtree_flat
from .pci import parse_info_pci
from .sysfs import read_sysfs_device
from .trace import parse_trace, replay_memslots

__all__ = [
    "parse_mtree_flat",
    "flatview_for",
    "parse_mtree",
    "parse_info_pci",
    "parse_trace",
    "replay_memslots",
    "parse_lspci_vvv",
    "parse_lspci_x",
    "merge_lspci",
    "read_sysfs_device",
    "parse_kvm_trace",
    "KvmTraceEvent",
]
