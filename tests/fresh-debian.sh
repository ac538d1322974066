#!/bin/sh
# tests/fresh-debian.sh [DIR]: check that `make check` installs what it
# needs on a fresh Debian 12, which a run on a developer's machine cannot
# show.  Makes a minimal bookworm in DIR (debootstrap --variant=minbase,
# then make and git), clones this repository's HEAD into it with ../shared
# beside it, and runs .ci/run there as root.  DIR is kept, so a second run
# only re-clones and re-runs; remove it to start from nothing again.
#
# The run is in a mount namespace of its own whose root is DIR (pivot_root
# rather than chroot: systemd-analyze inspect-elf forks into a new user
# namespace, which the kernel refuses to a chrooted process).  Its mounts
# (proc, sys, dev, a tmpfs on /tmp) go away with it.
#
# Needs root, debootstrap and a Debian mirror (MIRROR, default
# deb.debian.org).  Not part of make check.
#
#   sudo sh tests/fresh-debian.sh /var/tmp/ukit-fresh
set -eu
TOP=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:-/var/tmp/ukit-fresh}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY=${SECURITY:-http://deb.debian.org/debian-security}

if [ "$(id -u)" != 0 ]; then
	echo "fresh-debian: must run as root" >&2
	exit 2
fi
command -v debootstrap >/dev/null || {
	echo "fresh-debian: needs debootstrap (apt-get install debootstrap)" >&2
	exit 2
}
[ -d "$TOP/../shared" ] || {
	echo "fresh-debian: $TOP/../shared not found" >&2
	exit 2
}

if [ ! -x "$DIR/usr/bin/make" ]; then
	debootstrap --variant=minbase bookworm "$DIR" "$MIRROR"
	cat >"$DIR/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb $SECURITY bookworm-security main
EOF
	cp /etc/resolv.conf "$DIR/etc/resolv.conf"
	chroot "$DIR" /bin/sh -c 'apt-get update -q &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends make git'
fi

# The host's own certificate authorities (a TLS-inspecting proxy's, for
# one) go in with its resolv.conf: npm reaches its registry through them.
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
	mkdir -p "$DIR/usr/local/share/ca-certificates"
	cp /usr/local/share/ca-certificates/*.crt \
		"$DIR/usr/local/share/ca-certificates/"
	if [ -x "$DIR/usr/sbin/update-ca-certificates" ]; then
		chroot "$DIR" /usr/sbin/update-ca-certificates >/dev/null
	fi
fi

rm -rf "$DIR/root/ci"
mkdir -p "$DIR/root/ci"
git clone -q "$TOP" "$DIR/root/ci/main"
cp -a "$TOP/../shared" "$DIR/root/ci/shared"
echo "fresh-debian: $(git -C "$TOP" log -1 --format='%h %s') in $DIR"

unshare -m /bin/sh -eu -c '
	mount --make-rprivate /
	mount --bind "$1" "$1"
	cd "$1"
	mount -t proc proc proc
	mount --rbind /sys sys
	mount --rbind /dev dev
	mount -t tmpfs tmpfs tmp
	mkdir -p .oldroot
	pivot_root . .oldroot
	exec /usr/sbin/chroot . /bin/sh -c "umount -l /.oldroot &&
		cd /root/ci/main &&
		HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
		CI=true sh .ci/run </dev/null"
' fresh-debian "$DIR"
