#!/bin/sh
# Signs one Tessera certificate with OpenSSL 3 and POSIX tools alone, into a license package
# (.lcs): the steps of docs/license-format.md, "Worked example: signing with OpenSSL".
#
#   INSTALLATION_ID=<the installation_id of the customer's request> \
#     sh docs/examples/sign-with-openssl.sh [OUT]
#
# OUT (default: a new temporary directory) receives certificate.json, certificate.sig,
# envelope.json and example.lcs. The signing key is KEY if it names an existing private key
# (e.g. KEY=docs/examples/EXAMPLE-DO-NOT-USE-vendor.key), otherwise a new key pair made in OUT
# (vendor.key, vendor.pub). Tessera accepts the package when the public key is in the PEM
# file TESSERA_VENDOR_KEYS names and INSTALLATION_ID is its own installation id.
#
# Other settings: CERT_ID (default: a fresh UUID), ISSUED_AT (default: now, UTC),
# COMPANY_ID (default acme-042).
set -eu

OUT=${1:-$(mktemp -d)}
INSTALLATION_ID=${INSTALLATION_ID:-313593c5-9c97-4fb9-9163-4656bed5865b}
COMPANY_ID=${COMPANY_ID:-acme-042}
CERT_ID=${CERT_ID:-$(cat /proc/sys/kernel/random/uuid 2>/dev/null || uuidgen | tr 'A-F' 'a-f')}
ISSUED_AT=${ISSUED_AT:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}

mkdir -p "$OUT"
if [ -n "${KEY:-}" ] && [ -f "$KEY" ]; then
  cp "$KEY" "$OUT/vendor.key"
else
  # 1. The vendor's key pair: PKCS#8 private key, SubjectPublicKeyInfo public key.
  openssl genpkey -algorithm ed25519 -out "$OUT/vendor.key"
fi
chmod 600 "$OUT/vendor.key"
openssl pkey -in "$OUT/vendor.key" -pubout -out "$OUT/vendor.pub"
cd "$OUT"

# 2. The key id: SHA-256 over the 32 raw public-key bytes (the last 32 of the 44-byte DER
# SubjectPublicKeyInfo), first 8 bytes, lowercase hex.
kid=$(openssl pkey -pubin -in vendor.pub -outform DER | tail -c 32 | openssl dgst -sha256 -r | cut -c1-16)

# 3. The certificate. These exact bytes, final newline included, are what is signed.
cat > certificate.json <<EOF
{
  "format": 1,
  "id": "$CERT_ID",
  "installation_id": "$INSTALLATION_ID",
  "company_id": "$COMPANY_ID",
  "product": "ai-server",
  "product_name": "AI Server agent",
  "type": "agent",
  "mode": "subscription",
  "binding": "floating",
  "validity_days": 365,
  "not_before": null,
  "not_after": null,
  "tenant_id": null,
  "issued_at": "$ISSUED_AT"
}
EOF

# 4. The signature: 64 bytes of pure Ed25519 over the file's bytes (-rawin: no digest first).
openssl pkeyutl -sign -rawin -inkey vendor.key -in certificate.json -out certificate.sig

# 5. The envelope: payload and signature in base64url without padding.
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
payload=$(b64url < certificate.json)
sig=$(b64url < certificate.sig)
printf '{"alg":"ed25519","kid":"%s","payload":"%s","sig":"%s"}' "$kid" "$payload" "$sig" > envelope.json

# 6. The armored block: standard base64 of the envelope (openssl wraps it at 64 columns).
{
  echo "-----BEGIN TESSERA CERTIFICATE-----"
  openssl base64 -in envelope.json
  echo "-----END TESSERA CERTIFICATE-----"
} > example.lcs

# 7. Check: the signature verifies with the public key alone.
openssl pkeyutl -verify -rawin -pubin -inkey vendor.pub -in certificate.json -sigfile certificate.sig

echo "kid $kid"
echo "package $OUT/example.lcs (certificate $CERT_ID for installation $INSTALLATION_ID)"
