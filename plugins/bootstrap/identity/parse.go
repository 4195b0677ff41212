package identity

import (
	"net"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
)

// IANA enterprise numbers used below.
const (
	enterpriseCisco  = 9
	enterpriseNokia  = 6527 // Alcatel-Lucent / Nokia SR OS
	enterpriseArista = 30065
)

// FromDHCPv4 identifies the sender of a DHCPv4 request.
func FromDHCPv4(req *dhcpv4.DHCPv4, inv Inventory) Identity {
	id := fromRequest4(req)
	id.Model = cleanModel(id.Model)
	fromInventory(inv, req.ClientHWAddr, &id)
	return id
}

// fromRequest4 is what the request itself says.
func fromRequest4(req *dhcpv4.DHCPv4) Identity {
	id := Identity{MAC: req.ClientHWAddr}
	clientID := req.Options.Get(dhcpv4.OptionClientIdentifier)
	if serial, vendor, model := vendorClass(req.ClassIdentifier(), req.HostName(), trimType0(clientID)); ValidSerial(serial) {
		id.Serial, id.Vendor, id.Model, id.Source = serial, vendor, model, "option 60"
		return id
	} else if vendor != "" {
		id.Vendor, id.Model = vendor, model
	}
	for _, v := range req.VIVC() {
		if v.EntID == iana.EnterpriseIDCiscoSystems {
			if serial, model := snPID(v.Data); ValidSerial(serial) && serial != "0" {
				id.Serial, id.Vendor, id.Model, id.Source = serial, "cisco", model, "option 124"
				return id
			}
		}
	}
	if serial, ok := clientIDSerial(clientID); ok {
		id.Serial, id.Source = serial, "option 61"
		if id.Vendor == "" && len(clientID) > 0 && clientID[0] == 0 {
			id.Vendor = "cisco"
		}
	}
	return id
}

func trimType0(ci []byte) []byte {
	if len(ci) > 0 && ci[0] == 0 {
		return ci[1:]
	}
	return ci
}

// FromDHCPv6 identifies the sender of a DHCPv6 message; mac is the
// client's link-layer address when known (from its DUID, or the relay's
// option 79).
func FromDHCPv6(msg *dhcpv6.Message, mac net.HardwareAddr, inv Inventory) Identity {
	if mac == nil {
		mac = duidMAC(msg.Options.ClientID())
	}
	id := fromRequest6(msg, mac)
	id.Model = cleanModel(id.Model)
	fromInventory(inv, mac, &id)
	return id
}

// fromRequest6 is what the message itself says.
func fromRequest6(msg *dhcpv6.Message, mac net.HardwareAddr) Identity {
	duid := msg.Options.ClientID()
	id := Identity{MAC: mac}
	for _, vc := range msg.Options.VendorClasses() {
		for _, data := range vc.Data {
			if serial, vendor, model := vendorClass(string(data), "", nil); ValidSerial(serial) {
				id.Serial, id.Vendor, id.Model, id.Source = serial, vendor, model, "option 16"
				return id
			}
			if vc.EnterpriseNumber == enterpriseArista && ValidSerial(string(data)) { // a bare serial
				id.Serial, id.Vendor, id.Source = string(data), "arista", "option 16"
				return id
			}
			// Cisco IOS-XR puts "SN:<serial>;PID:<model>" in option 16 too.
			if serial, model := snPID(data); vc.EnterpriseNumber == enterpriseCisco && ValidSerial(serial) && serial != "0" {
				id.Serial, id.Vendor, id.Model, id.Source = serial, "cisco", model, "option 16"
				return id
			}
		}
	}
	for _, vo := range msg.Options.VendorOpts() {
		for _, o := range vo.VendorOpts {
			if serial, model := snPID(o.ToBytes()); ValidSerial(serial) && serial != "0" {
				id.Serial, id.Vendor, id.Model, id.Source = serial, "cisco", model, "option 17"
				return id
			}
		}
	}
	// Cisco's documented DUID-EN identifiers end in a NUL ("FOC1947R143\0").
	if en, ok := duid.(*dhcpv6.DUIDEN); ok {
		if serial := strings.TrimRight(string(en.EnterpriseIdentifier), "\x00"); ValidSerial(serial) {
			id.Serial, id.Source = serial, "duid-en"
			switch en.EnterpriseNumber {
			case enterpriseNokia:
				id.Vendor = "nokia"
			case enterpriseCisco:
				id.Vendor = "cisco"
			}
		}
	}
	return id
}

// duidMAC returns the link-layer address in a DUID-LL or DUID-LLT.
func duidMAC(d dhcpv6.DUID) net.HardwareAddr {
	switch d := d.(type) {
	case *dhcpv6.DUIDLL:
		return d.LinkLayerAddr
	case *dhcpv6.DUIDLLT:
		return d.LinkLayerAddr
	}
	return nil
}

// juniperClass splits what follows "Juniper-" in option 60 into serial and
// platform. Juniper sends "<platform>-<serial>" or the platform alone
// (an EX2200: "ex2200-48t-4g"), and a platform has dashes of its own, so
// the last field is the serial only when it cannot be part of a platform
// name. Juniper's platform suffixes are a port count and a lower-case
// kind (48t, 4g, 12p, 6q, 24mp, 36mr) or a short lower-case word (c, f,
// dc, ac, dual); its serials are upper case and digits, typically 12
// characters (JN11F4C4DAFA, CW0210260050). Without a serial in option
// 60, the serial is option 12's (hostname), else the caller looks at
// option 61.
func juniperClass(rest, hostname string) (serial, model string) {
	if i := strings.LastIndexByte(rest, '-'); i > 0 && !platformSuffix(rest[i+1:]) {
		return rest[i+1:], rest[:i]
	}
	return hostname, rest
}

// platformSuffix reports whether s looks like a dash-separated part of a
// Juniper platform name: up to three digits, then one to four lower-case
// letters.
func platformSuffix(s string) bool {
	i := 0
	for i < len(s) && i < 3 && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	letters := s[i:]
	if len(letters) == 0 || len(letters) > 4 {
		return false
	}
	for _, c := range []byte(letters) {
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}
