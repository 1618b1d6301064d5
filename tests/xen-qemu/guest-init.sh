#!/bin/busybox sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# /init of the harness's guests (PVH, and HVM with the virtio modules and the SSDT of
# virtio-mmio.asl).  What it does comes from its kernel command line (xl's extra=), which
# the kernel hands to init as environment variables:
#   xqvirtio=1  load virtio_mmio and virtio_blk (from /lib/modules, the order in
#               /lib/modules/xq-load), wait for the disks and report what the kernel found
#               (GUEST-VIRTIO lines); only in the HVM guest's initrd
#   xqdmesg=1   also print the whole kernel log after that (GUEST-DMESG lines)
#   xqvda=OPS   block operations on the virtio disks, '+' between operations:
#               r:DISK:SECTOR:COUNT       read COUNT 512-byte sectors from the device (the
#                                         page cache dropped first), print their md5
#               w:DISK:SECTOR:COUNT:WORD  write COUNT sectors filled with WORD repeated and
#                                         fsync, print the md5 of what was written
#               (DISK is a name under /dev, e.g. vda; one "GUEST-VDA" line per operation)
#   xq=OPS      xq-guest operations run on vCPU 0, '+' between operations
#   xq1=OPS     run at the same time on vCPU 1 (when the guest has two)
#   xqvdev=BASE:ID:KICKS  load xen-evtchn and run xq-vdev BASE ID KICKS: a virtio-mmio
#               driver's probe of device ID at BASE, kicks and their event-channel
#               interrupts (scenario 6; GUEST-DONE cpu=0 when it ends)
#   xqoff=S     power off S seconds after the operations (default: idle until destroyed)
# It prints GUEST-UP, the virtio and block lines, and one GUEST-DONE line per xq-guest
# instance.  A device that never answers cannot hang it: each step that waits for the disk
# runs in the background under a deadline (xqwait=S, default 60 s) and reports "timeout".
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
ncpu=$(grep -c ^processor /proc/cpuinfo)
up() { cut -d' ' -f1 /proc/uptime; }
echo "GUEST-UP ncpu=$ncpu uptime=$(up)"

# bounded STEP-NAME COMMAND...: run COMMAND in the background, its output to /tmp/NAME.out;
# status 0 when it finished within the deadline, 124 when it did not (it keeps running)
bounded() {
    local name=$1 end; shift
    end=$(($(up | cut -d. -f1) + ${xqwait:-60}))
    rm -f "/tmp/$name.rc"
    ( "$@" > "/tmp/$name.out" 2>&1; echo $? > "/tmp/$name.rc" ) &
    while [ ! -s "/tmp/$name.rc" ]; do
        [ "$(up | cut -d. -f1)" -ge "$end" ] && return 124
        sleep 0.2
    done
    return 0
}

disks() { # the virtio disks, space separated
    local d
    for d in /dev/vd*; do [ -b "$d" ] && printf '%s ' "${d##*/}"; done
}

load_virtio() {
    local m
    for m in $(cat /lib/modules/xq-load); do
        insmod "/lib/modules/$m.ko" || echo "insmod $m failed"
    done
}

report_virtio() {
    local d
    dmesg | grep -aiE 'virtio|LNRO| vd[a-z]|SSDT|table upgrade|ACPI.*override|ACPI: IRQ|nobody cared|Disabling IRQ' \
        | sed 's/^/GUEST-VIRTIO dmesg: /'
    grep -E 'CPU0|virtio|LNRO' /proc/interrupts | sed 's/^/GUEST-VIRTIO interrupts: /'
    grep -i -A1 -B1 'LNRO\|virtio' /proc/iomem | sed 's/^/GUEST-VIRTIO iomem: /'
    for d in /sys/block/vd*; do
        [ -e "$d" ] || continue
        echo "GUEST-VIRTIO disk ${d##*/} sectors=$(cat "$d/size") device=$(readlink -f "$d/device/.." | sed 's|.*/||')"
    done
    echo "GUEST-VIRTIO disks: $(disks)"
    if [ "${xqdmesg:-0}" = 1 ]; then
        dmesg | sed 's/^/GUEST-DMESG /'
        sed 's/^/GUEST-DMESG interrupts: /' /proc/interrupts
    fi
}

