"""The model layer: pure Python (and numpy), no plotting, no widgets.

``memory``   QEMU's memory API: MemoryRegion, FlatView, AddressSpace, listeners
``pci``      PCI config space, BARs and ``pci_update_mappings``
``devices``  the emulated PCI devices and the chipset QEMU builds
``machine``  the ``pc`` (i440fx) and ``q35`` guest platforms
``firmware`` the guest firmware's PCI set-up (``firmware.seabios``: sizing, placement, enabling)
``kvm``      the KVM memory listener: memslots
``ept``      KVM's MMU: EPT entries, lazy fills, MMIO SPTEs, zaps, the 2D walk
``hostdev``  a real host PCI device, as lspci/sysfs describe it
``vfio``     the kernel's VFIO regions and QEMU's vfio-pci device
``iommu``    QEMU's VFIO listener, the type1 container, the IOMMU table, DMA
``host``     QEMU's virtual address space and the host page tables
``guest``    what a guest kernel does to a BAR
``story``    the thread's story as one event stream
``config``   what the model is given about a VM (read from a command line by ``vfiolab.inputs``)
``boot``     from a config to a VM after the firmware's POST
``vm``       a whole VM put together
"""
