// Package signing holds the primitives of organizations' signing keys:
// Ed25519 keys named by a kid, their public JWKS, sealing private keys
// (and other secrets) at rest under the master key, and signing license
// files. It stores nothing: the tables, rotation, the JWKS endpoint and the
// GraphQL surface are built on it.
//
// A Key never shows its private half: String, fmt verbs, slog and JSON all
// render the kid and the public key only. The only way out for the private
// key is Sealer.SealKey, which encrypts it under the master key.
package signing

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/entitled/entitled/sdk/licensefile"
)

// Algorithm is the signing keys' algorithm as GraphQL's SigningKey reports
// it and as their JWKs name it.
const Algorithm = licensefile.KeyAlg

// Key is an Ed25519 signing key with its kid.
type Key struct {
	kid  string
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
}

// Generate makes a new key from r (nil: crypto/rand).
func Generate(r io.Reader) (*Key, error) {
	if r == nil {
		r = rand.Reader
	}
	pub, priv, err := ed25519.GenerateKey(r)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	return &Key{kid: Kid(pub), pub: pub, priv: priv}, nil
}

// fromSeed rebuilds a key from its 32-byte seed (what SealKey seals).
func fromSeed(seed []byte) (*Key, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("signing key: %d bytes, an Ed25519 seed has %d", len(seed), ed25519.SeedSize)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	return &Key{kid: Kid(pub), pub: pub, priv: priv}, nil
}

// Kid names a public key: its RFC 7638 JWK thumbprint, the unpadded
// base64url SHA-256 of {"crv":"Ed25519","kty":"OKP","x":"<x>"}. Anyone
// holding the JWK can recompute it, and two keys never share one.
func Kid(pub ed25519.PublicKey) string {
	x := base64.RawURLEncoding.EncodeToString(pub)
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + x + `"}`))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Kid is the key's kid.
func (k *Key) Kid() string { return k.kid }

// PublicKey is the key's public half.
func (k *Key) PublicKey() ed25519.PublicKey { return append(ed25519.PublicKey(nil), k.pub...) }

// PublicKeyText is the public key as SigningKey.publicKey shows it: the
// JWK's x (unpadded base64url).
func (k *Key) PublicKeyText() string { return base64.RawURLEncoding.EncodeToString(k.pub) }

// JWK is the key's public JWK.
func (k *Key) JWK() licensefile.JWK { return licensefile.PublicJWK(k.kid, k.pub) }

// Sign signs a license file's dataset and returns the armored
// certificate (licensefile.Sign: the format's one encoder).
func (k *Key) Sign(ds *licensefile.Dataset) (string, error) {
	return licensefile.Sign(ds, k.kid, k.priv)
}

// String names the key by kid.
func (k *Key) String() string { return "signing key " + k.kid }

// GoString is String: %#v does not print the private key either.
func (k *Key) GoString() string { return k.String() }

// Format renders every verb as String.
func (k *Key) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// LogValue logs the kid only.
func (k *Key) LogValue() slog.Value { return slog.GroupValue(slog.String("kid", k.kid)) }

// MarshalJSON renders the public JWK.
func (k *Key) MarshalJSON() ([]byte, error) { return json.Marshal(k.JWK()) }

// PublicKeyFromText reads a stored public key (PublicKeyText).
func PublicKeyFromText(x string) (ed25519.PublicKey, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(x)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("signing key: public key is not 32 bytes of unpadded base64url")
	}
	return ed25519.PublicKey(b), nil
}

// RenderJWKS renders the JWKS an organization serves at
// GET /v1/orgs/{slug}/jwks.json ({"keys": [...]}, in the order given: the
// current key first, then the retired ones, which still verify) and its
// strong ETag (quoted, from the body's SHA-256).
func RenderJWKS(keys []licensefile.JWK) (body []byte, etag string, err error) {
	if keys == nil {
		keys = []licensefile.JWK{}
	}
	body, err = json.Marshal(licensefile.JWKS{Keys: keys})
	if err != nil {
		return nil, "", fmt.Errorf("render JWKS: %w", err)
	}
	return body, ETag(body), nil
}

// ETag is a strong entity tag of a response body: quoted, unpadded
// base64url of the first 18 bytes of its SHA-256.
func ETag(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
}
