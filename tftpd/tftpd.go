// Package tftpd is sealboot's TFTP server (RFC 1350, read-only, with the
// blksize and tsize options of RFC 2348 and 2349). A device asks for a file
// name; the name is matched against the configured patterns (never turned
// into a path), the serial it carries is checked against the DHCP binding
// of the asking address, and the serial's plaintext config is encrypted on
// the fly to the serial's certificate (RFC 8886 section 4.1).
//
// Every request produces exactly one tftp.fetch log event; see README.md.
package tftpd

import (
	"crypto/x509"
	"net"
	"net/netip"
	"time"

	"github.com/sealboot/sealboot/keystore/cms"
)

// Config configures the server. Zero values take the defaults shown.
type Config struct {
	Listen           []string      // host:port; default [":69"]
	Names            []string      // file name patterns with {serial}; default ["{serial}.enc"]
	FixedNames       []string      // names resolved through the DHCP binding (Cisco AutoInstall)
	BindingCheck     bool          // serve <serial> names only to the address leased to serial
	AllowPlaintext   bool          // serve configs without a certificate unencrypted
	PlaintextSerials []string      // ... for these serials only
	MaxTransfers     int           // concurrent transfers; default 256
	MaxPerClient     int           // concurrent transfers per client address; default 4
	QueueWait        time.Duration // a request's wait for a slot when MaxTransfers are busy; default 1s, negative: none
	Timeout          time.Duration // retransmission timeout; default 5s
	Retries          int           // retransmissions; default 5
	ShutdownTimeout  time.Duration // how long Run waits for transfers at stop; default 5s
	CacheSize        int64         // bytes of sealed configs kept; default 64 MiB, 0 from Update keeps it
	Seal             cms.Options
}

// Certificates gives a serial's certificate and the hex SHA-256 of its
// SubjectPublicKeyInfo. *keystore.Store implements it.
type Certificates interface {
	Certificate(serial string) (cert *x509.Certificate, fingerprint string, ok bool)
	// Fingerprint is the same fingerprint, without parsing the certificate.
	Fingerprint(serial string) (fingerprint string, ok bool)
}

// Configs gives a serial's settled plaintext config and its SHA-256; an
// error matching fs.ErrNotExist means there is none. *configdir.Dir
// implements it.
type Configs interface {
	Config(serial string) (data []byte, sum [32]byte, err error)
	// Sum is the same SHA-256, cheap when the version was read before.
	Sum(serial string) (sum [32]byte, err error)
}

// Bindings tells which device DHCP last acknowledged at an address.
type Bindings interface {
	LookupIP(ip netip.Addr) (serial string, mac net.HardwareAddr, ok bool)
}

// Deps are what the server reads from. Bindings may be nil when DHCP is
// not in this process (no binding check, no fixed names).
type Deps struct {
	Configs      Configs
	Certificates Certificates
	Bindings     Bindings
}

// Outcomes of a fetch, the tftp.fetch event's outcome field.
const (
	OutcomeServed          = "served"
	OutcomeNotFound        = "not_found"
	OutcomeNoCertificate   = "no_certificate"
	OutcomeBindingMismatch = "binding_mismatch"
	OutcomeDeniedName      = "denied_name"
	OutcomeWriteRefused    = "write_refused"
	OutcomeAborted         = "aborted"
	OutcomeTimeout         = "timeout"
	OutcomeBusy            = "busy"
	OutcomeError           = "error" // a server fault, such as a failed seal
)

func (c Config) withDefaults() Config {
	if len(c.Listen) == 0 {
		c.Listen = []string{":69"}
	}
	if len(c.Names) == 0 {
		c.Names = []string{"{serial}.enc"}
	}
	if c.MaxTransfers <= 0 {
		c.MaxTransfers = 256
	}
	if c.MaxPerClient <= 0 {
		c.MaxPerClient = 4
	}
	if c.QueueWait == 0 {
		c.QueueWait = time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	if c.Retries <= 0 {
		c.Retries = 5
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 5 * time.Second
	}
	if c.CacheSize == 0 {
		c.CacheSize = 64 << 20
	}
	return c
}
