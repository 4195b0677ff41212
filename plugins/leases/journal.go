package leases

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
)

const journalHeader = "sealboot-leases 1"

// journal is the append-only lease log of a Store.
type journal struct {
	path     string
	interval time.Duration
	store    *Store
	log      *zap.Logger

	mu      sync.Mutex
	f       *os.File
	size    int64 // bytes of whole records in f
	torn    bool  // f ends in part of a record that could not be cut off
	dirty   bool
	records int // lines since the last compaction
	syncs   int64
	// syncFailures counts failed fsyncs; failing, those since the last
	// that worked (the log says when it starts and when it ends).
	syncFailures, failing int64
	stop                  chan struct{}
	done                  chan struct{}
	closing               sync.Once
}

func openJournal(path string, interval time.Duration, s *Store, log *zap.Logger) (*journal, error) {
	j := &journal{path: path, interval: interval, store: s, log: log, stop: make(chan struct{}), done: make(chan struct{})}
	j.removeLeftover()
	if err := j.replay(); err != nil {
		return nil, err
	}
	if err := j.compact(); err != nil {
		// The journal as it is holds every acknowledged lease: compaction
		// only saves space, and a full disk must not keep DHCP down.
		j.log.Warn("lease journal: cannot compact it at start; carrying on with the journal as it is (compaction is tried again once it has grown)",
			zap.String("file", path), zap.Error(err))
		if err := j.openAppend(); err != nil {
			return nil, fmt.Errorf("lease journal %s: %w", path, err)
		}
	}
	go j.loop()
	return j, nil
}

// tmpPath is where compaction writes the new journal before renaming it.
func (j *journal) tmpPath() string { return j.path + ".tmp" }

// removeLeftover removes the temporary file of a compaction that a crash
// interrupted: it holds nothing the journal does not.
func (j *journal) removeLeftover() {
	err := os.Remove(j.tmpPath())
	switch {
	case err == nil:
		j.log.Info("lease journal: removed the temporary file of an interrupted compaction", zap.String("file", j.tmpPath()))
	case !errors.Is(err, fs.ErrNotExist):
		j.log.Warn("lease journal: cannot remove the temporary file of an interrupted compaction", zap.String("file", j.tmpPath()), zap.Error(err))
	}
}

// replay applies the journal's records to the store, and sets j.size to
// the bytes of its whole records and j.records to their number.
func (j *journal) replay() error {
	data, err := os.ReadFile(j.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read lease journal: %w", err)
	}
	j.size = int64(bytes.LastIndexByte(data, '\n') + 1)
	lines := bytes.Split(data, []byte("\n"))
	torn := len(data) > 0 && data[len(data)-1] != '\n'
	for i, line := range lines {
		last := i == len(lines)-1
		if len(line) == 0 || (i == 0 && string(line) == journalHeader) {
			continue
		}
		if last && torn {
			j.log.Warn("lease journal ends in a partial record (a crash during a write); dropped it",
				zap.String("file", j.path), zap.Int("line", i+1))
			break
		}
		if err := j.store.apply(string(line)); err != nil {
			j.log.Warn("lease journal: skipping a corrupt record", zap.String("file", j.path), zap.Int("line", i+1), zap.Error(err))
		}
		j.records++
	}
	return nil
}

// openAppend opens the journal for appending when compaction did not, and
// cuts off a partial last record that replay dropped (or marks it torn,
// so the next record starts on a line of its own).
func (j *journal) openAppend() error {
	f, err := os.OpenFile(j.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	j.f, j.torn = f, false
	switch {
	case fi.Size() < j.size: // changed under us: trust what is there
		j.size = fi.Size()
	case fi.Size() > j.size:
		if err := f.Truncate(j.size); err != nil {
			j.torn = true
		}
	}
	return nil
}

// append writes one record and hands it to the kernel before returning.
func (j *journal) append(rec string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return errors.New("lease journal is closed")
	}
	if j.torn { // end the partial record: replay skips it as one bad line
		rec = "\n" + rec
	}
	n, err := io.WriteString(j.f, rec+"\n")
	if err != nil {
		// A full disk can cut the record short. Cut it off, or the next
		// record would be appended to it and both lost at replay.
		if n > 0 || j.torn {
			if terr := j.f.Truncate(j.size); terr != nil {
				j.torn = true
				j.log.Error("lease journal: cannot cut off a partial record", zap.String("file", j.path), zap.Error(terr))
			} else {
				j.torn = false
			}
		}
		return err
	}
	j.size += int64(n)
	j.torn = false
	j.records++
	if j.interval < 0 {
		j.syncs++
		return j.f.Sync()
	}
	j.dirty = true
	return nil
}

