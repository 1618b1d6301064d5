# Sourced by the scripts in this folder: installs the Debian packages a step needs.
# Usage: need_packages pkg...   (installs only what is missing; apt-get update once)

XIRQ_BUILD_PACKAGES="build-essential autoconf automake libtool pkg-config \
libxen-dev libev-dev libinih-dev libsystemd-dev libseccomp-dev"
XIRQ_TEST_PACKAGES="mandoc valgrind clang libclang-rt-14-dev systemd strace jq gdb"
# scripts/deb: building the Debian packages (the build also needs XIRQ_BUILD_PACKAGES; git lists
# the files of the tree to build), and what its install check adds to the root it installs into
XIRQ_DEB_PACKAGES="debhelper dpkg-dev lintian git"
XIRQ_DEB_CHECK_PACKAGES="gcc libc6-dev pkg-config"

need_packages() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo ">>> installing Debian packages: ${missing[*]}"
	if [ "$(id -u)" -ne 0 ]; then
		echo "error: packages missing and not root: ${missing[*]}" >&2
		return 1
	fi
	if [ -z "${XIRQ_APT_UPDATED:-}" ]; then
		apt-get update -qq || return 1
		XIRQ_APT_UPDATED=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null || return 1
}

# Configure (once) and build the tree in $1 with the remaining arguments to configure.
xirq_build() {
	local dir=$1; shift
	local top
	top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	[ -x "$top/configure" ] || (cd "$top" && autoreconf -fi) || return 1
	mkdir -p "$dir"
	(cd "$dir" && { [ -f Makefile ] || "$top/configure" -q "$@"; } && make -s -j"$(nproc)")
}
