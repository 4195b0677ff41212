#!/usr/bin/env bash
# An RFC 8886 device made of real tools only, run in the device's network
# namespace: dhclient (presenting a Juniper serial) → tftp-hpa from the
# next-server and file DHCP gave → openssl cms -decrypt with the device key.
# Usage: real_device.sh IFACE SERIAL KEY WORKDIR EXPECTED_CONFIG
set -euo pipefail
iface=$1 serial=$2 key=$3 work=$4 expected=$5
cd "$work"
cat >hook.sh <<HOOK
#!/bin/sh
case \$reason in BOUND|RENEW|REBOOT)
	printf 'ip=%s\\nserver=%s\\nfile=%s\\n' "\$new_ip_address" "\$new_next_server" "\$new_filename" >$work/lease.env
	ip addr add "\$new_ip_address/24" dev "\$interface";;
esac
HOOK
chmod +x hook.sh
printf 'send vendor-class-identifier "Juniper-mx204-%s";\n' "$serial" >dhclient.conf
dhclient -4 -1 -sf "$work/hook.sh" -cf "$work/dhclient.conf" -lf "$work/leases" -pf "$work/dhclient.pid" "$iface"
trap 'dhclient -x -pf "$work/dhclient.pid" 2>/dev/null || true' EXIT
. ./lease.env
echo "leased $ip; fetching $file from $server"
tftp -m binary "$server" -c get "$file" config.enc
head -1 config.enc | grep -qx -- '-----BEGIN PKCS7-----'
openssl cms -decrypt -inform PEM -in config.enc -inkey "$key" -out config.txt
cmp config.txt "$expected"
echo "installed $(wc -c <config.txt) bytes, sha256 $(sha256sum config.txt | cut -c1-16)…"