# one xqvda operation; prints its GUEST-VDA line
vda_op() {
    local op disk start count word rc md5
    IFS=: read -r op disk start count word <<EOF
$1
EOF
    case $disk in *[!a-z0-9]*|'') echo "GUEST-VDA $1 bad disk"; return 1 ;; esac
    case $op in
    r)  # from the device, not the page cache (busybox dd's iflag=direct does not bypass it)
        blockdev --flushbufs "/dev/$disk"
        bounded vda dd if="/dev/$disk" bs=512 skip="$start" count="$count" of=/tmp/vda.data
        rc=$?
        [ $rc -eq 0 ] && rc=$(cat /tmp/vda.rc)
        [ $rc -eq 0 ] && md5=$(md5sum < /tmp/vda.data | cut -d' ' -f1)
        ;;
    w)
        yes "$word" | tr -d '\n' | head -c $((count * 512)) > /tmp/vda.data
        md5=$(md5sum < /tmp/vda.data | cut -d' ' -f1)
        bounded vda dd if=/tmp/vda.data of="/dev/$disk" bs=512 seek="$start" count="$count" conv=fsync
        rc=$?
        [ $rc -eq 0 ] && rc=$(cat /tmp/vda.rc)
        ;;
    *) echo "GUEST-VDA $1 bad operation"; return 1 ;;
    esac
    if [ "$rc" = 124 ]; then
        echo "GUEST-VDA $op disk=$disk sector=$start count=$count timeout uptime=$(up)"
    else
        echo "GUEST-VDA $op disk=$disk sector=$start count=$count rc=$rc md5=${md5:-none} uptime=$(up)"
        [ "$rc" = 0 ] || sed 's/^/GUEST-VDA dd: /' /tmp/vda.out
    fi
    [ "$rc" = 0 ]
}

if [ "${xqvirtio:-0}" = 1 ]; then
    if [ ! -f /lib/modules/xq-load ]; then
        echo "GUEST-VIRTIO no modules in this initrd"
    elif bounded virtio load_virtio; then
        # the disks appear as the driver probes each device; a device that hangs in the
        # partition scan shows here as missing
        i=0
        while [ $i -lt 25 ] && [ -z "$(disks)" ]; do sleep 0.2; i=$((i + 1)); done
        sed 's/^/GUEST-VIRTIO /' /tmp/virtio.out
        echo "GUEST-VIRTIO loaded uptime=$(up)"
    else
        echo "GUEST-VIRTIO timeout loading the modules uptime=$(up)"
    fi
    report_virtio
fi
if [ -n "${xqvda:-}" ]; then
    for op in $(echo "$xqvda" | tr + ' '); do vda_op "$op"; done
    [ "${xqvirtio:-0}" = 1 ] && grep -E 'virtio|LNRO' /proc/interrupts | sed 's/^/GUEST-VIRTIO interrupts after: /'
fi

if [ -n "${xqvdev:-}" ]; then
    insmod /lib/modules/xen-evtchn.ko || echo "GUEST-VDEV insmod xen-evtchn failed"
    # shellcheck disable=SC2046 # BASE ID KICKS, split on purpose
    /bin/xq-vdev $(echo "$xqvdev" | tr : ' ')
    echo "GUEST-DONE cpu=0 rc=$? uptime=$(up)"
fi

run_ops() { # CPU OPS
    ops=$(echo "$2" | tr + ' ')
    taskset -c "$1" /bin/xq-guest --vcpu "$1" $ops
    echo "GUEST-DONE cpu=$1 rc=$? uptime=$(up)"
}
p1=
if [ -n "${xq1:-}" ] && [ "$ncpu" -gt 1 ]; then
    run_ops 1 "$xq1" &
    p1=$!
fi
[ -n "${xq:-}" ] && run_ops 0 "$xq"
[ -n "$p1" ] && wait "$p1"
if [ -n "${xqoff:-}" ]; then
    sleep "$xqoff"; echo "GUEST-POWEROFF"; poweroff -f
fi
echo "GUEST-IDLE"
while :; do sleep 3600; done
