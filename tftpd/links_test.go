package tftpd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/tftpd/configdir"
	"github.com/sealboot/sealboot/tftpd/fetch"
)

// A config that is a symlink is never served, sealed or in the clear:
// SN1.cfg (with a certificate) and SN2.cfg (in tftp.plaintext_serials)
// pointing at a secret outside configs_dir are refused as not_found with
// a reason naming the link, and the secret never reaches the wire.
func TestSymlinkedConfigNeverServed(t *testing.T) {
	t.Parallel()
	keys, configs, elsewhere := t.TempDir(), t.TempDir(), t.TempDir()
	_ = os.Chmod(configs, 0o700)
	secret := []byte("root:$6$marker-secret-4711:19000:0:99999:7:::\n")
	shadow := filepath.Join(elsewhere, "shadow")
	if err := os.WriteFile(shadow, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Minute)
	if err := os.WriteFile(filepath.Join(configs, "SN3.cfg"), sampleConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		os.Chtimes(filepath.Join(configs, "SN3.cfg"), old, old),
		os.Symlink(shadow, filepath.Join(configs, "SN1.cfg")),
		os.Symlink(shadow, filepath.Join(configs, "SN2.cfg")),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	id := device(t, "SN1", keystore.P256)
	ks, err := keystore.Open(keystore.Options{Dir: keys, Settle: time.Millisecond}, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Import(id.CertPEM, "", false); err != nil {
		t.Fatal(err)
	}
	cd, err := configdir.New(configdir.Config{Dir: configs, Settle: time.Millisecond}, ks, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.DebugLevel)
	h := &harness{t: t, logs: logs}
	fc, err := fetch.New(fetch.Config{PlaintextSerials: []string{"SN2", "SN3"}}, fetch.Deps{Configs: cd, Certificates: ks})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Listen: []string{"127.0.0.1:0"}}, fc.Transport("tftp", zap.New(core), nil), zap.New(core), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { _ = srv.Run(ctx) }()
	<-srv.Ready()
	addr := srv.Addrs()[0].String()

	for _, name := range []string{"SN1.enc", "SN2.enc"} {
		if data, err := get(t, addr, name, 0); err == nil || bytes.Contains(data, []byte("marker-secret")) {
			t.Errorf("%s served (%d bytes) from a symlinked config", name, len(data))
		}
	}
	if data, err := get(t, addr, "SN3.enc", 0); err != nil || !bytes.Equal(data, sampleConfig) {
		t.Fatalf("regular plaintext config: %v", err)
	}
	ev := byFile(h.waitEvents(3))
	for _, name := range []string{"SN1.enc", "SN2.enc"} {
		e := ev[name]
		reason, _ := e["reason"].(string)
		if e["outcome"] != fetch.OutcomeNotFound || !strings.Contains(reason, "a symbolic link: configs must be regular files in configs_dir") || e["bytes"] != int64(0) {
			t.Errorf("%s: %v", name, e)
		}
	}
	if ev["SN3.enc"]["outcome"] != fetch.OutcomeServed {
		t.Errorf("SN3.enc: %v", ev["SN3.enc"])
	}
}
