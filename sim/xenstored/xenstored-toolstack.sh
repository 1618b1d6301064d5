#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-only
# The toolstack's part of a domain's life against xensim-xenstored, through
# the real libxenstore (xensim-xs): the keys libxl writes under
# /local/domain/N (FACTS 9a), XS_INTRODUCE firing @introduceDomain once they
# exist (9b, 9c), then xl destroy: the nodes go, then one @releaseDomain (9f).
# Usable as a template by a toolstack script; run by `make check`.
set -eu

bindir=${XENSIM_BINDIR:-.}
dir=$(mktemp -d /tmp/xensim-xs-sh.XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$bindir/xensim-xenstored" --socket "$dir/socket" >"$dir/log" 2>&1 &
pid=$!
i=0
until grep -q '^READY' "$dir/log" 2>/dev/null; do
	i=$((i + 1))
	[ $i -le 100 ] || fail "xensim-xenstored not ready after 10 s"
	sleep 0.1
done
export XENSTORED_PATH="$dir/socket"
xs() { "$bindir/xensim-xs" "$@"; }

# A dom0 daemon's view: one watch per special path, events printed as they come.
xs watch @introduceDomain I 2 10 >"$dir/intro" &
w1=$!
xs watch @releaseDomain R 2 10 >"$dir/release" &
w2=$!
# Both watches fired once at registration.
i=0
until [ -s "$dir/intro" ] && [ -s "$dir/release" ]; do
	i=$((i + 1))
	[ $i -le 100 ] || fail "watches did not fire at registration"
	sleep 0.1
done

# xl create -p: the domain's keys, then introduce.
d=/local/domain/1
xs write $d/vm /vm/00000000-0000-0000-0000-000000000001
xs write $d/name g1
xs mkdir $d/device
xs mkdir $d/control
xs write $d/control/platform-feature-multiprocessor-suspend 1
xs write $d/control/platform-feature-xs_reset_watches 1
xs write $d/memory/static-max 131072
xs write $d/memory/target 131072
xs write $d/memory/videoram 0
xs write $d/domid 1
xs write $d/store/port 1
xs write $d/store/ring-ref 1044476
xs write $d/cpu/0/availability online
xs introduce 1 1044476 1
[ "$(xs is-introduced 1)" = T ] || fail "domain 1 not introduced"
[ "$(xs domain-path 1)" = $d ] || fail "GET_DOMAIN_PATH"
[ "$(xs read $d/name)" = g1 ] || fail "name"

# xl destroy: the nodes go first, then the domain is released.
xs rm $d
xs release 1
[ "$(xs is-introduced 1)" = F ] || fail "domain 1 still introduced"
if xs read $d/name 2>/dev/null; then fail "$d/name still there"; fi

wait $w1 || fail "@introduceDomain events missing"
wait $w2 || fail "@releaseDomain events missing"
[ "$(cat "$dir/intro")" = "@introduceDomain I
@introduceDomain I" ] || fail "introduce events: $(cat "$dir/intro")"
[ "$(cat "$dir/release")" = "@releaseDomain R
@releaseDomain R" ] || fail "release events: $(cat "$dir/release")"

kill "$pid"
wait "$pid" || fail "xensim-xenstored exit status $?"
pid=
[ ! -e "$dir/socket" ] || fail "socket left behind"
echo ok
