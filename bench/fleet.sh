#!/usr/bin/env bash
# Fleet provisioning: N emulated devices (sealboot device boot --count) boot
# at once on one segment; the time until every one holds its decrypted
# config, against dnsmasq (DHCP + TFTP) serving the .enc files that an
# openssl loop (RFC 8886 Appendix A, one `openssl cms -encrypt` per device)
# produced first. The target is sealboot's whole fleet done in less time
# than the openssl loop alone.
source "$(dirname "$0")/lib.sh"
need dnsmasq openssl jq bc
N=${FLEET_DEVICES:-1000}
NAMESPACES="sbfS sbfC"
ip netns add sbfS && ip netns add sbfC
ip link add sbf0 netns sbfS type veth peer name sbf1 netns sbfC
ip -n sbfS addr add 10.9.0.1/16 dev sbf0
for ns in sbfS sbfC; do ip -n "$ns" link set lo up; done
ip -n sbfS link set sbf0 up && ip -n sbfC link set sbf1 up

# The factory: one P-256 key pair per device; the vendor publishes the
# certificates, which the operator puts in the keystore.
mkdir -p "$T/state/keys" "$T/state/configs" "$T/root" "$T/certs"
chmod 700 "$T/state/configs"
"$SB" device keygen --count "$N" --serial-prefix FB --type p256 --out "$T/devkeys" --certs-dir "$T/certs" >/dev/null
cp "$T"/certs/*.crt "$T/state/keys/"
# A 16 KiB config per device (16,230 bytes) (a router's full config is 10-100 KiB).
SERIALS=$(cd "$T/certs" && ls | sed 's/\.crt$//')
for s in $SERIALS; do
	{ echo "hostname $s"; head -c 12000 /dev/urandom | base64 -w 76; } >"$T/plain-$s.cfg"
done

# fleet NAME: boot the whole fleet from the client namespace; prints the summary.
fleet() {
	ip netns exec sbfC "$SB" device boot --count "$N" --serial-prefix FB --keys-dir "$T/devkeys" --iface sbf1 \
		--vendor arista --require-encrypted --retry 1s --max-attempts 30 --dhcp-timeout 4s >"$T/$1.json" 2>"$T/$1.err" ||
		{ echo "bench: $1 fleet failed: $(cat "$T/$1.json" "$T/$1.err" | tail -3)" >&2; exit 1; }
}

# --- sealboot: plaintext configs dropped in; sealed on the fly per request.
for s in $SERIALS; do cp "$T/plain-$s.cfg" "$T/state/configs/$s.cfg"; done
find "$T/state" -type f -exec touch -d '-1 minute' {} +
cat >"$T/sealboot.yaml" <<YAML
state_dir: $T/state
tftp:
  listen: ["10.9.0.1:69"]
dhcp:
  enabled: true
  v4:
    interfaces: [sbf0]
    pool: 10.9.1.0-10.9.255.250
    netmask: 255.255.0.0
    lease_time: 1h
YAML
ip netns exec sbfS "$SB" serve --config "$T/sealboot.yaml" 2>"$T/sealboot.log" &
PIDS+=($!)
wait_log "$T/sealboot.log" '"sealboot ready"'
fleet sealboot
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true

# --- the RFC's workflow: an openssl loop writes every .enc, then dnsmasq
# hands each device (by MAC) its file name and serves it.
start=$(date +%s%N)
for s in $SERIALS; do
	openssl cms -encrypt -binary -aes256 -in "$T/plain-$s.cfg" -out "$T/root/$s.enc" -outform PEM "$T/certs/$s.crt"
done
LOOPMS=$((($(date +%s%N) - start) / 1000000))
{
	for s in $SERIALS; do
		h=$(printf %s "$s" | sha256sum | cut -c1-8) # test/device.FleetMAC
		echo "dhcp-host=02:5b:${h:0:2}:${h:2:2}:${h:4:2}:${h:6:2},set:$s"
		echo "dhcp-boot=tag:$s,$s.enc,,10.9.0.1"
	done
} >"$T/dnsmasq-hosts.conf"
ip netns exec sbfS dnsmasq --no-daemon --port=0 --no-resolv --no-ping --bind-interfaces --interface=sbf0 \
	--dhcp-range=10.9.1.0,10.9.255.250,255.255.0.0,1h --dhcp-lease-max=$((N * 2)) --dhcp-leasefile="$T/dnsmasq.leases" \
	--conf-file="$T/dnsmasq-hosts.conf" --enable-tftp --tftp-root="$T/root" --tftp-max=$((N * 2)) \
	--pid-file="$T/dnsmasq.pid" --log-facility="$T/dnsmasq.log" 2>"$T/dnsmasq.err" &
PIDS+=($!)
wait_log "$T/dnsmasq.log" 'DHCP, IP range'
fleet dnsmasq

row() { # NAME FILE EXTRA_MS
	local last total
	last=$(jqn "$2" last_config_ms)
	total=$(echo "$last + $3" | bc)
	printf "| %s | %d/%d | %.0f | %.0f | %.0f | %.0f | %.2f× |\n" "$1" "$(jqn "$2" provisioned)" "$N" "$3" "$last" \
		"$(jqn "$2" total.p50_ms)" "$(jqn "$2" total.p99_ms)" "$(ratio "$total" "$LOOPMS")"
}
echo "### Fleet: $N devices boot at once (P-256 keys, 16 KiB configs)"
echo
echo "| server | provisioned | openssl loop ms | fleet done ms | p50 per device ms | p99 per device ms | whole job vs openssl loop alone |"
echo "|---|---|---|---|---|---|---|"
row "sealboot (seals on the fly)" "$T/sealboot.json" 0
row "dnsmasq $(dnsmasq --version | sed -n 1p | cut -d' ' -f3) + openssl $(openssl version | cut -d' ' -f2) loop" "$T/dnsmasq.json" "$LOOPMS"
echo
echo "'whole job' is the openssl loop (${LOOPMS} ms for $N files, run before dnsmasq starts) plus the fleet's boot; a ratio under 1.00× beats the loop alone. Per-device steps, sealboot: DHCP p50/p99 $(jqn "$T/sealboot.json" dhcp.p50_ms)/$(jqn "$T/sealboot.json" dhcp.p99_ms) ms, TFTP $(jqn "$T/sealboot.json" tftp.p50_ms)/$(jqn "$T/sealboot.json" tftp.p99_ms) ms; dnsmasq: DHCP $(jqn "$T/dnsmasq.json" dhcp.p50_ms)/$(jqn "$T/dnsmasq.json" dhcp.p99_ms) ms, TFTP $(jqn "$T/dnsmasq.json" tftp.p50_ms)/$(jqn "$T/dnsmasq.json" tftp.p99_ms) ms."
