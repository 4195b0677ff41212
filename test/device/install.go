package device

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"
	"unicode/utf8"

	"github.com/pin/tftp/v3"

	"github.com/sealboot/sealboot/keystore/cms"
)

// maxConfig bounds what a device accepts over TFTP.
const maxConfig = 16 << 20

// fetch gets file from server over TFTP, from the leased address; a file
// that is an http:// URL, over HTTP.
func (cfg *Config) fetch(ctx context.Context, local, server netip.Addr, file string) ([]byte, error) {
	if isHTTP(file) {
		return cfg.fetchHTTP(ctx, local, file)
	}
	c, err := tftp.NewClient(netip.AddrPortFrom(server, 69).String())
	if err != nil {
		return nil, err
	}
	if err := c.SetLocalAddr(local.String()); err != nil {
		return nil, err
	}
	c.SetTimeout(cfg.TFTPTimeout)
	c.SetRetries(3)
	c.SetBlockSize(cfg.BlockSize)
	c.RequestTSize(true)
	wt, err := c.Receive(file, "octet")
	if err != nil {
		return nil, fmt.Errorf("tftp %s from %s: %w", file, server, err)
	}
	if n, ok := wt.(tftp.IncomingTransfer).Size(); ok && n > maxConfig {
		return nil, fmt.Errorf("tftp %s: %d bytes is too large for a config", file, n)
	}
	var buf limitedBuffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("tftp %s from %s: %w", file, server, err)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return buf.Bytes(), nil
}

// limitedBuffer refuses to grow past maxConfig.
type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > maxConfig {
		return 0, errors.New("config too large")
	}
	return b.Buffer.Write(p)
}

// install decides whether data is encrypted, decrypts it with the device's
// key, checks it and writes it where asked.
func (cfg *Config) install(res *Result, data []byte) {
	config := data
	encrypted := cms.IsEnvelope(data)
	if encrypted {
		res.Encrypted = true
		plain, err := cms.Open(cfg.Key, data)
		if err != nil {
			res.Outcome, res.Error = OutcomeDecryptFailed, err.Error()
			return
		}
		config = plain
	}
	cfg.check(res, config, encrypted)
}

// check applies the device's policy to a plaintext config (it came
// encrypted or not), checks it and writes it where asked.
func (cfg *Config) check(res *Result, config []byte, encrypted bool) {
	if !encrypted && cfg.RequireEncrypted {
		res.Outcome, res.Error = OutcomePlaintextRefused, "the config is not encrypted and --require-encrypted is set"
		return
	}
	if reason := saneText(config); reason != "" {
		res.Outcome, res.Error = OutcomeInvalidConfig, reason
		return
	}
	sum, ok := checkSum(config, cfg.ExpectSHA256)
	res.SHA256 = sum
	if !ok {
		res.Outcome, res.Error = OutcomeChecksumMismatch, "SHA-256 of the config differs from --expect-sha256"
		return
	}
	if cfg.Install != "" {
		if err := writePrivate(cfg.Install, config); err != nil {
			res.Outcome, res.Error = OutcomeInvalidConfig, "install: "+err.Error()
			return
		}
	}
	res.Outcome = OutcomeInstalled
}

// saneText says why config is not a plausible device config: empty, not
// UTF-8, or holding NUL bytes (a wrong key can yield garbage that unpads).
func saneText(config []byte) string {
	switch {
	case len(bytes.TrimSpace(config)) == 0:
		return "the config is empty"
	case !utf8.Valid(config):
		return "the config is not UTF-8 text"
	case bytes.IndexByte(config, 0) >= 0:
		return "the config contains NUL bytes"
	}
	return ""
}

func crlfToLF(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")) }

// writePrivate writes data to path atomically with mode 0600.
func writePrivate(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// parseServer reads a TFTP server from an option: an address, or a name
// to resolve (option 66 may carry either).
func parseServer(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", s)
	if err != nil || len(addrs) == 0 {
		return netip.Addr{}, false
	}
	return addrs[0].Unmap(), true
}
