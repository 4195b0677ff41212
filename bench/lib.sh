# Shared by the bench/*.sh scripts: build the binaries once, a scratch
# directory removed on exit, and the machine description for results.md.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
T=$(mktemp -d /tmp/sealboot-bench.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	for ns in ${NAMESPACES:-}; do ip netns del "$ns" 2>/dev/null || true; done
	rm -rf "$T"
}
trap cleanup EXIT
[ -n "${BENCH_KEEP:-}" ] && trap - EXIT
BIN=${BENCH_BIN:-$T/bin}
mkdir -p "$BIN"
if [ ! -x "$BIN/sealboot" ]; then
	(cd "$ROOT" && CGO_ENABLED=0 go build -o "$BIN/sealboot" ./cmd/sealboot && go build -o "$BIN/tftpbench" ./test/tftpbench && go build -o "$BIN/slowlink" ./test/slowlink && go build -o "$BIN/httpfloor" ./test/httpfloor && go build -o "$BIN/dhcpfloor" ./test/dhcpfloor && go build -o "$BIN/tftpfloor" ./test/tftpfloor)
fi
SB=$BIN/sealboot
# Each sealboot serve the benches start gets its own control socket, not
# the host's /run/sealboot/admin.sock (a running service may hold it).
export SEALBOOT_ADMIN_SOCKET=$T/admin.sock

need() {
	for c in "$@"; do
		command -v "$c" >/dev/null || { echo "bench: $c is not installed (see test/deps.sh)" >&2; exit 1; }
	done
}

# wait_log FILE TEXT: wait until FILE contains TEXT (a server says it is ready).
wait_log() {
	local i
	for i in $(seq 600); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "bench: timed out waiting for '$2' in $1" >&2
	tail -5 "$1" >&2
	exit 1
}

# jqn FILE FIELD: a number from a JSON line.
jqn() { jq -r ".$2" "$1"; }

machine() {
	echo "$(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/{print $2}') GiB, Linux $(uname -r), $(go version | cut -d' ' -f3)"
}

ratio() { echo "scale=2; $1 / $2" | bc; }

# cpu_ms PID: CPU time (user + system) the process has used, in ms.
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) * 1000 / hz}' "/proc/$1/stat"; }

# dhcp_lab SERVER_NS CLIENT_NS PREFIX: a pair of namespaces joined by veth
# (PREFIX0 in the server's, PREFIX1 in the client's), 10.0.0.1/16 and
# 10.0.0.2/16, fd00::1/64 and fd00::2/64 without duplicate address
# detection (bench/dhcp.sh and bench/dhcpcpu.sh).
dhcp_lab() {
	ip netns add "$1" && ip netns add "$2"
	for ns in "$1" "$2"; do
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	done
	ip link add "${3}0" netns "$1" type veth peer name "${3}1" netns "$2"
	ip -n "$1" addr add 10.0.0.1/16 dev "${3}0"
	ip -n "$2" addr add 10.0.0.2/16 dev "${3}1"
	ip -n "$1" addr add fd00::1/64 dev "${3}0" nodad
	ip -n "$2" addr add fd00::2/64 dev "${3}1" nodad
	for ns in "$1" "$2"; do ip -n "$ns" link set lo up; done
	ip -n "$1" link set "${3}0" up && ip -n "$2" link set "${3}1" up
}

# kea4_json IFACE LEASES LOG: Kea 2.2's DHCPv4 configuration for the DHCP
# benches: memfile with persist on, the lab's 10.0.0.0/16 with the pool
# sealboot's configurations use, the same boot options, logging at Info.
kea4_json() {
	cat <<JSON
{"Dhcp4": {
  "interfaces-config": {"interfaces": ["$1"]},
  "lease-database": {"type": "memfile", "persist": true, "name": "$2", "lfc-interval": 3600},
  "valid-lifetime": 3600,
  "subnet4": [{"subnet": "10.0.0.0/16", "pools": [{"pool": "10.0.1.0 - 10.0.255.250"}],
    "next-server": "10.0.0.1", "boot-file-name": "JN000001.enc",
    "option-data": [{"name": "tftp-server-name", "data": "10.0.0.1"}, {"name": "boot-file-name", "data": "JN000001.enc"}]}],
  "loggers": [{"name": "kea-dhcp4", "output_options": [{"output": "$3"}], "severity": "INFO"}]
}}
JSON
}
