#!/usr/bin/env bash
# RFC 8886 Appendix A, step by step, with sealboot in the operator's place and
# then in the device's. Differences from the RFC's text: one key file name
# (the RFC mixes privatekey.key and key.pem); `openssl cms` for the P-256 key
# (`openssl smime` cannot use EC keys); `-inform PEM` (OpenSSL 3 reads
# `-inform pkcs7` as an unknown format and silently writes nothing).
# Usage: appendix_a.sh SEALBOOT_BINARY ec|rsa
set -euo pipefail
sealboot=$1 kind=$2
smime=cms
[ "$kind" = rsa ] && smime=smime

# A.1: the device makes its key and self-signed certificate.
if [ "$kind" = ec ]; then
	openssl ecparam -out key.pem -name prime256v1 -genkey
	openssl ecparam -out wrongkey.pem -name prime256v1 -genkey
else
	openssl genrsa -out key.pem 2048 2>/dev/null
	openssl genrsa -out wrongkey.pem 2048 2>/dev/null
fi
openssl req -new -key key.pem -out SN19842256.csr -subj /CN=SN19842256
openssl req -x509 -days 36500 -key key.pem -in SN19842256.csr -out SN19842256.crt

printf 'hostname SN19842256\nradius-server key s3cr3t\n' >SN19842256.cfg

# A.2 with sealboot: the operator seals the configuration.
"$sealboot" seal --cert SN19842256.crt --in SN19842256.cfg --out SN19842256.enc
head -1 SN19842256.enc | grep -qx -- '-----BEGIN PKCS7-----'

# A.3: the device decrypts with openssl.
openssl $smime -decrypt -in SN19842256.enc -inform PEM -out config.cfg -inkey key.pem
cmp config.cfg SN19842256.cfg
if openssl $smime -decrypt -in SN19842256.enc -inform PEM -out bad.cfg -inkey wrongkey.pem 2>/dev/null; then
	echo "decrypted with the wrong key" >&2
	exit 1
fi
rm -f bad.cfg # openssl leaves its output file behind even when it fails

# A.2 with openssl, as the RFC prints it: the operator encrypts.
openssl $smime -encrypt -aes-256-cbc -in SN19842256.cfg -out SN19842256.enc -outform PEM SN19842256.crt

# A.3 with sealboot: the device decrypts. Without -binary OpenSSL encrypted
# the text with CRLF line ends.
"$sealboot" open --key key.pem --in SN19842256.enc --out config.cfg
sed 's/$/\r/' SN19842256.cfg | cmp - config.cfg
if "$sealboot" open --key wrongkey.pem --in SN19842256.enc --out bad.cfg 2>err.txt; then
	echo "sealboot opened with the wrong key" >&2
	exit 1
fi
grep -q "decryption failed" err.txt
[ ! -e bad.cfg ]
echo "appendix A ($kind): OK"
