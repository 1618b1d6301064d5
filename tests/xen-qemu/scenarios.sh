#!/bin/busybox sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# dom0 side of the harness: the scenarios, run in order by /init.  Each prints one
# "XQ-RESULT N PASS|FAIL <what>" line that run.sh collects from the serial log;
# scenario 5 prints the probe's "FACT" lines, judged on the host by compare.sh.
# usage: scenarios.sh 1,2,3,4,5
SCEN=",$1,"
CONS=/var/log/xen/console

t() { cut -d' ' -f1 /proc/uptime; }
log() { echo "XQ-LOG t=$(t) $*"; }
result() { echo "XQ-RESULT $1 $2 $3"; }
want() { case $SCEN in *,$1,*) return 0 ;; esac; return 1; }

# mkcfg NAME VCPUS OPS [OPS_VCPU1]: an xl config for the harness's PVH guest
mkcfg() {
    cat > /etc/xen/$1.cfg <<CFG
name = "$1"
type = "pvh"
kernel = "/guest/vmlinux"
ramdisk = "/guest/initrd"
extra = "console=hvc0 iomem=relaxed quiet loglevel=3 xq=$3${4:+ xq1=$4}"
memory = 128
vcpus = $2
on_poweroff = "destroy"
on_crash = "destroy"
CFG
}

# wait_for FILE PATTERN SECONDS [COUNT]: until FILE has COUNT lines matching PATTERN
wait_for() {
    local i=0 n=${4:-1}
    while [ "$(grep -c -e "$2" "$1" 2>/dev/null)" -lt "$n" ]; do
        i=$((i + 1)); [ $i -gt $(($3 * 5)) ] && return 1; sleep 0.2
    done
    return 0
}

gone() { # NAME SECONDS: until xl no longer knows the domain
    local i=0
    while xl domid "$1" >/dev/null 2>&1; do i=$((i + 1)); [ $i -gt $(($2 * 5)) ] && return 1; sleep 0.2; done
}

# ---- 5: the fidelity probe on real Xen ------------------------------------------------
scen5() {
    log "scenario 5: fidelity probe"
    mkcfg probe 1 mailbox:0xfe100000
    timeout -s KILL 330 xq-probe --name probe --timeout 300 \
        --create "xl create -p /etc/xen/probe.cfg >/tmp/probe-create.log 2>&1" \
        --unpause "xl unpause probe" --invalidate "xl mem-set probe 120" \
        --destroy "xl destroy probe" > /tmp/probe.out 2> /tmp/probe.err
    local rc=$?
    log "probe rc=$rc"
    cat /tmp/probe.out
    sed 's/^/XQ-PROBE /' /tmp/probe.err | tail -n 40
    [ -s /tmp/probe-create.log ] && sed 's/^/XQ-PROBE-CREATE /' /tmp/probe-create.log | tail -n 20
    sed 's/^/XQ-PROBE-GUEST /' $CONS/guest-probe.log 2>/dev/null | grep -v '^XQ-PROBE-GUEST $' | tail -n 20
    xl destroy probe >/dev/null 2>&1
    gone probe 10 || log "probe domain still listed: $(xl list | tail -n +2 | tr '\n' ' ')"
}

want 5 && scen5
log "scenarios done"
