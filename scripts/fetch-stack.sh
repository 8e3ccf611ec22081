#!/usr/bin/env bash
# fetch-stack.sh - fetch other QEMU and firmware builds from Debian's archive
# and unpack them into one folder, without installing anything system-wide.
#
# Debian 12 ships QEMU 7.2, SeaBIOS 1.16.2 and OVMF 2022.11.  The project
# also compares against QEMU 10.0, SeaBIOS 1.16.3 / 1.17.0 and OVMF 2025.02.
# Debian's archive serves all of these from other suites (bookworm-backports,
# trixie, trixie-backports, forky, sid).  This script points a private apt
# configuration at those suites, downloads the .deb files with
# `apt-get download` and unpacks them with `dpkg -x`, so the system's QEMU and
# firmware stay exactly as Debian 12 has them.
#
# Usage (as root on Debian 12, or any user that can write the folder):
#     scripts/fetch-stack.sh
#     VFIOLAB_STACK_DIR=/somewhere scripts/fetch-stack.sh
#
# Environment:
#     VFIOLAB_STACK_DIR          target folder (default /tmp/vfiolab-stack)
#     VFIOLAB_STACK_REFRESH=1    forget the stamps and fetch every piece again
#     VFIOLAB_DEBIAN_URI         Debian archive to use; default: the one this
#                                machine's apt sources name for its own release
#     VFIOLAB_DEBIAN_SECURITY_URI  same for the security archive
#
# Result ($DIR = the target folder):
#     $DIR/qemu-10.0/            qemu-system-x86/-common/-data 10.0.x (bookworm-backports)
#     $DIR/qemu-10.0/lib/        shared libraries the 10.0 binary needs that this
#                                machine lacks (often empty)
#     $DIR/qemu-7.2-data/        qemu-system-data 7.2 (Debian 12's option ROMs)
#     $DIR/seabios-1.16.2/       seabios as Debian 12 ships it
#     $DIR/seabios-1.16.3/       seabios from bookworm-backports (else trixie)
#     $DIR/seabios-1.17.0/       seabios from trixie-backports/forky/sid, if served
#     $DIR/ovmf-2022.11/         ovmf from bookworm
#     $DIR/ovmf-2025.02/         ovmf from trixie
#     $DIR/ipxe-bookworm/        ipxe-qemu from bookworm (NIC option ROMs)
#     $DIR/ipxe-trixie/          ipxe-qemu from trixie (the one Debian's QEMU 10.0 ships with)
#     $DIR/L/<firmware>/         ready-made folders for QEMU's -L option, see below
#     $DIR/bin/qemu-system-x86_64-10.0   wrapper that runs the unpacked 10.0 binary
#     $DIR/bin/qemu-system-x86_64-7.2    link to the system's QEMU, when it is 7.2
#     $DIR/versions.txt          one line per package: piece package=version suite
#
# The -L folders.  QEMU looks for firmware files (bios-256k.bin, vgabios-*.bin,
# efi-*.rom, kvmvapic.bin, ...) first in each -L folder, in order, and then in
# the folders compiled into it.  Debian's binaries have absolute folders
# compiled in (/usr/share/qemu, /usr/share/seabios, /usr/lib/ipxe/qemu), so the
# unpacked 10.0 binary would silently fall back to Debian 12's files.  Each -L
# folder here is therefore complete for x86 guests:
#     L/seabios-1.16.2   Debian 12 as installed: seabios 1.16.2, ipxe-qemu and
#                        qemu-system-data 7.2 (the same files as /usr/share/...)
#     L/seabios-1.16.3   a Debian 13-like set: seabios 1.16.3, ipxe-qemu from
#                        trixie, qemu-system-data 10.0
#     L/seabios-1.17.0   as 1.16.3, with seabios 1.17.0 (only if served)
#     L/ovmf-2022.11     L/seabios-1.16.2 plus OVMF_CODE_4M.fd/OVMF_VARS_4M.fd 2022.11
#     L/ovmf-2025.02     L/seabios-1.16.3 plus OVMF_CODE_4M.fd/OVMF_VARS_4M.fd 2025.02
# The VGA BIOSes (vgabios-*.bin) are built and shipped by Debian's seabios
# package, so they follow the SeaBIOS version of each folder.  Every folder has
# a MANIFEST naming the package each file came from.  OVMF is not found through
# -L: pass the flash pair with -drive if=pflash (use a fresh copy of
# OVMF_VARS_4M.fd for each run; the files in L/ovmf-* are there to copy from).
#
# Idempotent: each piece writes a stamp under $DIR/.stamps once it is unpacked,
# and a later run only prints what it has.  The network is used only when a
# piece is missing.  Delete a piece's folder (or set VFIOLAB_STACK_REFRESH=1)
# to fetch it again.
#
# Exit status: 0 when every required piece is there (a missing optional piece,
# SeaBIOS 1.17.0, is reported and does not fail the run); 3 when the registry
# could not serve a required piece, with a line starting "UNAVAILABLE:" giving
# the reason, so that callers can skip their tests; other non-zero values for
# other errors.

