#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# fidelity.sh BUILDDIR: the fidelity probe on xensim only, compared with the facts recorded on
# real Xen 4.17 (facts-xen-4.17.txt) -- no QEMU, about half a minute.  `make check-fidelity`.
# Prints the differences and a summary; exit status 1 on an unexpected difference.
set -u
SRC=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$SRC/../.." && pwd)
BUILD=$(cd "${1:?usage: fidelity.sh BUILDDIR}" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/xq-fidelity.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
if ! bash "$SRC/probe-xensim.sh" "$BUILD" "$WORK" > "$WORK/probe.log" 2>&1; then
    cat "$WORK/probe.log"; echo "FAIL: the probe did not complete on xensim"; exit 1
fi
bash "$SRC/compare.sh" "$SRC/facts-xen-4.17.txt" "$WORK/facts-xensim.txt" "$SRC/known-differences" \
    "$TOP/sim/README.md" | grep -v '^SAME '
rc=${PIPESTATUS[0]}
[ $rc -eq 0 ] && echo "PASS: xensim matches the recorded real-Xen facts" || echo "FAIL: xensim differs from real Xen 4.17"
exit $rc
