package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sealboot/sealboot/cmd/sealboot/internal/config"
	"github.com/sealboot/sealboot/keystore"
)

// keysOpts are the flags of `sealboot keys` and its subcommands.
type keysOpts struct {
	dir, serial, url string
	config, fromFile string
	replace, json    bool
	allowSmallRSA    bool
	timeout          time.Duration
	cfg              *config.Config // loaded by openKeystore
}

func newKeysCmd(std stdio) *cobra.Command {
	o := &keysOpts{}
	c := newGroupCmd(&cobra.Command{
		Use:   "keys (--config FILE | --dir DIR) <command>",
		Short: "Manage the device certificate keystore",
		Long: `Keys manages the device certificate keystore (keys_dir): import, list, show,
remove, fetch. Keys are pinned by the SHA-256 of the public key (RFC 8886
section 3).

It reads the configuration as serve does (--config, SEALBOOT_* environment
variables): keys_dir, and for fetch keystore.fetch_url, fetch_ca and
fetch_headers. --dir and --url override them. Files it writes (certificates,
the pin file and its lock) are given to the keys directory's owner and
group, so that keys run as root leaves a keystore the service, running as
its own user, still reads; when it may not, it says so and writes no
certificate or pin.`,
		Example: `  sealboot keys --config /etc/sealboot/sealboot.yaml import SN123.crt
  sealboot keys --dir /var/lib/sealboot/keys list [--json]
  sealboot keys -c /etc/sealboot/sealboot.yaml show SN123
  sealboot keys -c /etc/sealboot/sealboot.yaml remove SN123
  sealboot keys -c /etc/sealboot/sealboot.yaml fetch SN123 SN124
  sealboot keys -c /etc/sealboot/sealboot.yaml fetch --from-file purchase-order-serials.txt
  sealboot keys --dir /var/lib/sealboot/keys fetch SN123 --url 'https://certs.vendor.example/{serial}.pem'`,
	}, newKeysImportCmd(o, std), newKeysListCmd(o, std), newKeysShowCmd(o, std), newKeysRemoveCmd(o, std), newKeysFetchCmd(o, std))
	c.AddCommand(newKeysApplianceCmd(std))
	fs := c.PersistentFlags()
	fs.StringVarP(&o.config, "config", "c", "", "configuration file (YAML) that names keys_dir and the vendor directory")
	fs.StringVar(&o.dir, "dir", "", "keystore directory (overrides keys_dir)")
	fs.BoolVar(&o.allowSmallRSA, "allow-small-rsa", false, "accept RSA keys under 2048 bits, as seal.allow_small_rsa lets the server use them")
	_ = c.MarkPersistentFlagDirname("dir")
	_ = c.MarkPersistentFlagFilename("config", "yaml", "yml")
	// Accepted before the subcommand too (keys --dir DIR --json list), as
	// when keys parsed its actions by hand; listed by the subcommands that
	// use them.
	for name, p := range map[string]*bool{"json": &o.json, "replace": &o.replace} {
		fs.BoolVar(p, name, false, "")
		_ = fs.MarkHidden(name)
	}
	return c
}

func newKeysImportCmd(o *keysOpts, std stdio) *cobra.Command {
	c := newCommand(&cobra.Command{
		Use:   "import FILE|DIR...",
		Short: "Import device certificates, filed under their subject's serial",
		Long: `Import checks device certificates and files each under the serial its
subject names (serialNumber, else CN), or under --serial. A file may hold
the certificate alone (PEM or DER) or as vendors ship it: followed by its
chain (IDevID, intermediates), or a PKCS#7 bundle (.p7b, PEM or DER); the
device's certificate is the one whose subject names the serial, and the
chain is kept after it. A directory imports every regular file in it (not
its subdirectories, nor dot files). A certificate whose key conflicts with
a pin (another key pinned for the serial, or this key pinned to another
serial) is refused unless --replace is given (RFC 8886 section 5.2 key
replacement).`,
		Example: `  sealboot keys -c /etc/sealboot/sealboot.yaml import SN123.crt
  sealboot keys -c /etc/sealboot/sealboot.yaml import ./vendor-shipment/   # every file in it
  sealboot keys -c /etc/sealboot/sealboot.yaml import SN123-chain.p7b
  sealboot keys --dir /var/lib/sealboot/keys import vendor-export.pem --serial SN123
  sealboot keys --dir /var/lib/sealboot/keys import SN123-rma.crt --replace   # RFC 8886 5.2 key replacement`,
	}, func(cmd *cobra.Command, files []string) error {
		if len(files) == 0 || (o.serial != "" && len(files) > 1) {
			return usagef("give certificate files (one file with --serial)")
		}
		st, err := openKeystore(o, false)
		if err != nil {
			return err
		}
		if files, err = expandDirs(files); err != nil {
			return err
		}
		return keysEach(cmd, files, std, func(f string) error {
			data, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			e, err := st.Import(data, o.serial, o.replace)
			if err == nil {
				fmt.Fprintf(std.out, "imported %s %s %s\n", e.Serial, e.KeyType, e.Fingerprint)
			}
			return err
		})
	})
	c.Flags().StringVar(&o.serial, "serial", "", "serial to file the certificate under, instead of its subject's")
	c.Flags().BoolVar(&o.replace, "replace", false, "replace the key pinned for the serial")
	return c
}

