package sztpd

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"time"

	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/keystore/cms"
	"github.com/sealboot/sealboot/tftpd/sztp"
)

// maxFile bounds the files the settings read (certificates, keys, scripts,
// password files).
const maxFile = 1 << 20

// settings are a Config with its files read, swapped whole on Update.
type settings struct {
	cfg       Config
	tlsCert   *tls.Certificate
	passwords map[string][32]byte // serial → SHA-256 of the password; nil: Basic off
	owner     *owner
	redirect  *sztp.ConveyedInformation
	profiles  []profile
	seal      cms.Options
}

// owner is the owner's signing identity (RFC 8572 section 3.2).
type owner struct {
	chain    []*x509.Certificate // the owner certificate first
	key      crypto.Signer
	artifact []byte // the owner-certificate artifact: certificates-only SignedData
}

// profile is a Profile with its scripts read.
type profile struct {
	Profile
	pre, post []byte
}

func defaults(cfg Config) Config {
	if cfg.Sign == "" {
		cfg.Sign = ModeAuto
	}
	if cfg.Encrypt == "" {
		cfg.Encrypt = ModeAuto
	}
	if cfg.ReportingLevel == "" {
		cfg.ReportingLevel = "minimal"
	}
	if cfg.MaxRequests <= 0 {
		cfg.MaxRequests = 256
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 1 << 20
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	if cfg.ImageScheme == "" {
		cfg.ImageScheme = "http"
	}
	return cfg
}

// load reads every file cfg names and checks what can be checked.
func load(cfg Config) (*settings, error) {
	cfg = defaults(cfg)
	var errs []error
	add := func(key string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("sztp.%s: %w", key, err))
		}
	}
	for key, v := range map[string]string{"sign": cfg.Sign, "encrypt": cfg.Encrypt} {
		if v != ModeAuto && v != ModeAlways && v != ModeNever {
			add(key, fmt.Errorf("%q is not auto, always or never", v))
		}
	}
	if cfg.ReportingLevel != "minimal" && cfg.ReportingLevel != "verbose" {
		add("reporting_level", fmt.Errorf("%q is not minimal or verbose", cfg.ReportingLevel))
	}
	s := &settings{cfg: cfg, seal: cms.Options{Cipher: cms.Cipher(cfg.Seal.Cipher), OAEP: cfg.Seal.OAEP, KDF: cms.KDF(cfg.Seal.KDF), DER: true, AllowSmallRSA: cfg.Seal.AllowSmallRSA}}
	cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	add("tls_cert", err)
	s.tlsCert = &cert
	if cfg.BasicAuth != "" {
		s.passwords, err = readPasswords(cfg.BasicAuth)
		add("basic_auth", err)
	}
	if cfg.OwnerCert != "" || cfg.OwnerKey != "" {
		s.owner, err = readOwner(cfg.OwnerCert, cfg.OwnerKey)
		add("owner_cert", err)
	}
	if cfg.Sign == ModeAlways && (s.owner == nil || cfg.VouchersDir == "") {
		add("sign", errors.New("always needs owner_cert, owner_key and vouchers_dir"))
	}
	if len(cfg.Redirect) > 0 {
		s.redirect, err = readRedirect(cfg.Redirect)
		add("redirect", err)
	}
	for i, p := range cfg.Profiles {
		pr, err := readProfile(p)
		add(fmt.Sprintf("profiles[%d] (%s)", i, p.Name), err)
		s.profiles = append(s.profiles, pr)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// readPasswords reads "serial sha256-hex" lines; # starts a comment.
func readPasswords(file string) (map[string][32]byte, error) {
	data, err := readSmall(file)
	if err != nil {
		return nil, err
	}
	out := map[string][32]byte{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		var sum [32]byte
		b, err := hex.DecodeString(strings.TrimPrefix(f[len(f)-1], "sha256:"))
		if len(f) != 2 || err != nil || len(b) != 32 || !keystore.ValidSerial(f[0]) {
			return nil, fmt.Errorf("%s line %d: want \"<serial> <sha256 of the password, hex>\"", file, n)
		}
		copy(sum[:], b)
		out[f[0]] = sum
	}
	if err := sc.Err(); err != nil {
		// A line past the scanner's 64 KiB: the lines after it would
		// be lost without a word.
		return nil, fmt.Errorf("%s line %d: %w", file, n+1, err)
	}
	return out, nil
}

// PasswordHash is the form the basic_auth file holds a password in: the
// hex SHA-256 of it (`printf %s "$password" | sha256sum`).
func PasswordHash(password string) string {
	sum := sha256.Sum256([]byte(password))
	return hex.EncodeToString(sum[:])
}

func readOwner(certFile, keyFile string) (*owner, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("owner_cert and owner_key come together")
	}
	data, err := readSmall(certFile)
	if err != nil {
		return nil, err
	}
	chain, err := pemCerts(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certFile, err)
	}
	keyData, err := readSmall(keyFile)
	if err != nil {
		return nil, err
	}
	k, err := cms.ParsePrivateKey(keyData)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyFile, err)
	}
	key, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: the key cannot sign", keyFile)
	}
	art, err := cms.Certificates(chain)
	if err != nil {
		return nil, err
	}
	o := &owner{chain: chain, key: key, artifact: art}
	// A test signature: the key must be the certificate's and able to sign.
	if _, err := cms.Sign([]byte("check"), chain[0], key, cms.SignOptions{}); err != nil {
		return nil, fmt.Errorf("owner key: %w", err)
	}
	return o, nil
}

