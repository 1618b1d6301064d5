#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# xen-ioreqd on real Xen 4.17: boots Debian's Xen hypervisor in QEMU (TCG), with a
# busybox dom0 that carries the project's binaries, runs the end-to-end scenarios
# and the fidelity probe, and prints PASS/FAIL per scenario.  See README.md.
#
# usage: run.sh [BUILDDIR]          (BUILDDIR: a configured and built tree; default:
#                                    $XQ_BUILD, else the current directory if it has one)
# environment:
#   XQ_CACHE      where downloaded .debs are kept   (/var/cache/xen-ioreqd/xen-qemu)
#   XQ_WORK       scratch dir for images and logs   (/tmp/xen-ioreqd-xen-qemu)
#   XQ_SCENARIOS  which scenarios to run            ("1 2 3 4 5 6 7 8"; "none": only XQ_EXTRA's)
#   XQ_TIMEOUT    hard bound on the QEMU run, s     (900)
#   XQ_STALL      s without a progress line from dom0 before Xen's state is dumped and
#                 QEMU stopped                      (180)
#   XQ_NUDGE      s between the NULs sent to Xen's serial input, which wake a Xen that lost
#                 its timer interrupt under TCG (see watchdog below); 0: none   (1)
#   XQ_SMP        QEMU CPUs                          (1)
#   XQ_KVER       dom0/guest kernel version          (the one linux-image-amd64 depends on)
#   XQ_NO_INSTALL=1  never call apt-get (fail if something is missing)
#   XQ_XEN_ARGS   appended to Xen's command line (e.g. guest_loglvl=all: hvmloader and
#                 SeaBIOS messages of HVM guests on the serial log)
#   XQ_HVM=1      build the HVM guest's parts (device model, firmware, virtio modules, SSDT)
#                 even when no selected scenario needs them
#   XQ_EXTRA      development hook: a directory copied to /xq/extra in dom0 (with the
#                 libraries of the ELF files in it); its *.asl become extra ACPI tables of
#                 the HVM guest, and dom0 runs its run.sh after the scenarios (see README.md)
set -u
SRC=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$SRC/../.." && pwd)
BUILD=${1:-${XQ_BUILD:-}}
if [ -z "$BUILD" ] && [ -f ./config.status ]; then BUILD=$(pwd); fi
[ -n "$BUILD" ] && BUILD=$(cd "$BUILD" && pwd)
CACHE=${XQ_CACHE:-/var/cache/xen-ioreqd/xen-qemu}
WORK=${XQ_WORK:-/tmp/xen-ioreqd-xen-qemu}
SCEN=${XQ_SCENARIOS:-1 2 3 4 5 6 7 8}
[ "$SCEN" = none ] && SCEN=""
TMO=${XQ_TIMEOUT:-900}
STALL=${XQ_STALL:-180}
STALL_DUMP=30
NUDGE=${XQ_NUDGE:-1}
SMP=${XQ_SMP:-1}
CC=${CC:-cc}
MULTIARCH=x86_64-linux-gnu
LOG=$WORK/serial.log
# the scenarios that boot an HVM guest: only they need the device model, its firmware and the
# virtio parts of the guest's initrd (about 40 MB more in dom0)
HVM_SCEN="7"
EXTRA=${XQ_EXTRA:-}
[ -z "$EXTRA" ] || EXTRA=$(cd "$EXTRA" && pwd) || { echo "xen-qemu: error: no directory $XQ_EXTRA" >&2; exit 2; }
HVM=0
[ "${XQ_HVM:-0}" = 1 ] && HVM=1
for s in $SCEN; do case " $HVM_SCEN " in *" $s "*) HVM=1 ;; esac; done
[ -n "$EXTRA" ] && ls "$EXTRA"/*.asl >/dev/null 2>&1 && HVM=1

say() { echo "xen-qemu: $*"; }
die() { echo "xen-qemu: error: $*" >&2; exit 2; }

static_busybox() {
    local b
    for b in /bin/busybox /usr/bin/busybox "$(command -v busybox)"; do
        [ -x "$b" ] && LC_ALL=C ldd "$b" 2>&1 | grep -q 'not a dynamic' && { echo "$b"; return 0; }
    done
    return 1
}

# ---- 1. host tools (Debian packages) -------------------------------------------------
host_tools() {
    local missing=""
    command -v qemu-system-x86_64 >/dev/null || missing="$missing qemu-system-x86"
    # dom0 and the guest need a static busybox (busybox-static; Debian's plain busybox is dynamic)
    static_busybox >/dev/null || missing="$missing busybox-static"
    command -v cpio >/dev/null || missing="$missing cpio"
    command -v xz >/dev/null || missing="$missing xz-utils"
    command -v perl >/dev/null || missing="$missing perl"
    command -v flock >/dev/null || missing="$missing util-linux"
    [ -e /usr/lib/$MULTIARCH/libc.a ] || missing="$missing libc6-dev"
    [ -e /usr/include/xendevicemodel.h ] || missing="$missing libxen-dev"
    command -v "$CC" >/dev/null || missing="$missing gcc"
    if [ "$HVM" = 1 ]; then
        command -v iasl >/dev/null || missing="$missing acpica-tools"
        # QEMU's option ROM for direct kernel boot, and the libraries the dom0 device model
        # (qemu-system-xen) needs beyond those of the host's qemu-system-x86
        [ -e /usr/share/qemu/linuxboot.bin ] || missing="$missing qemu-system-data"
        ldconfig -p | grep -q 'libspice-server\.so\.1 ' || missing="$missing libspice-server1"
        ldconfig -p | grep -q 'libusb-1\.0\.so\.0 ' || missing="$missing libusb-1.0-0"
    fi
    [ -z "$missing" ] && return 0
    [ "${XQ_NO_INSTALL:-0}" = 1 ] && die "missing Debian packages:$missing"
    say "installing:$missing"
    apt-get update -qq || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing \
        > "$WORK/apt.log" 2>&1 || { tail -5 "$WORK/apt.log"; die "apt-get install failed"; }
}

# ---- 2. the .debs, downloaded once into the cache ------------------------------------
fetch_debs() {
    mkdir -p "$CACHE" || die "cannot create cache $CACHE (set XQ_CACHE)"
    cd "$CACHE" || exit 2
    local kver=${XQ_KVER:-}
    if [ -z "$kver" ]; then
        local k f; k=
        for f in linux-image-*-amd64_*.deb; do
            [ -e "$f" ] || continue
            case $f in *-dbg_*) ;; *) k=$f ;; esac
        done
        if [ -n "$k" ]; then kver=${k#linux-image-}; kver=${kver%%_*}
        else
            kver=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/.*Depends: linux-image-\(.*-amd64\)$/\1/p' | head -1)
            if [ -z "$kver" ]; then apt-get update -qq; kver=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: linux-image-\(.*-amd64\)$/\1/p' | head -1); fi
        fi
    fi
    case $kver in
    [0-9]*-amd64) ;;
    *) die "cannot determine the kernel version ('$kver'; set XQ_KVER, e.g. 6.1.0-56-amd64)" ;;
    esac
    case $kver in *[!0-9a-z.-]*) die "bad kernel version '$kver'" ;; esac
    KVER=$kver
    local p
    for p in xen-hypervisor-4.17-amd64 linux-image-$KVER xen-utils-4.17 xen-utils-common \
             xenstore-utils libxenmisc4.17 libxenstore4 libxencall1 libxenevtchn1 \
             libxenforeignmemory1 libxengnttab1 libxentoollog1 libxenhypfs1 libxendevicemodel1 \
             libxentoolcore1 libyajl2 $([ "$HVM" = 1 ] && echo qemu-system-xen seabios); do
        ls "${p}"_*.deb >/dev/null 2>&1 && continue
        say "downloading $p"
        apt-get download -q "$p" >/dev/null 2>&1 || { apt-get update -qq; apt-get download -q "$p" >/dev/null; } \
            || die "apt-get download $p failed"
    done
    cd - >/dev/null || exit 2
}

# ---- 3. extract (once per set of .debs) -------------------------------------------------
extract() {
    local stamp; stamp=$(cd "$CACHE" && for f in *.deb; do case $f in linux-image*) ;; *) echo "$f" ;; esac; done; echo "$KVER")
    if [ -f "$WORK/ext/.stamp" ] && [ "$(cat "$WORK/ext/.stamp")" = "$stamp" ]; then return 0; fi
    say "extracting .debs"
    rm -rf "$WORK/ext" "$WORK/kern"; mkdir -p "$WORK/ext" "$WORK/kern"
    local f
    for f in "$CACHE"/*.deb; do
        case ${f##*/} in
        linux-image-${KVER}_*) dpkg-deb -x "$f" "$WORK/kern" ;;
        linux-image-*) ;;
        *) dpkg-deb -x "$f" "$WORK/ext" ;;
        esac
    done
    zcat "$WORK"/ext/boot/xen-4.17-amd64.gz > "$WORK/xen.elf" || die "no Xen image in the .debs"
    cp "$WORK/kern/boot/vmlinuz-$KVER" "$WORK/vmlinuz" || die "no kernel $KVER"
    # the PVH guest boots the uncompressed kernel: xl's domain builder would otherwise spend
    # seconds of TCG time decompressing it
    local off; off=$(LC_ALL=C grep -aboP '\xfd7zXZ\x00' "$WORK/vmlinuz" | head -1 | cut -d: -f1)
    tail -c +$((off + 1)) "$WORK/vmlinuz" | xz -dc 2>/dev/null > "$WORK/vmlinux"
    [ -s "$WORK/vmlinux" ] || die "cannot decompress the guest kernel"
    echo "$stamp" > "$WORK/ext/.stamp"
}

