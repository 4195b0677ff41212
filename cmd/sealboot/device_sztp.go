package main

import (
	"crypto/x509"
	"fmt"
	"os"

	"github.com/sealboot/sealboot/keystore"
	"github.com/sealboot/sealboot/test/device"
)

// sztpOpts are the SZTP flags of `sealboot device boot`.
type sztpOpts struct {
	on                                               bool
	cert, chain, serverCA, masaCA, osName, osVersion string
	nonce, xml                                       bool
}

// config reads the files the flags name. single: one device, whose
// --cert is required (a fleet reads each device's from --keys-dir).
func (o sztpOpts) config(single bool) (*device.SZTP, error) {
	s := &device.SZTP{Nonce: o.nonce, XML: o.xml, OSName: o.osName, OSVersion: o.osVersion}
	if single {
		if o.cert == "" {
			return nil, fmt.Errorf("--sztp needs --cert, the device's IDevID")
		}
		certs, err := readPEMCerts(o.cert)
		if err != nil {
			return nil, fmt.Errorf("--cert: %w", err)
		}
		s.Chain = certs
	}
	if o.chain != "" {
		certs, err := readPEMCerts(o.chain)
		if err != nil {
			return nil, fmt.Errorf("--chain: %w", err)
		}
		s.Chain = append(s.Chain, certs...)
	}
	var err error
	if s.ServerRoots, err = readPool(o.serverCA); err != nil {
		return nil, fmt.Errorf("--server-ca: %w", err)
	}
	if s.MASARoots, err = readPool(o.masaCA); err != nil {
		return nil, fmt.Errorf("--masa-ca: %w", err)
	}
	return s, nil
}

func readPEMCerts(file string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	certs, err := keystore.ParseCertificates(data, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return certs, nil
}

// readPool is nil for no file.
func readPool(file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s: no PEM certificate", file)
	}
	return p, nil
}
