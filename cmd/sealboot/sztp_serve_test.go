package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/keystore/cms"
	"github.com/sealboot/sealboot/keystore/voucher"
	"github.com/sealboot/sealboot/tftpd/sztpd"
)

// TestServeSZTPWithCurlAndOpenSSL: the built binary serves SZTP; curl with
// a device certificate gets conveyed information in each security mode
// (switched by SIGHUP), and openssl alone opens it: cms -decrypt with the
// device's key, cms -verify with the owner's and the MASA's certificates.
func TestServeSZTPWithCurlAndOpenSSL(t *testing.T) {
	for _, tool := range []string{"curl", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (Debian package %s)", tool, tool)
		}
	}
	t.Parallel()
	bin := buildSealboot(t)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	must := func(a *keystore.Authority, err error) *keystore.Authority {
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	vendor, ownerCA, masa := must(keystore.GenerateAuthority("Vendor", keystore.P256)), must(keystore.GenerateAuthority("Owner", keystore.RSA2048)), must(keystore.GenerateAuthority("MASA", keystore.P256))
	dev, err := vendor.Issue("FOC2231X0AB", keystore.P256, keystore.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	server, err := vendor.Issue("sztp-server", keystore.P256, keystore.IssueOptions{ServerIPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	vch, err := voucher.Sign(&voucher.Voucher{CreatedOn: time.Now(), ExpiresOn: time.Now().AddDate(1, 0, 0), Assertion: voucher.AssertionVerified,
		SerialNumber: "FOC2231X0AB", PinnedDomainCert: ownerCA.Cert}, masa.Cert, masa.Key, nil)
	if err != nil {
		t.Fatal(err)
	}
	write("state/keys/FOC2231X0AB.pem", dev.CertPEM)
	write("state/configs/FOC2231X0AB.cfg", []byte("hostname c9300\nsnmp-server community s3cr3t\n"))
	write("state/trust-anchors/cisco.pem", vendor.CertPEM)
	write("vouchers/FOC2231X0AB.vcj", vch)
	devCert, devKey := write("dev.pem", dev.CertPEM), write("dev.key", dev.KeyPEM)
	ownerPEM, masaPEM, serverCA := write("owner.pem", ownerCA.CertPEM), write("masa.pem", masa.CertPEM), write("server-ca.pem", vendor.CertPEM)
	port := freeTCPPort(t)
	// Files written just now are read once they have settled.
	base := fmt.Sprintf("state_dir: %s\nkeystore:\n  settle: 10ms\nwatch:\n  settle: 10ms\ntftp:\n  listen: [\"127.0.0.1:%d\"]\nlog:\n  level: info\n  format: json\nsztp:\n  listen: [\"127.0.0.1:%d\"]\n"+
		"  tls_cert: %s\n  tls_key: %s\n  owner_cert: %s\n  owner_key: %s\n  vouchers_dir: %s\n  basic_auth: %s\n",
		filepath.Join(dir, "state"), freeUDPPort(t), port, write("server.pem", server.CertPEM), write("server.key", server.KeyPEM),
		ownerPEM, write("owner.key", ownerCA.KeyPEM), filepath.Join(dir, "vouchers"),
		write("passwords", []byte("FOC2231X0AB "+sztpd.PasswordHash("right")+"\n")))
	cfgFile := write("sealboot.yaml", []byte(base))
	d := startDaemon(t, bin, nil, "--config", cfgFile)
	ready := d.waitFor("sealboot ready")
	// The certificate is in the first scan, or added once it settled.
	d.waitMatch("", func(m map[string]any) bool {
		return m["msg"] == "certificate added" && m["serial"] == "FOC2231X0AB" || m["msg"] == "keys directory scanned" && m["certificates"] == 1.0
	})
	if !strings.Contains(fmt.Sprint(ready["listen"]), fmt.Sprintf("sztp 127.0.0.1:%d", port)) {
		t.Fatalf("ready line: %v", ready)
	}
	d.waitMatch("", func(m map[string]any) bool {
		return m["msg"] == "config ready" && m["serial"] == "FOC2231X0AB" || m["msg"] == "configs directory scanned" && m["ready"] == 1.0
	})
	url := fmt.Sprintf("https://127.0.0.1:%d/restconf/operations/ietf-sztp-bootstrap-server:get-bootstrapping-data", port)
	for i, m := range []struct{ sign, encrypt, mode string }{
		{"always", "always", "signed+encrypted"}, {"always", "never", "signed"}, {"never", "always", "encrypted"}, {"never", "never", "unsigned"},
	} {
		write("sealboot.yaml", []byte(base+"  sign: "+m.sign+"\n  encrypt: "+m.encrypt+"\n"))
		_ = d.cmd.Process.Signal(syscall.SIGHUP)
		n := 0
		d.waitMatch("configuration reloaded", func(map[string]any) bool { n++; return n == i+1 })
		out, err := exec.Command("curl", "-sS", "--fail-with-body", "--cacert", serverCA, "--cert", devCert, "--key", devKey,
			"-H", "Content-Type: application/yang-data+json", "-d", `{"ietf-sztp-bootstrap-server:input":{"hw-model":"C9300-24T"}}`, url).Output()
		if err != nil {
			ev := d.waitMatch("sztp request", func(map[string]any) bool { return true })
			t.Fatalf("%s: curl: %v %s\nevent: %v", m.mode, err, out, ev)
		}
		var doc map[string]map[string]string
		if err := json.Unmarshal(out, &doc); err != nil {
			t.Fatalf("%s: %v %s", m.mode, err, out)
		}
		o := map[string][]byte{}
		for k, v := range doc["ietf-sztp-bootstrap-server:output"] {
			o[k], _ = base64.StdEncoding.DecodeString(v)
		}
		ci := write(m.mode+"/ci.der", o["conveyed-information"])
		msg := ci
		if m.encrypt == "always" {
			inner := runTool(t, nil, "openssl", "cms", "-decrypt", "-binary", "-inform", "DER", "-in", ci, "-recip", devCert, "-inkey", devKey)
			if m.mode == "encrypted" {
				checkConveyed(t, m.mode, inner)
				continue
			}
			wrapped, err := cms.WrapInner(cms.TypeSignedData, inner) // what the README's printf does
			if err != nil {
				t.Fatal(err)
			}
			msg = write(m.mode+"/signed.der", wrapped)
		}
		if m.sign == "always" {
			checkConveyed(t, m.mode, runTool(t, nil, "openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", msg, "-CAfile", ownerPEM, "-purpose", "any"))
			v := runTool(t, nil, "openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", write(m.mode+"/ov.der", o["ownership-voucher"]), "-CAfile", masaPEM, "-purpose", "any")
			if !bytes.Contains(v, []byte(`"serial-number":"FOC2231X0AB"`)) {
				t.Fatalf("%s: voucher %s", m.mode, v)
			}
			continue
		}
		_, content, err := cms.Unwrap(o["conveyed-information"])
		if err != nil {
			t.Fatal(err)
		}
		checkConveyed(t, m.mode, content)
	}
	for _, mode := range []string{"signed+encrypted", "signed", "encrypted", "unsigned"} {
		d.waitMatch("sztp request served", func(m map[string]any) bool { return m["mode"] == mode && m["serial"] == "FOC2231X0AB" })
	}

	// Refusals, with curl: the RFC 8040 status and error, and an event.
	stranger := must(keystore.GenerateAuthority("Stranger", keystore.P256))
	alien, _ := stranger.Issue("FOC2231X0AB", keystore.P256, keystore.IssueOptions{})
	rma, _ := vendor.Issue("FOC2231X0AB", keystore.P256, keystore.IssueOptions{})
	unknown, _ := vendor.Issue("FOC9999X0ZZ", keystore.P256, keystore.IssueOptions{})
	for _, r := range []struct {
		name      string
		id        *keystore.DeviceIdentity
		basic     string
		status    string
		typ, tag  string
		outcome   string
		challenge bool // WWW-Authenticate: Basic (basic_auth is set)
	}{
		{"unknown CA", alien, "", "401", "protocol", "access-denied", "untrusted_certificate", true},
		{"revoked pin (RMA)", rma, "", "403", "protocol", "access-denied", "pin_mismatch", false},
		{"unknown serial", unknown, "", "404", "application", "invalid-value", "not_found", false},
		{"wrong Basic password", nil, "FOC2231X0AB:wrong", "401", "protocol", "access-denied", "bad_password", true},
	} {
		headers, body := filepath.Join(dir, "refusal.headers"), filepath.Join(dir, "refusal.body")
		args := []string{"-sS", "-D", headers, "-o", body, "-w", "%{http_code}", "--cacert", serverCA, "-X", "POST", url}
		if r.id != nil {
			args = append(args, "--cert", write(r.name+".crt", r.id.CertPEM), "--key", write(r.name+".key", r.id.KeyPEM))
		} else {
			args = append(args, "-u", r.basic)
		}
		out, err := exec.Command("curl", args...).Output()
		if err != nil || string(out) != r.status {
			t.Errorf("%s: curl %v, status %s, want %s", r.name, err, out, r.status)
		}
		h, _ := os.ReadFile(headers)
		b, _ := os.ReadFile(body)
		if !strings.Contains(string(b), `"error-type":"`+r.typ+`"`) || !strings.Contains(string(b), `"error-tag":"`+r.tag+`"`) {
			t.Errorf("%s: body %s, want %s %s", r.name, b, r.typ, r.tag)
		}
		if got := strings.Contains(strings.ToLower(string(h)), "\nwww-authenticate: basic realm=\"sztp\""); got != r.challenge {
			t.Errorf("%s: headers %s", r.name, h)
		}
		d.waitMatch("sztp request "+r.outcome, func(map[string]any) bool { return true })
	}
}

func checkConveyed(t *testing.T, mode string, data []byte) {
	t.Helper()
	var doc map[string]map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: conveyed information %v: %s", mode, err, data)
	}
	if got := fmt.Sprint(doc["ietf-sztp-conveyed-info:onboarding-information"]["configuration"]); got != "aG9zdG5hbWUgYzkzMDAKc25tcC1zZXJ2ZXIgY29tbXVuaXR5IHMzY3IzdAo=" {
		t.Fatalf("%s: configuration %s", mode, got)
	}
}

func runTool(t *testing.T, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, errb.String())
	}
	return out.Bytes()
}