# ---- 4. test programs ---------------------------------------------------------------------
helpers() {
    mkdir -p "$WORK/bin"
    local cf="-O2 -g0 -Wall -Wextra -Wno-unused-parameter"
    $CC $cf -static -o "$WORK/bin/xq-guest" "$SRC/xq-guest.c" || die "cannot build xq-guest"
    $CC $cf -static -o "$WORK/bin/xq-vdev" "$SRC/xq-vdev.c" || die "cannot build xq-vdev"
    $CC $cf -o "$WORK/bin/xq-probe" "$SRC/xq-probe.c" -lxendevicemodel -lxenforeignmemory \
        -lxenevtchn -lxenstore -lxentoolcore || die "cannot build xq-probe"
    $CC $cf -o "$WORK/bin/xq-vmm" "$SRC/xq-vmm.c" -lxendevicemodel -lxenforeignmemory \
        -lxenevtchn || die "cannot build xq-vmm"
    $CC $cf -o "$WORK/bin/xq-notify" "$SRC/xq-notify.c" || die "cannot build xq-notify"
    $CC $cf -I"$TOP/include" -o "$WORK/bin/xq-client" "$SRC/xq-client.c" || die "cannot build xq-client"
    $CC $cf -I"$TOP/include" -o "$WORK/bin/xq-query" "$SRC/xq-query.c" || die "cannot build xq-query"
    $CC $cf -o "$WORK/bin/xq-servers" "$SRC/xq-servers.c" -lxendevicemodel || die "cannot build xq-servers"
}

