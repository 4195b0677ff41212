package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/keystore/cms"
	"github.com/sealboot/sealboot/test/device"
)

const deviceExamples = `  sealboot device keygen --serial SN19842256 --type p256 --out ./factory
  sealboot device keygen --count 500 --serial-prefix LAB --out ./fleet-keys --certs-dir /var/lib/sealboot/keys
  sealboot device boot --serial SN19842256 --key ./factory/SN19842256.key --iface eth1 --vendor juniper
  sealboot device boot --serial SN19842256 --key SN19842256.key --iface eth1 --retry 2s,10s --max-attempts 5 --require-encrypted
  sealboot device boot --count 500 --serial-prefix LAB --keys-dir ./fleet-keys --iface eth1`

func cmdDevice(ctx context.Context, args []string, std stdio) int {
	if len(args) > 0 {
		switch args[0] {
		case "keygen":
			return deviceKeygen(args[1:], std)
		case "boot":
			return deviceBoot(ctx, args[1:], std)
		}
	}
	fs := newFlags("device", "emulate an RFC 8886 device: `keygen` makes its factory key and certificate (CN = serial), `boot` runs its first boot (DHCP, TFTP, decrypt, retry)", deviceExamples, std)
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	fmt.Fprintln(std.err, "sealboot device: give keygen or boot; see --help")
	return exitUsage
}

func deviceKeygen(args []string, std stdio) int {
	fs := newFlags("device keygen", "make a device's key pair and self-signed certificate (RFC 8886 3.1, Appendix A.1): DIR/SN.key (0600) and DIR/SN.crt", deviceExamples, std)
	serial := fs.String("serial", "", "device serial number (certificate CN)")
	kt := fs.String("type", "p256", fmt.Sprintf("key type: %v", keystore.KeyTypes))
	out := fs.String("out", ".", "directory for the key and certificate")
	certsDir := fs.String("certs-dir", "", "write certificates here instead (e.g. the server's keys_dir)")
	count := fs.Int("count", 0, "make a fleet of this many devices (serials PREFIX0001…)")
	prefix := fs.String("serial-prefix", "DEV", "serial prefix for --count")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	serials := []string{*serial}
	if *count > 0 {
		serials = device.FleetSerials(*prefix, *count)
	} else if *serial == "" {
		fmt.Fprintln(std.err, "sealboot device keygen: --serial or --count is required")
		return exitUsage
	}
	if *certsDir == "" {
		*certsDir = *out
	}
	for _, d := range []string{*out, *certsDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			fmt.Fprintf(std.err, "sealboot device keygen: %v\n", err)
			return exitFailure
		}
	}
	if err := keygenAll(serials, keystore.KeyType(*kt), *out, *certsDir); err != nil {
		fmt.Fprintf(std.err, "sealboot device keygen: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(std.out, "made %d device identities: keys in %s, certificates in %s\n", len(serials), *out, *certsDir)
	return exitOK
}

// keygenAll makes identities on every CPU.
func keygenAll(serials []string, kt keystore.KeyType, keysDir, certsDir string) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(serials))
	next := make(chan string)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for s := range next {
				id, err := keystore.GenerateDevice(s, kt)
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

func deviceBoot(ctx context.Context, args []string, std stdio) int {
	fs := newFlags("device boot", "boot an emulated device: DHCP on --iface presenting the serial the vendor's way, TFTP fetch from the leased address, decrypt with its key, retry on RFC 8886's schedule; prints one JSON result line and exits 0 only when a config was installed", deviceExamples, std)
	serial := fs.String("serial", "", "device serial")
	keyPath := fs.String("key", "", "device private key (PEM)")
	iface := fs.String("iface", "", "interface to boot on")
	vendor := fs.String("vendor", device.VendorPlain, fmt.Sprintf("how the serial is presented: %v", device.Vendors))
	model := fs.String("model", "", "model the vendor string carries (default per vendor)")
	v6 := fs.Bool("v6", false, "boot with DHCPv6 (option 59) instead of DHCPv4")
	reqEnc := fs.Bool("require-encrypted", false, "refuse a plaintext config")
	expect := fs.String("expect-sha256", "", "SHA-256 (hex) the installed config must have")
	install := fs.String("install", "", "write the decrypted config here (0600)")
	retry := fs.String("retry", "5m,1h", "retry intervals: during the first --retry-window, then after")
	window := fs.Duration("retry-window", time.Hour, "how long the first retry interval applies")
	maxAttempts := fs.Int("max-attempts", 0, "give up after this many attempts (0: never)")
	blksize := fs.Int("blksize", 1468, "TFTP block size to ask for")
	dhcpTimeout := fs.Duration("dhcp-timeout", 10*time.Second, "DHCP exchange timeout per attempt")
	tftpTimeout := fs.Duration("tftp-timeout", 2*time.Second, "TFTP retransmission timeout")
	keep := fs.Bool("keep-address", false, "leave the leased address on the interface")
	count := fs.Int("count", 0, "boot a fleet of this many devices at once (keys from --keys-dir)")
	prefix := fs.String("serial-prefix", "DEV", "fleet serial prefix")
	keysDir := fs.String("keys-dir", "", "fleet: directory of <serial>.key files")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	tmpl, err := bootTemplate(*vendor, *model, *retry, *window, *expect, *reqEnc, *maxAttempts, *blksize, *dhcpTimeout, *tftpTimeout, *keep)
	if err != nil {
		fmt.Fprintf(std.err, "sealboot device boot: %v\n", err)
		return exitUsage
	}
	if *iface == "" {
		fmt.Fprintln(std.err, "sealboot device boot: --iface is required")
		return exitUsage
	}
	if *count > 0 && (*v6 || *install != "" || *serial != "" || *keyPath != "") {
		fmt.Fprintln(std.err, "sealboot device boot: --count boots a DHCPv4 fleet with keys from --keys-dir; --v6, --install, --serial and --key apply to one device only")
		return exitUsage
	}
	if *count > 0 {
		return bootFleet(ctx, device.FleetConfig{Interface: *iface, Serials: device.FleetSerials(*prefix, *count), KeysDir: *keysDir, Template: tmpl}, std)
	}
	key, err := readKey(*keyPath)
	if err != nil || *serial == "" {
		fmt.Fprintf(std.err, "sealboot device boot: --serial and a readable --key are required: %v\n", err)
		return exitUsage
	}
	tmpl.Serial, tmpl.Key, tmpl.Interface, tmpl.V6, tmpl.Install = *serial, key, *iface, *v6, *install
	res, err := device.Boot(ctx, tmpl)
	if err != nil {
		fmt.Fprintf(std.err, "sealboot device boot: %v\n", err)
		return exitUsage
	}
	_ = json.NewEncoder(std.out).Encode(res)
	if !res.Installed() {
		return exitFailure
	}
	return exitOK
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

func bootFleet(ctx context.Context, fc device.FleetConfig, std stdio) int {
	if fc.KeysDir == "" {
		fmt.Fprintln(std.err, "sealboot device boot: --count needs --keys-dir")
		return exitUsage
	}
	sum, results, err := device.Fleet(ctx, fc)
	if err != nil {
		fmt.Fprintf(std.err, "sealboot device boot: %v\n", err)
		return exitFailure
	}
	enc := json.NewEncoder(std.err)
	for _, r := range results {
		if !r.Installed() {
			_ = enc.Encode(r)
		}
	}
	_ = json.NewEncoder(std.out).Encode(sum)
	if sum.Provisioned != sum.Devices {
		return exitFailure
	}
	return exitOK
}
