#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# xensim: the xensim command line (its output formats and exit statuses are an interface the
# daemon's integration tests rely on): create/list/servers/destroy, accesses with and without
# a server, what a process holds (handles/ports/mappings/maphistory), the guest's event
# channels (evtchn alloc-unbound/status/wait-event/close), a hung vCPU (exit 3 +
# message), a crashed domain (exit 4), no such domain (exit 5).
set -u
sim=${XENSIM_BUILDDIR:-$(dirname "$0")}
[ -x "$sim/xensimd" ] || sim=$(pwd)
fail=0
check() { # description, command...
        local d=$1
        shift
        if ! "$@"; then
                echo "FAIL: $d" >&2
                fail=1
        fi
}

dir=$(mktemp -d /tmp/xensim-cli.XXXXXX)
hostpid= floorpid=
cleanup() {
        [ -n "$floorpid" ] && kill "$floorpid" 2>/dev/null && wait "$floorpid" 2>/dev/null
        if [ -n "$hostpid" ]; then
                kill "$hostpid" 2>/dev/null
                wait "$hostpid" || { echo "FAIL: xensimd exit status $?" >&2; fail=1; }
        fi
        rm -rf "$dir"
}
trap cleanup EXIT
( sleep 60; echo "FAIL: watchdog" >&2; kill -9 $$ ) 2>/dev/null &
watchdog=$!

export XENSIM_DIR=$dir XENSTORED_PATH=$dir/xenstored.sock
"$sim/xensimd" --dir "$dir" > "$dir/host.out" 2>"$dir/host.err" &
hostpid=$!
for _ in $(seq 200); do grep -q "xensimd: ready" "$dir/host.out" && break; sleep 0.05; done
check "xensimd ready" grep -q "xensimd: ready" "$dir/host.out"
x="$sim/xensim"

d=$($x create web 2)
check "create prints a domid" test "$d" -ge 1
check "list" bash -c "$x list | grep -qx '$d 2 running web'"
check "duplicate name fails" bash -c "! $x create web 1 2>/dev/null"
check "no server: read all-ones" test "$($x read "$d" 0 mmio 0xfe000000 4)" = 0xffffffff
check "no server: inw" test "$($x read "$d" 1 pio 0x7000 2)" = 0xffff
check "no server: write ok" $x write "$d" 0 mmio 0xfe000000 4 0x1234
$x read "$d" 2 mmio 0xfe000000 4 2>/dev/null
check "vCPU out of range fails" test $? -eq 1

LD_LIBRARY_PATH=$sim/.libs "$sim/xensim-floor" --domid "$d" --range 0xfe000000-0xfe000fff \
        > "$dir/floor.out" 2>&1 &
