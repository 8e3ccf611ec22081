"""Guest firmware: what runs between QEMU's reset and the guest OS and places the BARs.

``seabios``  SeaBIOS's PCI set-up (src/fw/pciinit.c): sizing, placement, enabling
"""
