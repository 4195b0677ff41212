#!/usr/bin/env bash
# Slow link: one device fetches its sealed 64 KiB config (~89 KB of PEM)
# over a link with a 50 ms round trip, from sealboot and, serving the same
# bytes, from dnsmasq (TFTP) and nginx (HTTP). TFTP is lock-step, one block
# per round trip, so the block size sets the time: ~61 round trips at
# blksize 1468, ~175 at 512. The kernel here has no netem: test/slowlink
# joins the two namespaces with a TUN device in each and a forwarder that
# holds every packet SLOW_DELAY (25 ms) each way. sealboot's HTTP row runs
# only when this build has an http.listen setting.
source "$(dirname "$0")/lib.sh"
need dnsmasq curl tftp ping jq bc
RUNS=${SLOW_RUNS:-5}
DELAY=${SLOW_DELAY:-25ms}
[ -x "$BIN/slowlink" ] || (cd "$ROOT" && go build -o "$BIN/slowlink" ./test/slowlink) # a BENCH_BIN from before it

NAMESPACES="sbsS sbsC"
ip netns add sbsS && ip netns add sbsC
for ns in sbsS sbsC; do ip -n "$ns" link set lo up; done
# Server side: sealboot on .1, the static peers (dnsmasq, nginx) on .3.
"$BIN/slowlink" --ns-a sbsS --ns-b sbsC --addr-a 10.77.0.1/24,10.77.0.3/24 --addr-b 10.77.0.2/24 \
	--delay "$DELAY" >"$T/slowlink.out" 2>"$T/slowlink.err" &
PIDS+=($!)
LINKPID=$!
wait_log "$T/slowlink.out" "slowlink ready"
RTT=$(ip netns exec sbsC ping -c 20 -i 0.2 -W 2 10.77.0.1 | grep -o 'time=[0-9.]*' | cut -d= -f2 | sort -g |
	awk '{v[NR]=$1} END {printf "%.1f / %.1f / %.1f", v[1], (v[10] + v[11]) / 2, v[NR]}')

# One device, its certificate in the keystore, a 64 KiB config as in bench/tftp.sh.
mkdir -p "$T/state/keys" "$T/state/configs" "$T/root" "$T/out"
chmod 700 "$T/state/configs"
"$SB" device keygen --count 1 --serial-prefix SL --out "$T/devkeys" --certs-dir "$T/state/keys" >/dev/null
head -c 49152 /dev/urandom | base64 -w 76 >"$T/state/configs/SL0001.cfg" && truncate -s 65536 "$T/state/configs/SL0001.cfg"
find "$T/state" -type f -exec touch -d '-1 minute' {} +

# No DHCP here, so no binding check: the device's address is static.
cat >"$T/sealboot.yaml" <<YAML
state_dir: $T/state
tftp:
  listen: ["10.77.0.1:69"]
YAML
HTTP=
printf 'http:\n  listen: ["10.77.0.1:80"]\n' >"$T/http.yaml"
if cat "$T/sealboot.yaml" "$T/http.yaml" >"$T/sealboot-http.yaml" && "$SB" check --config "$T/sealboot-http.yaml" >/dev/null 2>&1; then
	HTTP=1
	cp "$T/sealboot-http.yaml" "$T/sealboot.yaml"
fi
ip netns exec sbsS "$SB" serve --config "$T/sealboot.yaml" 2>"$T/sealboot.log" &
PIDS+=($!)
wait_log "$T/sealboot.log" '"sealboot ready"'

# The peers serve the bytes sealboot sends (its cache keeps them the same).
ip netns exec sbsS curl -s -o "$T/root/SL0001.enc" tftp://10.77.0.1/SL0001.enc
BYTES=$(stat -c %s "$T/root/SL0001.enc")
ip netns exec sbsS dnsmasq --no-daemon --port=0 --no-resolv --enable-tftp --tftp-root="$T/root" \
	--listen-address=10.77.0.3 --bind-interfaces --pid-file="$T/dnsmasq.pid" --log-facility="$T/dnsmasq.log" 2>"$T/dnsmasq.err" &
PIDS+=($!)
wait_log "$T/dnsmasq.log" 'TFTP root is'
NGINX=
if command -v nginx >/dev/null; then
	mkdir -p "$T/nginx"
	cat >"$T/nginx.conf" <<CONF
user root;
worker_processes 1;
error_log $T/nginx/error.log;
pid $T/nginx/nginx.pid;
events { worker_connections 64; }
http {
	access_log off;
	sendfile on;
	client_body_temp_path $T/nginx/body;
	proxy_temp_path $T/nginx/proxy;
	fastcgi_temp_path $T/nginx/fastcgi;
	uwsgi_temp_path $T/nginx/uwsgi;
	scgi_temp_path $T/nginx/scgi;
	server { listen 10.77.0.3:80; root $T/root; }
}
CONF
	ip netns exec sbsS nginx -c "$T/nginx.conf" -p "$T/nginx" -g 'daemon off;' 2>"$T/nginx.err" &
	PIDS+=($!)
	for i in $(seq 100); do
		ip netns exec sbsS curl -sf -o /dev/null http://10.77.0.3/SL0001.enc && NGINX=1 && break
		sleep 0.1
	done
	[ -n "$NGINX" ] || { echo "bench: nginx did not start: $(tail -3 "$T/nginx.err" "$T/nginx/error.log" 2>/dev/null)" >&2; exit 1; }
fi

