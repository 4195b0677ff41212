#!/usr/bin/env bash
# Builds (once) the minimal Debian root the systemd end-to-end test boots
# systemd in, and prints its path. The root is cached: later runs (and CI
# runs on the same machine) reuse it. debootstrap reads the mirror of the
# host's apt sources, so it works wherever apt-get does.
#
#   test/systemd/rootfs.sh [CACHE_DIR]   (default /var/cache/sealboot-test)
set -euo pipefail

cache=${1:-${SEALBOOT_ROOTFS_CACHE:-/var/cache/sealboot-test}}
suite=${SEALBOOT_ROOTFS_SUITE:-$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")}
# Bump when the package list changes, so that a stale cache is rebuilt.
version=1
root=$cache/$suite-systemd-v$version
include=systemd,systemd-sysv,dbus,iproute2,procps

if [ -e "$root/.complete" ]; then
	echo "$root"
	exit 0
fi
[ "$(id -u)" -eq 0 ] || { echo "rootfs.sh: needs root" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "rootfs.sh: debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }

# The mirror apt uses (deb822 or one-line sources).
mirror=${SEALBOOT_ROOTFS_MIRROR:-}
if [ -z "$mirror" ]; then
	mirror=$(grep -hs -m1 -E '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -1 || true)
fi
if [ -z "$mirror" ]; then
	mirror=$(grep -hs -E '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{print $2}' | grep -v security | head -1 || true)
fi
mirror=${mirror:-http://deb.debian.org/debian}

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9 # one build at a time
if [ -e "$root/.complete" ]; then
	echo "$root"
	exit 0
fi
tmp=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "rootfs.sh: debootstrap $suite from $mirror into $root (once; about a minute or two)" >&2
debootstrap --variant=minbase --include="$include" "$suite" "$tmp/root" "$mirror" >"$tmp/log" 2>&1 || {
	tail -20 "$tmp/log" >&2
	exit 1
}
# A quiet, fast boot: no getty on a console there is none of, no units
# that need hardware or a network.
ln -sf /dev/null "$tmp/root/etc/systemd/system/getty@.service"
ln -sf /dev/null "$tmp/root/etc/systemd/system/console-getty.service"
ln -sf /dev/null "$tmp/root/etc/systemd/system/systemd-networkd-wait-online.service"
ln -sf /dev/null "$tmp/root/etc/systemd/system/systemd-timesyncd.service"
echo sealboot-test >"$tmp/root/etc/hostname"
rm -rf "$root"
mv "$tmp/root" "$root"
touch "$root/.complete"
echo "$root"
