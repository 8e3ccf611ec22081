#!/bin/sh
# Make the OVMF reference captures in data/ovmf/ (see data/ovmf/README.md).
# Needs the firmware and QEMU 10.0 that scripts/fetch-stack.sh puts in /tmp/vfiolab-stack.
set -e
S=${VFIOLAB_STACK:-/tmp/vfiolab-stack}
Q72=/usr/bin/qemu-system-x86_64
Q100=$S/bin/qemu-system-x86_64-10.0
PF="-drive if=pflash,format=raw,unit=0,readonly=on,file=@FW@/OVMF_CODE_4M.fd -drive if=pflash,format=raw,unit=1,file=@TMP@/OVMF_VARS_4M.fd"
RP="-device pcie-root-port,id=rp1,chassis=1,slot=1 -object memory-backend-ram,id=m0,size=64M -device ivshmem-plain,memdev=m0,id=ivs0,bus=rp1 -device pcie-root-port,id=rp2,chassis=2,slot=2 -device edu,id=edu0"
BIG64="-object memory-backend-ram,id=m0,size=64G,reserve=off -device ivshmem-plain,memdev=m0,id=ivs0"
cap() { # name qemu fwver args...
  n=$1; q=$2; v=$3; shift 3
  [ -n "$ONLY" ] && case " $ONLY " in *" $n "*) ;; *) return 0;; esac
  PYTHONPATH=${PYTHONPATH:-.} python3 -m vfiolab.real.ovmfcapture --name "$n" --out data/ovmf \
    --qemu-binary "$q" --firmware-dir "$S/L/ovmf-$v" -- "$@"
}
cap q35-1G-rootport-2022.11-qemu7.2 $Q72 2022.11 -machine q35 -accel tcg -cpu qemu64,phys-bits=40 -m 1G -nodefaults $PF $RP
cap q35-1G-rootport-2025.02-qemu7.2 $Q72 2025.02 -machine q35 -accel tcg -cpu qemu64,phys-bits=40 -m 1G -nodefaults $PF $RP
# fourteen empty root ports (virt-manager's q35 layout): 2022.11's I/O padding does not fit,
# PciBusDxe drops the padding of four ports and boots; 2025.02 reserves no I/O
RP14="-device pcie-root-port,id=pci.1,chassis=1,port=16,bus=pcie.0,addr=2.0,multifunction=on -device pcie-root-port,id=pci.2,chassis=2,port=17,bus=pcie.0,addr=2.1 -device pcie-root-port,id=pci.3,chassis=3,port=18,bus=pcie.0,addr=2.2 -device pcie-root-port,id=pci.4,chassis=4,port=19,bus=pcie.0,addr=2.3 -device pcie-root-port,id=pci.5,chassis=5,port=20,bus=pcie.0,addr=2.4 -device pcie-root-port,id=pci.6,chassis=6,port=21,bus=pcie.0,addr=2.5 -device pcie-root-port,id=pci.7,chassis=7,port=22,bus=pcie.0,addr=2.6 -device pcie-root-port,id=pci.8,chassis=8,port=23,bus=pcie.0,addr=2.7 -device pcie-root-port,id=pci.9,chassis=9,port=24,bus=pcie.0,addr=3.0,multifunction=on -device pcie-root-port,id=pci.10,chassis=10,port=25,bus=pcie.0,addr=3.1 -device pcie-root-port,id=pci.11,chassis=11,port=26,bus=pcie.0,addr=3.2 -device pcie-root-port,id=pci.12,chassis=12,port=27,bus=pcie.0,addr=3.3 -device pcie-root-port,id=pci.13,chassis=13,port=28,bus=pcie.0,addr=3.4 -device pcie-root-port,id=pci.14,chassis=14,port=29,bus=pcie.0,addr=3.5 -device VGA,id=vga0"
cap q35-2G-14rp-2022.11-qemu7.2 $Q72 2022.11 -machine q35 -accel tcg -m 2G -nodefaults -cpu qemu64,phys-bits=40 $PF $RP14
cap q35-2G-14rp-2025.02-qemu7.2 $Q72 2025.02 -machine q35 -accel tcg -m 2G -nodefaults -cpu qemu64,phys-bits=40 $PF $RP14
# the model's reservation knob for the 2022.11 case, applied: every port keeps its padding
cap q35-2G-14rp-ioreserve0-2022.11-qemu7.2 $Q72 2022.11 -machine q35 -accel tcg -m 2G -nodefaults -cpu qemu64,phys-bits=40 $PF -global pcie-root-port.io-reserve=0 $RP14
cap q35-1G-rootport-2025.02-qemu10.0 $Q100 2025.02 -machine q35 -accel tcg -cpu qemu64,phys-bits=40 -m 1G -nodefaults $PF $RP
cap pc-1G-multi-2022.11-qemu7.2 $Q72 2022.11 -machine pc -accel tcg -cpu qemu64,phys-bits=40 -m 1G -nodefaults $PF -device edu,id=edu0 -object memory-backend-ram,id=m0,size=16M -device ivshmem-plain,memdev=m0,id=ivs0 -device nvme,serial=vfiolab0,id=nvme0 -device VGA,id=vga0
cap pc-3G-multi-2025.02-qemu10.0 $Q100 2025.02 -machine pc -accel tcg -cpu qemu64,phys-bits=40 -m 3G -nodefaults $PF -device edu,id=edu0 -object memory-backend-ram,id=m0,size=256M -device ivshmem-plain,memdev=m0,id=ivs0 -device VGA,id=vga0
cap q35-6G-pb39-ivshmem-1G-2022.11-qemu7.2 $Q72 2022.11 -machine q35 -accel tcg -cpu qemu64,phys-bits=39 -m 6G -nodefaults $PF -object memory-backend-ram,id=m0,size=1G -device ivshmem-plain,memdev=m0,id=ivs0 -device edu,id=edu0
cap q35-6G-pb40-ivshmem-1G-2025.02-qemu7.2 $Q72 2025.02 -machine q35 -accel tcg -cpu qemu64,phys-bits=40 -m 6G -nodefaults $PF -object memory-backend-ram,id=m0,size=1G -device ivshmem-plain,memdev=m0,id=ivs0 -device edu,id=edu0
cap q35-1G-pb39-ivshmem-64G-2022.11-qemu7.2 $Q72 2022.11 -machine q35 -accel tcg -cpu qemu64,phys-bits=39 -m 1G -nodefaults $PF $BIG64 -device edu,id=edu0
cap q35-1G-pb39-ivshmem-64G-X64G-2022.11-qemu7.2 $Q72 2022.11 -machine q35 -accel tcg -cpu qemu64,phys-bits=39 -m 1G -nodefaults $PF -fw_cfg name=opt/ovmf/X-PciMmio64Mb,string=65536 $BIG64 -device edu,id=edu0
cap q35-1G-pb40-ivshmem-64G-2022.11-qemu7.2 $Q72 2022.11 -machine q35 -accel tcg -cpu qemu64,phys-bits=40 -m 1G -nodefaults $PF $BIG64
cap q35-1G-pb40-ivshmem-64G-2025.02-qemu10.0 $Q100 2025.02 -machine q35 -accel tcg -cpu qemu64,phys-bits=40 -m 1G -nodefaults $PF $BIG64
cap q35-1G-pb39-ivshmem-64G-2025.02-qemu7.2 $Q72 2025.02 -machine q35 -accel tcg -cpu qemu64,phys-bits=39 -m 1G -nodefaults $PF $BIG64
cap q35-1G-pb46-ivshmem-64G-2025.02-qemu10.0 $Q100 2025.02 -machine q35 -accel tcg -cpu qemu64,phys-bits=46 -m 1G -nodefaults $PF $BIG64
cap q35-1G-pb46-1g-ivshmem-64G-2025.02-qemu10.0 $Q100 2025.02 -machine q35 -accel tcg -cpu qemu64,phys-bits=46,pdpe1gb=on -m 1G -nodefaults $PF $BIG64
cap q35-1G-pb46-1g-ivshmem-64G-2022.11-qemu7.2 $Q72 2022.11 -machine q35 -accel tcg -cpu qemu64,phys-bits=46,pdpe1gb=on -m 1G -nodefaults $PF $BIG64
cap pc-1G-pb40-ivshmem-64G-2022.11-qemu7.2 $Q72 2022.11 -machine pc -accel tcg -cpu qemu64,phys-bits=40 -m 1G -nodefaults $PF $BIG64
# root port overrides through QEMU's resource-reservation capability; a 64-bit
# non-prefetchable BAR (nvme) behind a root port
cap q35-1G-rp-reserve-2022.11-qemu7.2 $Q72 2022.11 -machine q35 -accel tcg -cpu qemu64,phys-bits=40 -m 1G -nodefaults $PF -device pcie-root-port,id=rp1,chassis=1,slot=1,io-reserve=0,pref64-reserve=1G,mem-reserve=8M -device nvme,serial=vfiolab0,id=nvme0,bus=rp1 -device pcie-root-port,id=rp2,chassis=2,slot=2,bus-reserve=3 -object memory-backend-ram,id=m0,size=256M -device ivshmem-plain,memdev=m0,id=ivs0,bus=rp2 -device pcie-root-port,id=rp3,chassis=3,slot=3
cap q35-1G-multi-2025.02-qemu10.0 $Q100 2025.02 -machine q35 -accel tcg -cpu qemu64,phys-bits=40 -m 1G -nodefaults $PF -device edu,id=edu0 -object memory-backend-ram,id=m0,size=16M -device ivshmem-plain,memdev=m0,id=ivs0 -device nvme,serial=vfiolab0,id=nvme0 -device VGA,id=vga0 -device pcie-root-port,id=rp1,chassis=1,slot=1 -device nvme,serial=vfiolab1,id=nvme1,bus=rp1
cap pc-6G-pb39-ivshmem-1G-2025.02-qemu7.2 $Q72 2025.02 -machine pc -accel tcg -cpu qemu64,phys-bits=39 -m 6G -nodefaults $PF -object memory-backend-ram,id=m0,size=1G -device ivshmem-plain,memdev=m0,id=ivs0 -device edu,id=edu0
cap q35-1G-no64-ivshmem-256M-2025.02-qemu10.0 $Q100 2025.02 -machine q35 -accel tcg -cpu qemu64,phys-bits=40 -m 1G -nodefaults $PF -fw_cfg name=opt/ovmf/X-PciMmio64Mb,string=0 -object memory-backend-ram,id=m0,size=256M -device ivshmem-plain,memdev=m0,id=ivs0 -device nvme,serial=vfiolab0,id=nvme0
cap q35-2560M-2022.11-qemu7.2 $Q72 2022.11 -machine q35 -accel tcg -cpu qemu64,phys-bits=40 -m 2560M -nodefaults $PF -object memory-backend-ram,id=m0,size=64M -device ivshmem-plain,memdev=m0,id=ivs0 -device edu,id=edu0
cap q35-2560M-2025.02-qemu10.0 $Q100 2025.02 -machine q35 -accel tcg -cpu qemu64,phys-bits=40 -m 2560M -nodefaults $PF -object memory-backend-ram,id=m0,size=64M -device ivshmem-plain,memdev=m0,id=ivs0 -device edu,id=edu0
cap q35-1G-pb40-ivshmem-256G-2025.02-qemu10.0 $Q100 2025.02 -machine q35 -accel tcg -cpu qemu64,phys-bits=40 -m 1G -nodefaults $PF -object memory-backend-ram,id=m0,size=256G,reserve=off -device ivshmem-plain,memdev=m0,id=ivs0 -device edu,id=edu0
# the smallest knobs the model computes for q35-1G-pb40-ivshmem-256G-2025.02-qemu10.0, applied
cap q35-1G-pb40-ivshmem-256G-X256G-2025.02-qemu10.0 $Q100 2025.02 -machine q35 -accel tcg -cpu qemu64,phys-bits=40 -m 1G -nodefaults $PF -fw_cfg name=opt/ovmf/X-PciMmio64Mb,string=262144 -object memory-backend-ram,id=m0,size=256G,reserve=off -device ivshmem-plain,memdev=m0,id=ivs0 -device edu,id=edu0
cap q35-1G-pb41-1g-ivshmem-256G-2025.02-qemu10.0 $Q100 2025.02 -machine q35 -accel tcg -cpu qemu64,phys-bits=41,pdpe1gb=on -m 1G -nodefaults $PF -object memory-backend-ram,id=m0,size=256G,reserve=off -device ivshmem-plain,memdev=m0,id=ivs0 -device edu,id=edu0
# -bios OVMF.fd (the combined image, no flash): Debian's /usr/share/ovmf/OVMF.fd
cap q35-1G-bios-rootport-2022.11-qemu7.2 $Q72 2022.11 -machine q35 -accel tcg -cpu qemu64,phys-bits=40 -m 1G -nodefaults -bios @FW@/../../ovmf-2022.11/usr/share/ovmf/OVMF.fd $RP
cap pc-1G-bios-2025.02-qemu10.0 $Q100 2025.02 -machine pc -accel tcg -cpu qemu64,phys-bits=40 -m 1G -nodefaults -bios @FW@/../../ovmf-2025.02/usr/share/ovmf/OVMF.fd -object memory-backend-ram,id=m0,size=64M -device ivshmem-plain,memdev=m0,id=ivs0 -device edu,id=edu0
# display devices other than VGA: QemuVideoDxe sets a Bochs VBE mode (32 bpp) on
# virtio-vga and qxl-vga, whose VGA core then maps the vga.chain4 window at 0xa0000;
# bochs-display has no legacy VGA window
cap q35-1G-virtio-vga-2025.02-qemu10.0 $Q100 2025.02 -machine q35 -accel tcg -cpu qemu64,phys-bits=40 -m 1G -nodefaults $PF -device virtio-vga,id=vga0 -device edu,id=edu0
cap pc-1G-qxl-vga-2022.11-qemu7.2 $Q72 2022.11 -machine pc -accel tcg -cpu qemu64,phys-bits=40 -m 1G -nodefaults $PF -device qxl-vga,id=vga0 -device edu,id=edu0
cap q35-1G-bochs-display-2022.11-qemu7.2 $Q72 2022.11 -machine q35 -accel tcg -cpu qemu64,phys-bits=40 -m 1G -nodefaults $PF -device bochs-display,id=vga0 -device edu,id=edu0
# two VGA functions: the VGA attributes (and the Bochs mode) go to the first in
# PciBusDxe's order (qxl-vga at 00:02.0), QemuVideoDxe fails on the second
# (info_mtree_o.txt names the chain-4 window's owner) (QEMU 7.2: Debian's QEMU 10.0 build unpacked here has no qxl module)
cap q35-1G-2vga-2025.02-qemu7.2 $Q72 2025.02 -machine q35 -accel tcg -cpu qemu64,phys-bits=40 -m 1G -nodefaults $PF -device qxl-vga,id=qxl0,addr=2 -device VGA,id=vga0,addr=3 -device bochs-display,id=bd0,addr=4
# a VGA behind a root port: OVMF sets VGA enable in the port's bridge control
cap q35-1G-vga-rootport-2025.02-qemu10.0 $Q100 2025.02 -machine q35 -accel tcg -cpu qemu64,phys-bits=40 -m 1G -nodefaults $PF -device pcie-root-port,id=rp1,chassis=1,slot=1 -device VGA,id=vga0,bus=rp1
# two standard VGAs (both driven through their own MMIO BAR): the one that owns
# the chain-4 window is the one QemuVideoDxe started first
cap q35-1G-2stdvga-2025.02-qemu10.0 $Q100 2025.02 -machine q35 -accel tcg -cpu qemu64,phys-bits=40 -m 1G -nodefaults $PF -device VGA,id=vga0,addr=2 -device VGA,id=vga1,addr=3
# -m slots=/maxmem=: QEMU's fw_cfg etc/reserved-memory-end (end of the 35 GiB
# memory-hotplug area at 4 GiB, so 39 GiB) moves the classic 32 GiB window
# from 0x800000000 to 0x1000000000 (PlatformGetFirstNonAddress)
cap q35-1G-maxmem-pb39-ivshmem-16G-2022.11-qemu7.2 $Q72 2022.11 -machine q35 -accel tcg -cpu qemu64,phys-bits=39 -m 1G,slots=4,maxmem=32G -nodefaults $PF -object memory-backend-ram,id=m0,size=16G,reserve=off -device ivshmem-plain,memdev=m0,id=ivs0 -device edu,id=edu0
cap q35-1G-maxmem-pb39-ivshmem-16G-2025.02-qemu10.0 $Q100 2025.02 -machine q35 -accel tcg -cpu qemu64,phys-bits=39 -m 1G,slots=4,maxmem=32G -nodefaults $PF -object memory-backend-ram,id=m0,size=16G,reserve=off -device ivshmem-plain,memdev=m0,id=ivs0 -device edu,id=edu0
# eight root ports and 1.5 GiB of 32-bit display BARs on 2025.02 (32-bit window
# 0x80000000-0xdfffffff): PciBusDxe never rejects a bus-0 function or a VGA
# (IsRejectiveDevice), so it drops rp1's padding; then the model's knob,
# mem-reserve=0, applied
RP8="-device pcie-root-port,id=rp1,chassis=1,slot=1 -device pcie-root-port,id=rp2,chassis=2,slot=2 -device pcie-root-port,id=rp3,chassis=3,slot=3 -device pcie-root-port,id=rp4,chassis=4,slot=4 -device pcie-root-port,id=rp5,chassis=5,slot=5 -device pcie-root-port,id=rp6,chassis=6,slot=6 -device pcie-root-port,id=rp7,chassis=7,slot=7 -device pcie-root-port,id=rp8,chassis=8,slot=8"
DISP="-device VGA,id=v0,vgamem_mb=512 -device bochs-display,id=v1,vgamem=256M -device bochs-display,id=v2,vgamem=256M -device bochs-display,id=v3,vgamem=256M -device bochs-display,id=v4,vgamem=128M -device bochs-display,id=v5,vgamem=64M -device bochs-display,id=v6,vgamem=32M -device bochs-display,id=v7,vgamem=16M"
cap q35-1G-8rp-displays-2025.02-qemu7.2 $Q72 2025.02 -machine q35 -accel tcg -cpu qemu64,phys-bits=40 -m 1G -nodefaults $PF $RP8 $DISP
cap q35-1G-8rp-displays-memreserve0-2025.02-qemu7.2 $Q72 2025.02 -machine q35 -accel tcg -cpu qemu64,phys-bits=40 -m 1G -nodefaults $PF -global pcie-root-port.mem-reserve=0 $RP8 $DISP
# the 64 GiB BAR behind a root port: PciBusDxe may reject it (it is not on bus 0)
# but the real firmware still gives up; then the model's knob, applied
cap q35-1G-pb39-rp-ivshmem-64G-2022.11-qemu7.2 $Q72 2022.11 -machine q35 -accel tcg -cpu qemu64,phys-bits=39 -m 1G -nodefaults $PF -device pcie-root-port,id=rp1,chassis=1,slot=1 -object memory-backend-ram,id=m0,size=64G,reserve=off -device ivshmem-plain,memdev=m0,id=ivs0,bus=rp1 -device edu,id=edu0
cap q35-1G-pb39-rp-ivshmem-64G-X64G-2022.11-qemu7.2 $Q72 2022.11 -machine q35 -accel tcg -cpu qemu64,phys-bits=39 -m 1G -fw_cfg name=opt/ovmf/X-PciMmio64Mb,string=65536 -nodefaults $PF -device pcie-root-port,id=rp1,chassis=1,slot=1 -object memory-backend-ram,id=m0,size=64G,reserve=off -device ivshmem-plain,memdev=m0,id=ivs0,bus=rp1 -device edu,id=edu0
