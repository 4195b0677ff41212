// Package device emulates a network device's first boot as RFC 8886
// section 4.3 (figure 3) describes it: DHCP on a real interface, presenting
// its serial the way its vendor does; a TFTP fetch of the file DHCP named,
// from the leased address (an HTTP GET when DHCP named an http:// URL); and decryption with the device's own private
// key, retried on the RFC's schedule until a config is installed.
//
// It is a faithful device, not a mirror of sealboot: it provisions against
// any DHCP and TFTP server (the tests use dnsmasq and files encrypted with
// `openssl cms -encrypt`). Fleet boots many devices at once from one
// process, for load tests.
package device

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Vendors the emulator can present as.
const (
	VendorPlain     = "plain"      // MAC only
	VendorJuniper   = "juniper"    // option 60 Juniper-<model>-<serial>; v6 vendor class
	VendorArista    = "arista"     // option 60 Arista;<model>;<hwver>;<serial>; v6 vendor class
	VendorCiscoNXOS = "cisco-nxos" // option 61 0x00 + serial
	VendorCiscoXE   = "cisco-xe"   // option 61 0x00 + serial and cisco-<mac>-<if>, alternating
	VendorNokia     = "nokia"      // option 61 serial; v6 DUID-EN
)

// Vendors lists them for help texts.
var Vendors = []string{VendorPlain, VendorJuniper, VendorArista, VendorCiscoNXOS, VendorCiscoXE, VendorNokia}

// Outcomes of a boot.
const (
	OutcomeInstalled        = "installed"
	OutcomeDHCPFailed       = "dhcp_failed"
	OutcomeTFTPFailed       = "tftp_failed"
	OutcomeDecryptFailed    = "decrypt_failed"
	OutcomePlaintextRefused = "plaintext_refused"
	OutcomeInvalidConfig    = "invalid_config"
	OutcomeChecksumMismatch = "checksum_mismatch"
)

// Config describes one device.
type Config struct {
	Serial    string
	Key       crypto.PrivateKey
	Interface string
	MAC       net.HardwareAddr // default: the interface's
	Vendor    string           // default VendorPlain
	Model     string           // default per vendor
	V6        bool

	RequireEncrypted bool
	ExpectSHA256     []byte // of the installed config
	Install          string // write the decrypted config here (0600); empty: nowhere

	Retry       Schedule
	MaxAttempts int // 0: until ctx ends
	BlockSize   int // TFTP blksize to ask for; default 1468
	DHCPTimeout time.Duration
	TFTPTimeout time.Duration
	KeepAddress bool // leave the leased address on the interface at the end
	V6PrefixLen int  // prefix length put on the DHCPv6 address; default 64
	// Transport is how the config is fetched: TransportAuto (the default)
	// as DHCP says, or TransportHTTP or TransportTFTP whatever it says.
	Transport string
	// ImageURL is an image to fetch before the config, for vendors whose
	// DHCP names none (their ZTP script fetches it); it replaces the one
	// Juniper's option 43 names.
	ImageURL string
	// CutAfter drops the image download's connection once, after that
	// many bytes, so that the device resumes it with a Range request.
	CutAfter    int64
	HTTPTimeout time.Duration // nothing received for this long ends an HTTP request; default 10s
	// SZTP, when set, makes the device an SZTP agent (RFC 8572) instead
	// of an RFC 8886 one.
	SZTP *SZTP

	// wait sleeps between attempts; tests shorten it.
	wait func(ctx context.Context, d time.Duration) error
	// conns is the DHCPv4 transport; Fleet shares one among devices.
	conns *conns
	// broadcast sets the BROADCAST flag (RFC 2131 4.1): fleet devices have
	// MACs that are not the interface's, so unicast replies to them would
	// be dropped.
	broadcast bool
	// image is the image installed by an earlier attempt (its URL and
	// SHA-256): a device does not fetch it again.
	image string
	// cut is set once the image download has been cut (CutAfter).
	cut bool
	// onLease receives the removal of each leased address when
	// KeepAddress is set (Fleet removes them all at the end).
	onLease func(release func())
}

// Schedule is when a device retries: every First for the first Window
// after the first attempt, then every Later (RFC 8886 section 4.3: every
// five minutes for the first hour, then hourly).
type Schedule struct {
	First, Later, Window time.Duration
}

// DefaultSchedule is the RFC's.
var DefaultSchedule = Schedule{First: 5 * time.Minute, Later: time.Hour, Window: time.Hour}

