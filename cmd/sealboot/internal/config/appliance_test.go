package config

import (
	"os"
	"path/filepath"
	"testing"
)

// The appliance key pair comes from the file's keys or the environment,
// else from systemd's credentials directory when the key is there.
func TestApplianceFiles(t *testing.T) {
	t.Parallel()
	creds := t.TempDir()
	cfg, err := Load(Source{Env: []string{"SEALBOOT_APPLIANCE_KEY=/etc/k", "SEALBOOT_APPLIANCE_CERT=/etc/c"}})
	if err != nil {
		t.Fatal(err)
	}
	if k, c := cfg.ApplianceFiles(creds); k != "/etc/k" || c != "/etc/c" {
		t.Fatalf("from the environment: %q %q", k, c)
	}
	def := Default()
	if k, c := def.ApplianceFiles(creds); k != "" || c != "" {
		t.Fatalf("no credential: %q %q", k, c)
	}
	if k, _ := def.ApplianceFiles(""); k != "" {
		t.Fatalf("no credentials directory: %q", k)
	}
	if err := os.WriteFile(filepath.Join(creds, "appliance_key"), []byte("x"), 0o400); err != nil {
		t.Fatal(err)
	}
	if k, c := def.ApplianceFiles(creds); k != filepath.Join(creds, "appliance_key") || c != filepath.Join(creds, "appliance_cert") {
		t.Fatalf("from credentials: %q %q", k, c)
	}
}