# copy an ELF and every library ldd finds for it into a root
copy_elf() { # ROOT SRC DEST
    local root=$1 src=$2 dst=$3 lib tgt
    mkdir -p "$root${dst%/*}"; cp -L "$src" "$root$dst" || die "cannot copy $src"
    ldd "$src" 2>/dev/null | awk '/=>/ { print $3 } /^\t\// { print $1 }' | while read -r lib; do
        [ -e "$lib" ] || continue
        tgt=$lib
        case $lib in
        "$WORK"/ext/*) tgt=${lib#"$WORK"/ext} ;;
        /lib*|/usr/lib*) ;;
        *) tgt=/usr/lib/$MULTIARCH/${lib##*/} ;;     # from the build tree
        esac
        [ -e "$root$tgt" ] && continue
        mkdir -p "$root${tgt%/*}"; cp -L "$lib" "$root$tgt"
    done
    if ldd "$src" 2>/dev/null | grep -q 'not found'; then
        ldd "$src" | grep 'not found' >&2; die "$src: libraries not found"
    fi
}

# the real ELF of a (possibly libtool-wrapped) program of the build tree
build_elf() { # RELPATH
    local d=${1%/*} b=${1##*/}
    for c in "$BUILD/$d/.libs/$b" "$BUILD/$d/.libs/lt-$b" "$BUILD/$1"; do
        [ -f "$c" ] && [ "$(head -c 4 "$c" | od -An -c | tr -d ' ')" = '177ELF' ] && { echo "$c"; return 0; }
    done
    return 1
}

