package main

import (
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/sealboot/sealboot/cmd/sealboot/internal/config"
	"github.com/sealboot/sealboot/cmd/sealboot/internal/daemon"
	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/keystore/anchors"
	"github.com/sealboot/sealboot/tftpd/fetch"
	"github.com/sealboot/sealboot/tftpd/sztpd"
)

// addSZTP adds the SZTP bootstrap server and its trust anchors when
// sztp.listen is set: one more task, named in the ready line, reloaded and
// checked with the rest.
func (c *components) addSZTP(cfg *config.Config, core *fetch.Core, keys *keystore.Store, images sztpd.Images, log *zap.Logger) error {
	if len(cfg.SZTP.Listen) == 0 {
		return nil
	}
	slog := log.Named("sztp")
	ta, err := anchors.Open(cfg.SZTP.TrustAnchors, cfg.Keystore.Settle, slog)
	if err != nil {
		return fmt.Errorf("sztp: %w", err)
	}
	srv, err := sztpd.New(sztpConfig(cfg), sztpd.Deps{Configs: core, Certificates: keys, Anchors: ta, Images: images}, slog, c.reg)
	if err != nil {
		return fmt.Errorf("sztp: %w", err)
	}
	srv.ShutdownTimeout = cfg.ShutdownTimeout * 4 / 5
	c.tasks = append(c.tasks,
		daemon.Task{Name: "trust-anchors", Component: ta},
		daemon.Task{Name: "sztp", Component: srv},
	)
	c.listen = append(c.listen, "sztp "+strings.Join(cfg.SZTP.Listen, ","))
	c.checks = append(c.checks, func(cfg *config.Config) error { return srv.Check(sztpConfig(cfg)) })
	c.reloads = append(c.reloads,
		func(*config.Config) error { return ta.Rescan() },
		func(cfg *config.Config) error { return srv.Update(sztpConfig(cfg)) },
	)
	return nil
}

// sztpConfig maps the configuration file onto the SZTP server's settings:
// its section, the profiles, the seal options, and where the built-in
// HTTP server serves images.
func sztpConfig(cfg *config.Config) sztpd.Config {
	s := cfg.SZTP
	h := httpEndpoint(cfg.HTTP)
	out := sztpd.Config{
		Listen: s.Listen, TLSCert: s.TLSCert, TLSKey: s.TLSKey, BasicAuth: s.BasicAuth,
		OwnerCert: s.OwnerCert, OwnerKey: s.OwnerKey, VouchersDir: s.VouchersDir,
		Sign: s.Sign, Encrypt: s.Encrypt, ReportingLevel: s.ReportingLevel,
		ImageURL: s.ImageURL, ImageScheme: h.Scheme, ImagePort: h.Port,
		MaxRequests: s.MaxRequests, MaxBody: int64(s.MaxBody), RequestTimeout: s.RequestTimeout,
		Seal: sztpd.SealOptions{Cipher: cfg.Seal.Cipher, OAEP: cfg.Seal.OAEP, KDF: cfg.Seal.KDF, AllowSmallRSA: cfg.Seal.AllowSmallRSA},
	}
	for _, r := range s.Redirect {
		out.Redirect = append(out.Redirect, sztpd.Redirect{Address: r.Address, Port: r.Port, TrustAnchor: r.TrustAnchor})
	}
	for _, p := range cfg.Profiles {
		out.Profiles = append(out.Profiles, sztpd.Profile{
			Name: p.Name, Vendor: p.Vendor, Model: p.Model, Serials: p.Serials, Image: p.Image,
			OSName: p.OSName, OSVersion: p.OSVersion, PreScript: p.PreScript, PostScript: p.PostScript,
			ConfigurationHandling: p.ConfigurationHandling,
		})
	}
	return out
}
