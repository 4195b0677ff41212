package admin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/sealboot/sealboot/cmd/sealboot/internal/daemon"
)

// SocketGroup is the group given the control socket when it exists: its
// members may run `sealboot status` without root.
const SocketGroup = "sealboot"

// Socket serves the admin handler on the local control socket, mode 0660,
// group SocketGroup when that group exists.
type Socket struct {
	path  string
	h     http.Handler
	log   *zap.Logger
	ready chan struct{}
}

// NewSocket returns the control socket at path, serving h.
func NewSocket(path string, h http.Handler, log *zap.Logger) *Socket {
	return &Socket{path: path, h: h, log: log, ready: make(chan struct{})}
}

// Ready is closed once the socket listens.
func (s *Socket) Ready() <-chan struct{} { return s.ready }

// Run listens and serves until ctx is done; the socket file is removed on
// the way out.
func (s *Socket) Run(ctx context.Context) error {
	ln, err := s.listen()
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: s.h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: time.Minute, IdleTimeout: time.Minute, ErrorLog: zap.NewStdLog(s.log)}
	close(s.ready)
	s.log.Info("admin socket listening", zap.String("socket", s.path))
	return daemon.ServeHTTP(ctx, srv, ln, 2*time.Second)
}

// listen makes the socket: its directory if missing, a stale socket
// removed (one nobody answers on), mode 0660 and the group.
func (s *Socket) listen() (net.Listener, error) {
	dir := filepath.Dir(s.path)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("admin socket directory: %w", err)
		}
		s.chgrp(dir)
	}
	if fi, err := os.Lstat(s.path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("admin socket %s: a file that is not a socket is in the way", s.path)
		}
		if c, err := net.DialTimeout("unix", s.path, time.Second); err == nil {
			_ = c.Close()
			return nil, fmt.Errorf("admin socket %s: another process listens on it (another sealboot?)", s.path)
		}
		_ = os.Remove(s.path) // left by a process that died
	}
	ln, err := net.Listen("unix", s.path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(s.path, 0o660); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	s.chgrp(s.path)
	return ln, nil
}

// chgrp gives path to SocketGroup, when it exists and we may.
func (s *Socket) chgrp(path string) {
	g, err := user.LookupGroup(SocketGroup)
	if err != nil {
		return
	}
	gid, _ := strconv.Atoi(g.Gid)
	if fi, err := os.Stat(path); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Gid) == gid {
			return // made by a process of that group (the service user's): nothing to change
		}
	}
	if err := os.Chown(path, -1, gid); err != nil {
		s.log.Warn("admin socket: cannot give it to group "+SocketGroup+"; only its owner may use it", zap.String("path", path), zap.Error(err))
	}
}
