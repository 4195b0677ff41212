#!/usr/bin/env bash
# Sealed configs at rest: one fetch of a 64 KiB config to a P-256 device,
# by kind of file in configs_dir (plaintext; sealed to the appliance, opened
# then sealed to the device; presealed to the device, checked and served as
# it is), cold (nothing cached: the whole work, as for a new config) and
# cached (a retry: one stat). go test -bench in process (the fetch core over
# the real configs directory); the ratio is against plaintext in the same
# run. Prints a markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${SEALED_COUNT:-11}
benchtime=${SEALED_BENCHTIME:-300ms}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
go test -run '^$' -bench 'FetchKinds' -benchtime "$benchtime" -count "$count" ./tftpd/fetch >"$tmp"
# median of one sub-benchmark's metric (unit: ns/op or cpu-ns/op)
med() {
	awk -v n="BenchmarkFetchKinds/$1-" -v u="$2" 'index($1, n) == 1 {for (i = 3; i <= NF; i++) if ($i == u) print $(i - 1)}' "$tmp" | sort -n |
		awk '{a[NR] = $1} END {if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}
us() { printf "%.1f" "$(echo "$1 / 1000" | bc -l)"; }
ratio() { printf "%.2f×" "$(echo "$1 / $2" | bc -l)"; }
echo "### Sealed configs at rest: one fetch of a 64 KiB config (P-256 device), by kind of file"
echo
echo "| file in configs_dir | cold: CPU µs per fetch | vs plaintext | cold: wall µs | cached: CPU µs per fetch | vs plaintext |"
echo "|---|---|---|---|---|---|"
pc=$(med plaintext/cold cpu-ns/op) pw=$(med plaintext/cached cpu-ns/op)
for k in "plaintext:plaintext <serial>.cfg (read, seal)" \
	"appliance-p256:sealed to a P-256 appliance key, <serial>.cfg.cms (read, open, seal)" \
	"appliance-rsa2048:sealed to an RSA-2048 appliance key (read, open, seal)" \
	"presealed:presealed to the device, <serial>.enc (read, check recipients, as is)"; do
	name=${k%%:*} desc=${k#*:}
	c=$(med "$name/cold" cpu-ns/op) w=$(med "$name/cached" cpu-ns/op) cw=$(med "$name/cold" ns/op)
	echo "| $desc | $(us "$c") | $(ratio "$c" "$pc") | $(us "$cw") | $(us "$w") | $(ratio "$w" "$pw") |"
done
echo
echo "Median of $count interleaved runs ($benchtime each) of \`go test -bench FetchKinds ./tftpd/fetch\` (the fetch core's Prepare over the real configs directory, as TFTP and HTTP call it; the transfer itself is the same for every kind). CPU is the process's user and system time per fetch, garbage collection included (steadier than wall time when the machine is shared; load average during the run: $(cut -d' ' -f1-3 /proc/loadavg) at the end). Cold: the cache holds nothing, so every fetch reads the file, opens it with the appliance key when it is sealed to it, and seals to the device (a presealed file is checked against the certificate instead); a device meets this once per config version. Cached: the sealed bytes of that version are in the cache and the file is one stat; every retry and retransmission after the first fetch."
