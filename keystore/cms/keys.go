package cms

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
)

func parsePrivateKey(data []byte) (crypto.PrivateKey, error) {
	if !bytes.Contains(data, []byte("-----BEGIN ")) {
		return parseKeyDER(data)
	}
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no private key found in PEM data")
		}
		switch block.Type {
		case "EC PARAMETERS": // openssl ecparam -genkey writes these first
			continue
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("the private key is encrypted; give an unencrypted key (openssl pkey -in KEY -out PLAIN)")
		case "RSA PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY":
			if _, ok := block.Headers["Proc-Type"]; ok {
				return nil, errors.New("the private key is encrypted; give an unencrypted key (openssl pkey -in KEY -out PLAIN)")
			}
			return parseKeyDER(block.Bytes)
		}
	}
}

// parseKeyDER tries PKCS#8, PKCS#1 and SEC 1.
func parseKeyDER(der []byte) (crypto.PrivateKey, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("not a PKCS#8, PKCS#1 or SEC 1 private key")
}

// isEnvelope looks only at the outer ContentInfo's type.
func isEnvelope(data []byte) bool {
	if i := bytes.Index(data, []byte("-----BEGIN ")); i >= 0 {
		block, _ := pem.Decode(data[i:])
		if block == nil || (block.Type != "PKCS7" && block.Type != "CMS") {
			return false
		}
		data = block.Bytes
	}
	oid, err := outerContentType(data)
	return err == nil && (oid.Equal(oidEnvelopedData) || oid.Equal(oidAuthEnvelopedData))
}

// outerContentType reads the contentType OID of a DER or BER ContentInfo
// without parsing the rest.
func outerContentType(b []byte) (asn1.ObjectIdentifier, error) {
	tag, b, err := readTag(b)
	if err != nil || len(tag) != 1 || tag[0] != 0x30 {
		return nil, fmt.Errorf("%w: not a SEQUENCE", ErrNotCMS)
	}
	if _, _, b, err = readLength(b); err != nil {
		return nil, err
	}
	tag, b, err = readTag(b)
	if err != nil || len(tag) != 1 || tag[0] != 0x06 {
		return nil, fmt.Errorf("%w: no content type", ErrNotCMS)
	}
	n, indefinite, b, err := readLength(b)
	if err != nil || indefinite || n > len(b) || n > 32 {
		return nil, fmt.Errorf("%w: bad content type", ErrNotCMS)
	}
	var oid asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(withHeader([]byte{0x06}, b[:n]), &oid); err != nil {
		return nil, fmt.Errorf("%w: bad content type", ErrNotCMS)
	}
	return oid, nil
}