# CASE:server|client|transfer|command run in the device's namespace, writing to $OUT.
CASES=(
	"s1468:sealboot|curl|TFTP, blksize 1468|curl -sS -o \$OUT --tftp-blksize 1468 tftp://10.77.0.1/SL0001.enc"
	"d1468:dnsmasq|curl|TFTP, blksize 1468|curl -sS -o \$OUT --tftp-blksize 1468 tftp://10.77.0.3/SL0001.enc"
	"s512:sealboot|curl|TFTP, blksize 512|curl -sS -o \$OUT --tftp-blksize 512 tftp://10.77.0.1/SL0001.enc"
	"d512:dnsmasq|curl|TFTP, blksize 512|curl -sS -o \$OUT --tftp-blksize 512 tftp://10.77.0.3/SL0001.enc"
	"shpa:sealboot|tftp-hpa|TFTP, 512, no options (RFC 1350)|tftp -m binary 10.77.0.1 -c get SL0001.enc \$OUT"
	"dhpa:dnsmasq|tftp-hpa|TFTP, 512, no options (RFC 1350)|tftp -m binary 10.77.0.3 -c get SL0001.enc \$OUT"
)
[ -n "$HTTP" ] && CASES+=("shttp:sealboot|curl|HTTP, new connection|curl -sS -o \$OUT http://10.77.0.1/SL0001.enc")
[ -n "$NGINX" ] && CASES+=("nhttp:nginx $(nginx -v 2>&1 | cut -d/ -f2)|curl|HTTP, new connection|curl -sS -o \$OUT http://10.77.0.3/SL0001.enc")

# fetch NAME COMMAND: one timed fetch from the device's namespace, in ms
# (the client process from start to exit), appended to $T/NAME.ms; a fetch
# that does not bring the whole file ends the benchmark.
fetch() {
	local out=$T/out/$1 ms
	rm -f "$out"
	ms=$(OUT=$out ip netns exec sbsC bash -c 's=$(date +%s%N); eval "$1" || exit 1; echo $((($(date +%s%N) - s) / 1000000))' _ "$2") ||
		{ echo "bench: $1 failed: $2" >&2; exit 1; }
	[ "$(stat -c %s "$out" 2>/dev/null)" = "$BYTES" ] || { echo "bench: $1 brought $(stat -c %s "$out" 2>/dev/null || echo no) bytes of $BYTES" >&2; exit 1; }
	echo "$ms" >>"$T/$1.ms"
}
# Round by round, every case once per round, so drift in the machine's load
# touches them all alike.
for ((r = 1; r <= RUNS; r++)); do
	for c in "${CASES[@]}"; do
		name=${c%%:*} rest=${c#*:}
		fetch "$name" "${rest##*|}"
	done
done
kill "$LINKPID" && wait "$LINKPID" 2>/dev/null || true

# stat3 NAME: min median max of the runs.
stat3() { sort -g "$T/$1.ms" | awk '{v[NR]=$1} END {print v[1], (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2, v[NR]}'; }
rtt_ms=$(echo "$RTT" | awk -F' / ' '{print $2}')
echo "### Slow link: one device fetches its sealed 64 KiB config over a 50 ms round trip"
echo
echo "| server | client | transfer | min ms | median ms | max ms | median in round trips | time vs dnsmasq, same transfer |"
echo "|---|---|---|---|---|---|---|---|"
for c in "${CASES[@]}"; do
	name=${c%%:*} rest=${c#*:}
	IFS='|' read -r server client transfer _ <<<"$rest"
	read -r lo med hi < <(stat3 "$name")
	peer=d${name:1}
	vs=—
	[ "${name:0:1}" = d ] && vs=1.00×
	[ "${name:0:1}" = s ] && [ -f "$T/$peer.ms" ] && vs=$(printf "%.2f×" "$(ratio "$med" "$(stat3 "$peer" | cut -d' ' -f2)")")
	[ "$name" = shttp ] && [ -f "$T/nhttp.ms" ] && vs="$(printf "%.2f×" "$(ratio "$med" "$(stat3 nhttp | cut -d' ' -f2)")") nginx"
	printf "| %s | %s | %s | %.0f | %.0f | %.0f | %.1f | %s |\n" "$server" "$client" "$transfer" "$lo" "$med" "$hi" "$(ratio "$med" "$rtt_ms")" "$vs"
done
[ -n "$HTTP" ] || echo "| sealboot | curl | HTTP | — | — | — | — | this build has no \`http.listen\` |"
[ -n "$NGINX" ] || echo "| nginx | curl | HTTP | — | — | — | — | nginx is not installed |"
echo
# The forwarder's counters (test/netns.PipeStats), both directions together.
fwd=$(grep -o 'Forwarded:[0-9]*' "$T/slowlink.err" | cut -d: -f2 | paste -sd+ - | bc)
late=$(grep -o ' Late:[0-9]*' "$T/slowlink.err" | cut -d: -f2 | paste -sd+ - | bc)
maxlate=$(grep -o 'MaxLate:[^ ]*' "$T/slowlink.err" | cut -d: -f2 | awk '{
	v = $1
	if (v ~ /µs$/) { sub(/µs$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) }
	else if (v ~ /ns$/) { sub(/ns$/, "", v); v /= 1e6 } else { sub(/s$/, "", v); v *= 1000 }
	v += 0
	if (v > m) m = v
} END { printf "%.1f", m }')
echo "$BYTES bytes per fetch (the sealed PEM of a 65536-byte config), $RUNS runs of each, round by round; a time is the client process's, start to exit, in the device's namespace. The link: test/slowlink, $DELAY each way (TUN devices and a user-space forwarder; the kernel here has no netem); ping over it before the runs, min / median / max of 20: $RTT ms; the forwarder wrote $late of its $fwd packets more than 1 ms after their due time, none more than $maxlate ms. Server side: sealboot serve (no DHCP, so no binding check), dnsmasq $(dnsmasq --version | sed -n 1p | cut -d' ' -f3) --enable-tftp and nginx (sendfile on) serving the bytes sealboot sent."
