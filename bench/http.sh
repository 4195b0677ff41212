#!/usr/bin/env bash
# HTTP: sealboot's built-in HTTP server against nginx, in the same run, in
# one network namespace (server and client on its loopback):
#  (a) a 64 KiB config, sealed by sealboot (P-256, AES-256-CBC, PEM; from
#      its cache after the first request), fetched by 16 concurrent clients
#      with keep-alive off (ab, one new connection per request), against
#      nginx serving the very same bytes as a static file;
#  (b) a 1 GiB image, 4 concurrent downloads (curl), against nginx serving
#      the same file (a hard link to it) with sendfile on.
# Both servers log every request (sealboot its http.fetch event, nginx its
# access log), as in production. Rounds alternate which server goes first.
source "$(dirname "$0")/lib.sh"
need nginx ab curl jq bc
REQUESTS=${HTTP_REQUESTS:-20000}
ROUNDS=${HTTP_ROUNDS:-5}
IMAGE_MIB=${HTTP_IMAGE_MIB:-1024}
IMAGE_ROUNDS=${HTTP_IMAGE_ROUNDS:-5}
NS=sbh$$
NAMESPACES=$NS
ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" addr add 127.0.0.2/8 dev lo 2>/dev/null || true # 127/8 is all local already

# One device with a 64 KiB config (as bench/tftp.sh), and the image.
mkdir -p "$T/state/keys" "$T/state/configs" "$T/state/images" "$T/www/images" "$T/nginx"
chmod 700 "$T/state/configs"
"$SB" device keygen --count 1 --serial-prefix HB --out "$T/devkeys" --certs-dir "$T/state/keys" >/dev/null
head -c 49152 /dev/urandom | base64 -w 76 >"$T/state/configs/HB0001.cfg" && truncate -s 65536 "$T/state/configs/HB0001.cfg"
dd if=/dev/urandom of="$T/state/images/big.img" bs=1M count="$IMAGE_MIB" status=none
ln "$T/state/images/big.img" "$T/www/images/big.img"
find "$T/state" -type f -exec touch -d '-1 minute' {} +

# No DHCP here, so no binding check; every client shares 127.0.0.1.
cat >"$T/sealboot.yaml" <<YAML
state_dir: $T/state
tftp:
  listen: ["127.0.0.1:6969"]
http:
  listen: ["127.0.0.1:8081"]
  max_requests: 256
  max_per_client: 64
YAML
ip netns exec "$NS" "$SB" serve --config "$T/sealboot.yaml" 2>"$T/sealboot.log" &
PIDS+=($!)
SBPID=$!
wait_log "$T/sealboot.log" '"sealboot ready"'
wait_log "$T/sealboot.log" '"image ready"'
ip netns exec "$NS" curl -sSf -o "$T/www/HB0001.enc" http://127.0.0.1:8081/HB0001.enc
BYTES=$(stat -c %s "$T/www/HB0001.enc")

cat >"$T/nginx.conf" <<CONF
user root;
worker_processes auto;
error_log $T/nginx/error.log;
pid $T/nginx/nginx.pid;
events { worker_connections 1024; }
http {
	access_log $T/nginx/access.log;
	sendfile on;
	keepalive_timeout 0;
	default_type application/octet-stream;
	client_body_temp_path $T/nginx/body;
	proxy_temp_path $T/nginx/proxy;
	fastcgi_temp_path $T/nginx/fastcgi;
	uwsgi_temp_path $T/nginx/uwsgi;
	scgi_temp_path $T/nginx/scgi;
	server { listen 127.0.0.1:8082; root $T/www; }
}
CONF
ip netns exec "$NS" nginx -c "$T/nginx.conf" -p "$T/nginx" -g 'daemon off;' 2>"$T/nginx.err" &
PIDS+=($!)
NGPID=$!
for i in $(seq 100); do
	ip netns exec "$NS" curl -sf -o /dev/null http://127.0.0.1:8082/HB0001.enc && break
	sleep 0.1
done
ip netns exec "$NS" curl -sf -o /dev/null http://127.0.0.1:8082/HB0001.enc || { echo "bench: nginx did not start: $(cat "$T/nginx.err")" >&2; exit 1; }

