#!/usr/bin/env bash
# Installs the Debian packages sealboot's tests use as real peers, when they are
# missing. Without root it only lists what is missing: tests that need a
# missing program skip and name its package.
set -euo pipefail

# package:command-it-provides (or a file it installs)
packages=(
	openssl:openssl
	iproute2:ip
	iputils-ping:ping
	isc-dhcp-client:dhclient
	isc-dhcp-relay:dhcrelay
	busybox:busybox
	dhcpcd-base:dhcpcd
	tftp-hpa:tftp
	atftp:atftp
	curl:curl
	rsync:rsync
	dnsmasq-base:dnsmasq
	tftpd-hpa:in.tftpd
	kea-dhcp4-server:kea-dhcp4
	kea-dhcp6-server:kea-dhcp6
	kea-admin:perfdhcp
	systemd:systemd-analyze
	jq:jq
	bc:bc
	xxd:xxd
	procps:pkill
	bash-completion:/usr/share/bash-completion/bash_completion
	prometheus:promtool
	chromium:chromium
	debootstrap:debootstrap
	nginx:nginx
	apache2-utils:ab
)

missing=()
for p in "${packages[@]}"; do
	pkg=${p%%:*} cmd=${p#*:}
	command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || [ -e "$cmd" ] || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "test/deps.sh: not root; missing packages (tests needing them will skip): ${missing[*]}" >&2
	exit 0
fi
# Keep the daemons these packages contain from starting at install time,
# and remove that block again however this script ends: left behind, it
# stops every later package's service from starting on this machine.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod +x /usr/sbin/policy-rc.d
fi
echo "test/deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
