#!/usr/bin/env bash
# DHCPv4: the highest rate of 4-way exchanges (DISCOVER, OFFER, REQUEST,
# ACK) each server sustains with under 1% drops, measured by perfdhcp in a
# client namespace against sealboot and Kea 2.2 (memfile, persist on), each
# in its own server namespace, step by step in the same run. perfdhcp acts as
# a relay (giaddr), with 30,000 distinct clients each presenting a Juniper
# serial in option 60, so sealboot takes its full path: identity, lease
# (journalled), boot options, events.
source "$(dirname "$0")/lib.sh"
need perfdhcp kea-dhcp4 jq bc
PERIOD=${DHCP_PERIOD:-8}
NAMESPACES="sbpS sbpC sbkS sbkC"
# Two identical labs, sealboot in one and Kea in the other, both running
# throughout: every rate step measures one right after the other, so a
# slow drift of the machine affects both alike.
dhcp_lab sbpS sbpC sbp
dhcp_lab sbkS sbkC sbk
VC=$(printf 'Juniper-mx204-JN000001' | xxd -p)

# perf CLIENT_NS IFACE RATE SECONDS: perfdhcp's worst drop ratio (%) of the
# two exchanges, the rate it achieved, the CPU cores perfdhcp itself used,
# and how busy the whole machine was (%) meanwhile: on a small machine the
# client competes with the server for the same CPUs.
perf() {
	local b0 b1 out
	b0=$(busy)
	out=$( (${CLIENT_PIN:-} ip netns exec "$1" perfdhcp -4 -l "$2" -r "$3" -R 30000 -p "$4" -o "60,$VC" 2>&1 |
		awk '/drops ratio/ {v=$3+0; if (v>m) m=v} /^Rate:/ {r=$2} END {printf "%.3f %s\n", m, r}'
	times) | awk -v p="$4" 'NR==1 {print; next} NR==3 {split($0, t, /[ ms]+/); printf "%.2f\n", (t[1]*60 + t[2] + t[3]*60 + t[4]) / p}')
	b1=$(busy)
	echo $out "$(echo "$b0 $b1" | awk '{printf "%.0f", 100 * ($3 - $1) / (($3 + $4) - ($1 + $2))}')"
}

# busy: the machine's busy and idle CPU time so far (jiffies).
busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6}' /proc/stat; }

