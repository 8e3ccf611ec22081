#!/usr/bin/env bash
# Regenerate every reference capture under data/references/ with real QEMU
# under KVM (vfiolab/capture.py).  Needs qemu-system-x86_64 and a usable
# /dev/kvm; each capture takes a few seconds.  Run from anywhere:
#     scripts/make-references.sh
# PYTHON may name the interpreter (default: .venv/bin/python, else python3).
# After a run, check data/references/README.md still matches (versions are in
# each folder's meta.json).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
cap() { "$PYTHON" -m vfiolab.real.capture --out data/references --accel kvm "$@"; }

cap --name pc-512M-edu -- -machine pc -accel kvm -m 512M -nodefaults -device edu,id=edu0
cap --name q35-512M-ivshmem-1M -- -machine q35 -accel kvm -m 512M -nodefaults -object memory-backend-ram,id=m0,size=1M -device ivshmem-plain,memdev=m0,id=ivs0
cap --name pc-1G-ivshmem-16M -- -machine pc -accel kvm -m 1G -nodefaults -object memory-backend-ram,id=m0,size=16M -device ivshmem-plain,memdev=m0,id=ivs0
cap --name pc-1G-ivshmem-1G -- -machine pc -accel kvm -m 1G -nodefaults -object memory-backend-ram,id=m0,size=1G -device ivshmem-plain,memdev=m0,id=ivs0
cap --name q35-1G-ivshmem-1G -- -machine q35 -accel kvm -m 1G -nodefaults -object memory-backend-ram,id=m0,size=1G -device ivshmem-plain,memdev=m0,id=ivs0
cap --name q35-3G-ivshmem-64M -- -machine q35 -accel kvm -m 3G -nodefaults -object memory-backend-ram,id=m0,size=64M -device ivshmem-plain,memdev=m0,id=ivs0
cap --name pc-3G-ivshmem-256M -- -machine pc -accel kvm -m 3G -nodefaults -object memory-backend-ram,id=m0,size=256M -device ivshmem-plain,memdev=m0,id=ivs0
cap --name pc-4G-ivshmem-1G -- -machine pc -accel kvm -m 4G -nodefaults -object memory-backend-ram,id=m0,size=1G -device ivshmem-plain,memdev=m0,id=ivs0
cap --name q35-4G-ivshmem-2G -- -machine q35 -accel kvm -m 4G -nodefaults -object memory-backend-ram,id=m0,size=2G -device ivshmem-plain,memdev=m0,id=ivs0
cap --name pc-6G-ivshmem-4G -- -machine pc -accel kvm -m 6G -nodefaults -object memory-backend-ram,id=m0,size=4G -device ivshmem-plain,memdev=m0,id=ivs0
cap --name q35-1G-multi -- -machine q35 -accel kvm -m 1G -nodefaults -device edu,id=edu0 -object memory-backend-ram,id=m0,size=16M -device ivshmem-plain,memdev=m0,id=ivs0 -device e1000e,id=nic0 -device nvme,serial=vfiolab0,id=nvme0 -device virtio-net-pci,id=vnet0 -device VGA,id=vga0
cap --name pc-1G-multi -- -machine pc -accel kvm -m 1G -nodefaults -device edu,id=edu0 -object memory-backend-ram,id=m0,size=64M -device ivshmem-plain,memdev=m0,id=ivs0 -device e1000e,id=nic0 -device nvme,serial=vfiolab0,id=nvme0 -device virtio-net-pci,id=vnet0 -device bochs-display,id=disp0
cap --name q35-1G-rootport -- -machine q35 -accel kvm -m 1G -nodefaults -device pcie-root-port,id=rp1,chassis=1,slot=1 -object memory-backend-ram,id=m0,size=64M -device ivshmem-plain,memdev=m0,id=ivs0,bus=rp1 -device pcie-root-port,id=rp2,chassis=2,slot=2
cap --name pc-512M-e1000e -- -machine pc -accel kvm -m 512M -nodefaults -device e1000e,id=nic0
cap --name q35-512M-e1000e -- -machine q35 -accel kvm -m 512M -nodefaults -device e1000e,id=nic0
cap --name pc-512M-virtio-net -- -machine pc -accel kvm -m 512M -nodefaults -device virtio-net-pci,id=vnet0
cap --name q35-512M-virtio-net -- -machine q35 -accel kvm -m 512M -nodefaults -device virtio-net-pci,id=vnet0
cap --name pc-512M-vga -- -machine pc -accel kvm -m 512M -nodefaults -device VGA,id=vga0
cap --name q35-512M-bochs -- -machine q35 -accel kvm -m 512M -nodefaults -device bochs-display,id=disp0
cap --name pc-512M-vga-e1000e -- -machine pc -accel kvm -m 512M -nodefaults -device VGA,id=vga0 -device e1000e,id=nic0
cap --name q35-512M-vga-e1000e -- -machine q35 -accel kvm -m 512M -nodefaults -device VGA,id=vga0 -device e1000e,id=nic0
cap --name pc-512M-2nic -- -machine pc -accel kvm -m 512M -nodefaults -device e1000e,id=nic0 -device virtio-net-pci,id=vnet0
cap --name q35-512M-2nic -- -machine q35 -accel kvm -m 512M -nodefaults -device e1000e,id=nic0 -device virtio-net-pci,id=vnet0
cap --name q35-4G-hole64-1010G-amd -- -machine q35 -accel kvm -m 4G -nodefaults -cpu qemu64,phys-bits=42 -global q35-pcihost.pci-hole64-size=1010G
cap --name pc-4G-hole64-1010G-amd -- -machine pc -accel kvm -m 4G -nodefaults -cpu qemu64,phys-bits=42 -global i440FX-pcihost.pci-hole64-size=1010G
cap --name q35-4G-hole64-1010G-intel -- -machine q35 -accel kvm -m 4G -nodefaults -cpu qemu64,phys-bits=42,vendor=GenuineIntel -global q35-pcihost.pci-hole64-size=1010G
cap --name q35-7.0-4G-hole64-1010G-amd -- -machine pc-q35-7.0 -accel kvm -m 4G -nodefaults -cpu qemu64,phys-bits=42 -global q35-pcihost.pci-hole64-size=1010G
cap --name pc-512M-e1000e-rombar0 -- -machine pc -accel kvm -m 512M -nodefaults -device e1000e,id=nic0,rombar=0
cap --name q35-512M-vga-rombar0-e1000e -- -machine q35 -accel kvm -m 512M -nodefaults -device VGA,id=vga0,rombar=0 -device e1000e,id=nic0
cap --name q35-1G-libvirt-virtio -- -machine q35 -accel kvm -m 1G -nodefaults -device qxl-vga,id=video0,bus=pcie.0,addr=0x1 -device pcie-root-port,id=pci.1,chassis=1,port=0x10,bus=pcie.0,addr=0x2,multifunction=on -device pcie-root-port,id=pci.2,chassis=2,port=0x11,bus=pcie.0,addr=0x2.0x1 -device pcie-root-port,id=pci.3,chassis=3,port=0x12,bus=pcie.0,addr=0x2.0x2 -device pcie-root-port,id=pci.4,chassis=4,port=0x13,bus=pcie.0,addr=0x2.0x3 -device pcie-root-port,id=pci.5,chassis=5,port=0x14,bus=pcie.0,addr=0x2.0x4 -device pcie-root-port,id=pci.6,chassis=6,port=0x15,bus=pcie.0,addr=0x2.0x5 -device qemu-xhci,p2=15,p3=15,id=usb,bus=pci.2,addr=0x0 -device virtio-serial-pci,id=virtio-serial0,bus=pci.3,addr=0x0 -blockdev driver=null-co,node-name=disk0 -device virtio-blk-pci,bus=pci.4,addr=0x0,drive=disk0,id=virtio-disk0 -device virtio-net-pci,id=net0,bus=pci.1,addr=0x0 -device virtio-balloon-pci,id=balloon0,bus=pci.5,addr=0x0 -device virtio-rng-pci,id=rng0,bus=pci.6,addr=0x0 -device ich9-intel-hda,id=sound0,bus=pcie.0,addr=0x1b
cap --name pc-1G-virtio-storage-usb -- -machine pc -accel kvm -m 1G -nodefaults -device virtio-vga,id=video0 -blockdev driver=null-co,node-name=disk0 -device virtio-blk-pci,drive=disk0,id=vblk0 -device virtio-scsi-pci,id=scsi0 -device virtio-balloon-pci,id=balloon0 -device virtio-rng-pci,id=rng0 -device virtio-serial-pci,id=vser0 -device lsi53c895a,id=lsi0 -device megasas,id=mega0 -device usb-ehci,id=ehci0 -device ich9-usb-uhci1,id=uhci1 -device e1000,id=nic0 -device rtl8139,id=nic1
cap --name q35-1G-bridges-misc -- -machine q35 -accel kvm -m 1G -nodefaults -device VGA,id=vga0 -device i82801b11-bridge,id=dmi0,bus=pcie.0,addr=0x1e -device pci-bridge,id=pci.1,chassis_nr=1,bus=dmi0,addr=0x0 -device e1000,id=nic0,bus=pci.1,addr=0x1 -device pcie-pci-bridge,id=ppb0 -device rtl8139,id=nic1,bus=ppb0,addr=0x1 -device ioh3420,id=ioh0,chassis=10,slot=10 -device x3130-upstream,id=up0,bus=ioh0 -device xio3130-downstream,id=dn0,bus=up0,chassis=11,slot=11 -device virtio-net-pci,id=vnet0,bus=dn0 -device nec-usb-xhci,id=xhci0 -device intel-hda,id=hda0 -device AC97,id=ac97 -device pvpanic-pci,id=pvp0 -device i6300esb,id=wdt0 -device vmxnet3,id=vmx0
cap --name q35-7.1-512M-virtio-rng-balloon -- -machine pc-q35-7.1 -accel kvm -m 512M -nodefaults -device virtio-rng-pci,id=rng0 -device pcie-root-port,id=rp1,chassis=1 -device virtio-rng-pci,id=rng1,bus=rp1 -device virtio-balloon-pci,id=bal0
cap --name pc-3.1-512M-virtio-compat -- -machine pc-i440fx-3.1 -accel kvm -m 512M -nodefaults -device VGA,id=vga0 -blockdev driver=null-co,node-name=d0 -device virtio-blk-pci,drive=d0,id=vblk0 -device virtio-balloon-pci,id=bal0 -device virtio-serial-pci,id=vser0
cap --name q35-1G-pve-layout -- -machine q35 -accel kvm -m 1G -nodefaults -device VGA,id=vga,bus=pcie.0,addr=0x1 -device ich9-usb-ehci1,id=ehci,multifunction=on,bus=pcie.0,addr=0x1d.0x7 -device ich9-usb-uhci1,id=uhci-1,multifunction=on,bus=pcie.0,addr=0x1d.0x0,masterbus=ehci.0,firstport=0 -device ich9-usb-uhci2,id=uhci-2,multifunction=on,bus=pcie.0,addr=0x1d.0x1,masterbus=ehci.0,firstport=2 -device ich9-usb-uhci3,id=uhci-3,multifunction=on,bus=pcie.0,addr=0x1d.0x2,masterbus=ehci.0,firstport=4 -device ich9-intel-hda,id=audio0,bus=pcie.0,addr=0x1b.0x0 -device ioh3420,id=ich9-pcie-port-1,multifunction=on,bus=pcie.0,addr=0x1c.0x0,port=1,chassis=1 -device ioh3420,id=ich9-pcie-port-2,multifunction=on,bus=pcie.0,addr=0x1c.0x1,port=2,chassis=2 -device i82801b11-bridge,id=pcidmi,bus=pcie.0,addr=0x1e.0x0 -device pci-bridge,id=pci.1,bus=pcidmi,addr=0x1.0x0,chassis_nr=1 -device pci-bridge,id=pci.2,bus=pcidmi,addr=0x2.0x0,chassis_nr=2 -device qemu-xhci,p2=15,p3=15,id=xhci,bus=pci.1,addr=0x1b -device virtio-balloon-pci,id=balloon0,bus=pci.1,addr=0x3 -device virtio-scsi-pci,id=scsihw0,bus=pci.1,addr=0x5 -device virtio-net-pci,id=net0,bus=pci.1,addr=0x12 -device e1000,id=net1,bus=pci.2,addr=0x1
