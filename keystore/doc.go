// Package keystore holds the device certificates sealboot encrypts to, keyed
// by device serial number (RFC 8886 section 3): a directory of certificate
// files, each mapped to a serial, with the SHA-256 fingerprint of each
// SubjectPublicKeyInfo pinned so that a different key for a known serial is
// refused unless replacement is asked for (section 5.2). Certificates and
// the pin file are regular files in the directory, read without following
// links (sub-package regfile): a symlinked certificate is invalid, a
// symlinked pin file an error.
//
// Cryptography lives under this package: sub-package cms seals and opens
// CMS messages and reads who a message is sealed to, sub-package appliance
// is sealboot's own key pair (configs sealed to the appliance), and
// GenerateDevice makes a device's factory key pair.
package keystore