// Next is the delay before the attempt after one made elapsed after the
// first.
func (s Schedule) Next(elapsed time.Duration) time.Duration {
	if s.First <= 0 {
		s = DefaultSchedule
	}
	if s.Later <= 0 {
		s.Later = s.First
	}
	if s.Window <= 0 {
		s.Window = DefaultSchedule.Window
	}
	if elapsed < s.Window {
		return s.First
	}
	return s.Later
}

// Result is what a boot did: one JSON line.
type Result struct {
	Serial    string  `json:"serial"`
	MAC       string  `json:"mac"`
	Address   string  `json:"address"`
	Server    string  `json:"server"`
	File      string  `json:"file"`
	Transport string  `json:"transport,omitempty"` // of the config: tftp or http
	Bytes     int     `json:"bytes"`
	Encrypted bool    `json:"encrypted"`
	SHA256    string  `json:"sha256,omitempty"`
	Outcome   string  `json:"outcome"`
	Error     string  `json:"error,omitempty"`
	Attempts  int     `json:"attempts"`
	DHCPMs    float64 `json:"dhcp_ms"`
	TFTPMs    float64 `json:"tftp_ms"` // the config fetch, over TFTP or HTTP
	DecryptMs float64 `json:"decrypt_ms"`
	TotalMs   float64 `json:"total_ms"`
	// The image fetched before the config (its URL; for SZTP, with its
	// size and hash), its size, SHA-256 (equal to the server's ETag),
	// the requests that resumed it after a cut, and the time it took.
	Image        string  `json:"image,omitempty"`
	ImageBytes   int64   `json:"image_bytes,omitempty"`
	ImageSHA256  string  `json:"image_sha256,omitempty"`
	ImageResumes int     `json:"image_resumes,omitempty"`
	ImageMs      float64 `json:"image_ms,omitempty"`
	// SZTP: the security mode of the conveyed information, the scripts
	// recorded (which:bytes:sha256), the progress reported.
	Mode     string   `json:"mode,omitempty"`
	Scripts  []string `json:"scripts,omitempty"`
	Progress []string `json:"progress,omitempty"`
	SZTPMs   float64  `json:"sztp_ms,omitempty"`
}

// Installed reports whether a config was installed.
func (r Result) Installed() bool { return r.Outcome == OutcomeInstalled }

// Boot runs the device's first boot until a config is installed, the
// attempts run out, or ctx ends. The returned error is set only for a
// configuration problem; failed attempts are in the Result.
func Boot(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.defaults(); err != nil {
		return Result{Serial: cfg.Serial}, err
	}
	start := time.Now()
	var res Result
	for attempt := 1; ; attempt++ {
		res = cfg.attempt(ctx, attempt)
		res.Attempts = attempt
		res.TotalMs = ms(time.Since(start))
		if res.Installed() || (cfg.MaxAttempts > 0 && attempt >= cfg.MaxAttempts) || ctx.Err() != nil {
			return res, nil
		}
		if err := cfg.wait(ctx, cfg.Retry.Next(time.Since(start))); err != nil {
			return res, nil
		}
	}
}

func (cfg *Config) defaults() error {
	if cfg.Serial == "" || cfg.Key == nil || cfg.Interface == "" {
		return errors.New("a serial, a key and an interface are needed")
	}
	if cfg.Vendor == "" {
		cfg.Vendor = VendorPlain
	}
	if !knownVendor(cfg.Vendor) {
		return fmt.Errorf("unknown vendor %q (want one of %v)", cfg.Vendor, Vendors)
	}
	if cfg.MAC == nil {
		ifi, err := net.InterfaceByName(cfg.Interface)
		if err != nil {
			return err
		}
		cfg.MAC = ifi.HardwareAddr
	}
	if cfg.BlockSize == 0 {
		cfg.BlockSize = 1468
	}
	if cfg.DHCPTimeout == 0 {
		cfg.DHCPTimeout = 10 * time.Second
	}
	if cfg.TFTPTimeout == 0 {
		cfg.TFTPTimeout = 2 * time.Second
	}
	switch cfg.Transport {
	case "":
		cfg.Transport = TransportAuto
	case TransportAuto, TransportHTTP, TransportTFTP:
	default:
		return fmt.Errorf("unknown transport %q (want one of %v)", cfg.Transport, Transports)
	}
	if cfg.ImageURL != "" && !isHTTP(cfg.ImageURL) {
		return fmt.Errorf("image %q: an http:// or https:// URL is needed", cfg.ImageURL)
	}
	if cfg.HTTPTimeout == 0 {
		cfg.HTTPTimeout = 10 * time.Second
	}
	if cfg.V6PrefixLen == 0 {
		cfg.V6PrefixLen = 64
	}
	if cfg.wait == nil {
		cfg.wait = sleep
	}
	if s := cfg.SZTP; s != nil {
		if len(s.Chain) == 0 {
			return errors.New("an SZTP device needs its IDevID certificate")
		}
		if s.HTTPTimeout == 0 {
			s.HTTPTimeout = 10 * time.Second
		}
	}
	return nil
}

