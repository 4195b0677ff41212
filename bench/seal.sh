#!/usr/bin/env bash
# Sealing a 64 KiB config: sealboot's in-process CMS (go test -bench) against
# one `openssl cms -encrypt` process per file, the RFC 8886 Appendix A
# workflow, measured in the same run. Prints a markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${SEAL_RUNS:-50}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

head -c 49152 /dev/urandom | base64 -w 70 >"$tmp/config" && truncate -s 65536 "$tmp/config" # no head -c: SIGPIPE under pipefail
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/rsa2048.key" -subj /CN=SN-RSA -days 1 -out "$tmp/rsa2048.crt" 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/p256.key" -subj /CN=SN-EC -days 1 -out "$tmp/p256.crt" 2>/dev/null

# sealboot: ns/op of the PEM benchmarks.
go test -run '^$' -bench 'Seal64KiB/.*/PEM' -benchtime 2s ./keystore/cms >"$tmp/bench.txt"
ns() { awk -v n="$1" '$1 ~ n {print $3}' "$tmp/bench.txt"; }

# openssl: mean wall time of one process.
openssl_ms() {
	local cert=$1 start end
	start=$(date +%s%N)
	for _ in $(seq "$runs"); do
		openssl cms -encrypt -binary -aes256 -outform PEM -in "$tmp/config" -out "$tmp/out" "$cert"
	done
	end=$(date +%s%N)
	echo "scale=3; ($end - $start) / $runs / 1000000" | bc
}

echo "### Sealing a 64 KiB config: in process vs an openssl process per file"
echo
echo "| recipient | sealboot Seal (ms) | openssl cms -encrypt process (ms) | ratio |"
echo "|---|---|---|---|"
for kt in rsa2048 p256; do
	s=$(echo "scale=3; $(ns "Seal64KiB/$kt/PEM") / 1000000" | bc)
	o=$(openssl_ms "$tmp/$kt.crt")
	r=$(echo "scale=1; $o / $s" | bc)
	printf "| %s | %.3f | %.3f | %.1f× |\n" "$kt" "$s" "$o" "$r"
done
echo
echo "64 KiB config, AES-256-CBC, PEM output; openssl mean of $runs runs; $(nproc) CPUs, $(openssl version | cut -d' ' -f1-2), $(go version | cut -d' ' -f3)."
