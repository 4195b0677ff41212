#!/usr/bin/env bash
# TFTP: a 64 KiB config, sealed by sealboot on the fly (P-256, AES-256-CBC,
# PEM), fetched by 16 concurrent clients with blksize 1468, against dnsmasq
# and tftpd-hpa serving the very same bytes as a static file. The same
# client (test/tftpbench) measures all of them in this run, on loopback.
source "$(dirname "$0")/lib.sh"
need dnsmasq in.tftpd jq bc
FILES=${TFTP_FILES:-1000}
TRANSFERS=${TFTP_TRANSFERS:-4000}
# The warm run cycles through all FILES sealed configs: the cache must hold
# them all (~87 KiB each), or least-recently-used eviction makes every
# "warm" fetch a cold one. The default tftp.cache_size, 64 MiB, holds ~750.
CACHE=$((FILES * 128 / 1024 + 16))MiB

mkdir -p "$T/state/keys" "$T/state/configs" "$T/root"
chmod 700 "$T/state/configs"
"$SB" device keygen --count "$FILES" --serial-prefix TB --out "$T/devkeys" --certs-dir "$T/state/keys" >/dev/null
head -c 49152 /dev/urandom | base64 -w 76 >"$T/config" && truncate -s 65536 "$T/config" # no head -c: SIGPIPE under pipefail
for crt in "$T"/state/keys/*.crt; do cp "$T/config" "$T/state/configs/$(basename "$crt" .crt).cfg"; done
pattern=TB%0$(($(ls "$T/state/keys" | grep -c crt) > 9999 ? ${#FILES} : 4))d.enc
# Placed well before the devices ask, as in a POP (no settle delay pending).
find "$T/state" -type f -exec touch -d '-1 minute' {} +

SEALBOOT_STATE_DIR=$T/state SEALBOOT_TFTP_LISTEN=127.0.0.2:69 SEALBOOT_TFTP_MAX_PER_CLIENT=64 \
	SEALBOOT_TFTP_CACHE_SIZE=$CACHE \
	SEALBOOT_LOG_FORMAT=json "$SB" serve 2>"$T/sealboot.log" &
PIDS+=($!)
SBPID=$!
wait_log "$T/sealboot.log" '"sealboot ready"'

# bench SERVER PATTERN FILES TRANSFERS NAME PID: run the client, and record
# the server's CPU time per transfer.
bench() {
	local before after
	before=$(cpu_ms "$6")
	"$BIN/tftpbench" -server "$1" -pattern "$2" -files "$3" -transfers "$4" -workers 16 -blksize 1468 >"$T/$5.json"
	after=$(cpu_ms "$6")
	echo "scale=3; ($after - $before) / $4" | bc >"$T/$5.cpu"
}
bench 127.0.0.2:69 "$pattern" "$FILES" "$FILES" cold "$SBPID"     # every transfer seals a new config
skip=$(wc -l <"$T/sealboot.log")
bench 127.0.0.2:69 "$pattern" "$FILES" "$TRANSFERS" warm "$SBPID" # the same configs again: from the cache
warm_hits=$(tail -n +"$((skip + 1))" "$T/sealboot.log" | grep '"event":"tftp.fetch"' | grep -c '"cached":true' || true)

curl -s -o "$T/root/sealed1.enc" "tftp://127.0.0.2:69/$(printf "$pattern" 1)"
dnsmasq --no-daemon --port=0 --no-resolv --enable-tftp --tftp-root="$T/root" --listen-address=127.0.0.3 \
	--bind-interfaces --pid-file="$T/dnsmasq.pid" --tftp-max=64 2>"$T/dnsmasq.log" &
PIDS+=($!)
DMPID=$!
in.tftpd -L -s "$T/root" -a 127.0.0.4:69 2>"$T/tftpd.log" &
PIDS+=($!)
THPID=$!
sleep 0.5 # neither has a readiness signal; tftpbench fails loudly if they are not up
bench 127.0.0.3:69 sealed%d.enc 1 "$TRANSFERS" dnsmasq "$DMPID"
bench 127.0.0.4:69 sealed%d.enc 1 "$TRANSFERS" tftpd "$THPID" # forks per transfer: its children's CPU is not counted

d=$(jqn "$T/dnsmasq.json" per_second)
echo "### TFTP: 64 KiB config, 16 concurrent clients, blksize 1468"
echo
echo "| server | transfers/s | vs dnsmasq | server CPU ms per transfer |"
echo "|---|---|---|---|"
for s in "cold:sealboot, sealing every transfer (cache cold)" "warm:sealboot, cache warm" "dnsmasq:dnsmasq $(dnsmasq --version | sed -n 1p | cut -d' ' -f3), static file" "tftpd:tftpd-hpa, static file"; do
	f=${s%%:*} name=${s#*:}
	v=$(jqn "$T/$f.json" per_second)
	printf "| %s | %.0f | %.2f× | %.3f |\n" "$name" "$v" "$(ratio "$v" "$d")" "$(cat "$T/$f.cpu")"
done
echo
echo "$(jqn "$T/warm.json" bytes_per_transfer) bytes per transfer (the sealed PEM of a 65536-byte config); $FILES distinct devices for the cold run, $TRANSFERS transfers otherwise; sealboot logging every fetch as it does in production; warm run: $warm_hits of $TRANSFERS fetches served from the cache (tftp.cache_size=$CACHE); all clients share 127.0.0.1, so sealboot runs with tftp.max_per_client=64."
