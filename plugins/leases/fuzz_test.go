package leases

import (
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/zap"
)

// FuzzReplay: any bytes as a journal open without a panic.
func FuzzReplay(f *testing.F) {
	f.Add([]byte(journalHeader + "\nA 10.0.0.1 1800000000 mac:02:00:00:00:00:01 02:00:00:00:00:01 SN1\nR 10.0.0.1 mac:02:00:00:00:00:01 1800000001\nD 10.0.0.2 1800000600\n"))
	f.Add([]byte("A 2001:db8::1 1 duid:00/iaid:00 - -\nA"))
	f.Add([]byte("A x y z w v\n\x00\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "j")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(Options{Path: path}, zap.NewNop(), nil)
		if err != nil {
			return
		}
		_ = s.Leases()
		_ = s.Close()
	})
}
