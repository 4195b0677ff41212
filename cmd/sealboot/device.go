package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/sealboot/sealboot/cmd/sealboot/internal/config"
	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/keystore/cms"
	"github.com/sealboot/sealboot/test/device"
)

const keygenExamples = `  sealboot device keygen --serial SN19842256 --type p256 --out ./factory
  sealboot device keygen --count 500 --serial-prefix LAB --out ./fleet-keys --certs-dir /var/lib/sealboot/keys`

const sztpExamples = `  sealboot device keygen --count 10 --serial-prefix FOC --ca-cert vendor-ca.pem --ca-key vendor-ca.key --out ./idevids --certs-dir /var/lib/sealboot/keys
  sealboot device boot --sztp --serial FOC0001 --key ./idevids/FOC0001.key --cert ./idevids/FOC0001.crt --masa-ca masa.pem --iface eth1`

const bootExamples = `  sealboot device boot --serial SN19842256 --key ./factory/SN19842256.key --iface eth1 --vendor juniper
  sealboot device boot --serial JN11F4C4DAFA --key JN11F4C4DAFA.key --iface eth1 --vendor juniper --transport http --cut-after 64MiB
  sealboot device boot --serial SN19842256 --key SN19842256.key --iface eth1 --retry 2s,10s --max-attempts 5 --require-encrypted
  sealboot device boot --count 500 --serial-prefix LAB --keys-dir ./fleet-keys --iface eth1`

func newDeviceCmd(std stdio) *cobra.Command {
	return newGroupCmd(&cobra.Command{
		Use:   "device <command>",
		Short: "Emulate a device: make its key, boot it",
		Long: `Device emulates an RFC 8886 device: keygen makes its factory key and
certificate (CN = serial), boot runs its first boot (DHCP, TFTP, decrypt,
retry).`,
		Example: keygenExamples + "\n" + bootExamples + "\n" + sztpExamples,
	}, newDeviceKeygenCmd(std), newDeviceBootCmd(std))
}

func newDeviceKeygenCmd(std stdio) *cobra.Command {
	c := newCommand(&cobra.Command{
		Use:   "keygen --serial SN | --count N",
		Short: "Make a device's key pair and self-signed certificate",
		Long: `Keygen makes a device's key pair and self-signed certificate (RFC 8886 3.1,
Appendix A.1): DIR/SN.key (0600) and DIR/SN.crt. With --ca-cert and --ca-key
the certificate is an IDevID issued by that vendor CA instead (subject
serialNumber and CN = serial), as SZTP devices have.`,
		Example: keygenExamples + "\n" + sztpExamples,
		Args:    noArgs,
	}, nil)
	fs := c.Flags()
	serial := fs.String("serial", "", "device serial number (certificate CN)")
	kt := fs.String("type", "p256", fmt.Sprintf("key type: %v", keystore.KeyTypes))
	out := fs.String("out", ".", "directory for the key and certificate")
	certsDir := fs.String("certs-dir", "", "write certificates here instead (e.g. the server's keys_dir)")
	count := fs.Int("count", 0, "make a fleet of this many devices (serials PREFIX0001…)")
	prefix := fs.String("serial-prefix", "DEV", "serial prefix for --count")
	caCert := fs.String("ca-cert", "", "issue IDevIDs with this vendor CA certificate (PEM) instead of self-signing")
	caKey := fs.String("ca-key", "", "the vendor CA's key (PEM), with --ca-cert")
	var types []string
	for _, t := range keystore.KeyTypes {
		types = append(types, string(t))
	}
	completeWords(c, "type", types...)
	_ = c.MarkFlagDirname("out")
	_ = c.MarkFlagDirname("certs-dir")
	c.RunE = ranE(func(*cobra.Command, []string) error {
		serials := []string{*serial}
		if *count > 0 {
			serials = device.FleetSerials(*prefix, *count)
		} else if *serial == "" {
			return usagef("--serial or --count is required")
		}
		var ca *keystore.Authority
		if *caCert != "" || *caKey != "" {
			var err error
			if ca, err = loadCA(*caCert, *caKey); err != nil {
				return usageError{err}
			}
		}
		return deviceKeygen(serials, keystore.KeyType(*kt), *out, *certsDir, ca, std)
	})
	return c
}