set -euo pipefail

DIR=${VFIOLAB_STACK_DIR:-/tmp/vfiolab-stack}
ARCH=amd64
MULTIARCH=x86_64-linux-gnu
EXIT_UNAVAILABLE=3

say() { printf '%s\n' "$*"; }
warn() { printf 'fetch-stack: %s\n' "$*" >&2; }
die() { warn "$*"; exit 1; }

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
APTDIR=$DIR/apt
STAMPS=$DIR/.stamps
mkdir -p "$APTDIR" "$STAMPS" "$DIR/bin" "$DIR/L"

# One run at a time per folder: a second run waits for the first.
exec 9>"$DIR/.lock"
flock 9

if [ "${VFIOLAB_STACK_REFRESH:-0}" = 1 ]; then
    rm -f "$STAMPS"/*
fi

# Required pieces that could not be had, and optional ones; reported at the end.
MISSING=()
MISSING_OPTIONAL=()

# ---------------------------------------------------------------------------
# Which Debian archive to talk to.  We reuse the archive this machine's own apt
# sources already name (apt-get indextargets reads both the one-line and the
# deb822 formats), so the script names no host of its own.
# ---------------------------------------------------------------------------
# shellcheck disable=SC1091 # the release file of the machine we run on
. /etc/os-release
HOST_CODENAME=${VERSION_CODENAME:-bookworm}

# shellcheck disable=SC2016 # $(...) are apt-get indextargets fields, not shell
repo_uri_for_release() {
    # The Repo-URI of the first configured Debian index for release $1.
    apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(ORIGIN)' 'Created-By: Packages' 2>/dev/null \
        | awk -v rel="$1" '$2 == rel && ($3 == "Debian" || $3 == "") { print $1; exit }'
}

DEBIAN_URI=${VFIOLAB_DEBIAN_URI:-$(repo_uri_for_release "$HOST_CODENAME")}
SECURITY_URI=${VFIOLAB_DEBIAN_SECURITY_URI:-$(repo_uri_for_release "$HOST_CODENAME-security")}
if [ -z "$DEBIAN_URI" ]; then
    # indextargets only knows what Origin a release has after an update; fall
    # back to any index of the host's release.
    # shellcheck disable=SC2016 # apt fields again
    DEBIAN_URI=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 'Created-By: Packages' 2>/dev/null \
        | awk -v rel="$HOST_CODENAME" '$2 == rel { print $1; exit }')
fi

# ---------------------------------------------------------------------------
# The private apt configuration: its own sources list, its own lists and
# cache, no preferences or sources from /etc/apt.  The system's apt.conf.d is
# still read (proxies and the like), but hooks that run after `apt-get update`
# are cleared, since they would act on the system's state, not ours.
# ---------------------------------------------------------------------------
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
SIGNED=""
[ -r "$KEYRING" ] && SIGNED="signed-by=$KEYRING "

write_apt_config() {
    mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial" \
             "$APTDIR/preferences.d" "$APTDIR/debs"
    {
        echo "# written by fetch-stack.sh: the suites this script fetches from"
        for s in bookworm bookworm-updates bookworm-backports trixie trixie-updates \
                 trixie-backports forky sid; do
            echo "deb [${SIGNED}arch=$ARCH] ${DEBIAN_URI%/} $s main"
        done
        if [ -n "$SECURITY_URI" ]; then
            for s in bookworm-security trixie-security; do
                echo "deb [${SIGNED}arch=$ARCH] ${SECURITY_URI%/} $s main"
            done
        fi
    } > "$APTDIR/sources.list"
    # Only the host's own release (and its updates and backports) may be
    # chosen automatically; everything newer is reachable only by an explicit
    # version.  This matters for the library check below, which asks apt what
    # a Debian 12 machine would need.
    {
        echo "# written by fetch-stack.sh"
        for s in trixie trixie-updates trixie-security trixie-backports forky sid; do
            printf 'Package: *\nPin: release n=%s\nPin-Priority: 1\n\n' "$s"
        done
    } > "$APTDIR/preferences"
    cat > "$APTDIR/apt.conf" <<'EOF'
// written by fetch-stack.sh: no hooks on the private apt's update/download
#clear APT::Update::Pre-Invoke;
#clear APT::Update::Post-Invoke;
#clear APT::Update::Post-Invoke-Success;
#clear DPkg::Pre-Invoke;
#clear DPkg::Post-Invoke;
EOF
}

APT_OPTS=(
    -c "$APTDIR/apt.conf"
    -o "Dir::Etc::sourcelist=$APTDIR/sources.list"
    -o "Dir::Etc::sourceparts=-"
    -o "Dir::Etc::preferences=$APTDIR/preferences"
    -o "Dir::Etc::preferencesparts=$APTDIR/preferences.d"
    -o "Dir::State::Lists=$APTDIR/lists"
    -o "Dir::Cache=$APTDIR/cache"
    -o "Dir::Cache::archives=$APTDIR/cache/archives"
    -o "Dir::Cache::pkgcache=pkgcache.bin"
    -o "Dir::Cache::srcpkgcache=srcpkgcache.bin"
    -o "APT::Architectures::=$ARCH"
    -o "Acquire::Languages=none"
    -o "Acquire::GzipIndexes=true"
    -o "APT::Sandbox::User=root"
)
papt_get() { apt-get -q "${APT_OPTS[@]}" "$@"; }
papt_cache() { apt-cache "${APT_OPTS[@]}" "$@"; }

APT_READY=0
apt_ready() {
    # Refresh the private lists once per run, and only when some piece needs
    # the network.  A suite that fails (not reachable, not signed by a key we
    # have) is left out; the pieces that need it are then reported missing.
    [ "$APT_READY" = 1 ] && return 0
    [ -n "$DEBIAN_URI" ] || { warn "no Debian archive found in this machine's apt sources; set VFIOLAB_DEBIAN_URI"; return 1; }
    write_apt_config
    say "apt: updating the private package lists under $APTDIR (log: $APTDIR/update.log)"
    # apt-get update exits 0 even when a suite cannot be reached, so look at
    # what it said rather than at its status.
    papt_get update > "$APTDIR/update.log" 2>&1 || true
    if grep -qE '^(E|W):' "$APTDIR/update.log"; then
        warn "apt-get update reported problems (the suites named are left out):"
        grep -E '^(E|W):' "$APTDIR/update.log" | head -n 12 | sed 's/^/    /' >&2
    fi
    APT_READY=1
}

# ---------------------------------------------------------------------------
# Picking a version.  SUITES is a space-separated list of groups in order of
# preference; a group is one or more comma-separated suites whose versions are
# compared with each other (e.g. "bookworm,bookworm-security").  The first
# group that has a version matching the glob wins, with its highest version.
# Prints "VERSION SUITE", or nothing.
# ---------------------------------------------------------------------------
pick_version() {
    local pkg=$1 glob=$2 suites=$3 group best bsuite ver suite s
    local table
    table=$(papt_cache madison "$pkg" 2>/dev/null \
        | awk -F'|' '{ gsub(/ /, "", $2); split($3, a, " "); sub(/\/.*/, "", a[2]); print $2, a[2] }')
    for group in $suites; do
        best="" bsuite=""
        while read -r ver suite; do
            [ -n "$ver" ] || continue
            # shellcheck disable=SC2254 # the glob is meant to match
            case "$ver" in $glob) ;; *) continue ;; esac
            for s in ${group//,/ }; do
                [ "$suite" = "$s" ] || continue
                if [ -z "$best" ] || dpkg --compare-versions "$ver" gt "$best"; then
                    best=$ver bsuite=$suite
                fi
            done
        done <<< "$table"
        if [ -n "$best" ]; then
            echo "$best $bsuite"
            return 0
        fi
    done
}

