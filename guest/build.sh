#!/bin/sh
# Build the vfiolab guest: a 32-bit Multiboot ELF, guest.elf, in OUTDIR.
#
#   sh guest/build.sh [OUTDIR]        (default: a build/ folder next to this file)
#
# Needs only gcc and binutils (Debian 12: apt-get install gcc binutils).
# Nothing from a C library or a 32-bit libgcc is linked, so gcc-multilib is
# not needed: Debian's x86-64 gcc compiles -m32 code, and its ld links
# elf_i386.  vfiolab/guestcap.py runs this script (with CC/LD if set).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/build}
CC=${CC:-gcc}
LD=${LD:-ld}
CFLAGS="-m32 -march=i686 -ffreestanding -fno-pic -fno-pie -nostdlib -O2
 -fno-stack-protector -fno-asynchronous-unwind-tables -mgeneral-regs-only
 -fno-builtin -Wall -Wextra -Werror"
mkdir -p "$out"
# shellcheck disable=SC2086
$CC $CFLAGS -c -o "$out/boot.o" "$here/boot.S"
# shellcheck disable=SC2086
$CC $CFLAGS -c -o "$out/guest.o" "$here/guest.c"
$LD -m elf_i386 -T "$here/link.ld" -nostdlib -z max-page-size=0x1000 --build-id=none \
    -o "$out/guest.elf" "$out/boot.o" "$out/guest.o"
