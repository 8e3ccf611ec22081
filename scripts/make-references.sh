#!/usr/bin/env bash
# Regenerate the reference captures under data/references/ with real QEMU
# under KVM (vfiolab/real/capture.py).  Needs a usable /dev/kvm; each capture
# takes 4-20 s (the ones with NIC/VGA option ROMs are the slow ones).
#
#     scripts/make-references.sh                 # all of them
#     scripts/make-references.sh 'q35-*' pc-512M-edu   # only names matching
#
# First runs scripts/fetch-stack.sh, which unpacks (without installing) QEMU
# 10.0 and SeaBIOS 1.16.2/1.16.3/1.17.0 into $VFIOLAB_STACK_DIR (default
# /tmp/vfiolab-stack); when it cannot (exit 3: the archive does not serve a
# piece), only the captures with this machine's own QEMU 7.2 and SeaBIOS are
# made and the others are reported as skipped.
#
# Which QEMU and firmware each capture uses:
#   cap            Debian 12's qemu-system-x86_64 (7.2) with its own firmware
#                  (no -L: /usr/share/seabios 1.16.2, ipxe-qemu)
#   cap72 VER      Debian 12's QEMU 7.2 with -L $STACK/L/seabios-VER
#   cap10 VER      QEMU 10.0 ($STACK/bin/qemu-system-x86_64-10.0) with
#                  -L $STACK/L/seabios-VER
# Each folder's meta.json records the versions that ran (query-version, the
# SeaBIOS log's first line, the Debian packages) and, under made_by, the one
# command that makes that folder again.  After a run, check that
# data/references/README.md still matches.
# PYTHON may name the interpreter (default: .venv/bin/python, else python3).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
STACK=${VFIOLAB_STACK_DIR:-/tmp/vfiolab-stack}
export VFIOLAB_STACK_DIR=$STACK

have_stack=1
set +e
scripts/fetch-stack.sh
rc=$?
set -e
if [ "$rc" -eq 3 ]; then
    echo "make-references: fetch-stack.sh could not fetch the other QEMU/SeaBIOS builds (see above);" >&2
    echo "make-references: only the captures with the system's QEMU 7.2 and firmware are made" >&2
    have_stack=0
elif [ "$rc" -ne 0 ]; then
    echo "make-references: fetch-stack.sh failed (exit $rc)" >&2
    exit "$rc"
fi

PATTERNS=("$@")
wanted() {
    [ "${#PATTERNS[@]}" -eq 0 ] && return 0
    local p
    for p in "${PATTERNS[@]}"; do
        # shellcheck disable=SC2053
        [[ $1 == $p ]] && return 0
    done
    return 1
}
name_of() { while [ "$#" -gt 0 ]; do [ "$1" = --name ] && { echo "$2"; return; }; shift; done; }
run() {
    local name
    name=$(name_of "$@")
    wanted "$name" || return 0
    "$PYTHON" -m vfiolab capture --out data/references --accel kvm --timeout 240 "$@"
}
cap() { run "$@"; }
cap72() {
    local ver=$1; shift
    if [ "$have_stack" -eq 0 ]; then echo "skipped $(name_of "$@"): no $STACK/L/seabios-$ver" >&2; return 0; fi
    run --firmware-dir "$STACK/L/seabios-$ver" "$@"
}
cap10() {
    local ver=$1; shift
    if [ "$have_stack" -eq 0 ]; then echo "skipped $(name_of "$@"): no QEMU 10.0 in $STACK" >&2; return 0; fi
    run --qemu-binary "$STACK/bin/qemu-system-x86_64-10.0" --firmware-dir "$STACK/L/seabios-$ver" "$@"
}

# --- QEMU 7.2 + SeaBIOS 1.16.2, Debian 12 as installed -----------------------
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