# download PKG VERSION -> prints the path of the .deb (kept in $APTDIR/debs)
download() {
    local pkg=$1 ver=$2 f
    f=$(find_deb "$pkg" "$ver")
    if [ -z "$f" ]; then
        (cd "$APTDIR/debs" && papt_get download "$pkg=$ver" > "$APTDIR/download.log" 2>&1) || {
            sed 's/^/    /' "$APTDIR/download.log" >&2
            return 1
        }
        f=$(find_deb "$pkg" "$ver")
    fi
    [ -n "$f" ] && echo "$f"
}
find_deb() {
    # apt writes the epoch colon as %3a in file names.
    local v=${2//:/%3a}
    compgen -G "$APTDIR/debs/${1}_${v}_*.deb" | head -n1 || true
}

# ---------------------------------------------------------------------------
# A piece: one or more packages of the same version unpacked into one folder.
#   piece NAME OPTIONAL(0|1) GLOB SUITES PKG [PKG...]
# The first package decides the version; the others must have the same one.
# ---------------------------------------------------------------------------
piece() {
    local name=$1 optional=$2 glob=$3 suites=$4
    shift 4
    local target=$DIR/$name stamp=$STAMPS/$name pv ver suite pkg deb tmp
    if [ -f "$stamp" ] && [ -d "$target" ]; then
        say "have  $name: $(awk '{printf "%s%s", sep, $1; sep=" "} END {print ""}' "$stamp") ($(awk '{print $2; exit}' "$stamp")) in $target"
        return 0
    fi
    if ! apt_ready; then
        unavailable "$name" "$optional" "the private package lists could not be set up"
        return 0
    fi
    pv=$(pick_version "$1" "$glob" "$suites")
    if [ -z "$pv" ]; then
        unavailable "$name" "$optional" "no suite among '${suites//,/ }' serves $1 $glob"
        return 0
    fi
    read -r ver suite <<< "$pv"
    tmp=$DIR/.tmp-$name
    rm -rf "$tmp" "$target"
    mkdir -p "$tmp"
    : > "$stamp.new"
    for pkg in "$@"; do
        if ! deb=$(download "$pkg" "$ver"); then
            rm -rf "$tmp" "$stamp.new"
            unavailable "$name" "$optional" "apt-get download $pkg=$ver failed"
            return 0
        fi
        dpkg -x "$deb" "$tmp"
        echo "$pkg=$ver $suite" >> "$stamp.new"
    done
    mv "$tmp" "$target"
    mv "$stamp.new" "$stamp"
    say "fetch $name: $(awk '{printf "%s%s", sep, $1; sep=" "} END {print ""}' "$stamp") ($suite) -> $target"
}

unavailable() {
    local name=$1 optional=$2 why=$3
    if [ "$optional" = 1 ]; then
        say "skip  $name: not available ($why); optional, carrying on"
        MISSING_OPTIONAL+=("$name: $why")
    else
        say "UNAVAILABLE: $name: $why"
        MISSING+=("$name: $why")
    fi
}

have() { [ -f "$STAMPS/$1" ] && [ -d "$DIR/$1" ]; }
version_of() { awk -v p="$2" -F'[= ]' '$1 == p { print $2; exit }' "$STAMPS/$1"; }

# ---------------------------------------------------------------------------
# The pieces.
# ---------------------------------------------------------------------------
# QEMU 10.0 built for Debian 12 (bookworm-backports; trixie's build needs a
# newer glibc).  qemu-system-x86 holds the binaries, qemu-system-common the
# loadable modules, qemu-system-data the x86 option ROMs (kvmvapic.bin,
# linuxboot_dma.bin, ...).  The BIOS, VGA BIOS and NIC ROMs come from the
# seabios and ipxe-qemu pieces below.
piece qemu-10.0      0 '1:10.0.*'  'bookworm-backports' \
      qemu-system-x86 qemu-system-common qemu-system-data
# Debian 12's own option ROMs, so L/seabios-1.16.2 does not depend on what
# this machine has installed.
piece qemu-7.2-data  0 '1:7.2+*'   'bookworm,bookworm-updates,bookworm-security' qemu-system-data
piece seabios-1.16.2 0 '1.16.2-*'  'bookworm,bookworm-updates,bookworm-security' seabios
piece seabios-1.16.3 0 '1.16.3-*'  'bookworm-backports trixie,trixie-updates,trixie-security' seabios
# 1.17.0 is newer than any stable release's SeaBIOS: look in the backports of
# Debian 13 first, then in testing and unstable.  Optional.
piece seabios-1.17.0 1 '1.17.0-*'  'trixie-backports forky sid' seabios
piece ovmf-2022.11   0 '2022.11-*' 'bookworm,bookworm-updates,bookworm-security' ovmf
piece ovmf-2025.02   0 '2025.02-*' 'trixie,trixie-updates,trixie-security' ovmf
# NIC option ROMs.  Debian 12 keeps them in /usr/lib/ipxe/qemu, Debian 13 in
# /usr/share/qemu; bookworm-backports has no ipxe-qemu of its own.
piece ipxe-bookworm  0 '*'         'bookworm,bookworm-updates,bookworm-security' ipxe-qemu
piece ipxe-trixie    0 '*'         'trixie,trixie-updates,trixie-security' ipxe-qemu

# ---------------------------------------------------------------------------
# Shared libraries for the unpacked QEMU 10.0.  bookworm-backports builds
# against Debian 12, so on a machine with Debian 12's QEMU 7.2 installed
# nothing is missing.  On a machine without it, we ask apt which library
# packages an install of this QEMU 10.0 would add or upgrade (a simulation
# against this machine's dpkg status: nothing is installed), fetch exactly
# those and copy their .so files into qemu-10.0/lib.
# ---------------------------------------------------------------------------
Q=$DIR/qemu-10.0
QBIN=$Q/usr/bin/qemu-system-x86_64

missing_libs() {
    LD_LIBRARY_PATH="$Q/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ldd "$QBIN" 2>/dev/null \
        | awk '/not found/ { print $1 }'
}

fetch_libs() {
    local qver sbver="" pkgs pkg ver deb tmp
    mkdir -p "$Q/lib"
    if [ -f "$STAMPS/qemu-10.0-libs" ] && [ -z "$(missing_libs)" ]; then
        if [ -s "$STAMPS/qemu-10.0-libs" ]; then
            say "have  qemu-10.0-libs: $(awk '{printf "%s%s", sep, $1; sep=" "} END {print ""}' "$STAMPS/qemu-10.0-libs") in $Q/lib"
        else
            say "have  qemu-10.0-libs: none needed (all resolve from this machine)"
        fi
        return 0
    fi
    if [ -z "$(missing_libs)" ]; then
        : > "$STAMPS/qemu-10.0-libs"
        say "check qemu-10.0-libs: none needed (all resolve from this machine)"
        return 0
    fi
    say "check qemu-10.0-libs: missing on this machine: $(missing_libs | tr '\n' ' ')"
    apt_ready || { unavailable qemu-10.0-libs 0 "the private package lists could not be set up"; return 0; }
    qver=$(version_of qemu-10.0 qemu-system-x86)
    have seabios-1.16.3 && sbver=$(version_of seabios-1.16.3 seabios)
    # Simulate the install; the Inst lines name each package apt would add
    # or upgrade, with the version it would take.
    local sim=(qemu-system-x86="$qver" qemu-system-common="$qver" qemu-system-data="$qver")
    [ -n "$sbver" ] && sim+=(seabios="$sbver")
    if ! papt_get -s --no-install-recommends install "${sim[@]}" > "$APTDIR/libs-sim.log" 2>&1; then
        sed 's/^/    /' "$APTDIR/libs-sim.log" | tail -n 20 >&2
        unavailable qemu-10.0-libs 0 "apt cannot work out the libraries QEMU $qver needs here (see $APTDIR/libs-sim.log)"
        return 0
    fi
    pkgs=$(sed -nE 's/^Inst ([^ ]+) (\[[^]]*\] )?\(([^ ]+) .*/\1 \3/p' "$APTDIR/libs-sim.log" \
        | awk '$1 ~ /^lib/ && $1 !~ /-(data|common|bin|dev)$/ && $1 != "libc6" && $1 != "libc-bin"')
    tmp=$DIR/.tmp-libs
    rm -rf "$tmp"
    : > "$STAMPS/qemu-10.0-libs.new"
    while read -r pkg ver; do
        [ -n "$pkg" ] || continue
        if ! deb=$(download "$pkg" "$ver"); then
            unavailable qemu-10.0-libs 0 "apt-get download $pkg=$ver failed"
            rm -rf "$tmp"
            return 0
        fi
        mkdir -p "$tmp/$pkg"
        dpkg -x "$deb" "$tmp/$pkg"
        # Libraries live in usr/lib/<triplet> (and lib/<triplet> on older packages).
        find "$tmp/$pkg/usr/lib/$MULTIARCH" "$tmp/$pkg/lib/$MULTIARCH" -maxdepth 1 \
             -name '*.so*' \( -type f -o -type l \) -exec cp -a -t "$Q/lib" {} + 2>/dev/null || true
        echo "$pkg=$ver $(sed -nE "s/^Inst $pkg .*\(([^ ]+) ([^ ]+).*/\2/p" "$APTDIR/libs-sim.log" | head -n1)" \
            >> "$STAMPS/qemu-10.0-libs.new"
    done <<< "$pkgs"
    rm -rf "$tmp"
    mv "$STAMPS/qemu-10.0-libs.new" "$STAMPS/qemu-10.0-libs"
    if [ -n "$(missing_libs)" ]; then
        unavailable qemu-10.0-libs 0 "still missing after fetching libraries: $(missing_libs | tr '\n' ' ')"
        rm -f "$STAMPS/qemu-10.0-libs"
        return 0
    fi
    say "fetch qemu-10.0-libs: $(awk '{printf "%s%s", sep, $1; sep=" "} END {print ""}' "$STAMPS/qemu-10.0-libs") -> $Q/lib"
}

if have qemu-10.0; then
    fetch_libs
fi

# ---------------------------------------------------------------------------
# The -L folders.  Files are copied (not linked) so that no run can change
# the unpacked packages.  Sources are copied from the lowest to the highest
# search priority that Debian's QEMU uses (ipxe, then seabios, then qemu's own
# data folder), so a name present twice ends up as QEMU would find it.
# Each folder is rebuilt only when the list of packages behind it changes.
# ---------------------------------------------------------------------------
# x86 option ROMs and boot stubs that QEMU itself ships (qemu-system-data).
QEMU_X86_BLOBS="kvmvapic.bin linuxboot.bin linuxboot_dma.bin multiboot.bin multiboot_dma.bin
                pvh.bin qboot.rom bios-microvm.bin sgabios.bin"

# assemble NAME SEABIOS-PIECE IPXE-PIECE QEMUDATA-PIECE QEMUDATA-SUBDIR [OVMF-PIECE]
assemble() {
    local name=$1 sb=$2 ipxe=$3 qd=$4 qdsub=$5 ovmf=${6:-} p recipe out tmp f src
    for p in "$sb" "$ipxe" "$qd" $ovmf; do
        have "$p" || { say "skip  L/$name: needs $p"; return 0; }
    done
    recipe=$(for p in "$sb" "$ipxe" "$qd" $ovmf; do awk '{print $1}' "$STAMPS/$p"; done \
        | grep -E '^(seabios|ipxe-qemu|qemu-system-data|ovmf)=')
    out=$DIR/L/$name
    if [ -f "$out/MANIFEST" ] && [ "$(sed -n '/^# packages:/,/^# files:/p' "$out/MANIFEST" | grep -v '^#')" = "$recipe" ]; then
        say "have  L/$name"
        return 0
    fi
    tmp=$DIR/L/.tmp-$name
    rm -rf "$tmp"
    mkdir -p "$tmp"
    {
        echo "# -L folder assembled by fetch-stack.sh"
        echo "# packages:"
        echo "$recipe"
        echo "# files: name <- package"
    } > "$tmp/MANIFEST.body"
    copy_in() {  # copy_in SRC PKG: one file (or relative symlink) into the folder
        cp -P --remove-destination "$1" "$tmp/"
        sed -i "/^$(basename "$1") <- /d" "$tmp/MANIFEST.body"
        echo "$(basename "$1") <- $2" >> "$tmp/MANIFEST.body"
    }
    # 1. NIC ROMs (Debian 12: usr/lib/ipxe/qemu; Debian 13: usr/share/qemu)
    for f in "$DIR/$ipxe"/usr/lib/ipxe/qemu/*.rom "$DIR/$ipxe"/usr/share/qemu/*.rom; do
        [ -e "$f" ] && copy_in "$f" "ipxe-qemu=$(version_of "$ipxe" ipxe-qemu)"
    done
    # 2. SeaBIOS and the VGA BIOSes built with it
    for f in "$DIR/$sb"/usr/share/seabios/*.bin; do
        [ -e "$f" ] || [ -L "$f" ] || continue
        copy_in "$f" "seabios=$(version_of "$sb" seabios)"
    done
    # 3. QEMU's own x86 blobs
    for f in $QEMU_X86_BLOBS; do
        src=$DIR/$qd/$qdsub/$f
        [ -e "$src" ] || [ -L "$src" ] || continue
        copy_in "$src" "qemu-system-data=$(version_of "$qd" qemu-system-data)"
    done
    # 4. OVMF flash images, to copy from (QEMU does not look them up by -L)
    if [ -n "$ovmf" ]; then
        for f in OVMF_CODE_4M.fd OVMF_VARS_4M.fd; do
            cp "$DIR/$ovmf/usr/share/OVMF/$f" "$tmp/"
            echo "$f <- ovmf=$(version_of "$ovmf" ovmf)" >> "$tmp/MANIFEST.body"
        done
    fi
    # A dangling symlink would make QEMU fall back to the system's file.
    for f in "$tmp"/*; do
        [ -L "$f" ] && [ ! -e "$f" ] && die "L/$name: dangling link $(basename "$f")"
    done
    mv "$tmp/MANIFEST.body" "$tmp/MANIFEST"
    rm -rf "$out"
    mv "$tmp" "$out"
    say "build L/$name: $(echo "$recipe" | tr '\n' ' ')"
}

assemble seabios-1.16.2 seabios-1.16.2 ipxe-bookworm qemu-7.2-data usr/share/qemu
assemble seabios-1.16.3 seabios-1.16.3 ipxe-trixie   qemu-10.0     usr/share/qemu
if have seabios-1.17.0; then
    assemble seabios-1.17.0 seabios-1.17.0 ipxe-trixie qemu-10.0   usr/share/qemu
fi
assemble ovmf-2022.11   seabios-1.16.2 ipxe-bookworm qemu-7.2-data usr/share/qemu ovmf-2022.11
assemble ovmf-2025.02   seabios-1.16.3 ipxe-trixie   qemu-10.0     usr/share/qemu ovmf-2025.02

# ---------------------------------------------------------------------------
# Wrappers in $DIR/bin.
# ---------------------------------------------------------------------------
if have qemu-10.0 && [ -f "$STAMPS/qemu-10.0-libs" ]; then
    W=$DIR/bin/qemu-system-x86_64-10.0
    cat > "$W.new" <<EOF
#!/bin/sh
# Written by fetch-stack.sh: runs the unpacked QEMU $(version_of qemu-10.0 qemu-system-x86).
# - LD_LIBRARY_PATH adds the libraries this machine lacked (if any).
# - QEMU_MODULE_DIR points at the 10.0 modules, not the system's 7.2 ones.
# - Without any -L option, the Debian 13-like firmware folder is used, so the
#   binary never falls back to Debian 12's /usr/share/seabios by accident.
#   Pass -L yourself to choose another (see $DIR/L).
Q='$Q'
LD_LIBRARY_PATH="\$Q/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
QEMU_MODULE_DIR="\$Q/usr/lib/$MULTIARCH/qemu"
export LD_LIBRARY_PATH QEMU_MODULE_DIR
for a in "\$@"; do
    case "\$a" in -L|--L|-L=*|--L=*) exec "\$Q/usr/bin/qemu-system-x86_64" "\$@" ;; esac
done
exec "\$Q/usr/bin/qemu-system-x86_64" -L '$DIR/L/seabios-1.16.3' "\$@"
EOF
    chmod +x "$W.new"
    mv "$W.new" "$W"
fi
# The system's QEMU, under a versioned name, when it is Debian 12's 7.2.
if [ -x /usr/bin/qemu-system-x86_64 ] && /usr/bin/qemu-system-x86_64 -version 2>/dev/null | grep -q 'version 7\.2'; then
    ln -sfn /usr/bin/qemu-system-x86_64 "$DIR/bin/qemu-system-x86_64-7.2"
else
    rm -f "$DIR/bin/qemu-system-x86_64-7.2"
    say "note: /usr/bin/qemu-system-x86_64 is not QEMU 7.2 (install Debian 12's qemu-system-x86 for the 7.2 runs)"
fi

# ---------------------------------------------------------------------------
# versions.txt: every package unpacked here, one per line.
# ---------------------------------------------------------------------------
{
    echo "# piece package=version suite   (written by fetch-stack.sh)"
    for s in "$STAMPS"/*; do
        [ -f "$s" ] || continue
        case "$s" in *.new) continue ;; esac
        awk -v piece="$(basename "$s")" '{ print piece, $1, $2 }' "$s"
    done
} > "$DIR/versions.txt.new"
mv "$DIR/versions.txt.new" "$DIR/versions.txt"

# apt's binary caches (about 200 MB for these suites) are rebuilt on demand.
rm -f "$APTDIR"/cache/*.bin

for m in "${MISSING_OPTIONAL[@]}"; do
    say "note: optional piece not available: $m"
done
if [ "${#MISSING[@]}" -gt 0 ]; then
    say "UNAVAILABLE: the package registry could not serve: $(printf '%s; ' "${MISSING[@]}")"
    say "UNAVAILABLE: tests that need these should be skipped (exit status $EXIT_UNAVAILABLE)"
    exit "$EXIT_UNAVAILABLE"
fi
say "stack ready in $DIR (versions in $DIR/versions.txt)"
