#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Smoke test of the benchmark suite: bench/run --quick must run every scenario and write
# every result and every target to its JSON file.  Speed is not judged here: a MISSED
# target passes, a scenario that failed or a result that is missing does not.
set -u

builddir=${BUILDDIR:?BUILDDIR must point at the top build directory}
srcdir=${SRCDIR:?SRCDIR must point at the top source directory}
out=$(mktemp -d /tmp/xirq-bench-smoke-XXXXXX) || exit 1
trap 'rm -rf "$out"' EXIT

# In a sanitizer build P4's program (bench-dispatch) cannot run under valgrind, so P4 (callgrind) is left out.
only= p4=1 ntargets=24
if [ "${XIRQ_SANITIZED:-0}" = 1 ]; then
	echo "P4 not run: this is an AddressSanitizer build, which valgrind cannot run"
	only="--only P1,P2,P3,VB,P6,R1,C1" p4=0 ntargets=23
fi
if ! timeout 300 "$srcdir/bench/run" --quick $only --builddir "$builddir" --json "$out/results.json" >"$out/log" 2>&1; then
	echo "FAIL: bench/run --quick failed:"
	cat "$out/log"
	exit 1
fi
fail=0
for key in '"id": "P1"' '"id": "P5"' '"id": "BP"' '"id": "P3"' \
	'"guests": 1, "vcpus": 1' '"guests": 4, "vcpus": 4' '"guests": 16, "vcpus": 16' \
	'"id": "P1.p50"' '"id": "P1.p99"' '"id": "BP.p50"' '"id": "P2.1"' '"id": "P2.16"' \
	'"id": "P2.256"' '"id": "P3.p99"' '"id": "VB"' '"id": "VB.cpu1"' '"id": "VB.cpu4"' '"id": "P3.attach"' '"id": "P3.rss"' '"id": "P3.wpriv"' \
	'"workers_served": ' '"worker_private_kib": ' '"cpu_processes": ' \
	'"id": "P6"' '"id": "P6.p50"' '"id": "P6.p99"' \
	'"id": "R1"' '"id": "R1.wstall"' '"id": "R1.pstall"' '"id": "R1.wlost"' '"id": "R1.plost"' \
	'"id": "R1.servers"' '"id": "R1.fds"' '"id": "R1.rss"' '"id": "R1.p99"' '"stall_ms": ' \
	'"id": "C1"' '"id": "C1.p99"' '"churned": ' \
	'"failed": ""' '"commit": ' '"nproc": '; do
	if ! grep -qF "$key" "$out/results.json"; then
		echo "FAIL: $key missing from the results"
		fail=1
	fi
done
if [ "$p4" = 1 ] && ! grep -qF '"id": "P4"' "$out/results.json"; then
	echo "FAIL: P4 missing from the results"
	fail=1
fi
n=$(grep -c '"status": "\(MET\|MISSED\)"' "$out/results.json")
if [ "$n" -ne "$ntargets" ]; then
	echo "FAIL: $n targets with a status, expected $ntargets"
	fail=1
fi
if [ "$fail" -ne 0 ]; then
	cat "$out/log"
	exit 1
fi
grep -E '^(P[0-9.a-z]+|BP\.p50|VB\.cpu[0-9]+|R1\.[a-z0-9]+|C1\.p99) ' "$out/log"
echo "PASS bench smoke"