# the SeaBIOS-rule machines (below) with 1.16.2, for comparison
cap --name pc-512M-dev -- -machine pc -accel kvm -m 512M -nodefaults -device VGA,id=vga0 -device e1000e,id=nic0 -device virtio-net-pci,id=vnet0 -device edu,id=edu0 -object memory-backend-ram,id=m0,size=64M -device ivshmem-plain,memdev=m0,id=ivs0 -device pci-bridge,id=br1,chassis_nr=1 -device e1000e,id=nic1,bus=br1,addr=1
cap --name pc-512M-ivshmem-4G -- -machine pc -accel kvm -m 512M -nodefaults -object memory-backend-ram,id=m0,size=4G,reserve=off -device ivshmem-plain,memdev=m0,id=ivs0
# -m slots=/maxmem=: the 64-bit window starts above etc/reserved-memory-end
cap --name pc-512M-maxmem-ivshmem-4G -- -machine pc -accel kvm -m 512M,slots=2,maxmem=8G -nodefaults -object memory-backend-ram,id=m0,size=4G,reserve=off -device ivshmem-plain,memdev=m0,id=ivs0

# --- QEMU 7.2 + SeaBIOS 1.16.3 / 1.17.0 (the rules that changed) --------------
# pc-512M-dev: root I/O and 32-bit windows, a pci-bridge's SHPC hot-plug windows
# pc-4G-dev: RAM above 4 GiB + trusted phys-bits (AMD, 40) -> pad, 64-bit window
#   at the top of 2^40 shifted once below the AMD HyperTransport e820 hole
# pc-4G-dev-intel: the same with vendor GenuineIntel (phys-bits 40 untrusted)
# pc-4G-dev-pb48: phys-bits 48 -> 1.17.0 caps the top at 2^44
# pc-512M-ivshmem-4G / -64G: 32-bit placement fails -> 64-bit window, e820 shift
# q35-6G-ivshmem-4G: pad with RAM above 4 GiB, one 4 GiB BAR
# q35-4G-rootport: hot-plug pads of PCIe root ports with RAM above 4 GiB
cap72 1.16.3 --name pc-512M-dev-sb1163 -- -machine pc -accel kvm -m 512M -nodefaults -device VGA,id=vga0 -device e1000e,id=nic0 -device virtio-net-pci,id=vnet0 -device edu,id=edu0 -object memory-backend-ram,id=m0,size=64M -device ivshmem-plain,memdev=m0,id=ivs0 -device pci-bridge,id=br1,chassis_nr=1 -device e1000e,id=nic1,bus=br1,addr=1
cap72 1.16.3 --name pc-4G-dev-sb1163 -- -machine pc -accel kvm -m 4G -nodefaults -device VGA,id=vga0 -device e1000e,id=nic0 -device virtio-net-pci,id=vnet0 -device edu,id=edu0 -object memory-backend-ram,id=m0,size=64M -device ivshmem-plain,memdev=m0,id=ivs0 -device pci-bridge,id=br1,chassis_nr=1 -device e1000e,id=nic1,bus=br1,addr=1
cap72 1.16.3 --name pc-4G-dev-intel-sb1163 -- -machine pc -accel kvm -cpu qemu64,vendor=GenuineIntel -m 4G -nodefaults -device VGA,id=vga0 -device e1000e,id=nic0 -device virtio-net-pci,id=vnet0 -device edu,id=edu0 -object memory-backend-ram,id=m0,size=64M -device ivshmem-plain,memdev=m0,id=ivs0 -device pci-bridge,id=br1,chassis_nr=1 -device e1000e,id=nic1,bus=br1,addr=1
cap72 1.16.3 --name pc-512M-ivshmem-4G-sb1163 -- -machine pc -accel kvm -m 512M -nodefaults -object memory-backend-ram,id=m0,size=4G,reserve=off -device ivshmem-plain,memdev=m0,id=ivs0
cap72 1.16.3 --name q35-6G-ivshmem-4G-sb1163 -- -machine q35 -accel kvm -m 6G -nodefaults -object memory-backend-ram,id=m0,size=4G,reserve=off -device ivshmem-plain,memdev=m0,id=ivs0
cap72 1.16.3 --name q35-4G-rootport-sb1163 -- -machine q35 -accel kvm -m 4G -nodefaults -device pcie-root-port,id=rp1,chassis=1,slot=1 -object memory-backend-ram,id=m0,size=64M -device ivshmem-plain,memdev=m0,id=ivs0,bus=rp1 -device pcie-root-port,id=rp2,chassis=2,slot=2
cap72 1.17.0 --name pc-512M-dev-sb1170 -- -machine pc -accel kvm -m 512M -nodefaults -device VGA,id=vga0 -device e1000e,id=nic0 -device virtio-net-pci,id=vnet0 -device edu,id=edu0 -object memory-backend-ram,id=m0,size=64M -device ivshmem-plain,memdev=m0,id=ivs0 -device pci-bridge,id=br1,chassis_nr=1 -device e1000e,id=nic1,bus=br1,addr=1
cap72 1.17.0 --name pc-4G-dev-sb1170 -- -machine pc -accel kvm -m 4G -nodefaults -device VGA,id=vga0 -device e1000e,id=nic0 -device virtio-net-pci,id=vnet0 -device edu,id=edu0 -object memory-backend-ram,id=m0,size=64M -device ivshmem-plain,memdev=m0,id=ivs0 -device pci-bridge,id=br1,chassis_nr=1 -device e1000e,id=nic1,bus=br1,addr=1
cap72 1.17.0 --name pc-4G-dev-intel-sb1170 -- -machine pc -accel kvm -cpu qemu64,vendor=GenuineIntel -m 4G -nodefaults -device VGA,id=vga0 -device e1000e,id=nic0 -device virtio-net-pci,id=vnet0 -device edu,id=edu0 -object memory-backend-ram,id=m0,size=64M -device ivshmem-plain,memdev=m0,id=ivs0 -device pci-bridge,id=br1,chassis_nr=1 -device e1000e,id=nic1,bus=br1,addr=1
cap72 1.17.0 --name pc-512M-ivshmem-4G-sb1170 -- -machine pc -accel kvm -m 512M -nodefaults -object memory-backend-ram,id=m0,size=4G,reserve=off -device ivshmem-plain,memdev=m0,id=ivs0
cap72 1.17.0 --name q35-6G-ivshmem-4G-sb1170 -- -machine q35 -accel kvm -m 6G -nodefaults -object memory-backend-ram,id=m0,size=4G,reserve=off -device ivshmem-plain,memdev=m0,id=ivs0
cap72 1.17.0 --name q35-4G-rootport-sb1170 -- -machine q35 -accel kvm -m 4G -nodefaults -device pcie-root-port,id=rp1,chassis=1,slot=1 -object memory-backend-ram,id=m0,size=64M -device ivshmem-plain,memdev=m0,id=ivs0,bus=rp1 -device pcie-root-port,id=rp2,chassis=2,slot=2
cap72 1.17.0 --name pc-4G-dev-pb48-sb1170 -- -machine pc -accel kvm -cpu qemu64,phys-bits=48 -m 4G -nodefaults -device VGA,id=vga0 -device e1000e,id=nic0 -device virtio-net-pci,id=vnet0 -device edu,id=edu0 -object memory-backend-ram,id=m0,size=64M -device ivshmem-plain,memdev=m0,id=ivs0 -device pci-bridge,id=br1,chassis_nr=1 -device e1000e,id=nic1,bus=br1,addr=1
cap72 1.17.0 --name pc-512M-ivshmem-64G-sb1170 -- -machine pc -accel kvm -m 512M -nodefaults -object memory-backend-ram,id=m0,size=64G,reserve=off -device ivshmem-plain,memdev=m0,id=ivs0