# ---- 5. images -----------------------------------------------------------------------------
# the HVM guest's initrd: first an uncompressed cpio with the ACPI tables under
# kernel/firmware/acpi/ (the kernel's table upgrade reads them from there), then the guest's
# root with the kernel's own virtio_mmio and virtio_blk modules and what they depend on
hvm_guest_initrd() { # GUESTROOT
    local G=$1 mods=$WORK/kern/lib/modules/$KVER A=$WORK/acpi todo="virtio_mmio virtio_blk" done=""
    local m f d deps pending
    mkdir -p "$G/lib/modules"
    : > "$G/lib/modules/xq-load"
    while [ -n "$todo" ]; do          # depth first: a module's dependencies load before it
        set -- $todo; m=$1; shift; todo="$*"
        case " $done " in *" $m "*) continue ;; esac
        f=$(find "$mods/kernel" \( -name "$m.ko" -o -name "$(echo "$m" | tr _ -).ko" \) | head -n 1)
        [ -n "$f" ] || die "module $m not in linux-image-$KVER"
        deps=$(tr '\0' '\n' < "$f" | sed -n 's/^depends=//p' | head -n 1 | tr , ' ')
        pending=""
        for d in $deps; do case " $done " in *" $d "*) ;; *) pending="$pending $d" ;; esac; done
        if [ -n "$pending" ]; then todo="$pending $m $todo"; continue; fi
        cp "$f" "$G/lib/modules/$m.ko"; echo "$m" >> "$G/lib/modules/xq-load"; done="$done $m"
    done
    rm -rf "$A"; mkdir -p "$A/kernel/firmware/acpi"
    iasl -p "$A/kernel/firmware/acpi/xq-virtio" "$SRC/virtio-mmio.asl" > "$WORK/iasl.log" 2>&1 \
        || { cat "$WORK/iasl.log"; die "iasl failed on virtio-mmio.asl"; }
    if [ -n "$EXTRA" ]; then
        for f in "$EXTRA"/*.asl; do
            [ -e "$f" ] || continue
            m=${f##*/}; m=${m%.asl}
            iasl -p "$A/kernel/firmware/acpi/xq-extra-$m" "$f" >> "$WORK/iasl.log" 2>&1 \
                || { cat "$WORK/iasl.log"; die "iasl failed on $f"; }
        done
    fi
    (cd "$A" && find kernel | cpio -o -H newc --quiet) > "$WORK/guest-hvm.cpio"
    (cd "$G" && find . | cpio -o -H newc --quiet) >> "$WORK/guest-hvm.cpio"
}

