package httpd

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/sealboot/sealboot/tftpd/fetch"
)

// maxHead is how much of a request net/http refused is kept, to name what
// was asked in the event.
const maxHead = 256

// listener wraps every accepted connection (in TLS when configured) in a
// conn.
type listener struct {
	net.Listener
	s *Server
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		raw, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if c := l.s.accept(raw); c != nil {
			return c, nil
		}
	}
}

// accept wraps a new connection, or closes it when its client address has
// as many open as it may (nil).
func (s *Server) accept(raw net.Conn) net.Conn {
	remote := addrPort(raw.RemoteAddr())
	if n, ok := s.peers.Take(remote.Addr(), 2*s.cfg.Load().MaxPerClient); !ok {
		raw.Close()
		a := fetch.NewAttempt("", remote)
		s.fetch.Identify(a)
		a.Refuse(fetch.OutcomeBusy, fmt.Sprintf("connection closed at once: %d open connections from this client (twice http.max_per_client)", n))
		s.fetch.Finish(a)
		return nil
	}
	c := &conn{Conn: raw, s: s, remote: remote}
	c.tcp, _ = raw.(*net.TCPConn)
	s.m.conns.Inc()
	if !s.TLS() {
		return c
	}
	c.Conn = tls.Server(raw, s.tlsCfg)
	return &tlsConn{c}
}

func (s *Server) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return s.cert.Load(), nil // the latest that loaded (SIGHUP)
		},
	}
}

// conn is one client connection. It sees what net/http does outside our
// handler: a request it refuses itself (malformed, headers too large) is
// answered by writing straight to the connection, and one that never
// completes (headers dribbled, slowloris) ends in a read timeout; neither
// reaches a handler. conn turns each into its http.fetch event when the
// connection closes.
type conn struct {
	net.Conn              // the socket, or TLS over it
	tcp      *net.TCPConn // the socket: its ReadFrom uses sendfile
	s        *Server
	remote   netip.AddrPort

	mu        sync.Mutex
	inHandler bool
	since     time.Time // when bytes of a request no handler took first came
	head      []byte    // their start, for the event's file
	status    int       // a response net/http wrote by itself, and its text
	text      string
	readErr   error
	closed    bool
}

// tlsConn is a conn over TLS; net/http asks it for the TLS state to fill
// Request.TLS.
type tlsConn struct{ *conn }

func (c *tlsConn) ConnectionState() tls.ConnectionState {
	return c.Conn.(*tls.Conn).ConnectionState()
}

type connKey struct{}

// connContext gives handlers their connection.
func connContext(ctx context.Context, c net.Conn) context.Context {
	switch cc := c.(type) {
	case *conn:
		return context.WithValue(ctx, connKey{}, cc)
	case *tlsConn:
		return context.WithValue(ctx, connKey{}, cc.conn)
	}
	return ctx
}

func connOf(ctx context.Context) *conn {
	c, _ := ctx.Value(connKey{}).(*conn)
	return c
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	if n > 0 && !c.inHandler {
		if c.since.IsZero() {
			c.since = time.Now()
		}
		if room := maxHead - len(c.head); room > 0 {
			c.head = append(c.head, p[:min(n, room)]...)
		}
	}
	var ne net.Error
	if err != nil && !(errors.As(err, &ne) && ne.Timeout() && c.since.IsZero()) {
		// A timeout with no request pending is an idle connection, or
		// net/http ending its background read after a response.
		c.readErr = err
	}
	c.mu.Unlock()
	return n, err
}

