package tftpd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/keystore/cms"
	"github.com/sealboot/sealboot/tftpd/configdir"
	"github.com/sealboot/sealboot/tftpd/fetch"
)

// TestWithKeystoreAndConfigDir runs the server on the real keystore and
// configs directory: a config still being written is not served, and a
// config dropped while the device retries is served on its next attempt.
func TestWithKeystoreAndConfigDir(t *testing.T) {
	t.Parallel()
	keys, configs := t.TempDir(), t.TempDir()
	_ = os.Chmod(configs, 0o700)
	id := device(t, "SN77", keystore.P256)
	ks, err := keystore.Open(keystore.Options{Dir: keys, Settle: time.Millisecond}, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Import(id.CertPEM, "", false); err != nil {
		t.Fatal(err)
	}
	// The settle delay is what tells a finished copy from one in progress;
	// a second leaves a loaded test machine ample time between a write and
	// the request that follows it.
	cd, err := configdir.New(configdir.Config{Dir: configs, Settle: time.Second}, ks, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { _ = cd.Run(ctx) }()
	<-cd.Ready()
	srv, err := New(Config{Listen: []string{"127.0.0.1:0"}}, newFetcher(t, fetch.Config{}, fetch.Deps{Configs: cd, Certificates: ks}, zap.NewNop()), zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Run(ctx) }()
	<-srv.Ready()
	addr := srv.Addrs()[0].String()

	if _, err := get(t, addr, "SN77.enc", 0); err == nil {
		t.Fatal("served before any config existed")
	}
	// Written slowly, in two parts: never served half.
	f, err := os.Create(filepath.Join(configs, "SN77.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	part := len(sampleConfig) / 6 // three parts: half the file
	for i := range 3 {            // a device retrying while the operator's copy is in progress
		_, _ = f.Write(sampleConfig[i*part : (i+1)*part])
		if data, err := get(t, addr, "SN77.enc", 0); err == nil {
			plain, _ := cms.Open(id.Key, data)
			t.Fatalf("served %d bytes of a half-written config", len(plain))
		}
	}
	_, _ = f.Write(sampleConfig[3*part:])
	f.Close()
	// The next attempt after the file settles gets the whole config.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		data, err := get(t, addr, "SN77.enc", 1468)
		if err == nil {
			plain, err := cms.Open(id.Key, data)
			if err != nil || !bytes.Equal(plain, sampleConfig) {
				t.Fatalf("served config does not match: %v", err)
			}
			return
		}
		select {
		case <-t.Context().Done():
			t.Fatal("dropped config never served")
		case <-tick.C:
		}
	}
}
