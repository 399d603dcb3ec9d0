package licensefile

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
)

// The format's constants (docs/offline.md).
const (
	// Begin and End are the armor's first and last lines.
	Begin = "-----BEGIN ENTITLED LICENSE FILE-----"
	End   = "-----END ENTITLED LICENSE FILE-----"
	// Alg is the envelope's alg: enc is base64 of the dataset JSON, sig
	// the Ed25519 signature of SigningPrefix + enc.
	Alg = "base64+ed25519"
	// SigningPrefix is prepended to enc to form the signed bytes, so a
	// signature over a license file cannot be replayed as one over
	// anything else the key might sign.
	SigningPrefix = "license/"
	// lineWidth is the armored body's line length.
	lineWidth = 64
)

// b64 is the base64 of every layer: standard alphabet, padded, strict
// (no stray bits), so each byte string has exactly one encoding and a
// changed character always changes what is decoded.
var b64 = base64.StdEncoding.Strict()

// Envelope is the armored body: the signed dataset and its signature.
type Envelope struct {
	Enc string `json:"enc"` // base64 of the dataset JSON
	Sig string `json:"sig"` // base64 of the Ed25519 signature of SigningPrefix + Enc
	Alg string `json:"alg"` // Alg
	Kid string `json:"kid"` // the signing key's kid in the organization's JWKS
}

// SignedBytes are the bytes a license file's signature covers.
func SignedBytes(enc string) []byte { return []byte(SigningPrefix + enc) }

// File is a parsed license file. Parse checks its armor and envelope;
// Verify checks its signature against trusted keys, decodes the dataset
// and prepares it for Decide.
type File struct {
	env Envelope
	sig []byte

	mu    sync.Mutex // serializes Verify
	built *verified  // the dataset decoded and prepared, once its signature checked out; under mu
	// ok is built while the last Verify succeeded, else nil: what Decide
	// reads.
	ok atomic.Pointer[verified]
}

// Kid is the kid the file says it was signed with (not yet trusted).
func (f *File) Kid() string { return f.env.Kid }

// Envelope returns the file's envelope as parsed.
func (f *File) Envelope() Envelope { return f.env }

// Dataset returns the signed dataset once Verify succeeded, else nil.
func (f *File) Dataset() *Dataset {
	if v := f.state(); v != nil {
		return v.ds
	}
	return nil
}

// Parse reads an armored license file: the BEGIN line, base64 of the
// envelope JSON (any line breaks and surrounding whitespace), the END
// line. Text around the armor is ignored. It checks alg, kid and the
// shapes of enc and sig; the dataset itself is decoded by Verify, after
// the signature checked out.
func Parse(armored []byte) (*File, error) {
	start := bytes.Index(armored, []byte(Begin))
	if start < 0 {
		return nil, errf(CodeArmor, nil, "bad armor: no %s line", Begin)
	}
	rest := armored[start+len(Begin):]
	end := bytes.Index(rest, []byte(End))
	if end < 0 {
		return nil, errf(CodeArmor, nil, "bad armor: no %s line", End)
	}
	if bytes.Contains(rest[end+len(End):], []byte(Begin)) || bytes.Contains(rest[:end], []byte(Begin)) {
		return nil, errf(CodeArmor, nil, "bad armor: more than one license file")
	}
	body := strings.Join(strings.Fields(string(rest[:end])), "")
	if body == "" {
		return nil, errf(CodeArmor, nil, "bad armor: nothing between the BEGIN and END lines")
	}
	raw, err := b64.DecodeString(body)
	if err != nil {
		return nil, errf(CodeBase64, err, "bad base64 in the armored body")
	}
	env, err := decodeEnvelope(raw)
	if err != nil {
		return nil, err
	}
	switch {
	case env.Alg != Alg:
		return nil, errf(CodeAlg, nil, "unknown alg %q (this verifier knows %q)", env.Alg, Alg)
	case env.Kid == "":
		return nil, errf(CodeJSON, nil, "bad JSON in the envelope: kid is missing")
	case env.Enc == "":
		return nil, errf(CodeJSON, nil, "bad JSON in the envelope: enc is missing")
	case env.Sig == "":
		return nil, errf(CodeJSON, nil, "bad JSON in the envelope: sig is missing")
	}
	sig, err := b64.DecodeString(env.Sig)
	if err != nil {
		return nil, errf(CodeBase64, err, "bad base64 in sig")
	}
	if len(sig) != ed25519.SignatureSize {
		return nil, errf(CodeSignature, nil, "bad signature: %d bytes, an Ed25519 signature has %d", len(sig), ed25519.SignatureSize)
	}
	if _, err := b64.DecodeString(env.Enc); err != nil {
		return nil, errf(CodeBase64, err, "bad base64 in enc")
	}
	return &File{env: env, sig: sig}, nil
}

// decodeEnvelope reads the envelope strictly: one JSON object with exactly
// the string members enc, sig, alg and kid, names matched exactly (not
// case-insensitively, as encoding/json would), so that no changed byte of
// an armored file decodes to the same envelope.
func decodeEnvelope(raw []byte) (Envelope, error) {
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&m); err != nil {
		return Envelope{}, errf(CodeJSON, err, "bad JSON in the envelope")
	}
	if dec.More() {
		return Envelope{}, errf(CodeJSON, nil, "bad JSON in the envelope: data after the object")
	}
	var env Envelope
	fields := map[string]*string{"enc": &env.Enc, "sig": &env.Sig, "alg": &env.Alg, "kid": &env.Kid}
	for name, v := range m {
		dst, ok := fields[name]
		if !ok {
			return Envelope{}, errf(CodeJSON, nil, "bad JSON in the envelope: unknown member %q (want enc, sig, alg, kid)", name)
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return Envelope{}, errf(CodeJSON, err, "bad JSON in the envelope: %s is not a string", name)
		}
	}
	return env, nil
}

// Armor renders an envelope as an armored license file (lines of 64
// characters, a final newline).
func (e Envelope) Armor() (string, error) {
	raw, err := json.Marshal(e)
	if err != nil {
		return "", err
	}
	body := b64.EncodeToString(raw)
	var b strings.Builder
	b.WriteString(Begin)
	b.WriteByte('\n')
	for len(body) > lineWidth {
		b.WriteString(body[:lineWidth])
		b.WriteByte('\n')
		body = body[lineWidth:]
	}
	b.WriteString(body)
	b.WriteByte('\n')
	b.WriteString(End)
	b.WriteByte('\n')
	return b.String(), nil
}

// Sign encodes a dataset and signs it with an Ed25519 private key known as
// kid, returning the armored license file. It is the one encoder of the
// format: the server's issuer (internal/signing) uses it, and so can a
// vendor's tests with a test key.
func Sign(ds *Dataset, kid string, key ed25519.PrivateKey) (string, error) {
	if kid == "" {
		return "", errors.New("license file: sign: kid is empty")
	}
	if len(key) != ed25519.PrivateKeySize {
		return "", errors.New("license file: sign: not an Ed25519 private key")
	}
	js, err := ds.Encode()
	if err != nil {
		return "", err
	}
	enc := b64.EncodeToString(js)
	sig := ed25519.Sign(key, SignedBytes(enc))
	return Envelope{Enc: enc, Sig: b64.EncodeToString(sig), Alg: Alg, Kid: kid}.Armor()
}
