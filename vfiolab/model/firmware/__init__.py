"""Guest firmware: what runs between QEMU's reset and the guest OS and places the BARs.

``seabios``  SeaBIOS's PCI set-up (src/fw/pciinit.c): sizing, placement, enabling
``ovmf``     OVMF's (edk2 PlatformInitLib apertures, PciBusDxe/PciHostBridgeDxe
             allocation, PciHotPlugInitDxe padding), Debian 2022.11 and 2025.02
"""