# what dom0 needs to create an HVM guest with direct kernel boot: QEMU as the device model
# (qemu-system-xen), hvmloader, SeaBIOS, the option ROM that boots QEMU's -kernel
hvm_dom0() { # DOM0ROOT
    local D=$1
    copy_elf "$D" "$WORK/ext/usr/libexec/xen-qemu-system-i386" /usr/libexec/xen-qemu-system-i386
    mkdir -p "$D/usr/share/seabios" "$D/usr/share/qemu" "$D/usr/lib/xen-4.17/boot"
    cp "$WORK/ext/usr/share/seabios/bios-256k.bin" "$D/usr/share/seabios/" || die "no SeaBIOS"
    cp "$WORK/ext/usr/lib/xen-4.17/boot/hvmloader" "$D/usr/lib/xen-4.17/boot/" || die "no hvmloader"
    mkdir -p "$D/usr/share/qemu/keymaps"
    # Xen's QEMU machine has no fw_cfg DMA: linuxboot.bin, not linuxboot_dma.bin, is the one used
    cp /usr/share/qemu/linuxboot.bin "$D/usr/share/qemu/" || die "no linuxboot option ROM"
    # xl starts QEMU with "-vnc none", which still loads the default keymap
    cp /usr/share/qemu/keymaps/en-us "$D/usr/share/qemu/keymaps/" || die "no QEMU keymap en-us"
    cp "$WORK/vmlinuz" "$D/guest/bzImage"            # QEMU's -kernel wants the bzImage
    cp "$WORK/guest-hvm.cpio" "$D/guest/initrd-hvm"
}

