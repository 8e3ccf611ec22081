"""vfiolab: how a passthrough device's BARs reach the guest, and how its DMA
reaches guest RAM, modelled faithfully to QEMU, KVM and VFIO on x86-64.

Layers, imports pointing one way only:

``vfiolab.model`` (pure Python + numpy) -> ``vfiolab.views`` (plain data,
pandas frames) -> ``vfiolab.plot`` (matplotlib) -> ``vfiolab.widgets``
(ipywidgets) -> the notebooks.  ``vfiolab.parsers`` reads real QEMU text
into the same records the model produces (``vfiolab.records``);
``vfiolab.capture`` runs real QEMU to make references.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
