"""vfiolab: how a passthrough device's BARs reach the guest, and how its DMA
reaches guest RAM, modelled faithfully to QEMU, KVM and VFIO on x86-64.

The folders are the architecture; imports point one way, left to right
(``tests/test_layout.py`` checks it):

``errors``, ``addr``, ``records``, ``stack``
    the base: typed errors, addresses and sizes, the records a prediction and
    a capture share, and the :class:`~vfiolab.stack.Stack` (QEMU, machine
    type, firmware, kernel, CPU) every version-dependent rule reads
``model/`` (with ``model/firmware/``)
    the pure model (Python + numpy): QEMU's memory API, PCI, the machines and
    devices, KVM's memslots and MMU, vfio-pci, the type1 IOMMU, the host page
    tables, the firmware's BAR placement, the thread's story
``inputs/``
    what users bring: the QEMU command line, ``lspci``/sysfs dumps of host
    devices, ``info mtree``/``info pci``/trace text, action lists
``predict``, ``simulate``, ``check``
    the front ends: a command line in, a booted VM, an event list, or the
    verdicts of "why doesn't my passthrough work?" out
``real/``
    running real QEMU: the QMP runner, captures, the minimal guest, references
``views`` -> ``plot/`` -> ``widgets`` -> ``course/``
    tables, figures, ipywidgets, and the notebooks' helpers
``cli``
    the ``vfiolab`` command
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
