#!/usr/bin/env bash
# Scale: 100,000 serials, each with a certificate in the keystore and a
# config in the watched directory. Measures `serve` start-up to ready
# (every certificate parsed and pinned, every config checked), its
# resident memory, and the delay from dropping a new config (write to a
# temporary name, rename into place) to the device's file being served,
# over 200 drops while all 100,000 are loaded. Targets: ready < 5 s,
# RSS < 300 MiB, p99 delay < 1 s (the settle delay, 250 ms by default, is
# part of it by design).
source "$(dirname "$0")/lib.sh"
need jq bc
N=${SCALE_SERIALS:-100000}
DROPS=${SCALE_DROPS:-200}
TOTAL=$((N + DROPS))
W=$((${#TOTAL} > 4 ? ${#TOTAL} : 4)) # serial width, as device keygen --count writes them

mkdir -p "$T/state/keys" "$T/state/configs"
chmod 700 "$T/state/configs"
echo "scale: making $TOTAL device certificates (takes a while)..." >&2
"$SB" device keygen --count "$TOTAL" --serial-prefix SC --type p256 --out "$T/devkeys" --certs-dir "$T/state/keys" >/dev/null
rm -rf "$T/devkeys" # only the server side matters here
CFG=$({ echo "hostname device"; head -c 1500 /dev/urandom | base64 -w 76; })
printf '%s\n' "$CFG" >"$T/drop.cfg"
for ((i = 1; i <= N; i++)); do
	printf -v name "SC%0${W}d" "$i"
	printf '%s\n' "$CFG" >"$T/state/configs/$name.cfg"
done
find "$T/state" -type f -exec touch -d '-1 minute' {} +
sync

start=$(date +%s%N)
SEALBOOT_STATE_DIR=$T/state SEALBOOT_TFTP_LISTEN=127.0.0.5:69 SEALBOOT_LOG_FORMAT=json "$SB" serve 2>"$T/sealboot.log" &
PIDS+=($!)
SBPID=$!
wait_log "$T/sealboot.log" '"sealboot ready"'
ready=$(date -d "$(grep -m1 '"sealboot ready"' "$T/sealboot.log" | jq -r .ts)" +%s%N)
READYMS=$(((ready - start) / 1000000))
RSSREADY=$(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$SBPID/status")
certs=$(grep -m1 '"keys directory scanned"' "$T/sealboot.log" | jq -r .certificates)
ready_cfgs=$(grep -m1 '"configs directory scanned"' "$T/sealboot.log" | jq -r .ready)

"$BIN/tftpbench" -server 127.0.0.5:69 -drop-dir "$T/state/configs" -drop-name "SC%0${W}d.cfg" -drop-src "$T/drop.cfg" \
	-pattern "SC%0${W}d.enc" -first $((N + 1)) -files "$DROPS" >"$T/drops.json"
RSS=$(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$SBPID/status")
HWM=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$SBPID/status")

# A restart (keys already pinned, files in the page cache), as after an
# upgrade or a crash.
kill "$SBPID"; wait "$SBPID" 2>/dev/null || true
start=$(date +%s%N)
SEALBOOT_STATE_DIR=$T/state SEALBOOT_TFTP_LISTEN=127.0.0.5:69 SEALBOOT_LOG_FORMAT=json "$SB" serve 2>"$T/restart.log" &
PIDS+=($!)
wait_log "$T/restart.log" '"sealboot ready"'
ready=$(date -d "$(grep -m1 '"sealboot ready"' "$T/restart.log" | jq -r .ts)" +%s%N)
RESTARTMS=$(((ready - start) / 1000000))

verdict() { if (($(echo "$1 < $2" | bc))); then echo "met"; else echo "**not met**"; fi; }
p99=$(jqn "$T/drops.json" p99_ms)
echo "### Scale: $N serials with certificates (P-256) and configs"
echo
echo "| measure | sealboot | target | |"
echo "|---|---|---|---|"
echo "| first start to ready ($certs certificates pinned, $ready_cfgs configs ready) | $READYMS ms | < 5000 ms | $(verdict "$READYMS" 5000) |"
echo "| restart to ready (keys pinned already) | $RESTARTMS ms | < 5000 ms | $(verdict "$RESTARTMS" 5000) |"
echo "| resident memory when ready / after the drops / peak | $RSSREADY / $RSS / $HWM MiB | < 300 MiB | $(verdict "$HWM" 300) |"
printf "| new config dropped → served, p50 / p99 / max over %d drops | %.0f / %.0f / %.0f ms | p99 < 1000 ms | %s |\n" \
	"$DROPS" "$(jqn "$T/drops.json" p50_ms)" "$p99" "$(jqn "$T/drops.json" max_ms)" "$(verdict "$p99" 1000)"
echo
echo "Both starts read files the page cache holds (they were just written); from a cold cache (after \`echo 3 > /proc/sys/vm/drop_caches\`) reading 200,000 small files from disk dominates. The drop delay includes watch.settle (250 ms): a file is served only after it has been quiet that long, so a partial copy never is. The device asks every 10 ms; each refused attempt is logged, as in production."
