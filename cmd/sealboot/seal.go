package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/keystore/cms"
)

const sealExamples = `  sealboot seal --cert SN123.crt --in SN123.cfg --out SN123.enc
  sealboot seal --cert SN123.crt --cipher aes256-gcm < SN123.cfg > SN123.enc
  sealboot seal --cert SN123.crt --in SN123.cfg --der --out SN123.enc`

func newSealCmd(std stdio) *cobra.Command {
	c := newCommand(&cobra.Command{
		Use:   "seal --cert FILE",
		Short: "Encrypt a file to a device certificate (CMS)",
		Long: `Seal encrypts a file to a device certificate (CMS EnvelopedData, RFC 8886
section 4.1); the device, or openssl cms -decrypt, opens it with its key.`,
		Example: sealExamples,
		Args:    noArgs,
	}, nil)
	fs := c.Flags()
	var o sealOpts
	fs.StringVar(&o.cert, "cert", "", "device certificate (PEM or DER); required")
	fs.StringVar(&o.in, "in", "", "file to encrypt (default: standard input)")
	fs.StringVar(&o.out, "out", "", "where to write the sealed file (default: standard output)")
	fs.StringVar(&o.cipher, "cipher", string(cms.AES256CBC), "aes256-cbc, aes192-cbc, aes128-cbc, aes128-gcm or aes256-gcm")
	fs.BoolVar(&o.oaep, "oaep", false, "RSA: RSAES-OAEP with SHA-256 instead of PKCS#1 v1.5 (openssl smime cannot open it)")
	fs.StringVar(&o.kdf, "kdf", string(cms.KDFSHA256), "EC: X9.63 KDF hash, sha256 or sha1")
	fs.BoolVar(&o.der, "der", false, "write DER instead of PEM")
	fs.BoolVar(&o.small, "allow-small-rsa", false, "accept RSA keys under 2048 bits")
	completeWords(c, "cipher", "aes256-cbc", "aes192-cbc", "aes128-cbc", "aes128-gcm", "aes256-gcm")
	completeWords(c, "kdf", "sha256", "sha1")
	c.RunE = ranE(func(*cobra.Command, []string) error { return runSeal(o, std) })
	return c
}

// sealOpts are the flags of `sealboot seal`.
type sealOpts struct {
	cert, in, out, cipher, kdf string
	oaep, der, small           bool
}

func runSeal(o sealOpts, std stdio) error {
	if o.cert == "" {
		return usagef("--cert is required")
	}
	certData, err := os.ReadFile(o.cert)
	if err != nil {
		return err
	}
	cert, err := keystore.ParseCertificate(certData)
	if err != nil {
		return fmt.Errorf("%s: %w", o.cert, err)
	}
	plain, err := readInput(o.in, std)
	if err != nil {
		return err
	}
	sealed, err := cms.Seal(cert, plain, cms.Options{Cipher: cms.Cipher(o.cipher), OAEP: o.oaep, KDF: cms.KDF(o.kdf), DER: o.der, AllowSmallRSA: o.small})
	if err != nil {
		return err
	}
	return writeOutput(o.out, sealed, 0o644, std)
}