floorpid=$!
for _ in $(seq 200); do grep -q ready "$dir/floor.out" && break; sleep 0.05; done
check "servers" bash -c "$x servers $d | grep -q '^server 0 enabled vp_eport=3,4 bound='"
check "servers ranges" bash -c "$x servers $d | grep -qx '  mmio 0xfe000000-0xfe000fff'"
check "write via floor" $x write "$d" 1 mmio 0xfe000010 4 0xabcd
check "read via floor" test "$($x read "$d" 0 mmio 0xfe000010 4)" = 0xabcd
check "invalidate" test "$($x invalidate "$d" 0)" = 1
check "load json" bash -c "$x load --json --vcpus 2 --count 500 $d mmio 0xfe000000 4 1 | grep -q '\"count\":500,\"errors\":0'"
check "peek" bash -c "$x peek $d 0 0 | grep -q '^state=0 .* vp_eport=3$'"
# What the floor server holds: 3 handles, its 2 ports, its mapping, its map_resource calls.
h=$($x handles "$floorpid")
check "handles: 3 of the floor" test "$(wc -l <<< "$h")" -eq 3
check "handles: evtchn" grep -Eq "^handle [0-9]+ pid=$floorpid last=$floorpid evtchn restricted=no ports=2 mappings=0 map_calls=0$" <<< "$h"
check "handles: devicemodel" grep -Eq "^handle [0-9]+ pid=$floorpid last=$floorpid devicemodel restricted=no ports=0 " <<< "$h"
check "handles: foreignmemory" grep -Eq "^handle [0-9]+ pid=$floorpid .* foreignmemory restricted=no ports=0 mappings=1 map_calls=1$" <<< "$h"
evt=$(awk '/ evtchn /{print $2}' <<< "$h")
fm=$(awk '/ foreignmemory /{print $2}' <<< "$h")
check "ports" test "$($x ports "$evt" | sed 's/^port [0-9]* //')" = "dom=$d remote=3 server=0 vcpu=0
dom=$d remote=4 server=0 vcpu=1"
check "mappings" grep -Eqx "map [0-9]+ handle=$fm pid=$floorpid server=0 frames=ioreq current" <<< "$($x mappings "$d" 0)"
check "maphistory" test "$($x maphistory "$floorpid")" = "maps=1 refused=0 alive=1 forgotten=0"
check "handles of everyone: the floor's and this command's" bash -c "$x handles | grep -c ' pid=' | grep -qx 4"
$x ports 999999 2>/dev/null
check "ports of no handle exit 1" test $? -eq 1
$x mappings 4242 2>/dev/null
check "mappings of no domain exit 5" test $? -eq 5
$x handles 0 2>/dev/null
check "handles 0 exit 2" test $? -eq 2
$x mappings "$d" 8 2>/dev/null
check "mappings of server 8 exit 2" test $? -eq 2
kill -STOP "$floorpid"
out=$($x --timeout-ms 300 write "$d" 0 mmio 0xfe000000 4 1 2>&1)
st=$?
check "hung exit status 3 (got $st)" test $st -eq 3
check "hung message" bash -c "grep -q '^vCPU 0 of domain $d hung: slot state 1$' <<< '$out'"
kill -CONT "$floorpid"
kill "$floorpid"; wait "$floorpid"
check "handles of the exited floor" test -z "$($x handles "$floorpid")"
check "maphistory of the exited floor" test "$($x maphistory "$floorpid")" = "maps=1 refused=0 alive=0 forgotten=0"
floorpid=

$x inject slot "$d" 0 0 7 2>/dev/null
check "inject slot on a destroyed server fails" test $? -ne 0
pz=$($x create --paused sleepy 1)
check "list paused" bash -c "$x list | grep -qx '$pz 1 paused sleepy'"
$x read "$pz" 0 mmio 0 4 2>/dev/null
check "paused domain: access fails (1)" test $? -eq 1
check "unpause with no server" test "$($x unpause "$pz")" = 0
check "runs after unpause" test "$($x read "$pz" 0 mmio 0 4)" = 0xffffffff
r=$($x create --paused --ram 65536 tiny 1)
check "create --paused --ram" bash -c "$x list | grep -qx '$r 1 paused tiny'"
$x create --ram 4097 odd 1 2>/dev/null
check "create --ram not a page multiple exit 1" test $? -eq 1
$x create --ram 2>/dev/null
check "create --ram without a size exit 2" test $? -eq 2
c=$($x create crashy 1)
check "crash" $x crash "$c"
$x read "$c" 0 mmio 0 4 2>/dev/null
check "crashed domain exit 4" test $? -eq 4
check "list crashed" bash -c "$x list | grep -qx '$c 1 crashed crashy'"
check "destroy" $x destroy "$d"
$x read "$d" 0 mmio 0 4 2>/dev/null
check "no domain exit 5" test $? -eq 5
$x destroy "$d" 2>/dev/null
check "destroy twice exit 5" test $? -eq 5
# The guest's own event channels (bound and notified by dom0 in test-host-gevtchn).
e=$($x create evt 1)
ep=$($x evtchn alloc-unbound "$e" 0)
check "evtchn alloc-unbound prints port 3" test "$ep" = 3
check "evtchn status" test "$($x evtchn status "$e" "$ep")" = "port 3 unbound remote=0 bound=0 pending=0 count=0"
$x --timeout-ms 50 evtchn wait-event "$e" "$ep" 2>/dev/null
check "evtchn wait-event with no event exit 1" test $? -eq 1
check "evtchn close" $x evtchn close "$e" "$ep"
$x evtchn status "$e" "$ep" 2>/dev/null
check "evtchn status of a closed port exit 1" test $? -eq 1
$x evtchn alloc-unbound 4321 0 2>/dev/null
check "evtchn alloc-unbound: no domain exit 5" test $? -eq 5
$x evtchn frob "$e" 1 2>/dev/null
check "evtchn usage exit 2" test $? -eq 2
$x destroy "$e"
$x frobnicate 2>/dev/null
check "usage exit 2" test $? -eq 2
kill "$watchdog" 2>/dev/null
exit $fail