images() {
    local G=$WORK/guestroot D=$WORK/dom0root bb
    bb=$(static_busybox) || die "no static busybox"
    rm -rf "$G" "$D"
    mkdir -p "$G"/{bin,proc,sys,dev,tmp}
    cp "$bb" "$G/bin/busybox"; cp "$WORK/bin/xq-guest" "$WORK/bin/xq-vdev" "$G/bin/"
    # /dev/xen/evtchn, for xq-vdev's event channel (scenario 6)
    mkdir -p "$G/lib/modules"
    cp "$WORK/kern/lib/modules/$KVER/kernel/drivers/xen/xen-evtchn.ko" "$G/lib/modules/" || die "module xen-evtchn"
    cp "$SRC/guest-init.sh" "$G/init"; chmod 755 "$G/init"
    (cd "$G" && find . | cpio -o -H newc --quiet) > "$WORK/guest.cpio"
    [ "$HVM" = 1 ] && hvm_guest_initrd "$G"

    mkdir -p "$D"/{bin,sbin,proc,sys,dev,run,tmp,etc/xen,var/lib/xen,var/lib/xenstored,var/log/xen/console,var/lock,lib/modules,guest,xq}
    ln -s ../run "$D/var/run"
    cp "$bb" "$D/bin/busybox"
    export LD_LIBRARY_PATH="$WORK/ext/usr/lib/$MULTIARCH${BUILD:+:$BUILD/lib/.libs}"
    local xb=/usr/lib/xen-4.17/bin b
    for b in xl xenstored xenconsoled xen-init-dom0; do copy_elf "$D" "$WORK/ext$xb/$b" "$xb/$b"; done
    copy_elf "$D" "$WORK/ext/usr/bin/xenstore" /usr/bin/xenstore
    for b in xenstore-read xenstore-write xenstore-ls xenstore-list xenstore-rm; do
        ln -sf xenstore "$D/usr/bin/$b"
    done
    cp -L /lib/$MULTIARCH/libgcc_s.so.1 "$D/lib/$MULTIARCH/"   # glibc's pthread_cancel dlopen()s it
    cp -a "$WORK/ext/etc/xen/." "$D/etc/xen/" 2>/dev/null || true
    local m
    for m in xen-evtchn xen-privcmd xen-gntdev xen-gntalloc xenfs/xenfs; do
        cp "$WORK/kern/lib/modules/$KVER/kernel/drivers/xen/$m.ko" "$D/lib/modules/" || die "module $m"
    done
    cp "$WORK/vmlinux" "$D/guest/vmlinux"; cp "$WORK/guest.cpio" "$D/guest/initrd"
    for b in xq-probe xq-vmm xq-notify xq-client xq-query xq-servers; do copy_elf "$D" "$WORK/bin/$b" "/usr/bin/$b"; done
    cp "$SRC/dom0-init.sh" "$D/init"; chmod 755 "$D/init"
    cp "$SRC/scenarios.sh" "$D/xq/scenarios.sh"
    [ "$HVM" = 1 ] && hvm_dom0 "$D"
    echo "$HVM" > "$D/xq/hvm"
    if [ -n "$EXTRA" ]; then
        mkdir -p "$D/xq/extra"; cp -a "$EXTRA/." "$D/xq/extra/"
        while read -r b; do
            [ "$(head -c 4 "$b" | od -An -c | tr -d ' ')" = '177ELF' ] || continue
            copy_elf "$D" "$b" "/xq/extra/${b#"$EXTRA"/}"
        done < <(find "$EXTRA" -type f)
    fi

    # the project's binaries, from the build tree
    PRODUCT=missing
    if [ -n "$BUILD" ]; then
        local daemon worker backend supervise
        if daemon=$(build_elf src/xen-ioreqd) && worker=$(build_elf src/xen-ioreqd-worker); then
            PRODUCT=ok
            copy_elf "$D" "$daemon" /usr/sbin/xen-ioreqd
            # found next to the daemon (its installed place, $(pkglibexecdir), follows the configure prefix)
            copy_elf "$D" "$worker" /usr/sbin/xen-ioreqd-worker
            mkdir -p "$D/etc/xen-ioreqd/guests.d"
            cp -a "$TOP/conf/." "$D/etc/xen-ioreqd/" 2>/dev/null
            rm -rf "$D/etc/xen-ioreqd/demo" "$D"/etc/xen-ioreqd/Makefile*
        fi
        # the stand-in for systemd's service manager and its fd store (scenario 8)
        if supervise=$(build_elf tests/xirq-supervise); then
            copy_elf "$D" "$supervise" /usr/sbin/xirq-supervise
        fi
        if backend=$(build_elf examples/xen-ioreqd-example-backend); then
            copy_elf "$D" "$backend" /usr/bin/xen-ioreqd-example-backend
        fi
        if backend=$(build_elf examples/xen-ioreqd-vblk); then
            copy_elf "$D" "$backend" /usr/bin/xen-ioreqd-vblk
        fi
    fi
    echo "$PRODUCT" > "$D/xq/product"
    (cd "$D" && find . | cpio -o -H newc --quiet) > "$WORK/dom0.cpio"
    unset LD_LIBRARY_PATH
}

# ---- 6. boot ---------------------------------------------------------------------------------
# how much CPU QEMU (a child of the job's timeout) uses: a stuck emulated machine that spins
# uses all of one, one that waits (every vCPU halted) almost none
qemu_cpu() {
    local t q a b
    t=$(pgrep -P "$1" -x timeout) && q=$(pgrep -P "$t" -f qemu-system) || return 0
    a=$(awk '{ print $14 + $15 }' "/proc/$q/stat" 2>/dev/null) || return 0
    sleep 10
    b=$(awk '{ print $14 + $15 }' "/proc/$q/stat" 2>/dev/null) || return 0
    say "QEMU (pid $q) used $(( (b - a) * 100 / $(getconf CLK_TCK) / 10 ))% of a CPU over 10 s; load: $(cut -d' ' -f1-3 /proc/loadavg)"
}

