package e2e

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/keystore/voucher"
	"github.com/sealboot/sealboot/test/device"
	"github.com/sealboot/sealboot/test/netns"
)

// sztpLab is a lab with everything SZTP needs: a vendor CA that issued the
// device's IDevID (in the keystore too), the server's TLS identity, an
// owner certificate and key, a MASA and the device's voucher, a config,
// scripts, and a profile with transport sztp.
type sztpLab struct {
	*lab
	serial                  string
	key, cert, masa, server string // files for the device side
	base                    string // the configuration, without sign/encrypt
	cfgPath                 string
}

func newSZTPLab(t *testing.T, serial string, v6 bool) *sztpLab {
	t.Helper()
	l := &sztpLab{lab: newLab(t), serial: serial}
	write := func(name string, data []byte) string {
		p := filepath.Join(l.dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ca := func(name string, kt keystore.KeyType) *keystore.Authority {
		a, err := keystore.GenerateAuthority(name, kt)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	vendor, owner, masa, serverCA := ca("Vendor", keystore.P256), ca("Owner", keystore.RSA2048), ca("MASA", keystore.P256), ca("Server CA", keystore.P256)
	dev, err := vendor.Issue(serial, keystore.P256, keystore.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := serverCA.Issue("sztp.lab", keystore.P256, keystore.IssueOptions{ServerIPs: []net.IP{net.ParseIP("192.0.2.1"), net.ParseIP("2001:db8::1")}})
	if err != nil {
		t.Fatal(err)
	}
	vch, err := voucher.Sign(&voucher.Voucher{CreatedOn: time.Now().Add(-time.Hour), ExpiresOn: time.Now().AddDate(1, 0, 0),
		Assertion: voucher.AssertionVerified, SerialNumber: serial, PinnedDomainCert: owner.Cert}, masa.Cert, masa.Key, nil)
	if err != nil {
		t.Fatal(err)
	}
	write("state/keys/"+serial+".crt", dev.CertPEM)
	write("state/configs/"+serial+".cfg", []byte("hostname "+serial+"\nsnmp-server community s3cr3t\n"))
	write("state/trust-anchors/juniper.pem", vendor.CertPEM)
	write("vouchers/"+serial+".vcj", vch)
	write("state/images/junos-24.2R1.tgz", bytes.Repeat([]byte("junos image "), 100000))
	l.key, l.cert = write("dev.key", dev.KeyPEM), write("dev.crt", dev.CertPEM)
	l.masa, l.server = write("masa.pem", masa.CertPEM), write("server-ca.pem", serverCA.CertPEM)
	v6cfg := ""
	if v6 {
		v6cfg = fmt.Sprintf("  v6:\n    interfaces: [%s]\n    pool: 2001:db8::100-2001:db8::1ff\n", l.srv.Name)
	}
	l.base = v6cfg + fmt.Sprintf(`http:
  listen: ["192.0.2.1:8080", "[2001:db8::1]:8080"]
sztp:
  listen: ["192.0.2.1:8443", "[2001:db8::1]:8443"]
  tls_cert: %s
  tls_key: %s
  owner_cert: %s
  owner_key: %s
  vouchers_dir: %s
  reporting_level: verbose
  MODE
profiles:
  - name: qfx-sztp
    vendor: juniper
    model: "qfx*"
    transport: sztp
    image: junos-24.2R1.tgz
    os_name: Junos
    os_version: "24.2R1"
    pre_script: %s
    post_script: %s
`, write("sztp.pem", srv.CertPEM), write("sztp.key", srv.KeyPEM), write("owner.pem", owner.CertPEM), write("owner.key", owner.KeyPEM),
		filepath.Join(l.dir, "vouchers"), write("pre.sh", []byte("#!/bin/sh\necho pre\n")), write("post.sh", []byte("#!/bin/sh\necho post\n")))
	l.cfgPath = l.configMode("always", "always")
	return l
}

// configMode writes the configuration with sztp.sign and sztp.encrypt.
func (l *sztpLab) configMode(sign, encrypt string) string {
	return l.config(strings.Replace(l.base, "MODE", "sign: "+sign+"\n  encrypt: "+encrypt, 1))
}

// boot runs the emulated SZTP device once.
func (l *sztpLab) bootSZTP(t *testing.T, extra ...string) device.Result {
	t.Helper()
	args := append([]string{"--sztp", "--serial", l.serial, "--key", l.key, "--cert", l.cert, "--masa-ca", l.masa,
		"--vendor", "juniper", "--model", "qfx5120-48y", "--os-name", "Junos", "--os-version", "23.4R1", "--max-attempts", "1"}, extra...)
	return l.boot(t, args...)
}

// TestSZTPDeviceOnboards: the emulated SZTP device, over IPv4 and over
// IPv6, finds the server through option 143/136, onboards in all four
// security modes (switched by SIGHUP), verifies voucher, owner certificate
// and signature, decrypts with its key, keeps its running image, records
// the scripts, installs its config and reports its progress, whose
// sztp.progress events come in order.
func TestSZTPDeviceOnboards(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		t.Run(map[bool]string{false: "ipv4", true: "ipv6"}[v6], func(t *testing.T) {
			l := newSZTPLab(t, "WS3718350001", v6)
			s := l.start(l.cfgPath)
			s.wait("", func(m map[string]any) bool {
				return m["msg"] == "config ready" && m["serial"] == l.serial || m["msg"] == "configs directory scanned" && m["ready"] == 1.0
			})
			s.wait("image ready", nil) // hashed: its SHA-256 is what the device is told
			if v6 {
				for _, link := range []*netns.Link{l.srv, l.cli} {
					if err := link.WaitLinkLocal(t.Context()); err != nil {
						t.Fatal(err)
					}
				}
			}
			want := []string{"bootstrap-initiated", "parsing-complete", "boot-image-initiated", "boot-image-complete",
				"pre-script-initiated", "pre-script-complete", "config-initiated", "config-complete",
				"post-script-initiated", "post-script-complete", "bootstrap-complete"}
			for i, m := range []struct{ sign, encrypt, mode string }{
				{"always", "always", "signed+encrypted"}, {"always", "never", "signed"}, {"never", "always", "encrypted"}, {"never", "never", "unsigned"},
			} {
				if i > 0 {
					l.configMode(m.sign, m.encrypt)
					_ = s.cmd.Process.Signal(syscall.SIGHUP)
					s.waitNth("configuration reloaded", i-1)
				}
				args := []string{"--server-ca", l.server}
				if v6 {
					args = append(args, "--v6")
				}
				res := l.bootSZTP(t, args...)
				// The device runs 23.4R1 and is told to run 24.2R1: it fetches
				// the image from the HTTP server and checks its SHA-256.
				if res.Outcome != "installed" || res.Mode != m.mode || len(res.Scripts) != 2 || !strings.Contains(res.Image, ":8080/images/junos-24.2R1.tgz (1200000 bytes") {
					t.Fatalf("%s: %+v", m.mode, res)
				}
				if !slices.Equal(res.Progress, want) {
					t.Errorf("%s: device reported %v", m.mode, res.Progress)
				}
				served := s.wait("sztp request served", func(e map[string]any) bool { return e["mode"] == m.mode })
				if served["serial"] != l.serial || served["vendor"] != "juniper" || served["hw_model"] != "qfx5120-48y" {
					t.Errorf("%s: event %v", m.mode, served)
				}
				s.waitNth("sztp progress bootstrap-complete", i) // logged as the 204 goes out
				var got []string
				for _, e := range s.events("sztp.progress") {
					got = append(got, e["progress_type"].(string))
				}
				if !slices.Equal(got[len(got)-len(want):], want) {
					t.Errorf("%s: sztp.progress events %v", m.mode, got)
				}
				last := s.events("sztp.progress")
				if keys := fmt.Sprint(last[len(last)-1]["ssh_host_keys"]); !strings.Contains(keys, "ssh-ed25519 SHA256:") {
					t.Errorf("bootstrap-complete without host key fingerprints: %v", keys)
				}
			}
			// An untrusted server (no --server-ca): the device asks for
			// signed data, gets it and verifies it, and reports no progress
			// to an untrusted server.
			l.configMode("always", "always")
			_ = s.cmd.Process.Signal(syscall.SIGHUP)
			s.waitNth("configuration reloaded", 3)
			var args []string
			if v6 {
				args = []string{"--v6"}
			}
			res := l.bootSZTP(t, args...)
			if res.Outcome != "installed" || res.Mode != "signed+encrypted" || len(res.Progress) != 0 {
				t.Fatalf("untrusted server: %+v", res)
			}
		})
	}
}