func knownVendor(v string) bool {
	for _, k := range Vendors {
		if v == k {
			return true
		}
	}
	return false
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// attempt is one pass of figure 3: DHCP, TFTP, decrypt, check.
func (cfg *Config) attempt(ctx context.Context, n int) Result {
	res := Result{Serial: cfg.Serial, MAC: cfg.MAC.String()}
	t0 := time.Now()
	lease, err := cfg.dhcp(ctx, n)
	res.DHCPMs = ms(time.Since(t0))
	if err != nil {
		res.Outcome, res.Error = OutcomeDHCPFailed, err.Error()
		return res
	}
	switch {
	case !cfg.KeepAddress:
		defer lease.release()
	case cfg.onLease != nil:
		cfg.onLease(lease.release)
	}
	res.Address, res.Server = lease.addr.String(), lease.server.String()
	if cfg.SZTP != nil {
		t1 := time.Now()
		cfg.sztpAttempt(ctx, lease, &res)
		res.SZTPMs = ms(time.Since(t1))
		return res
	}
	if !cfg.bootImage(ctx, lease, &res) {
		return res
	}
	var data []byte
	t1 := time.Now()
	for _, file := range cfg.targets(lease) {
		res.File, res.Transport = file, "tftp"
		if isHTTP(file) {
			res.Transport = "http"
		}
		if data, err = cfg.fetch(ctx, lease.addr, lease.server, file); err == nil {
			break
		}
	}
	res.TFTPMs = ms(time.Since(t1))
	if err != nil {
		res.Outcome, res.Error = OutcomeTFTPFailed, err.Error()
		return res
	}
	res.Bytes = len(data)
	t2 := time.Now()
	cfg.install(&res, data)
	res.DecryptMs = ms(time.Since(t2))
	return res
}

// bootImage fetches the image DHCP offered (or ImageURL) and checks it,
// unless an earlier attempt installed it already; false when the attempt
// ends there (image_mismatch).
func (cfg *Config) bootImage(ctx context.Context, lease *dhcpLease, res *Result) bool {
	url, err := cfg.imageURL(lease)
	if url == "" && err == nil {
		return true
	}
	res.Image = url
	if url != "" && strings.HasPrefix(cfg.image, url+" ") {
		res.ImageSHA256 = strings.TrimPrefix(cfg.image, url+" ")
		return true
	}
	t := time.Now()
	if err == nil {
		cut := cfg.CutAfter
		if cfg.cut {
			cut = 0
		}
		var f *imageFetch
		f, err = cfg.fetchImage(ctx, lease.addr, url, cut)
		cfg.cut = cfg.cut || f.cuts > 0
		res.ImageBytes, res.ImageResumes, res.ImageSHA256 = f.got, f.resumes, f.sum()
	}
	res.ImageMs = ms(time.Since(t))
	if err != nil {
		res.Outcome, res.Error = OutcomeImageMismatch, err.Error()
		return false
	}
	cfg.image = url + " " + res.ImageSHA256
	return true
}

// checkSum compares the config's SHA-256 with the expected one, accepting
// the CRLF form OpenSSL makes of text encrypted without -binary.
func checkSum(config, want []byte) (string, bool) {
	sum := sha256.Sum256(config)
	got := hex.EncodeToString(sum[:])
	if want == nil || hex.EncodeToString(want) == got {
		return got, true
	}
	lf := sha256.Sum256(crlfToLF(config))
	return got, hex.EncodeToString(want) == hex.EncodeToString(lf[:])
}

// dhcpLease is what DHCP told the device.
type dhcpLease struct {
	addr    netip.Addr
	prefix  int
	server  netip.Addr
	files   []string   // in the order the vendor tries them
	sztp    []string   // SZTP bootstrap server URIs (option 143 or 136)
	juniper juniperZTP // Juniper's option 43
	release func()
}