# --- QEMU 10.0 (issue 12) ---------------------------------------------------
# Twins of the 7.2 captures above: the same command line and -L seabios-1.16.2
# (Debian 12's firmware files), so only QEMU differs.
cap10 1.16.2 --name pc-512M-edu-qemu10-sb1162 -- -machine pc -accel kvm -m 512M -nodefaults -device edu,id=edu0
cap10 1.16.2 --name q35-512M-ivshmem-1M-qemu10-sb1162 -- -machine q35 -accel kvm -m 512M -nodefaults -object memory-backend-ram,id=m0,size=1M -device ivshmem-plain,memdev=m0,id=ivs0
cap10 1.16.2 --name pc-1G-ivshmem-1G-qemu10-sb1162 -- -machine pc -accel kvm -m 1G -nodefaults -object memory-backend-ram,id=m0,size=1G -device ivshmem-plain,memdev=m0,id=ivs0
cap10 1.16.2 --name pc-512M-maxmem-ivshmem-4G-qemu10-sb1162 -- -machine pc -accel kvm -m 512M,slots=2,maxmem=8G -nodefaults -object memory-backend-ram,id=m0,size=4G,reserve=off -device ivshmem-plain,memdev=m0,id=ivs0
cap10 1.16.2 --name q35-1G-ivshmem-1G-qemu10-sb1162 -- -machine q35 -accel kvm -m 1G -nodefaults -object memory-backend-ram,id=m0,size=1G -device ivshmem-plain,memdev=m0,id=ivs0
cap10 1.16.2 --name pc-3G-ivshmem-256M-qemu10-sb1162 -- -machine pc -accel kvm -m 3G -nodefaults -object memory-backend-ram,id=m0,size=256M -device ivshmem-plain,memdev=m0,id=ivs0
cap10 1.16.2 --name q35-4G-ivshmem-2G-qemu10-sb1162 -- -machine q35 -accel kvm -m 4G -nodefaults -object memory-backend-ram,id=m0,size=2G -device ivshmem-plain,memdev=m0,id=ivs0
cap10 1.16.2 --name pc-6G-ivshmem-4G-qemu10-sb1162 -- -machine pc -accel kvm -m 6G -nodefaults -object memory-backend-ram,id=m0,size=4G -device ivshmem-plain,memdev=m0,id=ivs0
cap10 1.16.2 --name q35-1G-multi-qemu10-sb1162 -- -machine q35 -accel kvm -m 1G -nodefaults -device edu,id=edu0 -object memory-backend-ram,id=m0,size=16M -device ivshmem-plain,memdev=m0,id=ivs0 -device e1000e,id=nic0 -device nvme,serial=vfiolab0,id=nvme0 -device virtio-net-pci,id=vnet0 -device VGA,id=vga0
cap10 1.16.2 --name pc-1G-multi-qemu10-sb1162 -- -machine pc -accel kvm -m 1G -nodefaults -device edu,id=edu0 -object memory-backend-ram,id=m0,size=64M -device ivshmem-plain,memdev=m0,id=ivs0 -device e1000e,id=nic0 -device nvme,serial=vfiolab0,id=nvme0 -device virtio-net-pci,id=vnet0 -device bochs-display,id=disp0
cap10 1.16.2 --name q35-1G-rootport-qemu10-sb1162 -- -machine q35 -accel kvm -m 1G -nodefaults -device pcie-root-port,id=rp1,chassis=1,slot=1 -object memory-backend-ram,id=m0,size=64M -device ivshmem-plain,memdev=m0,id=ivs0,bus=rp1 -device pcie-root-port,id=rp2,chassis=2,slot=2
# Debian 13-like firmware (SeaBIOS 1.16.3, trixie's iPXE and qemu-system-data 10.0):
# twins of the 7.2 + 1.16.3 captures and of some 1.16.2 ones
cap10 1.16.3 --name pc-512M-edu-qemu10-sb1163 -- -machine pc -accel kvm -m 512M -nodefaults -device edu,id=edu0
cap10 1.16.3 --name q35-1G-multi-qemu10-sb1163 -- -machine q35 -accel kvm -m 1G -nodefaults -device edu,id=edu0 -object memory-backend-ram,id=m0,size=16M -device ivshmem-plain,memdev=m0,id=ivs0 -device e1000e,id=nic0 -device nvme,serial=vfiolab0,id=nvme0 -device virtio-net-pci,id=vnet0 -device VGA,id=vga0
cap10 1.16.3 --name pc-6G-ivshmem-4G-qemu10-sb1163 -- -machine pc -accel kvm -m 6G -nodefaults -object memory-backend-ram,id=m0,size=4G -device ivshmem-plain,memdev=m0,id=ivs0
cap10 1.16.3 --name q35-6G-ivshmem-4G-qemu10-sb1163 -- -machine q35 -accel kvm -m 6G -nodefaults -object memory-backend-ram,id=m0,size=4G,reserve=off -device ivshmem-plain,memdev=m0,id=ivs0
cap10 1.16.3 --name q35-4G-rootport-qemu10-sb1163 -- -machine q35 -accel kvm -m 4G -nodefaults -device pcie-root-port,id=rp1,chassis=1,slot=1 -object memory-backend-ram,id=m0,size=64M -device ivshmem-plain,memdev=m0,id=ivs0,bus=rp1 -device pcie-root-port,id=rp2,chassis=2,slot=2
cap10 1.16.3 --name pc-4G-dev-qemu10-sb1163 -- -machine pc -accel kvm -m 4G -nodefaults -device VGA,id=vga0 -device e1000e,id=nic0 -device virtio-net-pci,id=vnet0 -device edu,id=edu0 -object memory-backend-ram,id=m0,size=64M -device ivshmem-plain,memdev=m0,id=ivs0 -device pci-bridge,id=br1,chassis_nr=1 -device e1000e,id=nic1,bus=br1,addr=1
cap --name q35-1G-libvirt-virtio -- -machine q35 -accel kvm -m 1G -nodefaults -device qxl-vga,id=video0,bus=pcie.0,addr=0x1 -device pcie-root-port,id=pci.1,chassis=1,port=0x10,bus=pcie.0,addr=0x2,multifunction=on -device pcie-root-port,id=pci.2,chassis=2,port=0x11,bus=pcie.0,addr=0x2.0x1 -device pcie-root-port,id=pci.3,chassis=3,port=0x12,bus=pcie.0,addr=0x2.0x2 -device pcie-root-port,id=pci.4,chassis=4,port=0x13,bus=pcie.0,addr=0x2.0x3 -device pcie-root-port,id=pci.5,chassis=5,port=0x14,bus=pcie.0,addr=0x2.0x4 -device pcie-root-port,id=pci.6,chassis=6,port=0x15,bus=pcie.0,addr=0x2.0x5 -device qemu-xhci,p2=15,p3=15,id=usb,bus=pci.2,addr=0x0 -device virtio-serial-pci,id=virtio-serial0,bus=pci.3,addr=0x0 -blockdev driver=null-co,node-name=disk0 -device virtio-blk-pci,bus=pci.4,addr=0x0,drive=disk0,id=virtio-disk0 -device virtio-net-pci,id=net0,bus=pci.1,addr=0x0 -device virtio-balloon-pci,id=balloon0,bus=pci.5,addr=0x0 -device virtio-rng-pci,id=rng0,bus=pci.6,addr=0x0 -device ich9-intel-hda,id=sound0,bus=pcie.0,addr=0x1b
cap --name pc-1G-virtio-storage-usb -- -machine pc -accel kvm -m 1G -nodefaults -device virtio-vga,id=video0 -blockdev driver=null-co,node-name=disk0 -device virtio-blk-pci,drive=disk0,id=vblk0 -device virtio-scsi-pci,id=scsi0 -device virtio-balloon-pci,id=balloon0 -device virtio-rng-pci,id=rng0 -device virtio-serial-pci,id=vser0 -device lsi53c895a,id=lsi0 -device megasas,id=mega0 -device usb-ehci,id=ehci0 -device ich9-usb-uhci1,id=uhci1 -device e1000,id=nic0 -device rtl8139,id=nic1
cap --name q35-1G-bridges-misc -- -machine q35 -accel kvm -m 1G -nodefaults -device VGA,id=vga0 -device i82801b11-bridge,id=dmi0,bus=pcie.0,addr=0x1e -device pci-bridge,id=pci.1,chassis_nr=1,bus=dmi0,addr=0x0 -device e1000,id=nic0,bus=pci.1,addr=0x1 -device pcie-pci-bridge,id=ppb0 -device rtl8139,id=nic1,bus=ppb0,addr=0x1 -device ioh3420,id=ioh0,chassis=10,slot=10 -device x3130-upstream,id=up0,bus=ioh0 -device xio3130-downstream,id=dn0,bus=up0,chassis=11,slot=11 -device virtio-net-pci,id=vnet0,bus=dn0 -device nec-usb-xhci,id=xhci0 -device intel-hda,id=hda0 -device AC97,id=ac97 -device pvpanic-pci,id=pvp0 -device i6300esb,id=wdt0 -device vmxnet3,id=vmx0
cap --name q35-7.1-512M-virtio-rng-balloon -- -machine pc-q35-7.1 -accel kvm -m 512M -nodefaults -device virtio-rng-pci,id=rng0 -device pcie-root-port,id=rp1,chassis=1 -device virtio-rng-pci,id=rng1,bus=rp1 -device virtio-balloon-pci,id=bal0
cap --name pc-3.1-512M-virtio-compat -- -machine pc-i440fx-3.1 -accel kvm -m 512M -nodefaults -device VGA,id=vga0 -blockdev driver=null-co,node-name=d0 -device virtio-blk-pci,drive=d0,id=vblk0 -device virtio-balloon-pci,id=bal0 -device virtio-serial-pci,id=vser0
# -smp reaches virtio-blk/-scsi: one queue per vCPU (virtio_pci_optimal_num_queues),
# MSI-X vectors follow; hw_compat_5_1 keeps 1 queue; explicit num-queues/vectors win
cap --name q35-512M-smp4-virtio-storage -- -machine q35 -accel kvm -smp 4 -m 512M -nodefaults -blockdev driver=null-co,node-name=d0 -device virtio-blk-pci,drive=d0,id=vblk0 -device virtio-scsi-pci,id=scsi0
cap10 1.16.2 --name q35-512M-smp4-virtio-storage-qemu10-sb1162 -- -machine q35 -accel kvm -smp 4 -m 512M -nodefaults -blockdev driver=null-co,node-name=d0 -device virtio-blk-pci,drive=d0,id=vblk0 -device virtio-scsi-pci,id=scsi0
cap --name q35-5.1-512M-smp4-virtio-storage -- -machine pc-q35-5.1 -accel kvm -smp 4 -m 512M -nodefaults -blockdev driver=null-co,node-name=d0 -blockdev driver=null-co,node-name=d1 -device virtio-blk-pci,drive=d0,id=vblk0 -device virtio-scsi-pci,id=scsi0 -device virtio-blk-pci,drive=d1,id=vblk1,num-queues=3
cap --name q35-512M-smp2-max8-virtio-queues -- -machine q35 -accel kvm -smp 2,maxcpus=8,sockets=2,cores=2,threads=2 -m 512M -nodefaults -blockdev driver=null-co,node-name=d0 -blockdev driver=null-co,node-name=d1 -device virtio-blk-pci,drive=d0,id=vblk0 -device virtio-blk-pci,drive=d1,id=vblk1,num-queues=3 -device virtio-scsi-pci,id=scsi0,num_queues=5 -device virtio-scsi-pci,id=scsi1,vectors=2
cap --name pc-512M-smp-s2c3-virtio-blk -- -machine pc -accel kvm -smp sockets=2,cores=3 -m 512M -nodefaults -blockdev driver=null-co,node-name=d0 -device virtio-blk-pci,drive=d0,id=vblk0
# virtio-net's vectors follow the -netdev queue pairs (needs /dev/net/tun and CAP_NET_ADMIN)
cap --name q35-512M-virtio-net-tap-mq4 -- -machine q35 -accel kvm -m 512M -nodefaults -netdev tap,id=n0,queues=4,script=no,downscript=no -device virtio-net-pci,netdev=n0,mq=on,id=vnet0
cap --name q35-1G-pve-layout -- -machine q35 -accel kvm -m 1G -nodefaults -device VGA,id=vga,bus=pcie.0,addr=0x1 -device ich9-usb-ehci1,id=ehci,multifunction=on,bus=pcie.0,addr=0x1d.0x7 -device ich9-usb-uhci1,id=uhci-1,multifunction=on,bus=pcie.0,addr=0x1d.0x0,masterbus=ehci.0,firstport=0 -device ich9-usb-uhci2,id=uhci-2,multifunction=on,bus=pcie.0,addr=0x1d.0x1,masterbus=ehci.0,firstport=2 -device ich9-usb-uhci3,id=uhci-3,multifunction=on,bus=pcie.0,addr=0x1d.0x2,masterbus=ehci.0,firstport=4 -device ich9-intel-hda,id=audio0,bus=pcie.0,addr=0x1b.0x0 -device ioh3420,id=ich9-pcie-port-1,multifunction=on,bus=pcie.0,addr=0x1c.0x0,port=1,chassis=1 -device ioh3420,id=ich9-pcie-port-2,multifunction=on,bus=pcie.0,addr=0x1c.0x1,port=2,chassis=2 -device i82801b11-bridge,id=pcidmi,bus=pcie.0,addr=0x1e.0x0 -device pci-bridge,id=pci.1,bus=pcidmi,addr=0x1.0x0,chassis_nr=1 -device pci-bridge,id=pci.2,bus=pcidmi,addr=0x2.0x0,chassis_nr=2 -device qemu-xhci,p2=15,p3=15,id=xhci,bus=pci.1,addr=0x1b -device virtio-balloon-pci,id=balloon0,bus=pci.1,addr=0x3 -device virtio-scsi-pci,id=scsihw0,bus=pci.1,addr=0x5 -device virtio-net-pci,id=net0,bus=pci.1,addr=0x12 -device e1000,id=net1,bus=pci.2,addr=0x1

