#!/bin/sh
# Install the Debian 12 packages that ukit's build, tests, demo, fuzzers
# and benchmarks need.  Idempotent: does nothing (not even apt-get update)
# when every package is already installed.  Must run as root when
# something is missing.  tests/fresh-debian.sh checks the list on a
# debootstrapped bookworm: libdw1 is what systemd-analyze inspect-elf
# dlopen()s (systemd does not depend on it), time is /usr/bin/time for the
# peak-RSS tests and bench/, bc is for bench/.
set -eu

PKGS="
build-essential pkg-config
libelf-dev libjansson-dev libssl-dev libqcow-dev libcmocka-dev zlib1g-dev libzstd-dev
libcurl4-openssl-dev
clang libclang-rt-14-dev llvm
binutils gcc-aarch64-linux-gnu gcc-powerpc64le-linux-gnu
qemu-utils libqcow-utils cryptsetup-bin minisign
softhsm2 opensc libengine-pkcs11-openssl openssl
python3 python3-jsonschema systemd libdw1 mandoc xxd e2fsprogs time bc cloc
grub-common grub-pc-bin grub-efi-amd64-bin mtools qemu-system-x86 ovmf gdisk
libcurl4-openssl-dev docker-registry skopeo umoci apache2-utils
strace
"

# sigstore-js (tests/node, pinned by its package-lock.json) verifies
# ukit's bundles in t78: node and npm from Debian unless a node with its
# own npm is installed already
node_deps() {
	[ -d tests/node ] || return 0
	[ -d tests/node/node_modules/@sigstore/verify ] &&
		[ tests/node/node_modules/.package-lock.json -nt tests/node/package-lock.json ] &&
		return 0
	echo "deps: npm ci in tests/node"
	(cd tests/node && npm ci --no-audit --no-fund --loglevel=error)
}

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done
command -v node >/dev/null || missing="$missing nodejs"
command -v npm >/dev/null || missing="$missing npm"

if [ -z "$missing" ]; then
	echo "deps: all packages present"
	node_deps
	exit 0
fi

echo "deps: installing:$missing"
if [ "$(id -u)" != 0 ]; then
	echo "deps: must run as root to install packages:$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
node_deps
