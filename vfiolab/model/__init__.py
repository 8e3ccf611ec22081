"""The model layer: pure Python (and numpy), no plotting, no widgets.

``memory``   QEMU's memory API: MemoryRegion, FlatView, AddressSpace, listeners
``pci``      PCI config space, BARs and ``pci_update_mappings``
``devices``  the emulated PCI devices and the chipset QEMU builds
``machine``  the ``pc`` (i440fx) and ``q35`` guest platforms
``seabios``  SeaBIOS's PCI set-up: sizing, placement, enabling
``kvm``      the KVM memory listener: memslots
``cmdline``  reading a QEMU command line
``vm``       a whole VM put together, as ``vfiolab predict`` describes it
"""