# Two Go servers that do nothing but send the same bytes from memory
# (test/httpfloor): net/http with a bare handler, and a loop of accept, read,
# writev, close. They show what Go costs before any of sealboot's work.
ip netns exec "$NS" "$BIN/httpfloor" -mode nethttp -listen 127.0.0.1:8083 -file "$T/www/HB0001.enc" 2>"$T/floor1.err" &
PIDS+=($!)
FLPID=$!
ip netns exec "$NS" "$BIN/httpfloor" -mode raw -listen 127.0.0.1:8084 -file "$T/www/HB0001.enc" 2>"$T/floor2.err" &
PIDS+=($!)
RAWPID=$!
for port in 8083 8084; do
	for i in $(seq 100); do
		ip netns exec "$NS" curl -sf -o /dev/null "http://127.0.0.1:$port/HB0001.enc" && break
		sleep 0.1
	done
done

# cpu_tree PID: CPU ms of a process and its children (nginx's workers).
cpu_tree() {
	local sum=0 p
	for p in "$1" $(pgrep -P "$1"); do sum=$(echo "$sum + $(cpu_ms "$p")" | bc); done
	echo "$sum"
}

# ab_run NAME PORT PID: one round of (a); requests/s and server CPU per request.
ab_run() {
	local before after
	before=$(cpu_tree "$3")
	ip netns exec "$NS" ab -q -n "$REQUESTS" -c 16 "http://127.0.0.1:$2/HB0001.enc" >"$T/$1.ab" 2>&1 ||
		{ echo "bench: ab against $1 failed: $(tail -3 "$T/$1.ab")" >&2; exit 1; }
	after=$(cpu_tree "$3")
	grep -q "^Failed requests: *0$" "$T/$1.ab" && ! grep -q "Non-2xx" "$T/$1.ab" && grep -q "^Document Length: *$BYTES bytes" "$T/$1.ab" ||
		{ echo "bench: $1: failed or wrong responses:" >&2; grep -E "Failed|Non-2xx|Document Length" "$T/$1.ab" >&2; exit 1; }
	awk '/^Requests per second/ {print $4}' "$T/$1.ab" >"$T/$1.rate"
	echo "scale=3; ($after - $before) / $REQUESTS" | bc >"$T/$1.cpu"
}
# Each round runs the four servers in turn, starting one further along.
AB_NAMES=(sb ng fl raw) AB_PORTS=(8081 8082 8083 8084) AB_PIDS=("$SBPID" "$NGPID" "$FLPID" "$RAWPID")
for ((i = 1; i <= ROUNDS; i++)); do
	for ((k = 0; k < 4; k++)); do
		j=$(((i - 1 + k) % 4))
		ab_run "${AB_NAMES[j]}.$i" "${AB_PORTS[j]}" "${AB_PIDS[j]}"
	done
done

# img_run NAME PORT PID: one round of (b): 4 downloads at once, MiB/s over
# the whole (from the first start to the last end).
img_run() {
	local before after s e
	before=$(cpu_tree "$3")
	s=$(date +%s%N)
	ip netns exec "$NS" bash -c 'for i in 1 2 3 4; do curl -sSf -o /dev/null -w "%{size_download}\n" "$1" & done; wait' _ "http://127.0.0.1:$2/images/big.img" >"$T/$1.sizes"
	e=$(date +%s%N)
	after=$(cpu_tree "$3")
	[ "$(grep -cx "$((IMAGE_MIB << 20))" "$T/$1.sizes")" = 4 ] || { echo "bench: $1: downloads brought $(tr '\n' ' ' <"$T/$1.sizes")" >&2; exit 1; }
	echo "scale=1; 4 * $IMAGE_MIB * 1000000000 / ($e - $s)" | bc >"$T/$1.rate"
	echo "scale=1; ($after - $before) / 4" | bc >"$T/$1.cpu"
}
for ((i = 1; i <= IMAGE_ROUNDS; i++)); do
	if ((i % 2)); then
		img_run "isb.$i" 8081 "$SBPID"
		img_run "ing.$i" 8082 "$NGPID"
	else
		img_run "ing.$i" 8082 "$NGPID"
		img_run "isb.$i" 8081 "$SBPID"
	fi
done

