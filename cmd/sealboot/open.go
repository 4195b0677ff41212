package main

import (
	"context"
	"fmt"
	"os"

	"github.com/sealboot/sealboot/keystore/cms"
)

const openExamples = `  sealboot open --key SN123.key --in SN123.enc --out SN123.cfg
  tftp 192.0.2.1 -c get SN123.enc && sealboot open --key SN123.key < SN123.enc`

func cmdOpen(_ context.Context, args []string, std stdio) int {
	fs := newFlags("open", "decrypt a sealed file (PEM, DER, BER or S/MIME, as sealboot or openssl wrote it) with a device private key", openExamples, std)
	keyPath := fs.String("key", "", "device private key, unencrypted PEM (PKCS#8, PKCS#1 or SEC 1); required")
	in := fs.String("in", "", "sealed file (default: standard input)")
	out := fs.String("out", "", "where to write the plaintext, mode 0600 (default: standard output)")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if *keyPath == "" || fs.NArg() > 0 {
		fmt.Fprintln(std.err, "sealboot open: --key is required and takes no arguments; see --help")
		return exitUsage
	}
	keyData, err := os.ReadFile(*keyPath)
	if err != nil {
		fmt.Fprintf(std.err, "sealboot open: %v\n", err)
		return exitFailure
	}
	key, err := cms.ParsePrivateKey(keyData)
	if err != nil {
		fmt.Fprintf(std.err, "sealboot open: %s: %v\n", *keyPath, err)
		return exitFailure
	}
	sealed, err := readInput(*in, std)
	if err != nil {
		fmt.Fprintf(std.err, "sealboot open: %v\n", err)
		return exitFailure
	}
	plain, err := cms.Open(key, sealed)
	if err != nil {
		fmt.Fprintf(std.err, "sealboot open: %v\n", err)
		return exitFailure
	}
	if err := writeOutput(*out, plain, 0o600, std); err != nil {
		fmt.Fprintf(std.err, "sealboot open: %v\n", err)
		return exitFailure
	}
	return exitOK
}
