#!/usr/bin/env bash
# SZTP fleet: N emulated SZTP devices (sealboot device boot --sztp --count)
# boot at once: DHCP option 143, HTTPS with a vendor-issued IDevID (P-256),
# conveyed information signed by the owner with each device's voucher and
# encrypted to its certificate; then the same N devices, same keys and
# configs, over RFC 8886 (DHCP + TFTP, sealed on the fly). Time to the last
# installed config, per-device percentiles, and sealboot's CPU time per
# device, both measured in this run.
source "$(dirname "$0")/lib.sh"
need openssl jq bc
N=${SZTP_DEVICES:-1000}
NAMESPACES="sbzS sbzC"
ip netns add sbzS && ip netns add sbzC
ip link add sbz0 netns sbzS type veth peer name sbz1 netns sbzC
ip -n sbzS addr add 10.10.0.1/16 dev sbz0
for ns in sbzS sbzC; do ip -n "$ns" link set lo up; done
ip -n sbzS link set sbz0 up && ip -n sbzC link set sbz1 up

# The vendor's CA issues every IDevID (P-256); the operator puts the
# certificates in the keystore and the vendor CA among the trust anchors.
mkdir -p "$T/state/keys" "$T/state/configs" "$T/state/trust-anchors" "$T/vouchers"
chmod 700 "$T/state/configs"
ec() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 "$@" 2>/dev/null; }
ec -subj /CN=Vendor-Root -keyout "$T/vendor.key" -out "$T/state/trust-anchors/vendor.pem"
ec -subj /CN=sztp-bench -addext "subjectAltName=IP:10.10.0.1" -keyout "$T/server.key" -out "$T/server.pem"
ec -subj /CN=Owner -keyout "$T/owner.key" -out "$T/owner.pem"
ec -subj /CN=Vendor-MASA -keyout "$T/masa.key" -out "$T/masa.pem"
"$SB" device keygen --count "$N" --serial-prefix FZ --type p256 --ca-cert "$T/state/trust-anchors/vendor.pem" \
	--ca-key "$T/vendor.key" --out "$T/devkeys" >/dev/null
cp "$T"/devkeys/*.crt "$T/state/keys/"
SERIALS=$(cd "$T/devkeys" && ls *.crt | sed 's/\.crt$//')
# A 16 KiB config per device, as in the RFC 8886 fleet; a voucher per
# device from the test MASA (openssl only, keystore/voucher/README.md).
PIN=$(openssl x509 -in "$T/owner.pem" -outform DER | base64 -w0)
NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ) EXP=$(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%SZ)
for s in $SERIALS; do
	{ echo "hostname $s"; head -c 12000 /dev/urandom | base64 -w 76; } >"$T/state/configs/$s.cfg"
	printf '{"ietf-voucher:voucher":{"created-on":"%s","expires-on":"%s","assertion":"verified","serial-number":"%s","pinned-domain-cert":"%s"}}' \
		"$NOW" "$EXP" "$s" "$PIN" | openssl cms -sign -binary -nodetach -econtent_type 1.2.840.113549.1.9.16.1.40 \
		-signer "$T/masa.pem" -inkey "$T/masa.key" -outform DER -out "$T/vouchers/$s.vcj"
done
find "$T/state" -type f -exec touch -d '-1 minute' {} +
cat >"$T/sealboot.yaml" <<YAML
state_dir: $T/state
tftp:
  listen: ["10.10.0.1:69"]
dhcp:
  enabled: true
  v4:
    interfaces: [sbz0]
    pool: 10.10.1.0-10.10.255.250
    netmask: 255.255.0.0
    lease_time: 1h
sztp:
  listen: ["10.10.0.1:8443"]
  tls_cert: $T/server.pem
  tls_key: $T/server.key
  owner_cert: $T/owner.pem
  owner_key: $T/owner.key
  vouchers_dir: $T/vouchers
  sign: always
  encrypt: always
  max_requests: $((N + 24))
YAML
ip netns exec sbzS "$SB" serve --config "$T/sealboot.yaml" 2>"$T/sealboot.log" &
SPID=$!
PIDS+=($SPID)
wait_log "$T/sealboot.log" '"sealboot ready"'

# fleet NAME FLAGS...: boot the whole fleet; sealboot's CPU time for it.
fleet() {
	local name=$1 before after
	shift
	before=$(cpu_ms "$SPID")
	ip netns exec sbzC "$SB" device boot --count "$N" --serial-prefix FZ --keys-dir "$T/devkeys" --iface sbz1 \
		--vendor arista --require-encrypted --retry 1s --max-attempts 30 --dhcp-timeout 4s "$@" >"$T/$name.json" 2>"$T/$name.err" ||
		{ echo "bench: $name fleet failed: $(cat "$T/$name.json" "$T/$name.err" | tail -3)" >&2; exit 1; }
	after=$(cpu_ms "$SPID")
	echo "scale=2; ($after - $before) / $N" | bc >"$T/$name.cpu"
}
fleet sztp --sztp --masa-ca "$T/masa.pem" --server-ca "$T/server.pem"
fleet rfc8886
served=$(grep -c '"sztp request served"' "$T/sealboot.log" || true)

row() { # NAME FILE STEP
	printf "| %s | %d/%d | %.0f | %.0f | %.0f | %s | %.0f/%.0f |\n" "$1" "$(jqn "$2.json" provisioned)" "$N" "$(jqn "$2.json" last_config_ms)" \
		"$(jqn "$2.json" total.p50_ms)" "$(jqn "$2.json" total.p99_ms)" "$(cat "$2.cpu")" "$(jqn "$2.json" "$3.p50_ms")" "$(jqn "$2.json" "$3.p99_ms")"
}
echo "### SZTP fleet: $N devices boot at once (P-256 IDevIDs, TLS client certificates, signed + encrypted, 16 KiB configs)"
echo
echo "| protocol | provisioned | fleet done ms | p50 per device ms | p99 per device ms | sealboot CPU ms per device | transfer step p50/p99 ms |"
echo "|---|---|---|---|---|---|---|"
row "SZTP (RFC 8572): TLS 1.3 + get-bootstrapping-data, signed (P-256 owner key) then encrypted, voucher, 2 progress reports (minimal)" "$T/sztp" sztp
row "RFC 8886 (same devices, keys and configs): DHCP + TFTP, sealed on the fly" "$T/rfc8886" tftp
echo
echo "Both fleets run against one sealboot serve, one after the other. The SZTP transfer step is from the first TLS connection to the installed config (every device verifies the voucher, the owner's signature and decrypts), the TFTP one the fetch; DHCP p50/p99: SZTP $(jqn "$T/sztp.json" dhcp.p50_ms)/$(jqn "$T/sztp.json" dhcp.p99_ms) ms, RFC 8886 $(jqn "$T/rfc8886.json" dhcp.p50_ms)/$(jqn "$T/rfc8886.json" dhcp.p99_ms) ms. sealboot logged $served sztp.request served events (retries included). The emulated devices run in one process on the same CPUs as the server."
