#!/bin/busybox sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# /init of the harness's PVH guest.  What it does comes from its kernel command line
# (xl's extra=), which the kernel hands to init as environment variables:
#   xq=OPS    xq-guest operations run on vCPU 0, '+' between operations
#   xq1=OPS   run at the same time on vCPU 1 (when the guest has two)
#   xqoff=S   power off S seconds after the operations (default: idle until destroyed)
# It prints GUEST-UP and one GUEST-DONE line per xq-guest instance.
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
ncpu=$(grep -c ^processor /proc/cpuinfo)
echo "GUEST-UP ncpu=$ncpu uptime=$(cut -d' ' -f1 /proc/uptime)"
run_ops() { # CPU OPS
    ops=$(echo "$2" | tr + ' ')
    taskset -c "$1" /bin/xq-guest --vcpu "$1" $ops
    echo "GUEST-DONE cpu=$1 rc=$? uptime=$(cut -d' ' -f1 /proc/uptime)"
}
if [ -n "${xq1:-}" ] && [ "$ncpu" -gt 1 ]; then
    run_ops 1 "$xq1" &
fi
[ -n "${xq:-}" ] && run_ops 0 "$xq"
wait
if [ -n "${xqoff:-}" ]; then
    sleep "$xqoff"; echo "GUEST-POWEROFF"; poweroff -f
fi
echo "GUEST-IDLE"
while :; do sleep 3600; done
