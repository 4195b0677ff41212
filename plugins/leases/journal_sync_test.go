package leases

import (
	"os"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// A journal whose fsync keeps failing (a disk gone read-only) logs it when
// it starts and when it ends, not at every attempt.
func TestJournalSyncFailureLoggedOnce(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zap.DebugLevel)
	s, err := Open(Options{Path: t.TempDir() + "/l.journal", SyncInterval: time.Millisecond}, zap.New(core), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	good := s.j.f
	bad, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0) // fsync: EINVAL
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	s.j.mu.Lock()
	s.j.f, s.j.dirty = bad, true
	s.j.mu.Unlock()
	waitFor(t, func() bool { s.j.mu.Lock(); defer s.j.mu.Unlock(); return s.j.syncFailures >= 50 })
	s.j.mu.Lock()
	s.j.f = good
	s.j.mu.Unlock()
	waitFor(t, func() bool { return logs.FilterMessage("lease journal fsync works again").Len() == 1 })
	if n := logs.FilterMessageSnippet("lease journal fsync failed").Len(); n != 1 {
		t.Fatalf("%d lines for one run of failures", n)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-t.Context().Done():
			t.Fatal("condition never held")
		case <-time.After(time.Millisecond):
		}
	}
}
