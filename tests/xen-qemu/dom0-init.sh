#!/bin/busybox sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# /init of the harness's dom0: starts the Xen userspace (xenstored, xen-init-dom0,
# xenconsoled), runs /xq/scenarios.sh, powers the machine off.  Every step is bounded.
/bin/busybox --install -s /bin
export PATH=/usr/lib/xen-4.17/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu:/lib/x86_64-linux-gnu
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm; mount -t devpts devpts /dev/pts; mount -t tmpfs tmpfs /run
mkdir -p /run/xen /run/xenstored /var/log/xen/console
dmesg -n 1
off() { echo "XQ-DOM0 poweroff ($1)"; sync; poweroff -f; sleep 30; }
for m in xen-evtchn xen-privcmd xenfs xen-gntdev xen-gntalloc; do
    insmod /lib/modules/$m.ko || echo "XQ-DOM0 insmod $m failed"
done
mount -t xenfs xenfs /proc/xen || off "no xenfs"
xenstored --pid-file=/run/xenstored.pid || off "xenstored failed"
i=0; while ! xenstore-read /local >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -gt 150 ] && off "xenstored not answering"; sleep 0.2
done
xen-init-dom0 >/dev/null || echo "XQ-DOM0 xen-init-dom0 rc=$?"
xenconsoled --log=guest --log-dir=/var/log/xen/console || off "xenconsoled failed"
echo "XQ-DOM0 up t=$(cut -d' ' -f1 /proc/uptime) scenarios=${xq_scen:-}"
sh /xq/scenarios.sh "$(echo "${xq_scen:-1+2+3+4+5+6+7+8}" | tr + ,)"
off "done"
