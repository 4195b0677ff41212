#!/usr/bin/env bash
# Takes a DHCPv4 lease with dhclient presenting a Juniper serial (option
# 60), adds the address to the interface and prints it. The dhclient stays
# (renewals); stop it with: dhclient -x -pf WORKDIR/dhclient.pid
# Usage: lease.sh IFACE SERIAL WORKDIR
set -euo pipefail
iface=$1 serial=$2 work=$3
mkdir -p "$work"
cd "$work"
cat >hook.sh <<HOOK
#!/bin/sh
case \$reason in BOUND|RENEW|REBOOT)
	printf '%s\n' "\$new_ip_address" >$work/ip
	ip addr add "\$new_ip_address/24" dev "\$interface";;
esac
HOOK
chmod +x hook.sh
printf 'send vendor-class-identifier "Juniper-mx204-%s";\n' "$serial" >dhclient.conf
dhclient -4 -1 -sf "$work/hook.sh" -cf "$work/dhclient.conf" -lf "$work/leases" -pf "$work/dhclient.pid" "$iface"
cat ip
