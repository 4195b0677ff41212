package keystore

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"
)

// Authority is a certificate authority made on the spot, for tests, demos
// and labs: a vendor CA that signs device certificates (IDevIDs, IEEE
// 802.1AR), a manufacturer's voucher signer (MASA, RFC 8366), an owner CA
// (RFC 8572 section 3.2).
type Authority struct {
	Key     crypto.Signer
	Cert    *x509.Certificate
	KeyPEM  []byte // PKCS#8, label PRIVATE KEY
	CertPEM []byte // label CERTIFICATE
}

// GenerateAuthority makes a self-signed CA certificate with subject CN name
// and a new key of type kt, valid for ten years.
func GenerateAuthority(name string, kt KeyType) (*Authority, error) {
	key, err := newKey(kt)
	if err != nil {
		return nil, fmt.Errorf("generate CA key for %s: %w", name, err)
	}
	tmpl, err := template(pkix.Name{CommonName: name}, key.Public())
	if err != nil {
		return nil, err
	}
	tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	return issue(tmpl, tmpl, key, key)
}

// LoadAuthority reads a CA's certificate and key (PEM), to issue device
// certificates with it (sealboot device keygen --ca-cert).
func LoadAuthority(certPEM, keyPEM []byte) (*Authority, error) {
	cert, err := ParseCertificate(certPEM)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, fmt.Errorf("CA key: no PEM block")
	}
	var key any
	for _, parse := range []func([]byte) (any, error){x509.ParsePKCS8PrivateKey, func(b []byte) (any, error) { return x509.ParseECPrivateKey(b) },
		func(b []byte) (any, error) { return x509.ParsePKCS1PrivateKey(b) }} {
		if key, err = parse(block.Bytes); err == nil {
			break
		}
	}
	signer, ok := key.(crypto.Signer)
	if err != nil || !ok {
		return nil, fmt.Errorf("CA key: not a PKCS#8, SEC 1 or PKCS#1 private key")
	}
	if pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("CA key does not belong to the CA certificate")
	}
	return &Authority{Key: signer, Cert: cert, KeyPEM: keyPEM, CertPEM: certPEM}, nil
}

// IssueCA makes an intermediate CA under a.
func (a *Authority) IssueCA(name string, kt KeyType) (*Authority, error) {
	key, err := newKey(kt)
	if err != nil {
		return nil, fmt.Errorf("generate CA key for %s: %w", name, err)
	}
	tmpl, err := template(pkix.Name{CommonName: name}, key.Public())
	if err != nil {
		return nil, err
	}
	tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	return issue(tmpl, a.Cert, key, a.Key)
}

// IssueOptions tune Issue.
type IssueOptions struct {
	// NotAfter ends the validity; zero means ten years from now.
	NotAfter time.Time
	// NotBefore starts it; zero means an hour ago.
	NotBefore time.Time
	// ServerNames and ServerIPs make a TLS server certificate.
	ServerNames []string
	ServerIPs   []net.IP
}

// Issue makes a device certificate signed by a, as a vendor makes an
// IDevID: subject serialNumber and CN = serial (so SubjectSerial reads it),
// a new key of type kt, usable for TLS client authentication, signing and
// receiving encrypted data.
func (a *Authority) Issue(serial string, kt KeyType, opts IssueOptions) (*DeviceIdentity, error) {
	key, err := newKey(kt)
	if err != nil {
		return nil, fmt.Errorf("generate key for %s: %w", serial, err)
	}
	tmpl, err := template(pkix.Name{CommonName: serial, SerialNumber: serial}, key.Public())
	if err != nil {
		return nil, err
	}
	if !opts.NotAfter.IsZero() {
		tmpl.NotAfter = opts.NotAfter
	}
	if !opts.NotBefore.IsZero() {
		tmpl.NotBefore = opts.NotBefore
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageKeyAgreement
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	if len(opts.ServerNames)+len(opts.ServerIPs) > 0 {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
		tmpl.DNSNames = opts.ServerNames
		tmpl.IPAddresses = opts.ServerIPs
	}
	ca, err := issue(tmpl, a.Cert, key, a.Key)
	if err != nil {
		return nil, err
	}
	return &DeviceIdentity{Key: ca.Key, Cert: ca.Cert, KeyPEM: ca.KeyPEM, CertPEM: ca.CertPEM}, nil
}

func template(subject pkix.Name, pub crypto.PublicKey) (*x509.Certificate, error) {
	sn, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	if err != nil {
		return nil, fmt.Errorf("generate certificate serial: %w", err)
	}
	ski, err := subjectKeyID(pub)
	if err != nil {
		return nil, fmt.Errorf("subject key identifier for %s: %w", subject.CommonName, err)
	}
	now := time.Now().UTC()
	return &x509.Certificate{
		SerialNumber: sn, Subject: subject, SubjectKeyId: ski,
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
	}, nil
}

func issue(tmpl, parent *x509.Certificate, key, parentKey crypto.Signer) (*Authority, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		return nil, fmt.Errorf("sign certificate for %s: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse certificate for %s: %w", tmpl.Subject.CommonName, err)
	}
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal private key for %s: %w", tmpl.Subject.CommonName, err)
	}
	return &Authority{
		Key: key, Cert: cert,
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}),
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
	}, nil
}
