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
