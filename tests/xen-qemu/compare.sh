#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# compare.sh XEN_FACTS XENSIM_FACTS [KNOWN [README]]: diff the fidelity probe's facts from
# real Xen and from xensim ("name=value" lines).  A difference listed in KNOWN (lines
# "NAME | PHRASE | REASON", '#' comments) is reported as KNOWN, provided README (the
# simulator's README.md) contains PHRASE on one line; otherwise it is UNDOCUMENTED.  Any other difference, or a fact
# one side lacks, fails.  Last line: the summary; exit status 1 on an unexpected difference.
set -u
[ $# -ge 2 ] || { echo "usage: compare.sh XEN_FACTS XENSIM_FACTS [KNOWN [README]]" >&2; exit 2; }
known=${3:-/dev/null}
readme=${4:-}
awk -v KNOWN="$known" -v README="$readme" '
function val(s) { return substr(s, index(s, "=") + 1) }
function key(s) { return substr(s, 1, index(s, "=") - 1) }
BEGIN {
    while ((getline line < KNOWN) > 0) {
        if (line ~ /^[ \t]*(#|$)/) continue
        n = split(line, f, /[ \t]*\|[ \t]*/)
        k = f[1]; sub(/^[ \t]+/, "", k); why[k] = f[3]; phrase[k] = f[2]
    }
    if (README != "") {
        while ((getline line < README) > 0)
            for (k in why) if (phrase[k] != "" && index(line, phrase[k])) documented[k] = 1
        for (k in why) if (!(k in documented)) undoc[k] = 1
    }
}
/^#/ { next }
FNR == NR { if (index($0, "=")) { x[key($0)] = val($0); if (!(key($0) in seen)) { order[++nk] = key($0); seen[key($0)] = 1 } } next }
          { if (index($0, "=")) { s[key($0)] = val($0); if (!(key($0) in seen)) { order[++nk] = key($0); seen[key($0)] = 1 } } }
END {
    same = kn = bad = 0
    for (i = 1; i <= nk; i++) {
        k = order[i]
        if (!(k in x) || !(k in s)) {
            side = (k in x) ? "xensim" : "real Xen"
            if (k in why) { printf "KNOWN %s: missing on %s (%s)\n", k, side, why[k]; kn++ }
            else { printf "MISSING %s: not reported on %s\n", k, side; bad++ }
        } else if (x[k] == s[k]) {
            printf "SAME %s=%s\n", k, x[k]; same++
            if (k in why) printf "FIXED %s: equal now, remove it from the known differences\n", k
        } else if (k in undoc) {
            printf "UNDOCUMENTED %s: xen=%s xensim=%s (listed as known, but %s lacks \"%s\")\n", k, x[k], s[k], README, phrase[k]; bad++
        } else if (k in why) {
            printf "KNOWN %s: xen=%s xensim=%s (%s)\n", k, x[k], s[k], why[k]; kn++
        } else {
            printf "DIFF %s: xen=%s xensim=%s\n", k, x[k], s[k]; bad++
        }
    }
    for (k in why) if (!(k in seen)) printf "STALE %s: listed as known but not reported by the probe\n", k
    printf "%d facts: %d same, %d known differences, %d unexpected\n", nk, same, kn, bad
    exit bad ? 1 : 0
}' "$1" "$2"
