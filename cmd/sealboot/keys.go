package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"go.uber.org/zap"

	"github.com/sealboot/sealboot/keystore"
)

const keysExamples = `  sealboot keys --dir /var/lib/sealboot/keys import SN123.crt
  sealboot keys --dir /var/lib/sealboot/keys import vendor-export.pem --serial SN123
  sealboot keys --dir /var/lib/sealboot/keys import SN123-rma.crt --replace   # RFC 8886 5.2 key replacement
  sealboot keys --dir /var/lib/sealboot/keys list [--json]
  sealboot keys --dir /var/lib/sealboot/keys show SN123
  sealboot keys --dir /var/lib/sealboot/keys remove SN123
  sealboot keys --dir /var/lib/sealboot/keys fetch SN123 SN124 --url 'https://certs.vendor.example/{serial}.pem'`

// keysOpts are the flags of `sealboot keys`.
type keysOpts struct {
	dir, serial, url string
	replace, json    bool
	allowSmallRSA    bool
	timeout          time.Duration
}

func cmdKeys(ctx context.Context, args []string, std stdio) int {
	fs := newFlags("keys", "manage the device certificate keystore: import, list, show, remove, fetch (keys are pinned by SHA-256 of the public key, RFC 8886 section 3)", keysExamples, std)
	var o keysOpts
	fs.StringVar(&o.dir, "dir", "", "keystore directory (keys_dir); required")
	fs.StringVar(&o.serial, "serial", "", "import: serial to file the certificate under, instead of its subject's")
	fs.BoolVar(&o.replace, "replace", false, "import, fetch: replace the key pinned for the serial")
	fs.BoolVar(&o.json, "json", false, "list, show: JSON output")
	fs.StringVar(&o.url, "url", "", "fetch: vendor directory URL template with {serial} (https)")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "fetch: timeout per certificate")
	fs.BoolVar(&o.allowSmallRSA, "allow-small-rsa", false, "accept RSA keys under 2048 bits, as seal.allow_small_rsa lets the server use them")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if o.dir == "" || fs.NArg() == 0 {
		fmt.Fprintln(std.err, "sealboot keys: --dir and an action (import, list, show, remove, fetch) are required; see --help")
		return exitUsage
	}
	action, rest := fs.Arg(0), fs.Args()[1:]
	readOnly := action == "list" || action == "show"
	// A one-shot command reads the directory as it is now: nothing waits
	// for files to settle (one still being written shows as invalid).
	st, err := keystore.Open(keystore.Options{Dir: o.dir, ReadOnly: readOnly, Settle: time.Nanosecond, FetchURL: o.url, FetchTimeout: o.timeout, AllowSmallRSA: o.allowSmallRSA}, zap.NewNop(), nil)
	if err != nil {
		fmt.Fprintf(std.err, "sealboot keys: %v\n", err)
		return exitFailure
	}
	switch action {
	case "import":
		return keysImport(st, rest, o, std)
	case "list":
		return keysList(st, o, std)
	case "show":
		return keysShow(st, rest, o, std)
	case "remove":
		return keysEach(rest, std, "remove", func(s string) error { return st.Remove(s) })
	case "fetch":
		return keysEach(rest, std, "fetch", func(s string) error {
			e, err := st.Fetch(ctx, s, o.replace)
			if err == nil {
				fmt.Fprintf(std.out, "fetched %s %s %s\n", e.Serial, e.KeyType, e.Fingerprint)
			}
			return err
		})
	}
	fmt.Fprintf(std.err, "sealboot keys: unknown action %q (import, list, show, remove, fetch)\n", action)
	return exitUsage
}

func keysImport(st *keystore.Store, files []string, o keysOpts, std stdio) int {
	if len(files) == 0 || (o.serial != "" && len(files) > 1) {
		fmt.Fprintln(std.err, "sealboot keys import: give certificate files (one file with --serial)")
		return exitUsage
	}
	return keysEach(files, std, "import", func(f string) error {
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
}

// keysEach applies fn to every argument, reports each failure, and fails
// if any did.
func keysEach(items []string, std stdio, action string, fn func(string) error) int {
	if len(items) == 0 {
		fmt.Fprintf(std.err, "sealboot keys %s: nothing to %s\n", action, action)
		return exitUsage
	}
	code := exitOK
	for _, it := range items {
		if err := fn(it); err != nil {
			fmt.Fprintf(std.err, "sealboot keys %s %s: %v\n", action, it, err)
			code = exitFailure
		}
	}
	return code
}

func keysList(st *keystore.Store, o keysOpts, std stdio) int {
	entries := st.List()
	if o.json {
		return writeJSON(entries, std)
	}
	tw := tabwriter.NewWriter(std.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERIAL\tKEY\tFINGERPRINT (SHA-256 of SPKI)\tFILE")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Serial, e.KeyType, e.Fingerprint, e.File)
	}
	_ = tw.Flush()
	if probs := st.Problems(); len(probs) > 0 {
		fmt.Fprintf(std.out, "\n%d file(s) give no certificate:\n", len(probs))
		tw = tabwriter.NewWriter(std.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "FILE\tSTATE\tSERIAL\tREASON")
		for _, p := range probs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.File, p.State, p.Serial, p.Reason)
		}
		_ = tw.Flush()
	}
	return exitOK
}

func keysShow(st *keystore.Store, args []string, o keysOpts, std stdio) int {
	if len(args) != 1 {
		fmt.Fprintln(std.err, "sealboot keys show: give one serial")
		return exitUsage
	}
	e, ok := st.Lookup(args[0])
	if !ok {
		fmt.Fprintf(std.err, "sealboot keys show: no usable certificate for serial %s\n", args[0])
		for _, p := range st.Problems() {
			if p.Serial == args[0] {
				fmt.Fprintf(std.err, "  %s: %s: %s\n", p.File, p.State, p.Reason)
			}
		}
		return exitFailure
	}
	cert, _, _ := st.Certificate(e.Serial)
	if o.json {
		return writeJSON(e, std)
	}
	fmt.Fprintf(std.out, "serial:      %s\nkey:         %s\nfingerprint: %s\nfile:        %s\nsubject:     %s\nissuer:      %s\nnot after:   %s (not checked: RFC 8886 section 3)\n",
		e.Serial, e.KeyType, e.Fingerprint, e.File, cert.Subject, cert.Issuer, cert.NotAfter.Format(time.RFC3339))
	return exitOK
}

func writeJSON(v any, std stdio) int {
	enc := json.NewEncoder(std.out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(std.err, "sealboot: %v\n", err)
		return exitFailure
	}
	return exitOK
}