// loop syncs dirty records every interval and compacts when the journal
// has grown well past the live leases.
func (j *journal) loop() {
	defer close(j.done)
	interval := j.interval
	if interval <= 0 {
		interval = time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	housekeeping := time.NewTicker(10 * time.Second)
	defer housekeeping.Stop()
	for {
		select {
		case <-j.stop:
			return
		case <-t.C:
			j.sync()
		case <-housekeeping.C:
			j.store.expire()
			j.mu.Lock()
			grown := j.records > 10000 && j.records > 4*j.store.size()
			j.mu.Unlock()
			if grown {
				if err := j.compact(); err != nil {
					j.log.Error("lease journal compaction failed", zap.String("file", j.path), zap.Error(err))
				}
			}
		}
	}
}

func (j *journal) sync() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.dirty || j.f == nil {
		return
	}
	if err := j.f.Sync(); err != nil {
		j.syncFailures++
		j.failing++
		if j.failing == 1 { // retried every interval: one line, not ten a second
			j.log.Error("lease journal fsync failed; retrying, and saying so here once it works (sealboot_dhcp_lease_journal_sync_failures_total counts the attempts)",
				zap.String("file", j.path), zap.Error(err))
		}
		return
	}
	if j.failing > 0 {
		j.log.Info("lease journal fsync works again", zap.String("file", j.path), zap.Int64("failed_attempts", j.failing))
		j.failing = 0
	}
	j.dirty = false
	j.syncs++
}

// compact rewrites the journal with only the remembered leases and
// quarantines: temporary file, fsync, rename, fsync of the directory. When
// any step before the rename fails, the temporary file is removed and the
// journal stays as it was.
func (j *journal) compact() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	lines := j.store.snapshotLines()
	size, err := writeSnapshot(j.tmpPath(), lines)
	if err == nil {
		err = os.Rename(j.tmpPath(), j.path)
	}
	if err != nil {
		if rerr := os.Remove(j.tmpPath()); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = fmt.Errorf("%w (and removing %s: %v)", err, j.tmpPath(), rerr)
		}
		return err
	}
	if d, err := os.Open(filepath.Dir(j.path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	if j.f != nil {
		j.f.Close()
		j.f = nil
	}
	j.records, j.dirty, j.torn, j.size = len(lines), false, false, size
	j.f, err = os.OpenFile(j.path, os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		j.f = nil
		return err
	}
	return nil
}

// writeSnapshot writes a journal holding lines to path and syncs it; it
// returns its size.
func writeSnapshot(path string, lines []string) (int64, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|syscall.O_NOFOLLOW, 0o640)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriter(f)
	n, _ := fmt.Fprintln(w, journalHeader)
	size := int64(n)
	for _, l := range lines {
		n, _ = fmt.Fprintln(w, l)
		size += int64(n)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return 0, err
	}
	return size, f.Close()
}

func (j *journal) close() error {
	j.closing.Do(func() { close(j.stop) })
	<-j.done
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Sync()
	if cerr := j.f.Close(); err == nil {
		err = cerr
	}
	j.f = nil
	return err
}

// Records.

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func undash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

func recordAck(l Lease) string {
	mac := ""
	if l.MAC != nil {
		mac = l.MAC.String()
	}
	rec := fmt.Sprintf("A %s %d %s %s %s", l.IP, l.Expires.Unix(), l.ClientID, dash(mac), dash(l.Serial))
	if l.Inventory {
		rec += " inventory"
	}
	return rec
}

func recordRelease(ip netip.Addr, clientID string, at time.Time) string {
	return fmt.Sprintf("R %s %s %d", ip, clientID, at.Unix())
}

func recordDecline(ip netip.Addr, until time.Time) string {
	return fmt.Sprintf("D %s %d", ip, until.Unix())
}

// size is the number of records a compacted journal holds.
func (s *Store) size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byIP) + len(s.declined)
}

// snapshotLines returns records that recreate the store's state.
func (s *Store) snapshotLines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.byIP)+len(s.declined))
	for _, l := range s.byIP {
		out = append(out, recordAck(*l))
	}
	for ip, until := range s.declined {
		out = append(out, recordDecline(ip, until))
	}
	return out
}

// apply replays one record.
func (s *Store) apply(line string) error {
	f := strings.Split(line, " ")
	switch {
	case (len(f) == 6 || len(f) == 7 && f[6] == "inventory") && f[0] == "A": // 6: before the source was kept
		ip, err := netip.ParseAddr(f[1])
		exp, err2 := strconv.ParseInt(f[2], 10, 64)
		if err != nil || err2 != nil || f[3] == "" {
			return fmt.Errorf("bad lease record %q", line)
		}
		l := &Lease{IP: ip.Unmap(), Expires: time.Unix(exp, 0), ClientID: f[3], Serial: undash(f[5]), Inventory: len(f) == 7}
		if m := undash(f[4]); m != "" {
			if l.MAC, err = net.ParseMAC(m); err != nil {
				return fmt.Errorf("bad MAC in %q", line)
			}
		}
		s.mu.Lock()
		s.install(l)
		s.mu.Unlock()
	case len(f) == 4 && f[0] == "R":
		ip, err := netip.ParseAddr(f[1])
		at, err2 := strconv.ParseInt(f[3], 10, 64)
		if err != nil || err2 != nil {
			return fmt.Errorf("bad release record %q", line)
		}
		s.mu.Lock()
		if l := s.byIP[ip.Unmap()]; l != nil && l.ClientID == f[2] {
			l.Expires = time.Unix(at, 0)
		}
		s.mu.Unlock()
	case len(f) == 3 && f[0] == "D":
		ip, err := netip.ParseAddr(f[1])
		until, err2 := strconv.ParseInt(f[2], 10, 64)
		if err != nil || err2 != nil {
			return fmt.Errorf("bad decline record %q", line)
		}
		s.mu.Lock()
		s.declined[ip.Unmap()] = time.Unix(until, 0)
		s.mu.Unlock()
	default:
		return fmt.Errorf("unknown record %q", line)
	}
	return nil
}