# cpu NAME CLIENT_NS IFACE PID: server CPU time per 4-way exchange at a rate
# both sustain, a steadier figure than the highest rate.
CPURATE=${DHCP_CPU_RATE:-2000}
cpu() {
	local before after d achieved
	before=$(cpu_ms "$4")
	read -r d achieved _ _ < <(perf "$2" "$3" "$CPURATE" 10)
	after=$(cpu_ms "$4")
	echo "  $1 at $CPURATE/s: achieved $achieved/s (drops $d%), $(echo "$after - $before" | bc) ms CPU" >&2
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
SBPID=$!
wait_log "$T/sb/log" '"sealboot ready"'

kea4_json sbk0 "$T/kea/leases4.csv" "$T/kea/log" >"$T/kea/kea.json"
ip netns exec sbkS kea-dhcp4 -c "$T/kea/kea.json" >"$T/kea/out" 2>&1 &
PIDS+=($!)
KEAPID=$!
wait_log "$T/kea/log" DHCP4_STARTED

SBCPU=$(cpu sealboot sbpC sbp1 "$SBPID")
KEACPU=$(cpu kea sbkC sbk1 "$KEAPID")

# ladder FROM TO: the rate ladder, both servers at each step (alternating
# which goes first); a server's result is the highest step it passed with
# under 1% drops, and it leaves the ladder after two failed steps in a row.
# Keyed by sb and kea, it sets RATE (the highest step passed), SAT
# (perfdhcp's cores and the machine's busy % at that step) and US[who:rate]
# (the server's CPU µs per exchange at each step passed).
declare -A NAME=([sb]=sealboot [kea]=kea) NS=([sb]=sbpC [kea]=sbkC) IF=([sb]=sbp1 [kea]=sbk1) RATE SAT US
ladder() {
	local r who d achieved client machine c0 c1 step=0
	local -A fail=([sb]=0 [kea]=0)
	RATE=([sb]=0 [kea]=0) SAT=([sb]="0 0" [kea]="0 0") US=()
	for ((r = $1; r <= $2; r += ${DHCP_STEP:-1000})); do
		((fail[sb] >= 2 && fail[kea] >= 2)) && break
		order="sb kea"
		((step++ % 2)) && order="kea sb"
		for who in $order; do
			((fail[$who] >= 2)) && continue
			c0=$(cpu_ms "${PID[$who]}")
			read -r d achieved client machine < <(perf "${NS[$who]}" "${IF[$who]}" "$r" "$PERIOD")
			c1=$(cpu_ms "${PID[$who]}")
			echo "  ${NAME[$who]} at $r/s: drops $d%, achieved $achieved/s, perfdhcp $client cores, machine $machine% busy, server $(echo "scale=2; ($c1 - $c0) / ($PERIOD * 1000)" | bc) cores" >&2
			if (($(echo "$d < 1" | bc))); then
				RATE[$who]=$r fail[$who]=0 SAT[$who]="$client $machine"
				US[$who:$r]=$(echo "scale=1; ($c1 - $c0) * 1000 / ($achieved * $PERIOD)" | bc)
			else
				fail[$who]=$((fail[$who] + 1))
			fi
		done
	done
}
declare -A PID=([sb]=$SBPID [kea]=$KEAPID)
ladder "${DHCP_FROM:-2000}" "${DHCP_TO:-20000}"
OPEN=("${RATE[sb]}" "${RATE[kea]}" ${SAT[sb]} ${SAT[kea]})

# The same ladder with each server alone on CPU 0 and perfdhcp alone on
# CPU 1: the servers no longer compete with the client for a CPU, so this
# shows how far one core of each goes, and whether perfdhcp's own core is
# what stops the ladder (perfdhcp near 1.00 cores at the top step).
PINNED=${DHCP_PINNED:-1}
(($(nproc) >= 2)) || PINNED=0
if ((PINNED)); then
	taskset -a -pc 0 "$SBPID" >/dev/null
	taskset -a -pc 0 "$KEAPID" >/dev/null
	sleep 2 # Go (1.25 on) lowers GOMAXPROCS to the CPUs now allowed within a second or so
	CLIENT_PIN="taskset -c 1"
	echo "  pinned: servers on CPU 0, perfdhcp on CPU 1" >&2
	ladder "${DHCP_PINNED_FROM:-6000}" "${DHCP_TO:-20000}"
fi

echo "### DHCPv4: highest rate with under 1% drops (perfdhcp, ${PERIOD}s per step, steps of ${DHCP_STEP:-1000}/s)"
echo
echo "| server | 4-way exchanges/s | vs Kea | at that rate: perfdhcp's CPU, machine busy | server CPU µs per exchange at $CPURATE/s | Kea's CPU / this |"
echo "|---|---|---|---|---|---|"
read -r osb okea osbc osbm okc okm <<<"${OPEN[*]}"
printf "| sealboot (durable leases: journal write before each ACK) | %d | %.2f× | %s cores, %s%% | %.1f | %.2f× |\n" "$osb" "$(ratio "$osb" "$okea")" "$osbc" "$osbm" "$SBCPU" "$(ratio "$KEACPU" "$SBCPU")"
printf "| Kea %s (memfile, persist on, defaults) | %d | 1.00× | %s cores, %s%% | %.1f | 1.00× |\n" "$(kea-dhcp4 -v)" "$okea" "$okc" "$okm" "$KEACPU"
echo
if ((PINNED)); then
	SBRATE=${RATE[sb]} KEARATE=${RATE[kea]}
	read -r sbc _ <<<"${SAT[sb]}"
	read -r kc _ <<<"${SAT[kea]}"
	common=$((SBRATE < KEARATE ? SBRATE : KEARATE))
	echo "Each server alone on CPU 0, perfdhcp alone on CPU 1 (taskset), the same ladder from ${DHCP_PINNED_FROM:-6000}/s:"
	echo
	echo "| server, pinned | 4-way exchanges/s | vs Kea | perfdhcp's CPU at that rate | server CPU µs per exchange at that rate | at $common/s, the highest step both passed |"
	echo "|---|---|---|---|---|---|"
	printf "| sealboot | %d | %.2f× | %s cores | %s | %s |\n" "$SBRATE" "$(ratio "$SBRATE" "$KEARATE")" "$sbc" "${US[sb:$SBRATE]:-}" "${US[sb:$common]:-}"
	printf "| Kea | %d | 1.00× | %s cores | %s | %s |\n" "$KEARATE" "$kc" "${US[kea:$KEARATE]:-}" "${US[kea:$common]:-}"
	echo
	echo "Where perfdhcp's CPU is close to 1.00 cores at a server's highest step, the client's one core, not the server's, ended the ladder."
	echo
fi
echo "perfdhcp as a relay, 30,000 clients with a Juniper serial in option 60; each server logs at Info, as shipped. perfdhcp runs on the same $(nproc) CPUs as the servers: where the machine is close to 100% busy at a server's highest rate, that rate is the machine's limit (client and server together), not the server's alone."
