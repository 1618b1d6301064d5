#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
#
# xensim-bench.sh - measure xensim's hot path against its reference, in the same run:
#   1. xensim-pingpong: two processes bouncing a token over two eventfds;
#   2. a guest vCPU doing MMIO writes served by xensim-floor (a real-API ioreq server in its
#      own process): notify → event channel → floor → IORESP_READY + notify → vCPU.
# Prints both round-trip latencies (p50 and mean) and their ratio (target: <= 1.5).
#
# Usage: xensim-bench.sh [-n ROUNDS] [-r REPEATS] [BUILDDIR/sim]
set -eu

rounds=20000
repeats=3
while getopts "n:r:h" o; do
        case $o in
        n) rounds=$OPTARG ;;
        r) repeats=$OPTARG ;;
        *) echo "Usage: $0 [-n ROUNDS] [-r REPEATS] [BUILDDIR/sim]" >&2; exit 2 ;;
        esac
done
shift $((OPTIND - 1))
sim=${1:-$(cd "$(dirname "$0")/.." && pwd)}
for b in xensimd xensim xensim-floor xensim-pingpong; do
        [ -x "$sim/$b" ] || { echo "xensim-bench: $sim/$b not built" >&2; exit 1; }
done

dir=$(mktemp -d /tmp/xensim-bench.XXXXXX)
hostpid=
floorpid=
cleanup() {
        [ -n "$floorpid" ] && kill "$floorpid" 2>/dev/null && wait "$floorpid" 2>/dev/null
        [ -n "$hostpid" ] && kill "$hostpid" 2>/dev/null && wait "$hostpid" 2>/dev/null
        rm -rf "$dir"
}
trap cleanup EXIT

export XENSIM_DIR=$dir XENSTORED_PATH=$dir/xenstored.sock
"$sim/xensimd" --dir "$dir" --no-xenstore > "$dir/host.out" 2>&1 &
hostpid=$!
for _ in $(seq 100); do grep -q ready "$dir/host.out" 2>/dev/null && break; sleep 0.05; done
grep -q ready "$dir/host.out" || { echo "xensim-bench: xensimd did not start" >&2; exit 1; }

domid=$("$sim/xensim" create bench 1)
LD_LIBRARY_PATH=$sim/.libs "$sim/xensim-floor" --domid "$domid" --range 0xfe000000-0xfe000fff \
        > "$dir/floor.out" 2>&1 &
floorpid=$!
for _ in $(seq 100); do grep -q ready "$dir/floor.out" 2>/dev/null && break; sleep 0.05; done
grep -q ready "$dir/floor.out" || { echo "xensim-bench: xensim-floor did not start" >&2; exit 1; }

# Warm up both paths, then alternate the measurements.
"$sim/xensim-pingpong" 2000 > /dev/null
"$sim/xensim" load --count 2000 "$domid" mmio 0xfe000000 4 1 > /dev/null
pp50=() ppmean=() fl50=() flmean=()
for _ in $(seq "$repeats"); do
        out=$("$sim/xensim-pingpong" "$rounds")
        pp50+=("$(sed -n 's/.* p50 \([0-9.]*\)us.*/\1/p' <<< "$out")")
        ppmean+=("$(sed -n 's/.* mean \([0-9.]*\)us.*/\1/p' <<< "$out")")
        out=$("$sim/xensim" load --json --count "$rounds" "$domid" mmio 0xfe000000 4 1)
        fl50+=("$(sed -n 's/.*"p50_us":\([0-9.]*\).*/\1/p' <<< "$out")")
        flmean+=("$(sed -n 's/.*"mean_us":\([0-9.]*\).*/\1/p' <<< "$out")")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
p=$(median "${pp50[@]}"); pm=$(median "${ppmean[@]}")
f=$(median "${fl50[@]}"); fm=$(median "${flmean[@]}")
echo "eventfd ping-pong round trip:      p50 ${p}us mean ${pm}us  (median of $repeats x $rounds)"
echo "guest -> floor server -> guest:    p50 ${f}us mean ${fm}us  (median of $repeats x $rounds)"
awk -v f="$f" -v p="$p" -v fm="$fm" -v pm="$pm" 'BEGIN {
        printf "ratio (floor / ping-pong):         p50 %.2fx mean %.2fx  (target <= 1.5x)\n", f / p, fm / pm }'
echo "reproduce: $0 -n $rounds -r $repeats $sim"
