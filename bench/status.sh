#!/usr/bin/env bash
# Per-device state: what 100,000 serials cost sealboot serve in memory.
# membench logs each device's bring-up (certificate and config found at
# start, a DHCP offer and ack, a served TFTP fetch) through a JSON logger
# like serve's, once with the per-device state tapping the logger and once
# without; the difference is the state's. Target: well under 100 MiB.
source "$(dirname "$0")/lib.sh"
need bc jq
N=${STATUS_SERIALS:-100000}
(cd "$ROOT" && go build -o "$T/membench" ./cmd/sealboot/internal/devices/membench)
"$T/membench" -serials "$N" -state=false >"$T/without.json"
"$T/membench" -serials "$N" -state=true >"$T/with.json"
"$T/membench" -serials "$N" -state=false -events=false >"$T/seedwithout.json"
"$T/membench" -serials "$N" -state=true -events=false >"$T/seedwith.json"
f() { jq -r ".$2" "$T/$1.json"; }
d() { echo "scale=1; ($(f "${2:-with}" "$1") - $(f "${3:-without}" "$1")) / 1" | bc; }
per() { echo "scale=0; ($(f "${2:-with}" "$1") - $(f "${3:-without}" "$1")) * 1048576 / $N" | bc; }
verdict() { if (($(echo "$1 < $2" | bc))); then echo "met"; else echo "**not met**"; fi; }
echo "### Per-device state: $N serials, each with a certificate, a config, a DHCP offer and ack and a served fetch"
echo
echo "| measure | without the state | with it | difference | per serial | target | |"
echo "|---|---|---|---|---|---|---|"
printf "| resident memory after a GC | %.1f MiB | %.1f MiB | %s MiB | %s bytes | < 100 MiB | %s |\n" "$(f without rss_mib)" "$(f with rss_mib)" "$(d rss_mib)" "$(per rss_mib)" "$(verdict "$(d rss_mib)" 100)"
printf "| peak resident memory (VmHWM) | %.1f MiB | %.1f MiB | %s MiB | %s bytes | | |\n" "$(f without peak_rss_mib)" "$(f with peak_rss_mib)" "$(d peak_rss_mib)" "$(per peak_rss_mib)"
printf "| Go heap in use | %.1f MiB | %.1f MiB | %s MiB | %s bytes | | |\n" "$(f without heap_mib)" "$(f with heap_mib)" "$(d heap_mib)" "$(per heap_mib)"
printf "| resident memory after a GC, certificates and configs only (no DHCP, no fetch yet) | %.1f MiB | %.1f MiB | %s MiB | %s bytes | | |\n" "$(f seedwithout rss_mib)" "$(f seedwith rss_mib)" "$(d rss_mib seedwith seedwithout)" "$(per rss_mib seedwith seedwithout)"
printf "| events logged per second (3 per device) | %.0f | %.0f | | | | |\n" "$(f without events_per_s)" "$(f with events_per_s)"
echo
echo "The stories are bounded (admin.story_events per device, admin.story_total in all: 100,000 events by default), so about a third of these devices keep theirs; devices with no config or certificate file are bounded by admin.max_unknown_devices. The peak includes the garbage of logging 300,000 events as fast as one core can; the state itself is what stays after a GC."