# median: the median of the numbers on standard input.
median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
# of NAME EXT N: NAME.1..N.EXT, one a line.
of() { for ((i = 1; i <= $3; i++)); do cat "$T/$1.$i.$2"; done; }
# ratios A B EXT N: A.i.EXT / B.i.EXT round by round, one a line.
ratios() { for ((i = 1; i <= $4; i++)); do ratio "$(cat "$T/$1.$i.$3")" "$(cat "$T/$2.$i.$3")"; done; }
served=$(grep -c '"event":"http.fetch".*"outcome":"served"' "$T/sealboot.log" || true)
cached=$(grep '"event":"http.fetch"' "$T/sealboot.log" | grep -c '"cached":true' || true)
nv=$(nginx -v 2>&1 | cut -d/ -f2)
# table NAME-SEALBOOT NAME-NGINX N UNIT-FORMAT CPU-FORMAT LABEL-SEALBOOT LABEL-NGINX TARGET
table() {
	local sr nr rr sc nc
	sr=$(of "$1" rate "$3" | median) nr=$(of "$2" rate "$3" | median) rr=$(ratios "$1" "$2" rate "$3" | median)
	sc=$(of "$1" cpu "$3" | median) nc=$(of "$2" cpu "$3" | median)
	printf "| %s | $4 | %.2f× | %s | $5 | %.2f× |\n" "$6" "$sr" "$rr" "$8" "$sc" "$(ratio "$sc" "$nc")"
	printf "| %s | $4 | 1.00× | | $5 | 1.00× |\n" "$7" "$nr" "$nc"
}
rounds=$(ratios sb ng rate "$ROUNDS" | xargs printf "%.2f× ")
irounds=$(ratios isb ing rate "$IMAGE_ROUNDS" | xargs printf "%.2f× ")
echo "### HTTP: sealed 64 KiB config, 16 concurrent clients, keep-alive off"
echo
echo "| server | requests/s (median of $ROUNDS rounds) | vs nginx (median of the rounds' ratios) | target | server CPU ms per request | CPU vs nginx |"
echo "|---|---|---|---|---|---|"
table sb ng "$ROUNDS" "%.0f" "%.3f" "sealboot, the sealed config from its cache" "nginx $nv, the same bytes as a static file" "≥ 1.0×"
# floor NAME LABEL: a row for one of the httpfloor servers, against nginx.
floor() {
	printf "| %s | %.0f | %.2f× | | %.3f | %.2f× |\n" "$2" "$(of "$1" rate "$ROUNDS" | median)" "$(ratios "$1" ng rate "$ROUNDS" | median)" \
		"$(of "$1" cpu "$ROUNDS" | median)" "$(ratio "$(of "$1" cpu "$ROUNDS" | median)" "$(of ng cpu "$ROUNDS" | median)")"
}
floor fl "Go net/http, a bare handler writing the same bytes from memory (test/httpfloor -mode nethttp)"
floor raw "Go without net/http: accept, read the head, one writev, close (test/httpfloor -mode raw)"
echo
echo "Round by round, sealboot against nginx (each round runs the four servers in turn, starting one further along): ${rounds% }. $BYTES bytes per response (the sealed PEM of a 65536-byte config); ab $(ab -V | sed -n 's/.*Version \([0-9.]*\).*/\1/p'), $REQUESTS requests per run, -c 16, no -k (HTTP/1.0, a new connection per request); nginx with worker_processes auto, sendfile on, keepalive_timeout 0, access log on; sealboot logging every request as its http.fetch event ($served served, $cached of them from the seal cache). Server CPU counts nginx's workers. The two Go rows do nothing but send the bytes: no routing, checks, log line or metrics; they are the floor any Go server starts from on this machine (GOMAXPROCS = the 2 CPUs, as sealboot runs)."
echo
echo "### HTTP: a $IMAGE_MIB MiB image, 4 concurrent downloads"
echo
echo "| server | MiB/s, all 4 together (median of $IMAGE_ROUNDS rounds) | vs nginx (median of the rounds' ratios) | target | server CPU ms per download | CPU vs nginx |"
echo "|---|---|---|---|---|---|"
table isb ing "$IMAGE_ROUNDS" "%.0f" "%.0f" "sealboot (images_dir, sendfile)" "nginx $nv, sendfile on, the same file" "≥ 0.8×"
echo
echo "Round by round: ${irounds% }. Four \`curl -o /dev/null\` at once from the same namespace's loopback, timed from the first start to the last exit; the image (random bytes, in the page cache) is one file, hard-linked into nginx's root. The clients run on the same CPUs as the servers, so these figures are the machine's, client included; the ratio is what compares."