func readRedirect(rs []Redirect) (*sztp.ConveyedInformation, error) {
	ri := &sztp.RedirectInformation{}
	for _, r := range rs {
		bs := sztp.BootstrapServer{Address: r.Address, Port: r.Port}
		if r.TrustAnchor != "" {
			data, err := readSmall(r.TrustAnchor)
			if err != nil {
				return nil, err
			}
			certs, err := pemCerts(data)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", r.TrustAnchor, err)
			}
			if bs.TrustAnchor, err = cms.Certificates(certs); err != nil {
				return nil, err
			}
		}
		ri.BootstrapServers = append(ri.BootstrapServers, bs)
	}
	ci := &sztp.ConveyedInformation{Redirect: ri}
	if _, err := ci.Encode(sztp.JSON); err != nil {
		return nil, err
	}
	return ci, nil
}

func readProfile(p Profile) (profile, error) {
	pr := profile{Profile: p}
	if pr.ConfigurationHandling == "" {
		pr.ConfigurationHandling = "merge"
	}
	if pr.ConfigurationHandling != "merge" && pr.ConfigurationHandling != "replace" {
		return pr, fmt.Errorf("configuration_handling %q is not merge or replace", pr.ConfigurationHandling)
	}
	if _, err := path.Match(strings.ToLower(p.Model), ""); err != nil {
		return pr, fmt.Errorf("model %q: %w", p.Model, err)
	}
	var err error
	if p.PreScript != "" {
		if pr.pre, err = readSmall(p.PreScript); err != nil {
			return pr, fmt.Errorf("pre_script: %w", err)
		}
	}
	if p.PostScript != "" {
		if pr.post, err = readSmall(p.PostScript); err != nil {
			return pr, fmt.Errorf("post_script: %w", err)
		}
	}
	return pr, nil
}

func readSmall(file string) ([]byte, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() || fi.Size() > maxFile {
		return nil, fmt.Errorf("%s: not a regular file of at most %d bytes", file, maxFile)
	}
	return os.ReadFile(file)
}

// pemCerts reads a certificate file's certificates (PEM, or one DER) as
// the keystore reads a vendor's bundle.
func pemCerts(data []byte) ([]*x509.Certificate, error) {
	return keystore.ParseCertificates(data, nil)
}

// match returns the first profile for a device.
func (s *settings) match(vendor, model, serial string) *profile {
	for i := range s.profiles {
		p := &s.profiles[i]
		if p.Vendor != "" && !strings.EqualFold(p.Vendor, vendor) {
			continue
		}
		if p.Model != "" {
			if ok, _ := path.Match(strings.ToLower(p.Model), strings.ToLower(model)); !ok || model == "" {
				continue
			}
		}
		if len(p.Serials) > 0 && !contains(p.Serials, serial) {
			continue
		}
		return p
	}
	return nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