func newKeysListCmd(o *keysOpts, std stdio) *cobra.Command {
	c := newCommand(&cobra.Command{
		Use:   "list",
		Short: "List the usable certificates, and the files that give none",
		Long: `List prints every usable certificate (serial, key type, fingerprint, file),
then every file in the directory that gives no certificate, with the reason.`,
		Example: "  sealboot keys --dir /var/lib/sealboot/keys list\n  sealboot keys --dir /var/lib/sealboot/keys list --json",
		Args:    noArgs,
	}, func(*cobra.Command, []string) error {
		st, err := openKeystore(o, true)
		if err != nil {
			return err
		}
		return keysList(st, *o, std)
	})
	c.Flags().BoolVar(&o.json, "json", false, "JSON output")
	return c
}

func newKeysShowCmd(o *keysOpts, std stdio) *cobra.Command {
	c := newCommand(&cobra.Command{
		Use:     "show SERIAL",
		Short:   "Show one device's certificate",
		Long:    "Show prints the certificate in use for a serial, or why there is none.",
		Example: "  sealboot keys --dir /var/lib/sealboot/keys show SN123\n  sealboot keys --dir /var/lib/sealboot/keys show SN123 --json",
	}, func(_ *cobra.Command, args []string) error {
		if len(args) != 1 {
			return usagef("give one serial")
		}
		st, err := openKeystore(o, true)
		if err != nil {
			return err
		}
		return keysShow(st, args[0], *o, std)
	})
	c.Flags().BoolVar(&o.json, "json", false, "JSON output")
	return c
}

func newKeysRemoveCmd(o *keysOpts, std stdio) *cobra.Command {
	return newCommand(&cobra.Command{
		Use:     "remove SERIAL...",
		Short:   "Remove devices' certificates and pins",
		Long:    "Remove deletes each serial's certificate files and its pinned key.",
		Example: "  sealboot keys --dir /var/lib/sealboot/keys remove SN123",
	}, func(cmd *cobra.Command, serials []string) error {
		if len(serials) == 0 {
			return usagef("give serials to remove")
		}
		st, err := openKeystore(o, false)
		if err != nil {
			return err
		}
		return keysEach(cmd, serials, std, func(s string) error {
			e, ok := st.Lookup(s)
			if !ok {
				return keystore.ErrNoSuchSerial
			}
			if err := st.Remove(s); err != nil {
				return err
			}
			fmt.Fprintf(std.out, "removed %s %s %s\n", e.Serial, e.KeyType, e.Fingerprint)
			return nil
		})
	})
}

