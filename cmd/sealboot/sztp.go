package main

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/sealboot/sealboot/cmd/sealboot/internal/config"
	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/tftpd/configdir"
	"github.com/sealboot/sealboot/tftpd/fetch"
	"github.com/sealboot/sealboot/tftpd/sztp"
	"github.com/sealboot/sealboot/tftpd/sztpd"
)

func newSZTPCmd(std stdio) *cobra.Command {
	return newGroupCmd(&cobra.Command{
		Use:   "sztp <command>",
		Short: "Look at what the SZTP bootstrap server gives devices",
		Long: `Sztp looks at what the SZTP bootstrap server (RFC 8572, sztp.listen) gives
devices, from the configuration and the same files serve reads.`,
		Example: sztpCheckExamples,
	}, newSZTPCheckCmd(std))
}

const sztpCheckExamples = `  sealboot sztp check --config /etc/sealboot/sealboot.yaml --serial FOC2231X0AB
  sealboot sztp check -c sealboot.yaml --serial FOC2231X0AB --vendor cisco --hw-model C9300-24T --server 192.0.2.1`

func newSZTPCheckCmd(std stdio) *cobra.Command {
	c := newCommand(&cobra.Command{
		Use:   "check --serial SN",
		Short: "Print what a device would receive, decoded, secrets elided",
		Long: `Check builds the answer the device SN would get from get-bootstrapping-data
now (its profile, config, scripts, image, voucher, security mode) and prints
it as JSON: the conveyed information decoded, the configuration and scripts
shown by size and SHA-256 only. A device that would be refused shows the
status and the reason, and check exits 1. The device is assumed authenticated; --vendor is the
trust anchor file its certificate would chain to, --hw-model what it sends.`,
		Example: sztpCheckExamples,
		Args:    noArgs,
	}, nil)
	fs := c.Flags()
	file := fs.StringP("config", "c", "", "configuration file (YAML)")
	serial := fs.String("serial", "", "device serial (required)")
	vendor := fs.String("vendor", "", "the device's vendor (its trust anchor file's name)")
	model := fs.String("hw-model", "", "the hw-model the device sends")
	server := fs.String("server", "192.0.2.1", "the address the device reaches the server on (for image URIs)")
	signed := fs.Bool("signed-data-preferred", false, "the device asks for signed data")
	xml := fs.Bool("xml", false, "the device speaks XML")
	c.RunE = ranE(func(*cobra.Command, []string) error {
		if *serial == "" {
			return usagef("--serial is required")
		}
		local, err := netip.ParseAddr(*server)
		if err != nil {
			return usagef("--server %q is not an address", *server)
		}
		f := sztp.JSON
		if *xml {
			f = sztp.XML
		}
		return sztpCheck(*file, *serial, *vendor, *model, *signed, f, local, std)
	})
	return c
}

func sztpCheck(file, serial, vendor, model string, signed bool, f sztp.Format, local netip.Addr, std stdio) error {
	cfg, err := config.Load(config.Source{File: file, Env: os.Environ()})
	if err != nil {
		return err
	}
	if len(cfg.SZTP.Listen) == 0 {
		return fmt.Errorf("sztp.listen is empty: the SZTP server is off in this configuration")
	}
	log := zap.NewNop()
	keys, err := keystore.Open(keystore.Options{Dir: cfg.KeysDir, ReadOnly: true, Settle: time.Nanosecond, AllowSmallRSA: cfg.Seal.AllowSmallRSA}, log, nil)
	if err != nil {
		return err
	}
	app, _, err := loadAppliance(cfg, os.Getenv("CREDENTIALS_DIRECTORY"))
	if err != nil {
		return err
	}
	dc := configdirConfig(cfg, app)
	dc.Settle = time.Nanosecond
	configs, err := configdir.New(dc, keys, log, nil)
	if err != nil {
		return err
	}
	core, err := fetch.New(fetchConfig(cfg), fetch.Deps{Configs: configs, Certificates: keys})
	if err != nil {
		return err
	}
	srv, err := sztpd.New(sztpConfig(cfg), sztpd.Deps{Configs: core, Certificates: keys, Anchors: noAnchors{}}, log, nil)
	if err != nil {
		return err
	}
	p := srv.Preview(serial, vendor, model, signed, f, local)
	enc := json.NewEncoder(std.out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(previewJSON(p)); err != nil {
		return err
	}
	if p.Conveyed == nil {
		return exitCode(exitFailure) // the device would be refused
	}
	return nil
}

// noAnchors stands for the trust anchors: check assumes the device
// authenticated.
type noAnchors struct{}

func (noAnchors) Verify([]*x509.Certificate, time.Time) (string, error) { return "", nil }

// previewJSON is the preview as check prints it: secrets (the config and
// the scripts) by size and hash only.
func previewJSON(p *sztpd.Preview) map[string]any {
	out := map[string]any{"serial": p.Serial, "status": p.Status, "outcome": p.Outcome}
	if p.Reason != "" {
		out["reason"] = p.Reason
	}
	if p.Conveyed == nil {
		return out
	}
	out["mode"], out["bytes"] = p.Mode, p.Bytes
	if p.ReportingLevel != "" {
		out["reporting_level"] = p.ReportingLevel
	}
	if ri := p.Conveyed.Redirect; ri != nil {
		var servers []map[string]any
		for _, bs := range ri.BootstrapServers {
			e := map[string]any{"address": bs.Address, "port": bs.Port}
			if bs.TrustAnchor != nil {
				e["trust_anchor"] = elided(bs.TrustAnchor)
			}
			servers = append(servers, e)
		}
		out["redirect_information"] = map[string]any{"bootstrap_servers": servers}
		return out
	}
	oi := p.Conveyed.Onboarding
	o := map[string]any{}
	if b := oi.BootImage; b != nil {
		img := map[string]any{"os_name": b.OSName, "os_version": b.OSVersion, "download_uris": b.DownloadURIs}
		for _, iv := range b.ImageVerifications {
			img[iv.HashAlgorithm] = hex.EncodeToString(iv.HashValue)
		}
		o["boot_image"] = img
	}
	for name, v := range map[string][]byte{"configuration": oi.Configuration, "pre_configuration_script": oi.PreConfigurationScript, "post_configuration_script": oi.PostConfigurationScript} {
		if v != nil {
			o[name] = elided(v)
		}
	}
	if oi.ConfigurationHandling != "" {
		o["configuration_handling"] = oi.ConfigurationHandling
	}
	out["onboarding_information"] = o
	return out
}

// elided describes bytes without showing them.
func elided(b []byte) map[string]any {
	sum := sha256.Sum256(b)
	return map[string]any{"bytes": len(b), "sha256": hex.EncodeToString(sum[:])}
}
