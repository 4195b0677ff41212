#!/usr/bin/env bash
# DHCP server CPU per exchange, sealboot against Kea 2.2 (memfile, persist
# on), DHCPv4 and DHCPv6, at 1,000, 3,000 and 10,000 exchanges/s: the
# figure that tells an operator what sealboot costs and how far it would
# scale, which the peak-rate ladder (bench/dhcp.sh) cannot on a 2-CPU
# machine. Same layout as bench/dhcp.sh: each server in its own pair of
# namespaces joined by veth, perfdhcp in the client namespace as a relay
# (v4) or on the link (v6), 30,000 clients each with a serial (Juniper in
# v4 option 60, Arista in v6 option 16), so sealboot takes its full path:
# identity, lease journalled before the answer, boot options, events.
# The servers share CPU 0 and perfdhcp has CPU 1 (taskset), so neither
# competes with the client; at each rate the two servers run one right
# after the other, alternating which goes first.
source "$(dirname "$0")/lib.sh"
need perfdhcp kea-dhcp4 kea-dhcp6 jq bc taskset
PERIOD=${DHCPCPU_PERIOD:-10}
RATES=${DHCPCPU_RATES:-1000 3000 10000}
NAMESPACES="sbcS sbcC kbcS kbcC fbcS fbcC"
dhcp_lab sbcS sbcC sbc
dhcp_lab kbcS kbcC kbc
dhcp_lab fbcS fbcC fbc
VC4=$(printf 'Juniper-mx204-JN000001' | xxd -p)
A6='Arista;DCS-7050SX3;01.00;JPE00000001'
VC6=$(printf '00007571%04x' ${#A6})$(printf '%s' "$A6" | xxd -p | tr -d '\n')

mkdir -p "$T/sb" "$T/kea" /run/kea
cat >"$T/sb/sealboot.yaml" <<YAML
state_dir: $T/sb
tftp:
  listen: ["10.0.0.1:69"]
dhcp:
  enabled: true
  v4:
    interfaces: [sbc0]
    pool: 10.0.0.3-10.0.0.9
    netmask: 255.255.0.0
    subnets:
      - network: 10.0.0.0/16
        pool: 10.0.1.0-10.0.255.250
        netmask: 255.255.0.0
        lease_time: 1h
  v6:
    interfaces: [sbc0]
    pool: fd00::1:0-fd00::1:ffff
    tftp_server: fd00::1
    lease_time: 1h
YAML
ip netns exec sbcS taskset -c 0 "$SB" serve --config "$T/sb/sealboot.yaml" 2>"$T/sb/log" &
PIDS+=($!)
SBPID=$!
wait_log "$T/sb/log" '"sealboot ready"'

kea4_json kbc0 "$T/kea/leases4.csv" "$T/kea/log4" >"$T/kea/kea4.json"
cat >"$T/kea/kea6.json" <<JSON
{"Dhcp6": {
  "interfaces-config": {"interfaces": ["kbc0"]},
  "lease-database": {"type": "memfile", "persist": true, "name": "$T/kea/leases6.csv", "lfc-interval": 3600},
  "server-id": {"type": "LL", "persist": false},
  "preferred-lifetime": 3600, "valid-lifetime": 3600,
  "subnet6": [{"subnet": "fd00::/64", "interface": "kbc0", "pools": [{"pool": "fd00::1:0 - fd00::1:ffff"}],
    "option-data": [{"name": "bootfile-url", "data": "tftp://[fd00::1]/JPE00000001.enc"}]}],
  "loggers": [{"name": "kea-dhcp6", "output_options": [{"output": "$T/kea/log6"}], "severity": "INFO"}]
}}
JSON
ip netns exec kbcS taskset -c 0 kea-dhcp4 -c "$T/kea/kea4.json" >"$T/kea/out4" 2>&1 &
PIDS+=($!)
KEA4=$!
ip netns exec kbcS taskset -c 0 kea-dhcp6 -c "$T/kea/kea6.json" >"$T/kea/out6" 2>&1 &
PIDS+=($!)
KEA6=$!
wait_log "$T/kea/log4" DHCP4_STARTED
wait_log "$T/kea/log6" DHCP6_STARTED
# The floor (v4): test/dhcpfloor answers OFFER and ACK from one socket and
# one buffer, nothing else: what Go spends on the system calls and its
# runtime before any DHCP work.
ip netns exec fbcS taskset -c 0 "$BIN/dhcpfloor" -listen 0.0.0.0:67 -server 10.0.0.1 2>"$T/floor.err" &
PIDS+=($!)
FLOORPID=$!
taskset -a -pc 0 "$SBPID" >/dev/null
sleep 2 # Go lowers GOMAXPROCS to the CPUs allowed within a second or so

# measure FAMILY CLIENT_NS IFACE PID RATE: "µs-per-exchange achieved drops%".
measure() {
	local c0 c1 out drops achieved args=(-4 -l "$3" -o "60,$VC4")
	[ "$1" = 6 ] && args=(-6 -l "$3" -o "16,$VC6")
	c0=$(cpu_ms "$4")
	out=$(ip netns exec "$2" taskset -c 1 perfdhcp "${args[@]}" -r "$5" -R 30000 -p "$PERIOD" 2>&1 || true)
	c1=$(cpu_ms "$4")
	drops=$(awk '/drops ratio/ {v=$3+0; if (v>m) m=v} END {printf "%.2f", m}' <<<"$out")
	achieved=$(awk '/^Rate:/ {r=$2} END {print r+0}' <<<"$out")
	if [ "$(echo "$achieved > 0" | bc)" = 1 ]; then
		echo "$(echo "scale=1; ($c1 - $c0) * 1000 / ($achieved * $PERIOD)" | bc) $achieved $drops"
	else
		echo "- 0 100"
	fi
}

declare -A US ACH DROP
step=0
for fam in 4 6; do
	kpid=$KEA4
	[ "$fam" = 6 ] && kpid=$KEA6
	for r in $RATES; do
		order="sb kea"
		((step++ % 2)) && order="kea sb"
		[ "$fam" = 4 ] && order="$order floor"
		for who in $order; do
			if [ "$who" = sb ]; then
				read -r u a d < <(measure "$fam" sbcC sbc1 "$SBPID" "$r")
			elif [ "$who" = floor ]; then
				read -r u a d < <(measure "$fam" fbcC fbc1 "$FLOORPID" "$r")
			else
				read -r u a d < <(measure "$fam" kbcC kbc1 "$kpid" "$r")
			fi
			US[$who:$fam:$r]=$u ACH[$who:$fam:$r]=$a DROP[$who:$fam:$r]=$d
			echo "  v$fam $who at $r/s: $u µs per exchange, achieved $a/s, drops $d%, load $(cut -d' ' -f1 /proc/loadavg)" >&2
		done
	done
done

echo "### DHCP server CPU per exchange against Kea (each server on CPU 0, perfdhcp on CPU 1)"
echo
echo "perfdhcp ${PERIOD}s per rate, 30,000 clients with a serial (v4: Juniper in option 60, relayed; v6: Arista in option 16, on the link); both servers log at Info. Load average (1 min) at the end: $(cut -d' ' -f1 /proc/loadavg) on $(nproc) CPUs shared with other work: compare the ratios."
echo
echo "| family | rate asked | sealboot µs (achieved/s, drops) | Kea µs (achieved/s, drops) | sealboot / Kea | target | Go floor µs (achieved/s, drops) | floor / Kea |"
echo "|---|---|---|---|---|---|---|---|"
for fam in 4 6; do
	for r in $RATES; do
		s=${US[sb:$fam:$r]} k=${US[kea:$fam:$r]} x="-" target=""
		if [ "$s" != - ] && [ "$k" != - ]; then x=$(printf '%.2f×' "$(echo "scale=3; $s / $k" | bc)"); fi
		if [ "$fam" = 4 ]; then
			lim=1.0
			[ "$r" = 3000 ] && lim=0.67
			target="≤ ${lim}×"
			if [ "$x" != - ]; then
				if (($(echo "$s / $k <= $lim" | bc -l))); then target="$target met"; else target="$target **not met**"; fi
			fi
		fi
		f=${US[floor:$fam:$r]:-} fl="" fx=""
		if [ -n "$f" ]; then
			fl="$f (${ACH[floor:$fam:$r]}, ${DROP[floor:$fam:$r]}%)"
			[ "$f" != - ] && [ "$k" != - ] && fx=$(printf '%.2f×' "$(echo "scale=3; $f / $k" | bc)")
		fi
		printf '| DHCPv%s | %d/s | %s (%s, %s%%) | %s (%s, %s%%) | %s | %s | %s | %s |\n' "$fam" "$r" "$s" "${ACH[sb:$fam:$r]}" "${DROP[sb:$fam:$r]}" \
			"$k" "${ACH[kea:$fam:$r]}" "${DROP[kea:$fam:$r]}" "$x" "$target" "$fl" "$fx"
	done
done
echo
echo "µs per exchange: the server process's user + system CPU over the run (/proc), divided by the 4-way exchanges perfdhcp completed (SOLICIT/ADVERTISE/REQUEST/REPLY in v6). sealboot writes each lease to its journal before it answers; Kea's memfile appends to its CSV. The Go floor (test/dhcpfloor, v4 only) answers OFFER and ACK from one socket and one buffer and does nothing else — no leases, identity, options, log or journal: what a Go server spends on the receive and send system calls and its runtime before any DHCP work, on CPU 0 like the others. A target below the floor / Kea ratio cannot be met by any work inside sealboot."
