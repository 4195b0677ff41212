package main

import (
	"context"
	"fmt"
	"os"

	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/keystore/cms"
)

const sealExamples = `  sealboot seal --cert SN123.crt --in SN123.cfg --out SN123.enc
  sealboot seal --cert SN123.crt --cipher aes256-gcm < SN123.cfg > SN123.enc
  sealboot seal --cert SN123.crt --in SN123.cfg --der --out SN123.enc`

func cmdSeal(_ context.Context, args []string, std stdio) int {
	fs := newFlags("seal", "encrypt a file to a device certificate (CMS EnvelopedData, RFC 8886 section 4.1); opens with `openssl cms -decrypt`", sealExamples, std)
	certPath := fs.String("cert", "", "device certificate (PEM or DER); required")
	in := fs.String("in", "", "file to encrypt (default: standard input)")
	out := fs.String("out", "", "where to write the sealed file (default: standard output)")
	cipher := fs.String("cipher", string(cms.AES256CBC), "aes256-cbc, aes192-cbc, aes128-cbc, aes128-gcm or aes256-gcm")
	oaep := fs.Bool("oaep", false, "RSA: RSAES-OAEP with SHA-256 instead of PKCS#1 v1.5 (openssl smime cannot open it)")
	kdf := fs.String("kdf", string(cms.KDFSHA256), "EC: X9.63 KDF hash, sha256 or sha1")
	der := fs.Bool("der", false, "write DER instead of PEM")
	small := fs.Bool("allow-small-rsa", false, "accept RSA keys under 2048 bits")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if *certPath == "" || fs.NArg() > 0 {
		fmt.Fprintln(std.err, "sealboot seal: --cert is required and takes no arguments; see --help")
		return exitUsage
	}
	certData, err := os.ReadFile(*certPath)
	if err != nil {
		fmt.Fprintf(std.err, "sealboot seal: %v\n", err)
		return exitFailure
	}
	cert, err := keystore.ParseCertificate(certData)
	if err != nil {
		fmt.Fprintf(std.err, "sealboot seal: %s: %v\n", *certPath, err)
		return exitFailure
	}
	plain, err := readInput(*in, std)
	if err != nil {
		fmt.Fprintf(std.err, "sealboot seal: %v\n", err)
		return exitFailure
	}
	sealed, err := cms.Seal(cert, plain, cms.Options{Cipher: cms.Cipher(*cipher), OAEP: *oaep, KDF: cms.KDF(*kdf), DER: *der, AllowSmallRSA: *small})
	if err != nil {
		fmt.Fprintf(std.err, "sealboot seal: %v\n", err)
		return exitFailure
	}
	if err := writeOutput(*out, sealed, 0o644, std); err != nil {
		fmt.Fprintf(std.err, "sealboot seal: %v\n", err)
		return exitFailure
	}
	return exitOK
}
