package licensefile

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
)

// JWK values of an organization's signing keys (RFC 8037).
const (
	KeyType  = "OKP"
	Curve    = "Ed25519"
	KeyAlg   = "EdDSA"
	KeyUsage = "sig"
)

// JWK is one public key of a JWKS: {"kty": "OKP", "crv": "Ed25519",
// "kid", "x", "alg": "EdDSA", "use": "sig"}, x the base64url (unpadded)
// public key.
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv,omitempty"`
	Kid string `json:"kid,omitempty"`
	X   string `json:"x,omitempty"`
	Alg string `json:"alg,omitempty"`
	Use string `json:"use,omitempty"`
}

// JWKS is a set of trusted public keys, as an organization serves them at
// GET /v1/orgs/{slug}/jwks.json.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// PublicJWK is the JWK of an Ed25519 public key known as kid.
func PublicJWK(kid string, pub ed25519.PublicKey) JWK {
	return JWK{Kty: KeyType, Crv: Curve, Kid: kid, X: base64.RawURLEncoding.EncodeToString(pub), Alg: KeyAlg, Use: KeyUsage}
}

// ParseJWKS reads a JWKS and checks it: every OKP Ed25519 key must have a
// kid, a 32-byte x, and (when given) alg EdDSA and use sig; kids are
// unique; at least one Ed25519 key. Keys of other types are ignored, as
// RFC 7517 asks.
func ParseJWKS(raw []byte) (*JWKS, error) {
	var s JWKS
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&s); err != nil {
		return nil, errf(CodeJWKS, err, "bad JWKS: not a JSON key set")
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	return &s, nil
}

func (s *JWKS) check() error {
	seen := map[string]bool{}
	n := 0
	for _, k := range s.Keys {
		if !k.ed25519() {
			continue
		}
		if _, err := k.publicKey(); err != nil {
			return err
		}
		if seen[k.Kid] {
			return errf(CodeJWKS, nil, "bad JWKS: kid %q twice", k.Kid)
		}
		seen[k.Kid] = true
		n++
	}
	if n == 0 {
		return errf(CodeJWKS, nil, "bad JWKS: no Ed25519 (OKP) key")
	}
	return nil
}

func (k JWK) ed25519() bool { return k.Kty == KeyType && k.Crv == Curve }

func (k JWK) publicKey() (ed25519.PublicKey, error) {
	switch {
	case k.Kid == "":
		return nil, errf(CodeJWKS, nil, "bad JWKS: an Ed25519 key has no kid")
	case k.Alg != "" && k.Alg != KeyAlg:
		return nil, errf(CodeJWKS, nil, "bad JWKS: key %q has alg %q, want %q", k.Kid, k.Alg, KeyAlg)
	case k.Use != "" && k.Use != KeyUsage:
		return nil, errf(CodeJWKS, nil, "bad JWKS: key %q has use %q, want %q", k.Kid, k.Use, KeyUsage)
	}
	x, err := base64.RawURLEncoding.Strict().DecodeString(k.X)
	if err != nil {
		return nil, errf(CodeJWKS, err, "bad JWKS: key %q: x is not base64url", k.Kid)
	}
	if len(x) != ed25519.PublicKeySize {
		return nil, errf(CodeJWKS, nil, "bad JWKS: key %q: x is %d bytes, an Ed25519 public key has %d", k.Kid, len(x), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(x), nil
}

// key returns the trusted public key named kid.
func (s *JWKS) key(kid string) (ed25519.PublicKey, error) {
	if s == nil {
		return nil, errf(CodeJWKS, nil, "bad JWKS: none given")
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	for _, k := range s.Keys {
		if k.ed25519() && k.Kid == kid {
			return k.publicKey()
		}
	}
	kids := make([]string, 0, len(s.Keys))
	for _, k := range s.Keys {
		if k.ed25519() {
			kids = append(kids, k.Kid)
		}
	}
	return nil, errf(CodeUnknownKey, nil, "signed with key %q, which is not among the trusted keys %q (another organization's file, a key you were not given, or a changed kid)", kid, kids)
}