// loadCA reads a vendor CA for keygen --ca-cert/--ca-key.
func loadCA(certFile, keyFile string) (*keystore.Authority, error) {
	if certFile == "" || keyFile == "" {
		return nil, fmt.Errorf("--ca-cert and --ca-key come together")
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	return keystore.LoadAuthority(certPEM, keyPEM)
}

func deviceKeygen(serials []string, kt keystore.KeyType, out, certsDir string, ca *keystore.Authority, std stdio) error {
	if certsDir == "" {
		certsDir = out
	}
	for _, d := range []string{out, certsDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	if err := keygenAll(serials, kt, out, certsDir, ca); err != nil {
		return err
	}
	fmt.Fprintf(std.out, "made %d device identities: keys in %s, certificates in %s\n", len(serials), out, certsDir)
	return nil
}

// keygenAll makes identities on every CPU.
func keygenAll(serials []string, kt keystore.KeyType, keysDir, certsDir string, ca *keystore.Authority) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(serials))
	next := make(chan string)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for s := range next {
				var id *keystore.DeviceIdentity
				var err error
				if ca != nil {
					id, err = ca.Issue(s, kt, keystore.IssueOptions{})
				} else {
					id, err = keystore.GenerateDevice(s, kt)
				}
				if err == nil {
					err = writeIdentity(id, s, keysDir, certsDir)
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	for _, s := range serials {
		next <- s
	}
	close(next)
	wg.Wait()
	close(errs)
	return <-errs
}

func writeIdentity(id *keystore.DeviceIdentity, serial, keysDir, certsDir string) error {
	std := stdio{}
	if err := writeOutput(filepath.Join(keysDir, serial+".key"), id.KeyPEM, 0o600, std); err != nil {
		return err
	}
	return writeOutput(filepath.Join(certsDir, serial+".crt"), id.CertPEM, 0o644, std)
}

// bootOpts are the flags of `sealboot device boot`.
type bootOpts struct {
	serial, keyPath, iface, vendor, model, expect, install, retry, prefix, keysDir, results string
	transport, image                                                                        string
	cutAfter                                                                                config.ByteSize
	v6, reqEnc, keep                                                                        bool
	sztp                                                                                    sztpOpts
	window, dhcpTimeout, tftpTimeout, httpTimeout                                           time.Duration
	maxAttempts, blksize, count                                                             int
}

// sizeFlag is a --flag taking a size in bytes (64KiB, 1MiB, 1073741824).
type sizeFlag struct{ v *config.ByteSize }

func (f sizeFlag) String() string     { return f.v.String() }
func (f sizeFlag) Set(s string) error { return f.v.UnmarshalText([]byte(s)) }
func (f sizeFlag) Type() string       { return "bytes" }

func newDeviceBootCmd(std stdio) *cobra.Command {
	var o bootOpts
	c := newCommand(&cobra.Command{
		Use:   "boot --iface IF (--serial SN --key FILE | --count N --keys-dir DIR)",
		Short: "Boot an emulated device: DHCP, TFTP or HTTP, decrypt, retry",
		Long: `Boot boots an emulated device: DHCP on --iface presenting the serial the
vendor's way, a fetch from the leased address, decrypt with its key, retry on
RFC 8886's schedule. It prints one JSON result line and exits 0 only when a
config was installed.

The fetch is TFTP, or HTTP when DHCP says so (--transport auto): an http://
URL in option 67 or DHCPv6 option 59, or for Juniper option 43 sub-option 03
http (the name in 43.01, from the server of option 150, port 43.05);
--transport http or tftp forces one. An image DHCP offers (Juniper 43.00, else
43.04), or --image, is fetched over HTTP before the config, resumed with a
Range request when the connection drops (--cut-after drops it once on
purpose), and its SHA-256 must be the server's ETag.`,
		Example: bootExamples,
		Args:    noArgs,
	}, func(cmd *cobra.Command, _ []string) error { return deviceBoot(cmd.Context(), o, std) })
	fs := c.Flags()
	fs.StringVar(&o.serial, "serial", "", "device serial")
	fs.StringVar(&o.keyPath, "key", "", "device private key (PEM)")
	fs.StringVar(&o.iface, "iface", "", "interface to boot on")
	fs.StringVar(&o.vendor, "vendor", device.VendorPlain, fmt.Sprintf("how the serial is presented: %v", device.Vendors))
	fs.StringVar(&o.model, "model", "", "model the vendor string carries (default per vendor)")
	fs.BoolVar(&o.v6, "v6", false, "boot with DHCPv6 (option 59) instead of DHCPv4")
	fs.BoolVar(&o.reqEnc, "require-encrypted", false, "refuse a plaintext config")
	fs.StringVar(&o.expect, "expect-sha256", "", "SHA-256 (hex) the installed config must have")
	fs.StringVar(&o.install, "install", "", "write the decrypted config here (0600)")
	fs.StringVar(&o.retry, "retry", "5m,1h", "retry intervals: during the first --retry-window, then after")
	fs.DurationVar(&o.window, "retry-window", time.Hour, "how long the first retry interval applies")
	fs.IntVar(&o.maxAttempts, "max-attempts", 0, "give up after this many attempts (0: never)")
	fs.IntVar(&o.blksize, "blksize", 1468, "TFTP block size to ask for")
	fs.DurationVar(&o.dhcpTimeout, "dhcp-timeout", 10*time.Second, "DHCP exchange timeout per attempt")
	fs.DurationVar(&o.tftpTimeout, "tftp-timeout", 2*time.Second, "TFTP retransmission timeout")
	fs.BoolVar(&o.keep, "keep-address", false, "leave the leased address on the interface")
	fs.StringVar(&o.transport, "transport", device.TransportAuto, fmt.Sprintf("how to fetch the config: %v (auto: as DHCP says)", device.Transports))
	fs.StringVar(&o.image, "image", "", "fetch this image URL before the config (vendors whose DHCP names no image)")
	fs.Var(sizeFlag{&o.cutAfter}, "cut-after", "drop the image download's connection once after this many bytes (64KiB, 1MiB…), then resume it")
	fs.DurationVar(&o.httpTimeout, "http-timeout", 10*time.Second, "HTTP: give up when nothing comes for this long")
	fs.IntVar(&o.count, "count", 0, "boot a fleet of this many devices at once (keys from --keys-dir)")
	fs.StringVar(&o.prefix, "serial-prefix", "DEV", "fleet serial prefix")
	fs.StringVar(&o.keysDir, "keys-dir", "", "fleet: directory of <serial>.key files")
	fs.StringVar(&o.results, "results", "", "fleet: write every device's result here, one JSON line each")
	fs.BoolVar(&o.sztp.on, "sztp", false, "boot as an SZTP agent (RFC 8572): DHCP option 143/136, HTTPS with the IDevID")
	fs.StringVar(&o.sztp.cert, "cert", "", "SZTP: the device's IDevID certificate (PEM; fleet: <keys-dir>/<serial>.crt)")
	fs.StringVar(&o.sztp.chain, "chain", "", "SZTP: intermediate certificates sent with the IDevID (PEM)")
	fs.StringVar(&o.sztp.serverCA, "server-ca", "", "SZTP: trust anchors of bootstrap servers (PEM); none: servers are untrusted, only signed data is used")
	fs.StringVar(&o.sztp.masaCA, "masa-ca", "", "SZTP: trust anchors of ownership vouchers (PEM)")
	fs.BoolVar(&o.sztp.nonce, "nonce", false, "SZTP: send a nonce")
	fs.BoolVar(&o.sztp.xml, "xml", false, "SZTP: speak XML instead of JSON")
	fs.StringVar(&o.sztp.osName, "os-name", "", "SZTP: the OS the device runs")
	fs.StringVar(&o.sztp.osVersion, "os-version", "", "SZTP: the version it runs")
	completeWords(c, "vendor", device.Vendors...)
	completeWords(c, "transport", device.Transports...)
	_ = c.RegisterFlagCompletionFunc("iface", completeInterfaces)
	_ = c.MarkFlagDirname("keys-dir")
	return c
}

func deviceBoot(ctx context.Context, o bootOpts, std stdio) error {
	tmpl, err := bootTemplate(o.vendor, o.model, o.retry, o.window, o.expect, o.reqEnc, o.maxAttempts, o.blksize, o.dhcpTimeout, o.tftpTimeout, o.keep)
	if err != nil {
		return usageError{err}
	}
	if o.iface == "" {
		return usagef("--iface is required")
	}
	if o.count == 0 && o.results != "" {
		return usagef("--results is for a fleet (--count); one device prints its result")
	}
	if o.count > 0 && (o.v6 || o.install != "" || o.serial != "" || o.keyPath != "") {
		return usagef("--count boots a DHCPv4 fleet with keys from --keys-dir; --v6, --install, --serial and --key apply to one device only")
	}
	tmpl.Transport, tmpl.ImageURL, tmpl.CutAfter, tmpl.HTTPTimeout = o.transport, o.image, int64(o.cutAfter), o.httpTimeout
	if o.sztp.on {
		if tmpl.SZTP, err = o.sztp.config(o.count == 0); err != nil {
			return usageError{err}
		}
	}
	if o.count > 0 {
		return bootFleet(ctx, device.FleetConfig{Interface: o.iface, Serials: device.FleetSerials(o.prefix, o.count), KeysDir: o.keysDir, Template: tmpl}, o.results, std)
	}
	key, err := readKey(o.keyPath)
	if err != nil || o.serial == "" {
		return usagef("--serial and a readable --key are required: %v", err)
	}
	tmpl.Serial, tmpl.Key, tmpl.Interface, tmpl.V6, tmpl.Install = o.serial, key, o.iface, o.v6, o.install
	res, err := device.Boot(ctx, tmpl)
	if err != nil {
		return usageError{err}
	}
	_ = json.NewEncoder(std.out).Encode(res)
	if !res.Installed() {
		return exitCode(exitFailure)
	}
	return nil
}

// completeInterfaces completes --iface with this host's interfaces.
func completeInterfaces(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	ifs, _ := net.Interfaces()
	var out []cobra.Completion
	for _, i := range ifs {
		out = append(out, i.Name)
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

func bootTemplate(vendor, model, retry string, window time.Duration, expect string, reqEnc bool, maxAttempts, blksize int, dhcpT, tftpT time.Duration, keep bool) (device.Config, error) {
	first, later, _ := strings.Cut(retry, ",")
	f, err := time.ParseDuration(first)
	if err != nil {
		return device.Config{}, fmt.Errorf("--retry %q: %w", retry, err)
	}
	l := f
	if later != "" {
		if l, err = time.ParseDuration(later); err != nil {
			return device.Config{}, fmt.Errorf("--retry %q: %w", retry, err)
		}
	}
	var sum []byte
	if expect != "" {
		if sum, err = hex.DecodeString(expect); err != nil || len(sum) != 32 {
			return device.Config{}, fmt.Errorf("--expect-sha256 %q is not a SHA-256 in hex", expect)
		}
	}
	return device.Config{Vendor: vendor, Model: model, Retry: device.Schedule{First: f, Later: l, Window: window},
		ExpectSHA256: sum, RequireEncrypted: reqEnc, MaxAttempts: maxAttempts, BlockSize: blksize,
		DHCPTimeout: dhcpT, TFTPTimeout: tftpT, KeepAddress: keep}, nil
}

func readKey(path string) (any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return cms.ParsePrivateKey(data)
}

func bootFleet(ctx context.Context, fc device.FleetConfig, resultsPath string, std stdio) error {
	if fc.KeysDir == "" {
		return usagef("--count needs --keys-dir")
	}
	sum, results, err := device.Fleet(ctx, fc)
	if err != nil {
		return err
	}
	if resultsPath != "" {
		if err := writeResults(resultsPath, results); err != nil {
			return err
		}
	}
	enc := json.NewEncoder(std.err)
	for _, r := range results {
		if !r.Installed() {
			_ = enc.Encode(r)
		}
	}
	_ = json.NewEncoder(std.out).Encode(sum)
	if sum.Provisioned != sum.Devices {
		return exitCode(exitFailure)
	}
	return nil
}

// writeResults writes each device's result as one JSON line.
func writeResults(path string, results []device.Result) error {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	for _, r := range results {
		_ = enc.Encode(r)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("--results: %w", err)
	}
	return nil
}
