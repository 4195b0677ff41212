#!/usr/bin/env bash
# make bench: every side-by-side comparison in one run on this machine,
# printed and written to bench/results.md. Root (network namespaces).
# Each script is also runnable alone: bench/dhcp.sh, bench/dhcpcpu.sh, bench/tftp.sh,
# bench/http.sh, bench/fleet.sh, bench/sztp.sh, bench/scale.sh, bench/seal.sh, bench/sealed.sh, bench/slowlink.sh, bench/status.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "bench: run as root (network namespaces, port 69)" >&2; exit 1; }
"$(pwd)/test/deps.sh" >&2
BENCH_BIN=$(mktemp -d /tmp/sealboot-bench-bin.XXXXXX)
export BENCH_BIN
trap 'rm -rf "$BENCH_BIN"' EXIT
CGO_ENABLED=0 go build -o "$BENCH_BIN/sealboot" ./cmd/sealboot
go build -o "$BENCH_BIN/tftpbench" ./test/tftpbench
go build -o "$BENCH_BIN/slowlink" ./test/slowlink
MACHINE=$(bash -c 'source bench/lib.sh && machine')

out=$(mktemp)
{
	echo "# sealboot benchmarks"
	echo
	echo "Measured by \`make bench\` on $(date -u +%Y-%m-%d) at commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet -- . ':!bench/results.md' 2>/dev/null || echo ' (with local changes)')."
	echo "Machine: $MACHINE."
	echo "Every comparison runs its peers one after the other in the same run; compare the ratios, which machine noise affects far less than the absolute figures."
	echo
} >"$out"
for b in ${BENCHES:-dhcp dhcpcpu tftp http fleet sztp scale seal sealed slowlink status}; do
	echo "bench: $b..." >&2
	bash ${BENCH_TRACE:+-x} "bench/$b.sh" | tee -a "$out"
	echo | tee -a "$out"
done
mv "$out" bench/results.md
chmod 644 bench/results.md
echo "bench: written to bench/results.md" >&2
