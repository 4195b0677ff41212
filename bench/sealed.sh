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
count=${SEALED_COUNT:-5}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
go test -run '^$' -bench 'FetchKinds' -benchtime 1s -count "$count" ./tftpd/fetch >"$tmp"
# median ns/op of one sub-benchmark
med() {
	awk -v n="BenchmarkFetchKinds/$1-" 'index($1, n) == 1 {print $3}' "$tmp" | sort -n |
		awk '{a[NR] = $1} END {if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}
echo "### Sealed configs at rest: one fetch of a 64 KiB config (P-256 device), by kind of file"
echo
echo "| file in configs_dir | cold: µs per fetch | vs plaintext | cached: µs per fetch | vs plaintext |"
echo "|---|---|---|---|---|"
pc=$(med plaintext/cold) pw=$(med plaintext/cached)
for k in "plaintext:plaintext <serial>.cfg (read, seal)" \
	"appliance-p256:sealed to a P-256 appliance key, <serial>.cfg.cms (read, open, seal)" \
	"appliance-rsa2048:sealed to an RSA-2048 appliance key (read, open, seal)" \
	"presealed:presealed to the device, <serial>.enc (read, check recipients, as is)"; do
	name=${k%%:*} desc=${k#*:}
	c=$(med "$name/cold") w=$(med "$name/cached")
	printf "| %s | %.1f | %.2f× | %.2f | %.2f× |\n" "$desc" "$(echo "$c / 1000" | bc -l)" "$(echo "$c / $pc" | bc -l)" \
		"$(echo "$w / 1000" | bc -l)" "$(echo "$w / $pw" | bc -l)"
done
echo
echo "Median of $count runs of \`go test -bench FetchKinds ./tftpd/fetch\` (the fetch core's Prepare over the real configs directory, as TFTP and HTTP call it; the transfer itself is the same for every kind). Cold: the cache holds nothing, so every fetch reads the file, opens it with the appliance key when it is sealed to it, and seals to the device (a presealed file is checked against the certificate instead); a device meets this once per config version. Cached: the sealed bytes of that version are in the cache and the file is one stat; every retry and retransmission after the first fetch."