# --- issue 14: ICH9 ACPI PCI hot-plug switch, VGA behind a root port ----------
# acpi-pci-hotplug-with-bridge-support=off removes the acpi-pci-hotplug ports
# (hw/acpi/ich9.c ich9_pm_init); pc-q35-6.0 has it off (pc_compat_6_0);
# pc-q35-6.1 turns native hot-plug off on the root ports while it is on
# (pc_compat_6_1 x-keep-pci-slot-hpc=false, hw/i386/pc_q35.c)
cap --name q35-1G-rootport-pcihp-off -- -machine q35 -accel kvm -m 1G -nodefaults -global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off -device pcie-root-port,id=rp1,chassis=1,slot=1 -object memory-backend-ram,id=m0,size=64M -device ivshmem-plain,memdev=m0,id=ivs0,bus=rp1 -device pcie-root-port,id=rp2,chassis=2,slot=2
cap --name q35-6.1-1G-rootport -- -machine pc-q35-6.1 -accel kvm -m 1G -nodefaults -device pcie-root-port,id=rp1,chassis=1,slot=1 -object memory-backend-ram,id=m0,size=64M -device ivshmem-plain,memdev=m0,id=ivs0,bus=rp1 -device pcie-root-port,id=rp2,chassis=2,slot=2
cap --name q35-6.1-1G-rootport-pcihp-off -- -machine pc-q35-6.1 -accel kvm -m 1G -nodefaults -global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off -device pcie-root-port,id=rp1,chassis=1,slot=1 -object memory-backend-ram,id=m0,size=64M -device ivshmem-plain,memdev=m0,id=ivs0,bus=rp1 -device pcie-root-port,id=rp2,chassis=2,slot=2
cap --name q35-6.0-1G-rootport -- -machine pc-q35-6.0 -accel kvm -m 1G -nodefaults -device pcie-root-port,id=rp1,chassis=1,slot=1 -object memory-backend-ram,id=m0,size=64M -device ivshmem-plain,memdev=m0,id=ivs0,bus=rp1 -device pcie-root-port,id=rp2,chassis=2,slot=2
# a display behind a root port: SeaBIOS sets the root port's VGA enable for a
# VGA-class device (pciinit.c pci_enable_default_vga), not for bochs-display
cap --name q35-1G-rootport-vga -- -machine q35 -accel kvm -m 1G -nodefaults -device pcie-root-port,id=rp1,chassis=1,slot=1 -device VGA,id=vga0,bus=rp1
cap --name q35-1G-rootport-bochs -- -machine q35 -accel kvm -m 1G -nodefaults -device pcie-root-port,id=rp1,chassis=1,slot=1 -device bochs-display,id=disp0,bus=rp1
cap10 1.16.2 --name q35-1G-rootport-pcihp-off-qemu10-sb1162 -- -machine q35 -accel kvm -m 1G -nodefaults -global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off -device pcie-root-port,id=rp1,chassis=1,slot=1 -object memory-backend-ram,id=m0,size=64M -device ivshmem-plain,memdev=m0,id=ivs0,bus=rp1 -device pcie-root-port,id=rp2,chassis=2,slot=2
cap10 1.16.2 --name q35-6.1-1G-rootport-qemu10-sb1162 -- -machine pc-q35-6.1 -accel kvm -m 1G -nodefaults -device pcie-root-port,id=rp1,chassis=1,slot=1 -object memory-backend-ram,id=m0,size=64M -device ivshmem-plain,memdev=m0,id=ivs0,bus=rp1 -device pcie-root-port,id=rp2,chassis=2,slot=2
cap10 1.16.2 --name q35-1G-rootport-vga-qemu10-sb1162 -- -machine q35 -accel kvm -m 1G -nodefaults -device pcie-root-port,id=rp1,chassis=1,slot=1 -device VGA,id=vga0,bus=rp1
cap10 1.16.2 --name q35-1G-rootport-bochs-qemu10-sb1162 -- -machine q35 -accel kvm -m 1G -nodefaults -device pcie-root-port,id=rp1,chassis=1,slot=1 -device bochs-display,id=disp0,bus=rp1
# SeaBIOS (Debian 12's image) as system flash under KVM: the read-only flash memslots
cap --name q35-512M-pflash-seabios -- -machine q35 -accel kvm -m 512M -nodefaults -drive if=pflash,format=raw,readonly=on,file=/usr/share/seabios/bios-256k.bin -device edu,id=edu0
cap --name pc-512M-pflash-seabios -- -machine pc -accel kvm -m 512M -nodefaults -drive if=pflash,format=raw,readonly=on,file=/usr/share/seabios/bios-256k.bin -device VGA,id=vga0 -device edu,id=edu0
cap10 1.16.2 --name q35-512M-pflash-seabios-qemu10-sb1162 -- -machine q35 -accel kvm -m 512M -nodefaults -drive if=pflash,format=raw,readonly=on,file=/usr/share/seabios/bios-256k.bin -device VGA,id=vga0 -device edu,id=edu0