// sealboot sztp check prints what a device would get, the config and
// scripts elided, and exits 1 for a device that would be refused.
func TestSZTPCheckCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	id, err := keystore.GenerateDevice("SN7", keystore.P256)
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := keystore.GenerateDevice("server", keystore.P256)
	files := map[string][]byte{"state/keys/SN7.crt": id.CertPEM, "state/configs/SN7.cfg": []byte("hostname r7\nsecret s3cr3t\n"),
		"tls.pem": srv.CertPEM, "tls.key": srv.KeyPEM, "pre.sh": []byte("echo pre\n")}
	for name, data := range files {
		p := filepath.Join(dir, name)
		_ = os.MkdirAll(filepath.Dir(p), 0o700)
		_ = os.WriteFile(p, data, 0o600)
	}
	_ = os.MkdirAll(filepath.Join(dir, "state/trust-anchors"), 0o700)
	cfg := filepath.Join(dir, "sealboot.yaml")
	_ = os.WriteFile(cfg, []byte(fmt.Sprintf("state_dir: %s\nsztp:\n  listen: [\":8443\"]\n  tls_cert: %s\n  tls_key: %s\nprofiles:\n  - name: p\n    serials: [SN7]\n    os_name: OS\n    os_version: \"1\"\n    pre_script: %s\n",
		filepath.Join(dir, "state"), filepath.Join(dir, "tls.pem"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "pre.sh"))), 0o600)
	code, stdout, stderr := runCLI(t, nil, "sztp", "check", "-c", cfg, "--serial", "SN7")
	if code != 0 || strings.Contains(stdout, "s3cr3t") || strings.Contains(stdout, "echo pre") ||
		!strings.Contains(stdout, `"mode": "encrypted"`) || !strings.Contains(stdout, `"os_name": "OS"`) || !strings.Contains(stdout, `"bytes": 9`) {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, _ = runCLI(t, nil, "sztp", "check", "-c", cfg, "--serial", "SN8")
	if code != exitFailure || !strings.Contains(stdout, `"status": 404`) {
		t.Fatalf("unknown serial: exit %d\n%s", code, stdout)
	}
}
