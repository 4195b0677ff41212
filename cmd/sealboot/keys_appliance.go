package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sealboot/sealboot/cmd/sealboot/internal/config"
	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/keystore/appliance"
	"github.com/sealboot/sealboot/tftpd/configdir"
)

func newKeysApplianceCmd(std stdio) *cobra.Command {
	return newGroupCmd(&cobra.Command{
		Use:   "appliance <command>",
		Short: "Manage sealboot's own key pair, which opens configs sealed to the appliance",
		Long: `Appliance manages sealboot's own key pair. The central side seals each
POP's configs to that POP's appliance certificate (sealboot seal --cert
appliance.crt, or openssl cms -encrypt) and ships <serial>.cfg.cms files;
sealboot opens them in memory only, when a device needs its config, and
seals them to the device as it does plaintext configs.`,
		Example: `  sealboot keys appliance init --key /etc/sealboot/appliance.key --cert /etc/sealboot/appliance.crt`,
	}, newKeysApplianceInitCmd(std))
}

func newKeysApplianceInitCmd(std stdio) *cobra.Command {
	var keyPath, certPath, name, kt string
	var force bool
	c := newCommand(&cobra.Command{
		Use:   "init --key FILE --cert FILE",
		Short: "Make the appliance key (mode 0600) and its self-signed certificate, and print the certificate",
		Long: `Init makes a new appliance key pair: the private key is written to --key
(mode 0600, PKCS#8 PEM), the self-signed certificate to --cert and to
standard output, for the central side to seal this POP's configs to. An
existing key is never overwritten unless --force is given: configs sealed to
it would no longer open.

Point appliance_key and appliance_cert at the files, or, under systemd, keep
the key root-only and give it to the service as a credential:

  LoadCredential=appliance_key:/etc/sealboot/appliance.key
  LoadCredential=appliance_cert:/etc/sealboot/appliance.crt

(LoadCredentialEncrypted= for a key encrypted with systemd-creds, bound to
the TPM). With appliance_key empty, sealboot reads
$CREDENTIALS_DIRECTORY/appliance_key and appliance_cert.`,
		Example: `  sealboot keys appliance init --key /etc/sealboot/appliance.key --cert /etc/sealboot/appliance.crt
  sealboot keys appliance init --key pop1.key --cert pop1.crt --type rsa3072 --name pop1-a`,
	}, func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usagef("unexpected arguments %q", args)
		}
		if keyPath == "" || certPath == "" {
			return usagef("--key and --cert are required")
		}
		return applianceInit(keyPath, certPath, name, keystore.KeyType(kt), force, std)
	})
	f := c.Flags()
	f.StringVar(&keyPath, "key", "", "private key file to write (mode 0600)")
	f.StringVar(&certPath, "cert", "", "certificate file to write")
	f.StringVar(&kt, "type", string(keystore.P256), fmt.Sprintf("key type: %v", keystore.KeyTypes))
	f.StringVar(&name, "name", "", "certificate subject CN; default: sealboot appliance <hostname>")
	f.BoolVar(&force, "force", false, "overwrite an existing key (configs sealed to the old one will not open)")
	completeWords(c, "type", keyTypeNames()...)
	return c
}

func keyTypeNames() []string {
	out := make([]string, len(keystore.KeyTypes))
	for i, t := range keystore.KeyTypes {
		out[i] = string(t)
	}
	return out
}

func applianceInit(keyPath, certPath, name string, kt keystore.KeyType, force bool, std stdio) error {
	if _, err := os.Lstat(keyPath); err == nil && !force {
		return fmt.Errorf("%s exists: configs sealed to that key would no longer open; give --force to replace it", keyPath)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if name == "" {
		host, _ := os.Hostname()
		name = strings.TrimSpace("sealboot appliance " + host)
	}
	id, err := appliance.Generate(name, kt)
	if err != nil {
		return err
	}
	if err := writeOutput(keyPath, id.KeyPEM, 0o600, std); err != nil {
		return err
	}
	if err := writeOutput(certPath, id.CertPEM, 0o644, std); err != nil {
		return err
	}
	fmt.Fprintf(std.err, "appliance key written to %s (0600), certificate to %s; fingerprint %s\n",
		keyPath, certPath, keystore.SPKIFingerprint(id.Cert))
	_, err = std.out.Write(id.CertPEM)
	return err
}

// loadAppliance loads the appliance key pair the configuration names, or
// systemd's credentials (credDir is $CREDENTIALS_DIRECTORY); nil, "" when
// there is none. from says where it came from, for the log.
func loadAppliance(cfg *config.Config, credDir string) (app *appliance.Appliance, from string, err error) {
	key, cert := cfg.ApplianceFiles(credDir)
	if key == "" {
		return nil, "", nil
	}
	from = "appliance_key"
	if cfg.ApplianceKey == "" {
		from = "systemd credential " + config.CredentialApplianceKey
	}
	app, err = appliance.Load(key, cert)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", from, err)
	}
	return app, from, nil
}

// configdirConfig is the configs directory's configuration; app may be nil.
func configdirConfig(cfg *config.Config, app *appliance.Appliance) configdir.Config {
	c := configdir.Config{
		Dir: cfg.ConfigsDir, Extension: cfg.Watch.Extension, MaxSize: int64(cfg.Watch.MaxSize), Settle: cfg.Watch.Settle,
		PresealedExtension: cfg.Watch.PresealedExtension, ApplianceExtension: cfg.Watch.ApplianceExtension,
	}
	if app != nil { // a nil *Appliance is not a nil interface
		c.Appliance = app
	}
	return c
}
