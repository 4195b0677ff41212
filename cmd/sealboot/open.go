package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/sealboot/sealboot/keystore/cms"
)

const openExamples = `  sealboot open --key SN123.key --in SN123.enc --out SN123.cfg
  tftp 192.0.2.1 -c get SN123.enc && sealboot open --key SN123.key < SN123.enc`

func newOpenCmd(std stdio) *cobra.Command {
	c := newCommand(&cobra.Command{
		Use:   "open --key FILE",
		Short: "Decrypt a sealed file with a device private key",
		Long: `Open decrypts a sealed file (PEM, DER, BER or S/MIME, as sealboot or openssl
wrote it) with a device private key, as the device does.`,
		Example: openExamples,
		Args:    noArgs,
	}, nil)
	keyPath := c.Flags().String("key", "", "device private key, unencrypted PEM (PKCS#8, PKCS#1 or SEC 1); required")
	in := c.Flags().String("in", "", "sealed file (default: standard input)")
	out := c.Flags().String("out", "", "where to write the plaintext, mode 0600 (default: standard output)")
	c.RunE = ranE(func(*cobra.Command, []string) error { return runOpen(*keyPath, *in, *out, std) })
	return c
}

func runOpen(keyPath, in, out string, std stdio) error {
	if keyPath == "" {
		return usagef("--key is required")
	}
	keyData, err := os.ReadFile(keyPath)
	if err != nil {
		return err
	}
	key, err := cms.ParsePrivateKey(keyData)
	if err != nil {
		return fmt.Errorf("%s: %w", keyPath, err)
	}
	sealed, err := readInput(in, std)
	if err != nil {
		return err
	}
	plain, err := cms.Open(key, sealed)
	if err != nil {
		return err
	}
	return writeOutput(out, plain, 0o600, std)
}