func (c *conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if !c.inHandler && c.status == 0 {
		c.status, c.text = parseStatus(p)
	}
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// ReadFrom hands a response body to the socket's own ReadFrom, which
// sends a file with sendfile (net/http calls it for bodies); over TLS the
// bytes are copied through the TLS connection.
func (c *conn) ReadFrom(r io.Reader) (int64, error) {
	if c.tcp != nil && c.Conn == net.Conn(c.tcp) {
		return c.tcp.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// begin marks a request handed to our handler; end, once net/http has
// finished it (the connection is idle again: ConnState), so that the
// response it flushes after the handler returns is not taken for one it
// wrote by itself.
func (c *conn) begin() {
	c.mu.Lock()
	c.inHandler, c.since, c.head, c.status, c.readErr = true, time.Time{}, c.head[:0], 0, nil
	c.mu.Unlock()
}

func (c *conn) end() {
	c.mu.Lock()
	c.inHandler, c.since, c.head, c.status, c.readErr = false, time.Time{}, c.head[:0], 0, nil
	c.mu.Unlock()
}

// connState ends a request on a connection when net/http is done with it.
func connState(nc net.Conn, st http.ConnState) {
	if st != http.StateIdle {
		return
	}
	switch c := nc.(type) {
	case *conn:
		c.end()
	case *tlsConn:
		c.end()
	}
}

// Close closes the connection and, when net/http ended a request there
// without a handler, logs that request's event.
func (c *conn) Close() error {
	c.mu.Lock()
	first := !c.closed
	c.closed = true
	report := first && !c.inHandler && (!c.since.IsZero() || c.status != 0)
	ev := unhandled{since: c.since, head: string(c.head), status: c.status, text: c.text, readErr: c.readErr}
	c.mu.Unlock()
	err := c.Conn.Close()
	if report {
		c.s.unhandled(c.remote, ev)
	}
	if first {
		c.s.m.conns.Dec()
		c.s.peers.Put(c.remote.Addr())
	}
	return err
}

// unhandled is a request net/http ended without a handler.
type unhandled struct {
	since   time.Time
	head    string
	status  int
	text    string
	readErr error
}

// unhandled logs the event of a request that net/http refused or timed out
// before any handler ran.
func (s *Server) unhandled(remote netip.AddrPort, u unhandled) {
	a := fetch.NewAttempt(requestTarget(u.head), remote)
	if !u.since.IsZero() {
		a.Start = u.since
	}
	s.fetch.Identify(a)
	a.Status = u.status
	var ne net.Error
	switch {
	case errors.As(u.readErr, &ne) && ne.Timeout():
		a.Refuse(fetch.OutcomeTimeout, "request line and headers not complete within http.header_timeout")
	case u.status != 0 && (u.readErr == nil || errors.Is(u.readErr, io.EOF)):
		a.Refuse(fetch.OutcomeDeniedName, "refused by the HTTP parser: "+u.text)
	case u.readErr != nil && !errors.Is(u.readErr, io.EOF):
		a.Refuse(fetch.OutcomeAborted, "connection failed before a complete request: "+fetch.ClientText(u.readErr.Error()))
	default:
		a.Refuse(fetch.OutcomeAborted, "connection closed before the request was complete")
	}
	s.fetch.Finish(a)
}

// parseStatus reads the status code and text of a response net/http
// writes by itself ("HTTP/1.1 400 Bad Request\r\n…\r\n\r\n400 Bad Request:
// details").
func parseStatus(p []byte) (int, string) {
	rest, ok := bytes.CutPrefix(p, []byte("HTTP/1.1 "))
	if !ok || len(rest) < 3 {
		return 0, ""
	}
	code, err := strconv.Atoi(string(rest[:3]))
	if err != nil {
		return 0, ""
	}
	text := rest
	if _, body, ok := bytes.Cut(rest, []byte("\r\n\r\n")); ok && len(body) > 0 {
		text = body
	} else if line, _, ok := bytes.Cut(rest, []byte("\r\n")); ok {
		text = line
	}
	return code, fetch.ClientText(string(text[:min(len(text), 200)]))
}

// requestTarget is the target of a request line ("GET /x HTTP/1.1" →
// "/x"), or what there is of the line, fit for a log field.
func requestTarget(head string) string {
	line, _, _ := bytes.Cut([]byte(head), []byte("\n"))
	fields := bytes.Fields(line)
	if len(fields) >= 2 {
		line = fields[1]
	}
	return fetch.ClientText(string(line[:min(len(line), 128)]))
}

func addrPort(a net.Addr) netip.AddrPort {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		ap, _ := netip.ParseAddrPort(a.String())
		return ap
	}
	ip, _ := netip.AddrFromSlice(ta.IP)
	return netip.AddrPortFrom(ip.Unmap(), uint16(ta.Port))
}
