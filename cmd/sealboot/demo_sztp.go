package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/keystore/voucher"
)

// The demo's SZTP device (RFC 8572): a Cisco with a vendor-issued IDevID.
const (
	demoSZTPSerial = "FOC2231X0AB"
	demoSZTPConfig = "hostname c9300.pop1\nsnmp-server community s3cr3t RO\n"
)

// sztpFiles are what the SZTP part of the demo made.
type sztpFiles struct {
	env                              []string // SEALBOOT_SZTP_* for serve
	key, cert, masa, serverCA, store string
}

// prepareSZTP makes a vendor CA and the device's IDevID (in the keystore
// too), the server's TLS identity, an owner and a MASA with the device's
// voucher, and its config: everything sealboot serve's sztp section reads.
func (d *demo) prepareSZTP() (*sztpFiles, error) {
	state := filepath.Join(d.dir, "state")
	write := func(name string, data []byte) (string, error) {
		p := filepath.Join(d.dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return "", err
		}
		return p, os.WriteFile(p, data, 0o600)
	}
	var cas [4]*keystore.Authority
	for i, name := range []string{"Vendor Root", "Owner", "Vendor MASA", "Lab Server CA"} {
		a, err := keystore.GenerateAuthority(name, keystore.P256)
		if err != nil {
			return nil, err
		}
		cas[i] = a
	}
	vendor, owner, masa, serverCA := cas[0], cas[1], cas[2], cas[3]
	dev, err := vendor.Issue(demoSZTPSerial, keystore.P256, keystore.IssueOptions{})
	if err != nil {
		return nil, err
	}
	srv, err := serverCA.Issue("sztp.lab", keystore.P256, keystore.IssueOptions{ServerIPs: []net.IP{net.ParseIP("192.0.2.1")}})
	if err != nil {
		return nil, err
	}
	vch, err := voucher.Sign(&voucher.Voucher{CreatedOn: time.Now().Add(-time.Minute), ExpiresOn: time.Now().AddDate(0, 0, 1),
		Assertion: voucher.AssertionVerified, SerialNumber: demoSZTPSerial, PinnedDomainCert: owner.Cert}, masa.Cert, masa.Key, nil)
	if err != nil {
		return nil, err
	}
	f := &sztpFiles{}
	files := []struct {
		dst  *string
		name string
		data []byte
	}{
		{nil, "state/keys/" + demoSZTPSerial + ".crt", dev.CertPEM}, {nil, "state/trust-anchors/cisco.pem", vendor.CertPEM},
		{nil, "state/configs/" + demoSZTPSerial + ".cfg", []byte(demoSZTPConfig)}, {nil, "vouchers/" + demoSZTPSerial + ".vcj", vch},
		{&f.key, "device/" + demoSZTPSerial + ".key", dev.KeyPEM}, {&f.cert, "device/" + demoSZTPSerial + ".crt", dev.CertPEM},
		{&f.masa, "device/masa.pem", masa.CertPEM}, {&f.serverCA, "device/server-ca.pem", serverCA.CertPEM},
	}
	for _, fl := range files {
		p, err := write(fl.name, fl.data)
		if err != nil {
			return nil, err
		}
		if fl.dst != nil {
			*fl.dst = p
		}
	}
	paths := map[string][]byte{"tls_cert": srv.CertPEM, "tls_key": srv.KeyPEM, "owner_cert": owner.CertPEM, "owner_key": owner.KeyPEM}
	for key, data := range paths {
		p, err := write("sztp/"+key+".pem", data)
		if err != nil {
			return nil, err
		}
		f.env = append(f.env, "SEALBOOT_SZTP_"+strings.ToUpper(key)+"="+p)
	}
	f.env = append(f.env, "SEALBOOT_SZTP_LISTEN=192.0.2.1:8443", "SEALBOOT_SZTP_VOUCHERS_DIR="+filepath.Join(d.dir, "vouchers"),
		"SEALBOOT_SZTP_REPORTING_LEVEL=verbose")
	f.store = state
	return f, nil
}

// bootSZTP boots the SZTP device and reports what it says.
func (d *demo) bootSZTP(ctx context.Context, self string, f *sztpFiles) error {
	d.say("10. an SZTP device (RFC 8572) boots: DHCP option 143 names https://192.0.2.1:8443; it authenticates with its")
	d.say("    factory IDevID, gets conveyed information signed by the owner (with its voucher) and encrypted to it")
	installed := filepath.Join(d.dir, "device", "sztp-installed.cfg")
	out, err := d.dev.NS.Command(ctx, self, "device", "boot", "--sztp", "--serial", demoSZTPSerial, "--key", f.key, "--cert", f.cert,
		"--masa-ca", f.masa, "--server-ca", f.serverCA, "--vendor", "cisco-xe", "--nonce", "--iface", d.dev.Name,
		"--retry", "1s", "--max-attempts", "10", "--install", installed).Output()
	d.say("11. the SZTP device says: %s", strings.TrimSpace(string(out)))
	if err != nil {
		return fmt.Errorf("the SZTP device did not onboard: %w", err)
	}
	got, err := os.ReadFile(installed)
	if err != nil || string(got) != demoSZTPConfig {
		return fmt.Errorf("the SZTP device installed another config: %v", err)
	}
	d.say("12. it verified voucher, owner certificate and signature, decrypted, installed its config, and reported its progress")
	return nil
}
