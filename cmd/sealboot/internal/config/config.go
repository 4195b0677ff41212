// Package config is sealboot's configuration file: its schema, its defaults
// (the same as configs/reference.yaml, which a test keeps equal), strict
// loading with viper (YAML file, SEALBOOT_* environment variables, flags) and
// validation whose errors name the key path.
package config

import (
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Config is the whole configuration of `sealboot serve`.
type Config struct {
	// StateDir holds leases, and by default keys and configs. Empty means
	// $STATE_DIRECTORY when set (systemd's StateDirectory=), else
	// /var/lib/sealboot as root, ./sealboot-data otherwise.
	StateDir string `mapstructure:"state_dir"`
	// KeysDir holds device certificates. Empty means <state_dir>/keys.
	KeysDir string `mapstructure:"keys_dir"`
	// ConfigsDir holds plaintext device configs. Empty means <state_dir>/configs.
	ConfigsDir string `mapstructure:"configs_dir"`
	// ImagesDir holds OS images served over HTTP. Empty means <state_dir>/images.
	ImagesDir string `mapstructure:"images_dir"`
	// ShutdownTimeout bounds a graceful stop on SIGINT/SIGTERM.
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`
	// ApplianceKey and ApplianceCert are sealboot's own key pair, which
	// opens configs sealed to the appliance. Empty: the systemd
	// credentials of those names, when present (ApplianceFiles).
	ApplianceKey  string `mapstructure:"appliance_key"`
	ApplianceCert string `mapstructure:"appliance_cert"`

	Log      Log      `mapstructure:"log"`
	Metrics  Metrics  `mapstructure:"metrics"`
	Admin    Admin    `mapstructure:"admin"`
	Keystore Keystore `mapstructure:"keystore"`
	Watch    Watch    `mapstructure:"watch"`
	Seal     Seal     `mapstructure:"seal"`
	TFTP     TFTP     `mapstructure:"tftp"`
	HTTP     HTTP     `mapstructure:"http"`
	DHCP     DHCP     `mapstructure:"dhcp"`
	SZTP     SZTP     `mapstructure:"sztp"`
	// Profiles say how the devices they match boot: transport, image and
	// extra DHCP options. The first match wins.
	Profiles []Profile `mapstructure:"profiles"`
}

// Profile is one boot profile: which devices it matches (all criteria
// given must hold) and how they boot.
type Profile struct {
	Name      string         `mapstructure:"name"`
	Vendor    string         `mapstructure:"vendor"`  // as sealboot names vendors: juniper, arista, cisco, ...
	Model     string         `mapstructure:"model"`   // glob (path.Match), compared in lower case
	Serials   []string       `mapstructure:"serials"` // any of these
	Transport string         `mapstructure:"transport"`
	Image     string         `mapstructure:"image"`     // file in images_dir
	ImageAlt  string         `mapstructure:"image_alt"` // Juniper option 43 sub-option 04
	Options   ProfileOptions `mapstructure:"options"`
	// What SZTP devices are told of their image, and get as scripts
	// (RFC 8572 onboarding information).
	OSName                string `mapstructure:"os_name"`
	OSVersion             string `mapstructure:"os_version"`
	PreScript             string `mapstructure:"pre_script"`             // file
	PostScript            string `mapstructure:"post_script"`            // file
	ConfigurationHandling string `mapstructure:"configuration_handling"` // merge (default) or replace
}

// SZTP configures the SZTP bootstrap server (RFC 8572, see tftpd/sztpd).
type SZTP struct {
	Listen         []string       `mapstructure:"listen"` // empty: off
	TLSCert        string         `mapstructure:"tls_cert"`
	TLSKey         string         `mapstructure:"tls_key"`
	TrustAnchors   string         `mapstructure:"trust_anchors"` // directory; empty: <state_dir>/trust-anchors
	OwnerCert      string         `mapstructure:"owner_cert"`
	OwnerKey       string         `mapstructure:"owner_key"`
	VouchersDir    string         `mapstructure:"vouchers_dir"`
	Sign           string         `mapstructure:"sign"`    // auto, always, never
	Encrypt        string         `mapstructure:"encrypt"` // auto, always, never
	Redirect       []SZTPRedirect `mapstructure:"redirect"`
	BasicAuth      string         `mapstructure:"basic_auth"` // password file
	ReportingLevel string         `mapstructure:"reporting_level"`
	ImageURL       string         `mapstructure:"image_url"`
	MaxRequests    int            `mapstructure:"max_requests"`
	MaxBody        ByteSize       `mapstructure:"max_body"`
	RequestTimeout time.Duration  `mapstructure:"request_timeout"`
}

// SZTPRedirect is a bootstrap server devices are redirected to.
type SZTPRedirect struct {
	Address     string `mapstructure:"address"`
	Port        int    `mapstructure:"port"`
	TrustAnchor string `mapstructure:"trust_anchor"` // PEM file
}

// ProfileOptions are the DHCP options a profile adds; IPv4 addresses go
// into DHCPv4, IPv6 ones into DHCPv6.
type ProfileOptions struct {
	NTP    []string    `mapstructure:"ntp"`
	DNS    []string    `mapstructure:"dns"`
	Log    []string    `mapstructure:"log"`
	Domain string      `mapstructure:"domain"`
	Raw    []RawOption `mapstructure:"raw"`  // DHCPv4
	Raw6   []RawOption `mapstructure:"raw6"` // DHCPv6
}

// RawOption is a DHCP option given by code and value in hex.
type RawOption struct {
	Code int    `mapstructure:"code"`
	Hex  string `mapstructure:"hex"`
}

// Log configures logging.
type Log struct {
	Level  string `mapstructure:"level"`  // debug, info, warn, error
	Format string `mapstructure:"format"` // json, console; empty: console on a terminal, json otherwise
}

// Metrics configures the Prometheus endpoint.
type Metrics struct {
	Listen string `mapstructure:"listen"` // host:port; empty turns metrics off
	PProf  bool   `mapstructure:"pprof"`  // also serve Go's /debug/pprof profiles there
}

// Admin configures the local control socket (sealboot status) and the
// per-device state it and the status page show.
type Admin struct {
	// Socket is the control socket's path. Empty: admin.sock in
	// $RUNTIME_DIRECTORY (systemd's RuntimeDirectory=), else
	// /run/sealboot/admin.sock as root, <state_dir>/admin.sock otherwise;
	// "off": none. See SocketPath.
	Socket string `mapstructure:"socket"`
	// FailingAfter is how many refused attempts in a row make a device
	// whose config and certificate are ready "failing".
	FailingAfter int `mapstructure:"failing_after"`
	// MaxUnknownDevices bounds the devices remembered with no config or
	// certificate file (seen in DHCP or asking for a file).
	MaxUnknownDevices int `mapstructure:"max_unknown_devices"`
	// StoryEvents and StoryTotal bound the recent events kept per device
	// and in all.
	StoryEvents int `mapstructure:"story_events"`
	StoryTotal  int `mapstructure:"story_total"`
}

// SocketOff is admin.socket's value that turns the socket off.
const SocketOff = "off"

// SocketPath is where the control socket is, resolved as Admin.Socket
// says, or "" when it is off. getenv reads $RUNTIME_DIRECTORY.
func (c *Config) SocketPath(getenv func(string) string, euid int) string {
	switch s := c.Admin.Socket; {
	case s == SocketOff:
		return ""
	case s != "":
		return s
	}
	if rd, _, _ := strings.Cut(getenv("RUNTIME_DIRECTORY"), ":"); rd != "" {
		return filepath.Join(rd, "admin.sock")
	}
	if euid == 0 {
		return "/run/sealboot/admin.sock"
	}
	return filepath.Join(c.StateDir, "admin.sock")
}

// Keystore configures the device certificate store.
type Keystore struct {
	Settle       time.Duration `mapstructure:"settle"`         // quiet time before a changed file is read
	FetchURL     string        `mapstructure:"fetch_url"`      // vendor directory template, {serial} is replaced
	FetchTimeout time.Duration `mapstructure:"fetch_timeout"`  // per request
	FetchMaxSize ByteSize      `mapstructure:"fetch_max_size"` // largest certificate accepted
	// FetchCA is a PEM file of the CAs that verify the vendor directory's
	// server, instead of the system's roots.
	FetchCA string `mapstructure:"fetch_ca"`
	// FetchHeaders are sent with every request (a portal's token).
	FetchHeaders     []FetchHeader `mapstructure:"fetch_headers"`
	FetchConcurrency int           `mapstructure:"fetch_concurrency"` // fetches on demand at once
	FetchMaxQueue    int           `mapstructure:"fetch_max_queue"`   // serials waiting at most
	FetchRetryMin    time.Duration `mapstructure:"fetch_retry_min"`   // first retry after a failure
	FetchRetryMax    time.Duration `mapstructure:"fetch_retry_max"`   // retries at most this far apart
}

// FetchHeader is an HTTP header sent to the vendor directory, its value
// read from a file or a systemd credential (never from this file, never
// logged).
type FetchHeader struct {
	Name       string `mapstructure:"name"`
	File       string `mapstructure:"file"`       // the value is this file's content
	Credential string `mapstructure:"credential"` // the value is $CREDENTIALS_DIRECTORY/<credential>
}

// Watch configures the watched configs directory.
type Watch struct {
	Extension          string        `mapstructure:"extension"`           // plaintext config file name is <serial><extension>
	PresealedExtension string        `mapstructure:"presealed_extension"` // configs sealed to the device already
	ApplianceExtension string        `mapstructure:"appliance_extension"` // configs sealed to the appliance
	MaxSize            ByteSize      `mapstructure:"max_size"`            // larger configs are invalid
	Settle             time.Duration `mapstructure:"settle"`              // quiet time after the last write before a file is served
}

// Seal configures the CMS encryption of configs.
type Seal struct {
	Cipher        string `mapstructure:"cipher"` // aes256-cbc, aes192-cbc, aes128-cbc, aes128-gcm, aes256-gcm
	OAEP          bool   `mapstructure:"oaep"`   // RSA: RSAES-OAEP instead of PKCS#1 v1.5
	KDF           string `mapstructure:"kdf"`    // EC: sha256 or sha1
	Format        string `mapstructure:"format"` // pem or der
	AllowSmallRSA bool   `mapstructure:"allow_small_rsa"`
}

// TFTP configures the TFTP server.
type TFTP struct {
	Listen           []string      `mapstructure:"listen"`
	Names            []string      `mapstructure:"names"`
	FixedNames       []string      `mapstructure:"fixed_names"`
	BindingCheck     *bool         `mapstructure:"binding_check"` // nil: on when dhcp.enabled
	AllowPlaintext   bool          `mapstructure:"allow_plaintext"`
	PlaintextSerials []string      `mapstructure:"plaintext_serials"`
	MaxTransfers     int           `mapstructure:"max_transfers"`
	MaxPerClient     int           `mapstructure:"max_per_client"`
	QueueWait        time.Duration `mapstructure:"queue_wait"`
	Timeout          time.Duration `mapstructure:"timeout"`
	Retries          int           `mapstructure:"retries"`
	ShutdownTimeout  time.Duration `mapstructure:"shutdown_timeout"`
	CacheSize        ByteSize      `mapstructure:"cache_size"`
	// A transfer is cut off once it has run MaxTransferTime, or once
	// MinRateAfter has passed and it has averaged under MinRate bytes/s.
	MinRate         ByteSize      `mapstructure:"min_rate"`
	MinRateAfter    time.Duration `mapstructure:"min_rate_after"`
	MaxTransferTime time.Duration `mapstructure:"max_transfer_time"`
	// ReceiveBuffer is the listening sockets' receive buffer; 0: the kernel's.
	ReceiveBuffer ByteSize `mapstructure:"receive_buffer"`
}

// HTTP configures the built-in HTTP server (tftpd/httpd): configs as TFTP
// serves them, and images.
type HTTP struct {
	Listen        []string      `mapstructure:"listen"` // empty: off
	TLSCert       string        `mapstructure:"tls_cert"`
	TLSKey        string        `mapstructure:"tls_key"`
	HeaderTimeout time.Duration `mapstructure:"header_timeout"`
	IdleTimeout   time.Duration `mapstructure:"idle_timeout"`
	TransferGrace time.Duration `mapstructure:"transfer_grace"`
	MinRate       ByteSize      `mapstructure:"min_rate"` // bytes per second
	MaxRequests   int           `mapstructure:"max_requests"`
	MaxPerClient  int           `mapstructure:"max_per_client"`
	RetryAfter    time.Duration `mapstructure:"retry_after"`
}

// DHCP configures the embedded DHCP server.
type DHCP struct {
	Enabled      bool   `mapstructure:"enabled"`
	Bootfile     string `mapstructure:"bootfile"`
	TFTPServer   string `mapstructure:"tftp_server"`
	Inventory    string `mapstructure:"inventory"`
	ServeUnknown bool   `mapstructure:"serve_unknown"`
	// ReceiveBuffer is the DHCP sockets' receive buffer; 0: the kernel's.
	ReceiveBuffer ByteSize `mapstructure:"receive_buffer"`
	V4            DHCPv4   `mapstructure:"v4"`
	V6            DHCPv6   `mapstructure:"v6"`
}

// DHCPv4 configures DHCPv4 on directly attached interfaces and relayed subnets.
type DHCPv4 struct {
	Interfaces []string      `mapstructure:"interfaces"`
	ServerID   string        `mapstructure:"server_id"`
	Pool       string        `mapstructure:"pool"`
	Netmask    string        `mapstructure:"netmask"`
	Router     string        `mapstructure:"router"`
	DNS        []string      `mapstructure:"dns"`
	LeaseTime  time.Duration `mapstructure:"lease_time"`
	Subnets    []Subnet4     `mapstructure:"subnets"`
}

// Subnet4 is a relayed IPv4 subnet, chosen by the relay's giaddr.
type Subnet4 struct {
	Network   string        `mapstructure:"network"` // CIDR that contains the relay's giaddr
	Pool      string        `mapstructure:"pool"`
	Netmask   string        `mapstructure:"netmask"`
	Router    string        `mapstructure:"router"`
	DNS       []string      `mapstructure:"dns"`
	LeaseTime time.Duration `mapstructure:"lease_time"`
}

// DHCPv6 configures DHCPv6 (IA_NA) on directly attached interfaces and
// relayed links.
type DHCPv6 struct {
	Interfaces     []string      `mapstructure:"interfaces"`
	Pool           string        `mapstructure:"pool"`
	DNS            []string      `mapstructure:"dns"`
	TFTPServer     string        `mapstructure:"tftp_server"`
	BootfileParams []string      `mapstructure:"bootfile_params"`
	LeaseTime      time.Duration `mapstructure:"lease_time"`
	// RapidCommit answers a Solicit carrying Rapid Commit with a committed
	// lease (RFC 8415 18.3.1); off, it gets an Advertise as any Solicit.
	RapidCommit bool      `mapstructure:"rapid_commit"`
	Subnets     []Subnet6 `mapstructure:"subnets"`
}

// Subnet6 is a relayed IPv6 link, chosen by the relay's link-address.
type Subnet6 struct {
	Network   string        `mapstructure:"network"` // prefix that contains the relay's link-address
	Pool      string        `mapstructure:"pool"`
	DNS       []string      `mapstructure:"dns"`
	LeaseTime time.Duration `mapstructure:"lease_time"`
}

// Default returns the built-in configuration `sealboot serve` runs with when
// no file is given. configs/reference.yaml spells out the same values.
func Default() Config {
	return Config{
		ShutdownTimeout: 10 * time.Second,
		Log:             Log{Level: "info"},
		Admin:           Admin{FailingAfter: 3, MaxUnknownDevices: 100000, StoryEvents: 32, StoryTotal: 100000},
		Keystore: Keystore{
			Settle:       250 * time.Millisecond,
			FetchTimeout: 10 * time.Second,
			FetchMaxSize: 64 * KiB,
			FetchHeaders: []FetchHeader{}, FetchConcurrency: 4, FetchMaxQueue: 10000,
			FetchRetryMin: 30 * time.Second, FetchRetryMax: time.Hour,
		},
		Watch: Watch{Extension: ".cfg", PresealedExtension: ".enc", ApplianceExtension: ".cfg.cms", MaxSize: 1 * MiB, Settle: 250 * time.Millisecond},
		Seal:  Seal{Cipher: "aes256-cbc", KDF: "sha256", Format: "pem"},
		TFTP: TFTP{
			Listen:           []string{":69"},
			Names:            []string{"{serial}.enc"},
			FixedNames:       []string{"network-confg", "router-confg", "ciscortr.cfg", "cisconet.cfg"},
			PlaintextSerials: []string{},
			MaxTransfers:     256,
			MaxPerClient:     4,
			QueueWait:        time.Second,
			Timeout:          5 * time.Second,
			Retries:          5,
			ShutdownTimeout:  5 * time.Second,
			CacheSize:        64 * MiB,
			MinRate:          1 * KiB,
			MinRateAfter:     15 * time.Second,
			MaxTransferTime:  5 * time.Minute,
			ReceiveBuffer:    4 * MiB,
		},
		HTTP: HTTP{
			Listen:        []string{},
			HeaderTimeout: 10 * time.Second,
			IdleTimeout:   time.Minute,
			TransferGrace: 10 * time.Second,
			MinRate:       64 * KiB,
			MaxRequests:   256,
			MaxPerClient:  8,
			RetryAfter:    10 * time.Second,
		},
		DHCP: DHCP{
			Bootfile:      "{serial}.enc",
			ReceiveBuffer: 4 * MiB,
			V4: DHCPv4{
				Interfaces: []string{}, DNS: []string{}, Subnets: []Subnet4{},
				LeaseTime: time.Hour,
			},
			V6: DHCPv6{
				Interfaces: []string{}, DNS: []string{}, BootfileParams: []string{}, Subnets: []Subnet6{},
				LeaseTime: time.Hour,
			},
		},
		SZTP: SZTP{
			Listen: []string{}, Sign: "auto", Encrypt: "auto", Redirect: []SZTPRedirect{}, ReportingLevel: "minimal",
			MaxRequests: 256, MaxBody: 1 * MiB, RequestTimeout: 30 * time.Second,
		},
		Profiles: []Profile{},
	}
}

// Resolve fills the values whose defaults depend on others or on the
// environment: state_dir (by privilege), keys_dir, configs_dir, images_dir,
// sztp.trust_anchors (when the SZTP server runs) and tftp.binding_check (on
// when DHCP runs in this process).
func (c *Config) Resolve() {
	if c.StateDir == "" {
		c.StateDir = "/var/lib/sealboot"
		if os.Geteuid() != 0 {
			c.StateDir = "sealboot-data"
		}
	}
	if c.KeysDir == "" {
		c.KeysDir = filepath.Join(c.StateDir, "keys")
	}
	if c.ConfigsDir == "" {
		c.ConfigsDir = filepath.Join(c.StateDir, "configs")
	}
	if c.ImagesDir == "" {
		c.ImagesDir = filepath.Join(c.StateDir, "images")
	}
	if c.SZTP.TrustAnchors == "" && len(c.SZTP.Listen) > 0 {
		c.SZTP.TrustAnchors = filepath.Join(c.StateDir, "trust-anchors")
	}
	if c.TFTP.BindingCheck == nil {
		on := c.DHCP.Enabled
		c.TFTP.BindingCheck = &on
	}
}

// Credential names of the appliance key pair under systemd's
// LoadCredential=/LoadCredentialEncrypted=.
const (
	CredentialApplianceKey  = "appliance_key"
	CredentialApplianceCert = "appliance_cert"
)

// ApplianceFiles are the files of the appliance key pair: appliance_key
// and appliance_cert, or, when both are empty, the systemd credentials of
// those names in credDir ($CREDENTIALS_DIRECTORY) when the key is there.
// key is "" when there is no appliance key.
func (c *Config) ApplianceFiles(credDir string) (key, cert string) {
	if c.ApplianceKey != "" || c.ApplianceCert != "" {
		return c.ApplianceKey, c.ApplianceCert
	}
	if credDir == "" {
		return "", ""
	}
	key = filepath.Join(credDir, CredentialApplianceKey)
	if _, err := os.Stat(key); err != nil {
		return "", ""
	}
	return key, filepath.Join(credDir, CredentialApplianceCert)
}