# Waits for the QEMU job $1, and looks after the serial line meanwhile:
# - The nudge.  Under TCG the emulated machine can lose Xen's local APIC timer interrupt: Xen
#   then halts in its idle loop with every timer overdue and nothing wakes it, QEMU uses no
#   CPU, dom0 and every guest stand still, and a later interrupt (a key on the serial line) sets
#   everything going again with "Platform timer appears to have unexpectedly wrapped" (seen
#   after 190 s).  So once Xen's console is up the serial input goes to Xen (CTRL-a three
#   times; dom0 reads no console input) and every $NUDGE s a NUL, a key Xen ignores, raises the
#   serial interrupt: a lost timer interrupt then costs at most that long.
# - The stall.  When dom0 prints no progress line (XQ-*, FACT) for $STALL s, Xen is asked for
#   its state with debug keys (d registers and stacks of the CPUs, 0 dom0's vCPUs, q domains
#   and their vCPUs, r run queues, a timer queues, c C-states, t clocks, e event channels); if
#   dom0 is still silent $STALL_DUMP s later, QEMU is stopped rather than left to XQ_TIMEOUT.
watchdog() {
    local job=$1 seen=0 n last=$SECONDS dumped=0 k tick=0 to_xen=0
    while kill -0 "$job" 2>/dev/null; do
        sleep 1
        tick=$((tick + 1))
        if [ $to_xen = 0 ]; then
            if grep -aq 'Serial input to DOM0' "$LOG" 2>/dev/null; then printf '\001\001\001' >&7; to_xen=1; fi
        elif [ "$NUDGE" -gt 0 ] && [ $((tick % NUDGE)) = 0 ]; then
            printf '\000' >&7
        fi
        [ $((tick % 5)) = 0 ] || continue
        n=$(grep -ac '^\[ *[0-9.]*\] \(XQ-\|FACT \)' "$LOG" 2>/dev/null)
        if [ "${n:-0}" != "$seen" ]; then
            seen=$n; last=$SECONDS
            [ $dumped = 0 ] || say "dom0 went on after the dump"
            dumped=0; continue
        fi
        if [ $dumped = 0 ] && [ $((SECONDS - last)) -ge "$STALL" ]; then
            say "no progress from dom0 for ${STALL}s: asking Xen for its state (debug keys, on the serial log)"
            qemu_cpu "$job"
            # (before Xen has given the input to dom0 at the end of its boot, it is Xen's already)
            for k in d 0 q r a c t e; do printf '%s' "$k" >&7; sleep 4; done
            dumped=$SECONDS
        fi
        if [ $dumped != 0 ] && [ $((SECONDS - dumped)) -ge "$STALL_DUMP" ]; then
            say "stopping QEMU after the stall's dump"
            pkill -TERM -P "$job" -x timeout
            break
        fi
    done
    wait "$job"
}

boot() {
    local scen; scen=$(echo $SCEN | tr " " +)   # no commas: QEMU splits -initrd at them
    [ -n "$scen" ] || scen=none
    local xen="console=com1 com1=115200,8n1 loglvl=warning guest_loglvl=warning dom0_mem=512M,max:512M dom0_max_vcpus=1 ${XQ_XEN_ARGS:-}"
    local dom0="console=hvc0 quiet loglevel=3 xq_scen=$scen"
    say "booting Xen in QEMU (TCG, bounded by ${TMO}s), serial log: $LOG"
    local t0=$SECONDS
    exec 9>/tmp/xen-ioreqd-qemu.lock
    flock -w 1800 9 || die "another QEMU run holds /tmp/xen-ioreqd-qemu.lock"
    # the serial line's input: a FIFO the watchdog below writes to (held open read-write here,
    # so QEMU never reads an end of file)
    rm -f "$WORK/serial.in" "$WORK/qemu.rc"
    mkfifo "$WORK/serial.in" || die "cannot create $WORK/serial.in"
    exec 7<>"$WORK/serial.in"
    { timeout -k 10 "$TMO" qemu-system-x86_64 -machine pc -accel tcg -cpu qemu64,+svm,+npt \
        -smp "$SMP" -m 1024 -display none -monitor none -serial stdio -no-reboot \
        -kernel "$WORK/xen.elf" -append "$xen" \
        -initrd "$WORK/vmlinuz $dom0,$WORK/dom0.cpio" <&7 2>&1 \
        | perl -MTime::HiRes=time -ne 'BEGIN { $| = 1; $t0 = time } s/\r//g; printf "[%7.2f] %s", time - $t0, $_' \
        > "$LOG"; echo "${PIPESTATUS[0]}" > "$WORK/qemu.rc"; } &
    watchdog $!
    QEMU_RC=$(cat "$WORK/qemu.rc" 2>/dev/null || echo "?")
    exec 7>&- 9>&-
    rm -f "$WORK/serial.in"
    say "QEMU exited rc=$QEMU_RC after $((SECONDS - t0))s"
}

