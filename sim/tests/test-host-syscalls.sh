#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-only
# xensim: system calls per event-channel operation, counted with strace in syscall-ops (which
# checks the results itself). Linux: xenevtchn_pending is one read() of /dev/xen/evtchn, also
# when it fails with EAGAIN or blocks; xenevtchn_unmask one write(); xenevtchn_notify one
# ioctl(). xensim must not cost more: at most one system call each, of the kind named below
# ("-" = none expected, at most one allowed).
set -u
sim=${XENSIM_BUILDDIR:-$(dirname "$0")}
[ -x "$sim/syscall-ops" ] || sim=$(pwd)
if ! command -v strace >/dev/null; then
        echo "SKIP: strace is not installed: system calls per operation not counted" >&2
        "$sim/syscall-ops" || exit 1
        exit 77
fi
log=$(mktemp /tmp/xensim-syscalls.XXXXXX)
trap 'rm -f "$log"' EXIT

# LeakSanitizer cannot run under ptrace (--enable-sanitizers builds); the other tests check leaks.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
if ! timeout 120 strace -f -qq -s 128 -o "$log" "$sim/syscall-ops"; then
        echo "FAIL: syscall-ops failed (under strace)" >&2
        exit 1
fi

# name → allowed system call (at most one call, and only this one)
expect="pending-eagain=read pending-first=read pending-last=read pending-eagain-after=read
unmask-deliver=write unmask-quiet=- pending-after-unmask=read pending-block=read notify=futex"

# Per marker pair of one thread: the calls made between begin and end ("resumed" lines are
# the second half of a call already counted).
awk '
/XENSIM-MARK begin / {
        match($0, /XENSIM-MARK begin [a-z-]+/); n = substr($0, RSTART + 18, RLENGTH - 18)
        open[$1] = n; calls[n] = ""; seen[n] = 1; next
}
/XENSIM-MARK end / { delete open[$1]; next }
($1 in open) && !/resumed>/ && !/^[0-9]+ (\+\+\+|---)/ {
        c = $2; sub(/\(.*/, "", c); calls[open[$1]] = calls[open[$1]] " " c
}
END { for (n in seen) printf "%s:%s\n", n, calls[n] }
' "$log" > "$log.counts"

fail=0
for e in $expect; do
        name=${e%%=*} want=${e#*=}
        line=$(grep "^$name:" "$log.counts")
        if [ -z "$line" ]; then
                echo "FAIL: $name: no markers in the trace" >&2
                fail=1
                continue
        fi
        got=$(echo "${line#*:}" | xargs)
        n=$(echo "$got" | wc -w)
        echo "$name: $n system call(s): ${got:-none}"
        if [ "$n" -gt 1 ] || { [ "$n" -eq 1 ] && [ "$want" != "$got" ]; }; then
                echo "FAIL: $name made [$got], allowed: at most one $want" >&2
                fail=1
        fi
done
rm -f "$log.counts"
exit $fail
