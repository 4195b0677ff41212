// Package fetch is the transport-independent part of serving a device its
// config (RFC 8886 section 4.1): a requested name resolved to a serial
// (never to a path), the binding check against the address our DHCP server
// leased, the plaintext policy, the serial's config sealed to its
// certificate (cached), and exactly one event per attempt.
//
// The TFTP server (package tftpd), the HTTP server and the SZTP server are
// thin adapters around it: each opens an Attempt, asks Prepare for the
// bytes, sends them its own way and hands the Attempt back to Finish, which
// writes its <transport>.fetch event and metrics.
package fetch

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"

	"golang.org/x/sync/singleflight"

	"github.com/sealboot/sealboot/keystore/cms"
)

// Config is the fetch policy; it can be replaced while running (Update).
type Config struct {
	Names            []string // file name patterns with {serial}; default ["{serial}.enc"]
	FixedNames       []string // names resolved through the DHCP binding (Cisco AutoInstall)
	BindingCheck     bool     // serve <serial> names only to the address leased to serial
	AllowPlaintext   bool     // serve configs of serials without a certificate unencrypted
	PlaintextSerials []string // ... for these serials only
	CacheSize        int64    // bytes of sealed configs kept; default 64 MiB
	Seal             cms.Options
}

// Certificates gives a serial's certificate and the hex SHA-256 of its
// SubjectPublicKeyInfo. *keystore.Store implements it.
type Certificates interface {
	Certificate(serial string) (cert *x509.Certificate, fingerprint string, ok bool)
	// Fingerprint is the same fingerprint, without parsing the certificate.
	Fingerprint(serial string) (fingerprint string, ok bool)
}

// Configs gives a serial's settled plaintext config and the SHA-256 of
// its file; an error matching fs.ErrNotExist means there is none.
// *configdir.Dir implements it.
type Configs interface {
	Config(serial string) (data []byte, sum [32]byte, err error)
	// Sum is the same SHA-256, cheap when the version was read before.
	Sum(serial string) (sum [32]byte, err error)
	// Presealed gives the config file as it is when it is already sealed
	// to the device (ok true), and its recipients: it is served as it is,
	// never opened. ok is false when the config has a plaintext (Config
	// gives it).
	Presealed(serial string) (data []byte, sum [32]byte, recipients []cms.Recipient, ok bool, err error)
}

// Bindings tells which device DHCP last acknowledged at an address.
// *plugins.Bindings implements it.
type Bindings interface {
	LookupIP(ip netip.Addr) (serial string, mac net.HardwareAddr, ok bool)
}

// Deps are what the core reads from. Bindings may be nil when DHCP is not
// in this process (then there is no binding check and no fixed names).
type Deps struct {
	Configs      Configs
	Certificates Certificates
	Bindings     Bindings
}

// Core resolves, checks and seals; it is safe for concurrent use by every
// transport.
type Core struct {
	deps  Deps
	set   atomic.Pointer[settings]
	cache *cache
	seals singleflight.Group // one seal per config version, however many ask at once
}

// settings are the hot-reloadable parts of Config, swapped atomically.
type settings struct {
	cfg       Config
	resolver  *resolver
	plaintext map[string]bool
	sealKey   string // the seal options, as part of cache keys
}

// New checks cfg and returns the core.
func New(cfg Config, deps Deps) (*Core, error) {
	if deps.Configs == nil || deps.Certificates == nil {
		return nil, errors.New("fetch: configs and certificates are required")
	}
	c := &Core{deps: deps}
	st, err := c.settings(cfg)
	if err != nil {
		return nil, err
	}
	c.cache = newCache(st.cfg.CacheSize)
	c.set.Store(st)
	return c, nil
}

// Check reports what would make Update refuse cfg.
func (c *Core) Check(cfg Config) error {
	_, err := c.settings(cfg)
	return err
}

// Update applies a new policy at once (SIGHUP); sealed configs already
// cached stay valid, as the seal options are part of their key.
func (c *Core) Update(cfg Config) error {
	st, err := c.settings(cfg)
	if err != nil {
		return err
	}
	c.set.Store(st)
	c.cache.setLimit(st.cfg.CacheSize)
	return nil
}

// BindingCheck reports whether the running policy checks bindings.
func (c *Core) BindingCheck() bool { return c.set.Load().cfg.BindingCheck }

func (c *Core) settings(cfg Config) (*settings, error) {
	if len(cfg.Names) == 0 {
		cfg.Names = []string{"{serial}.enc"}
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 64 << 20
	}
	if cfg.BindingCheck && c.deps.Bindings == nil {
		return nil, errors.New("tftp.binding_check needs the DHCP server's bindings")
	}
	r, err := newResolver(cfg.Names, cfg.FixedNames)
	if err != nil {
		return nil, err
	}
	pt := make(map[string]bool, len(cfg.PlaintextSerials))
	for _, s := range cfg.PlaintextSerials {
		pt[s] = true
	}
	o := cfg.Seal
	key := fmt.Sprintf("%s|%v|%s|%v|%v", o.Cipher, o.OAEP, o.KDF, o.DER, o.AllowSmallRSA)
	return &settings{cfg: cfg, resolver: r, plaintext: pt, sealKey: key}, nil
}
