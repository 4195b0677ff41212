// Package identity finds a booting device's serial number in its DHCP
// request, the way each vendor presents it (see the table in the sealboot
// README): option 60 vendor class (Juniper, Arista, Dell, ZPE, Ciena,
// Cisco Firepower), option 124 (Cisco SN:/PID:), option 61 client
// identifier (Cisco NX-OS POAP and IOS-XE with a leading 0x00, IOS-XR and
// Nokia as text), option 12 for Juniper models that put the serial there;
// for DHCPv6 the vendor class (16), vendor options (17) and a DUID-EN
// (Nokia). An operator's inventory (MAC → serial) comes first.
//
// A serial becomes a TFTP file name and a log field, so anything outside
// [A-Za-z0-9._-]{1,64} is not a serial; the model, a log field and a
// column of sealboot status, loses its control characters.
package identity

import (
	"bytes"
	"net"
	"strings"
	"unicode"
	"unicode/utf8"
)

// SourceInventory is Identity.Source for a serial the inventory file gave.
const SourceInventory = "inventory"

// Identity is who a request says it is.
type Identity struct {
	Serial string           // "" when not recognised
	Vendor string           // juniper, arista, cisco, dell, nokia, ciena, zpe; "" when unknown
	Model  string           // when the vendor says
	Source string           // where the serial came from, e.g. "option 60", "inventory"
	MAC    net.HardwareAddr // the client's hardware address, when known
}

// Inventory maps hardware addresses to serials, for devices that do not
// send their serial in DHCP at all.
type Inventory interface {
	SerialForMAC(mac net.HardwareAddr) (string, bool)
}

// ValidSerial reports whether s can be a serial number.
func ValidSerial(s string) bool {
	if s == "" || len(s) > 64 || s == "." || s == ".." {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// maxModel bounds a model, in bytes.
const maxModel = 64

// cleanModel makes the model a request names fit for a log field and a
// terminal (sealboot status prints it): control characters, C1 included,
// become '?' (an escape sequence in option 60 would otherwise reach the
// operator's terminal), and it is cut to maxModel bytes on a character
// boundary.
func cleanModel(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	if len(s) > maxModel {
		i := maxModel
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i]
	}
	return s
}

// fromInventory applies the inventory, whose serial overrides what the
// request says; the vendor and model the request names stay, so that a
// profile can still match them.
func fromInventory(inv Inventory, mac net.HardwareAddr, id *Identity) {
	if inv == nil || len(mac) == 0 {
		return
	}
	if s, ok := inv.SerialForMAC(mac); ok && ValidSerial(s) {
		id.Serial, id.Source = s, SourceInventory
	}
}

// vendorClass parses a vendor class string (DHCPv4 option 60, or one
// DHCPv6 option 16 entry). clientID is option 61 (or nil) and hostname
// option 12, which some vendors use instead.
func vendorClass(vc, hostname string, clientID []byte) (serial, vendor, model string) {
	switch {
	case strings.HasPrefix(vc, "Juniper-"): // Juniper-<platform>[-<serial>]; the platform may contain dashes
		serial, model := juniperClass(strings.TrimPrefix(vc, "Juniper-"), hostname)
		return serial, "juniper", model
	case strings.HasPrefix(vc, "Juniper:"): // Juniper:<model>:<serial>
		if p := strings.Split(vc, ":"); len(p) == 3 {
			return p[2], "juniper", p[1]
		}
	case len(vc) >= 5 && strings.EqualFold(vc[:5], "NOKIA"): // "NOKIA:<chassis type>"; serial in option 61
		_, model, _ := strings.Cut(vc, ":")
		return string(clientID), "nokia", strings.TrimSpace(model)
	case strings.HasPrefix(vc, "Arista;"): // Arista;<model>;<hwver>;<serial>
		if p := strings.Split(vc, ";"); len(p) >= 4 {
			return p[3], "arista", p[1]
		}
	case strings.HasPrefix(vc, "ZPESystems:"): // ZPESystems:<model>:<serial>
		if p := strings.Split(vc, ":"); len(p) >= 3 {
			return p[2], "zpe", p[1]
		}
	case strings.HasPrefix(vc, "1271-"): // Ciena (IANA 1271): serial in option 61
		return string(clientID), "ciena", strings.TrimPrefix(vc, "1271-")
	case vc == "FPR4100" || vc == "FPR9300": // Cisco Firepower: serial in option 61
		return string(clientID), "cisco", vc
	case strings.Contains(vc, "SN="): // Dell OS9: "... SN=<serial> ..."
		rest := vc[strings.Index(vc, "SN=")+3:]
		if i := strings.IndexAny(rest, " ;,:"); i >= 0 {
			rest = rest[:i]
		}
		return rest, "dell", ""
	}
	return "", "", ""
}

// snPID parses Cisco's "SN:<serial>;PID:<model>" (option 124 data,
// DHCPv6 vendor options).
func snPID(data []byte) (serial, model string) {
	for _, f := range bytes.Split(data, []byte(";")) {
		k, v, ok := bytes.Cut(f, []byte(":"))
		if !ok {
			continue
		}
		switch string(bytes.TrimSpace(k)) {
		case "SN":
			serial = string(bytes.TrimSpace(v))
		case "PID":
			model = string(bytes.TrimSpace(v))
		}
	}
	return serial, model
}

// clientIDSerial reads a serial from option 61: 0x00 followed by the
// serial (Cisco NX-OS POAP, IOS-XE), or the serial as printable text
// (IOS-XR, Nokia). A type-1 identifier (0x01 + MAC, what dhclient and
// udhcpc send) and IOS-XE's "cisco-<mac>-<if>" are not serials.
func clientIDSerial(ci []byte) (string, bool) {
	if len(ci) == 0 {
		return "", false
	}
	switch {
	case ci[0] == 0x00:
		ci = ci[1:]
	case ci[0] < 0x20: // a hardware type: 1 = Ethernet + MAC
		return "", false
	}
	s := string(ci)
	if strings.HasPrefix(s, "cisco-") || !ValidSerial(s) {
		return "", false
	}
	return s, true
}
