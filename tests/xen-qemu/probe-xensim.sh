#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# probe-xensim.sh BUILDDIR WORKDIR: run the fidelity probe (xq-probe, the same source as
# on real Xen, linked against Debian's libxen sonames) on xensim: a private xensimd, the
# drop-in libraries through LD_LIBRARY_PATH, and xq-guest built against the xensim guest
# driver as the guest.  The domain is created paused and unpaused as xl does (xensim then
# sends the boot INVALIDATE, answered by the probe, before the guest program starts; the
# unpause runs in the background because the probe is the server that must answer it).  Writes WORKDIR/facts-xensim.txt; exit status 0 if the probe completed.
set -u
SRC=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$SRC/../.." && pwd)
BUILD=$(cd "${1:?usage: probe-xensim.sh BUILDDIR WORKDIR}" && pwd)
WORK=${2:?usage: probe-xensim.sh BUILDDIR WORKDIR}
CC=${CC:-cc}
mkdir -p "$WORK/bin"
D=$(mktemp -d "${TMPDIR:-/tmp}/xq-xensim.XXXXXX")
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$D"; }
trap cleanup EXIT

for f in sim/xensimd sim/xensim; do
    [ -x "$BUILD/$f" ] || { echo "probe-xensim: $BUILD/$f is not built" >&2; exit 1; }
done
guestlib=$(ls "$BUILD"/sim/.libs/libxensim-guest.so "$BUILD"/sim/.libs/libxensim-guest.a 2>/dev/null | head -1)
[ -n "$guestlib" ] || { echo "probe-xensim: libxensim-guest is not built in $BUILD/sim" >&2; exit 1; }
cf="-O2 -Wall -Wextra -Wno-unused-parameter"
$CC $cf -DXQ_XENSIM -I"$TOP/sim/guest" -o "$WORK/bin/xq-guest-xensim" "$SRC/xq-guest.c" "$guestlib" \
    -Wl,-rpath,"$BUILD/sim/.libs" -lpthread || exit 1
$CC $cf -o "$WORK/bin/xq-probe" "$SRC/xq-probe.c" -lxendevicemodel -lxenforeignmemory \
    -lxenevtchn -lxenstore -lxentoolcore || exit 1

"$BUILD/sim/xensimd" --dir "$D" > "$D/xensimd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q 'ready' "$D/xensimd.log" 2>/dev/null && break; sleep 0.1; done
grep -q 'ready' "$D/xensimd.log" || { echo "probe-xensim: xensimd did not start" >&2; cat "$D/xensimd.log" >&2; exit 1; }
export XENSIM_DIR=$D XENSTORED_PATH=$D/xenstored.sock
export LD_LIBRARY_PATH=$BUILD/sim/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
X=$BUILD/sim/xensim
timeout -s KILL 150 "$WORK/bin/xq-probe" --name probe --timeout 120 \
    --create "$X create --paused probe 1 >/dev/null" \
    --unpause "( $X unpause \$XQ_DOMID && exec $WORK/bin/xq-guest-xensim --name probe mailbox:0xfe100000 ) > $D/guest.log 2>&1 &" \
    --invalidate "$X invalidate \$XQ_DOMID 0 >/dev/null &" \
    --destroy "$X destroy \$XQ_DOMID" > "$WORK/probe-xensim.out" 2> "$WORK/probe-xensim.err"
rc=$?
sed -n 's/^FACT //p' "$WORK/probe-xensim.out" > "$WORK/facts-xensim.txt"
cat "$WORK/probe-xensim.err"
sed 's/^/guest: /' "$D/guest.log" 2>/dev/null
echo "probe-xensim: probe rc=$rc, $(wc -l < "$WORK/facts-xensim.txt") facts"
grep -q '^probe.complete=1' "$WORK/facts-xensim.txt"