# ---- 7. verdicts ----------------------------------------------------------------------------
verdicts() {
    local pass=0 fail=0 s line
    sed 's/^\[ *[0-9.]*\] //' "$LOG" > "$WORK/serial.txt"
    grep -a '^FACT ' "$WORK/serial.txt" | sed 's/^FACT //' > "$WORK/facts-xen.txt"
    for s in $SCEN; do
        if [ "$s" = 5 ]; then
            if fidelity; then line="PASS"; else line="FAIL"; fi
            line="$line: scenario 5 fidelity: $FID_MSG"
        else
            line=$(grep -a "^XQ-RESULT $s " "$WORK/serial.txt" | tail -1 | sed "s/^XQ-RESULT $s \([A-Z]*\) */\1: scenario $s: /")
            [ -n "$line" ] || line="FAIL: scenario $s: no result in the serial log (dom0 did not get there; QEMU rc=$QEMU_RC)"
        fi
        echo "$line"
        case $line in PASS*) pass=$((pass + 1)) ;; *) fail=$((fail + 1)) ;; esac
    done
    # a dom0 that did not get to its end: where it stood (its last steps and the serial log's end)
    if ! grep -aq 'XQ-LOG .* scenarios done' "$WORK/serial.txt"; then
        say "dom0 did not finish its scenarios; its last steps:"
        grep -a '^XQ-LOG ' "$WORK/serial.txt" | tail -n 8
        say "the end of the serial log:"
        tail -n 40 "$WORK/serial.txt"
    fi
    say "logs: $LOG (serial), $WORK/facts-xen.txt, $WORK/facts-xensim.txt, $WORK/compare.txt"
    say "total $((SECONDS - T0))s"
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
}

fidelity() {
    local n; n=$(wc -l < "$WORK/facts-xen.txt")
    if ! grep -q '^probe.complete=1' "$WORK/facts-xen.txt"; then
        FID_MSG="the probe did not complete on real Xen ($n facts; see $LOG)"; return 1
    fi
    if [ -z "$BUILD" ]; then FID_MSG="no build tree, cannot run the probe on xensim"; return 1; fi
    if ! bash "$SRC/probe-xensim.sh" "$BUILD" "$WORK" > "$WORK/probe-xensim.log" 2>&1; then
        FID_MSG="the probe did not complete on xensim (see $WORK/probe-xensim.log)"; return 1
    fi
    bash "$SRC/compare.sh" "$WORK/facts-xen.txt" "$WORK/facts-xensim.txt" "$SRC/known-differences" \
        "$TOP/sim/README.md" > "$WORK/compare.txt" 2>&1
    local rc=$?
    FID_MSG=$(tail -1 "$WORK/compare.txt")
    sed 's/^/    /' "$WORK/compare.txt" | grep -E '^ +(DIFF|KNOWN|MISSING|UNDOCUMENTED|FIXED|STALE)' || true
    return $rc
}

mkdir -p "$WORK" || die "cannot create $WORK"
T0=$SECONDS
# one run per work dir, and one QEMU at a time on this machine (TCG needs the CPUs)
exec 8>"$WORK.lock"
flock -w 1800 8 || die "another run holds $WORK.lock"
host_tools
fetch_debs
extract
helpers
images
[ "$PRODUCT" = ok ] || say "xen-ioreqd is not built in '${BUILD:-<none>}': scenarios 1-4 will fail"
boot
verdicts