func newKeysFetchCmd(o *keysOpts, std stdio) *cobra.Command {
	c := newCommand(&cobra.Command{
		Use:   "fetch SERIAL... | --from-file FILE",
		Short: "Download devices' certificates from the vendor's directory",
		Long: `Fetch downloads each serial's certificate from the vendor's directory
(RFC 8886 section 4.2: keystore.fetch_url, or --url) over HTTPS, verified
with keystore.fetch_ca when set, with keystore.fetch_headers, and imports
it under the same pinning rules as import. The answer may be the
certificate alone or with its chain; a certificate for another serial is
refused. --from-file reads the serials from a file (a purchase order's
list), one a line; blank lines and lines starting with # are skipped; -
is standard input.`,
		Example: `  sealboot keys -c /etc/sealboot/sealboot.yaml fetch SN123 SN124
  sealboot keys -c /etc/sealboot/sealboot.yaml fetch --from-file serials.txt
  sealboot keys --dir /var/lib/sealboot/keys fetch SN123 --url 'https://certs.vendor.example/{serial}.pem'`,
	}, func(cmd *cobra.Command, serials []string) error {
		if o.fromFile != "" {
			listed, err := readSerials(o.fromFile, std)
			if err != nil {
				return err
			}
			serials = append(serials, listed...)
		}
		if len(serials) == 0 {
			return usagef("give serials to fetch (or --from-file)")
		}
		st, err := openKeystore(o, false)
		if err != nil {
			return err
		}
		vendor, err := keysVendor(o)
		if err != nil {
			return err
		}
		return keysEach(cmd, serials, std, func(s string) error {
			e, err := st.FetchFrom(cmd.Context(), vendor, s, o.replace)
			if err == nil {
				fmt.Fprintf(std.out, "fetched %s %s %s\n", e.Serial, e.KeyType, e.Fingerprint)
			}
			return err
		})
	})
	c.Flags().StringVar(&o.url, "url", "", "vendor directory URL template with {serial} (https); overrides keystore.fetch_url")
	c.Flags().StringVar(&o.fromFile, "from-file", "", "read the serials from this file, one a line (- for standard input)")
	c.Flags().BoolVar(&o.replace, "replace", false, "replace the key pinned for the serial")
	c.Flags().DurationVar(&o.timeout, "timeout", 0, "timeout per certificate (default keystore.fetch_timeout, 10s)")
	return c
}

// keysEach applies fn to every argument, reports each failure prefixed
// with the command path and the argument, and fails if any did.
func keysEach(cmd *cobra.Command, items []string, std stdio, fn func(string) error) error {
	var failed bool
	for _, it := range items {
		if err := fn(it); err != nil {
			fmt.Fprintf(std.err, "%s %s: %v\n", cmd.CommandPath(), it, err)
			failed = true
		}
	}
	if failed {
		return exitCode(exitFailure)
	}
	return nil
}

func keysList(st *keystore.Store, o keysOpts, std stdio) error {
	entries := st.List()
	if o.json {
		return writeJSON(entries, std)
	}
	tw := tabwriter.NewWriter(std.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERIAL\tKEY\tFINGERPRINT (SHA-256 of SPKI)\tFILE")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Serial, e.KeyType, e.Fingerprint, inertText(e.File))
	}
	_ = tw.Flush()
	if probs := st.Problems(); len(probs) > 0 {
		fmt.Fprintf(std.out, "\n%d file(s) give no certificate:\n", len(probs))
		tw = tabwriter.NewWriter(std.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "FILE\tSTATE\tSERIAL\tREASON")
		for _, p := range probs {
			// Names and reasons of files anyone with write access to
			// keys_dir dropped: see inertText.
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", inertText(p.File), p.State, inertText(p.Serial), inertText(p.Reason))
		}
		_ = tw.Flush()
	}
	return nil
}

func keysShow(st *keystore.Store, serial string, o keysOpts, std stdio) error {
	e, ok := st.Lookup(serial)
	if !ok {
		var b strings.Builder
		fmt.Fprintf(&b, "no usable certificate for serial %s", serial)
		for _, p := range st.Problems() {
			if p.Serial == serial {
				fmt.Fprintf(&b, "\n  %s: %s: %s", inertText(p.File), p.State, inertText(p.Reason))
			}
		}
		return errors.New(b.String())
	}
	cert, _, _ := st.Certificate(e.Serial)
	if o.json {
		return writeJSON(e, std)
	}
	fmt.Fprintf(std.out, "serial:      %s\nkey:         %s\nfingerprint: %s\nfile:        %s\nsubject:     %s\nissuer:      %s\nnot after:   %s (not checked: RFC 8886 section 3)\n",
		e.Serial, e.KeyType, e.Fingerprint, inertText(e.File), inertText(cert.Subject.String()), inertText(cert.Issuer.String()), cert.NotAfter.Format(time.RFC3339))
	chain, err := st.Chain(e.Serial)
	if err != nil {
		return err
	}
	for _, c := range chain { // as the vendor shipped it, issuer first
		fmt.Fprintf(std.out, "chain:       %s\n", inertText(c.Subject.String()))
	}
	return nil
}

// writeJSON writes v indented, with the control characters encoding/json
// leaves as they are (C1, bidirectional overrides: from file names and
// certificate subjects) as \u escapes, as status --json does.
func writeJSON(v any, std stdio) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = std.out.Write(indentJSON(b))
	return err
}
