#!/usr/bin/env bash
# DHCPv4: the highest rate of 4-way exchanges (DISCOVER, OFFER, REQUEST,
# ACK) each server sustains with under 1% drops, measured by perfdhcp in a
# client namespace against sealboot and then Kea 2.2 (memfile, persist on)
# in a server namespace, one after the other in this run. perfdhcp acts as
# a relay (giaddr), with 30,000 distinct clients each presenting a Juniper
# serial in option 60, so sealboot takes its full path: identity, lease
# (journalled), boot options, events.
source "$(dirname "$0")/lib.sh"
need perfdhcp kea-dhcp4 jq bc
PERIOD=${DHCP_PERIOD:-8}
NAMESPACES="sbpS sbpC"
ip netns add sbpS && ip netns add sbpC
ip link add sbp0 netns sbpS type veth peer name sbp1 netns sbpC
ip -n sbpS addr add 10.0.0.1/16 dev sbp0
ip -n sbpC addr add 10.0.0.2/16 dev sbp1
for ns in sbpS sbpC; do ip -n "$ns" link set lo up; done
ip -n sbpS link set sbp0 up && ip -n sbpC link set sbp1 up
VC=$(printf 'Juniper-mx204-JN000001' | xxd -p)

# drops RATE: perfdhcp's worst drop ratio (%) of the two exchanges at RATE.
drops() {
	ip netns exec sbpC perfdhcp -4 -l sbp1 -r "$1" -R 30000 -p "$PERIOD" -o "60,$VC" 2>&1 |
		awk '/drops ratio/ {v=$3+0; if (v>m) m=v} /^Rate:/ {r=$2} END {printf "%.3f %s\n", m, r}'
}

# maxrate NAME: double the rate until drops reach 1%, then bisect.
maxrate() {
	local lo=0 hi=0 r=1000 d
	while :; do
		read -r d achieved < <(drops "$r")
		echo "  $1 at $r/s: drops $d%, achieved $achieved/s" >&2
		if (($(echo "$d < 1" | bc))); then lo=$r; r=$((r * 2)); [ "$r" -gt 64000 ] && break; else hi=$r; break; fi
	done
	for _ in 1 2 3; do
		[ "$hi" -eq 0 ] && break
		r=$(((lo + hi) / 2))
		read -r d achieved < <(drops "$r")
		echo "  $1 at $r/s: drops $d%, achieved $achieved/s" >&2
		if (($(echo "$d < 1" | bc))); then lo=$r; else hi=$r; fi
	done
	echo "$lo"
}

# cpu NAME PID: server CPU time per 4-way exchange at a rate both sustain,
# a steadier figure than the highest rate.
CPURATE=${DHCP_CPU_RATE:-2000}
cpu() {
	local before after achieved
	before=$(cpu_ms "$2")
	achieved=$(ip netns exec sbpC perfdhcp -4 -l sbp1 -r "$CPURATE" -R 30000 -p 10 -o "60,$VC" 2>&1 | awk '/^Rate:/ {print $2}' || true)
	after=$(cpu_ms "$2")
	echo "  $1 at $CPURATE/s: achieved $achieved/s, $(echo "$after - $before" | bc) ms CPU" >&2
	echo "scale=1; ($after - $before) * 1000 / ($achieved * 10)" | bc
}

mkdir -p "$T/sb" "$T/kea" /run/kea
cat >"$T/sb/sealboot.yaml" <<YAML
state_dir: $T/sb
tftp:
  listen: ["10.0.0.1:69"]
dhcp:
  enabled: true
  v4:
    interfaces: [sbp0]
    pool: 10.0.0.3-10.0.0.9
    netmask: 255.255.0.0
    subnets:
      - network: 10.0.0.0/16
        pool: 10.0.1.0-10.0.255.250
        netmask: 255.255.0.0
        lease_time: 1h
YAML
ip netns exec sbpS "$SB" serve --config "$T/sb/sealboot.yaml" 2>"$T/sb/log" &
PIDS+=($!)
wait_log "$T/sb/log" '"sealboot ready"'
echo "sealboot:" >&2
SBRATE=$(maxrate sealboot)
SBCPU=$(cpu sealboot "${PIDS[-1]}")
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true

cat >"$T/kea/kea.json" <<JSON
{"Dhcp4": {
  "interfaces-config": {"interfaces": ["sbp0"]},
  "lease-database": {"type": "memfile", "persist": true, "name": "$T/kea/leases4.csv", "lfc-interval": 3600},
  "valid-lifetime": 3600,
  "subnet4": [{"subnet": "10.0.0.0/16", "pools": [{"pool": "10.0.1.0 - 10.0.255.250"}],
    "next-server": "10.0.0.1", "boot-file-name": "JN000001.enc",
    "option-data": [{"name": "tftp-server-name", "data": "10.0.0.1"}, {"name": "boot-file-name", "data": "JN000001.enc"}]}],
  "loggers": [{"name": "kea-dhcp4", "output_options": [{"output": "$T/kea/log"}], "severity": "INFO"}]
}}
JSON
ip netns exec sbpS kea-dhcp4 -c "$T/kea/kea.json" >"$T/kea/out" 2>&1 &
PIDS+=($!)
wait_log "$T/kea/log" DHCP4_STARTED
echo "Kea:" >&2
KEARATE=$(maxrate kea)
KEACPU=$(cpu kea "${PIDS[-1]}")

echo "### DHCPv4: highest rate with under 1% drops (perfdhcp, ${PERIOD}s per step)"
echo
echo "| server | 4-way exchanges/s | vs Kea | server CPU µs per exchange at $CPURATE/s | Kea's CPU / this |"
echo "|---|---|---|---|---|"
printf "| sealboot (durable leases: journal write before each ACK) | %d | %.2f× | %.1f | %.2f× |\n" "$SBRATE" "$(ratio "$SBRATE" "$KEARATE")" "$SBCPU" "$(ratio "$KEACPU" "$SBCPU")"
printf "| Kea %s (memfile, persist on, defaults) | %d | 1.00× | %.1f | 1.00× |\n" "$(kea-dhcp4 -v)" "$KEARATE" "$KEACPU"
echo
echo "perfdhcp as a relay, 30,000 clients with a Juniper serial in option 60; each server logs at Info, as shipped."
