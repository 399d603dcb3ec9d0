package signing

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"github.com/entitled/entitled/policy"
	"github.com/entitled/entitled/sdk/licensefile"
)

// secretForms are the ways a private key could leak as text.
func secretForms(k *Key) []string {
	seed := k.priv.Seed()
	return []string{
		base64.StdEncoding.EncodeToString(seed), base64.RawURLEncoding.EncodeToString(seed), hex.EncodeToString(seed),
		base64.StdEncoding.EncodeToString(k.priv), base64.RawURLEncoding.EncodeToString(k.priv), hex.EncodeToString(k.priv),
		fmt.Sprint([]byte(seed)), string(seed),
	}
}

func assertNoSecret(t *testing.T, what, text string, k *Key) {
	t.Helper()
	for _, s := range secretForms(k) {
		if strings.Contains(text, s) {
			t.Errorf("%s shows the private key: %s", what, text)
		}
	}
}

func TestKeyAndJWKS(t *testing.T) {
	k, err := Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := Generate(nil)
	if k.Kid() == k2.Kid() {
		t.Fatal("two keys, one kid")
	}
	// RFC 7638 thumbprint, recomputed from the JWK by hand.
	j := k.JWK()
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + j.X + `"}`))
	if want := base64.RawURLEncoding.EncodeToString(sum[:]); k.Kid() != want || j.Kid != want {
		t.Errorf("kid %s, JWK kid %s, want the thumbprint %s", k.Kid(), j.Kid, want)
	}
	if j.Kty != "OKP" || j.Crv != "Ed25519" || j.Alg != "EdDSA" || j.Use != "sig" || k.PublicKeyText() != j.X {
		t.Errorf("JWK %+v", j)
	}
	if pub, err := PublicKeyFromText(k.PublicKeyText()); err != nil || !pub.Equal(k.pub) {
		t.Errorf("public key text round trip: %v", err)
	}

	body, etag, err := RenderJWKS([]licensefile.JWK{k2.JWK(), k.JWK()})
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string][]map[string]string
	if err := json.Unmarshal(body, &doc); err != nil || len(doc) != 1 || len(doc["keys"]) != 2 {
		t.Fatalf("JWKS %s: %v", body, err)
	}
	for _, m := range doc["keys"] {
		if len(m) != 6 || m["kty"] != "OKP" || m["crv"] != "Ed25519" || m["alg"] != "EdDSA" || m["use"] != "sig" || m["kid"] == "" || m["x"] == "" {
			t.Errorf("JWK %v: want exactly kty crv kid x alg use", m)
		}
	}
	if _, err := licensefile.ParseJWKS(body); err != nil {
		t.Errorf("the SDK refuses our JWKS: %v", err)
	}
	body2, etag2, _ := RenderJWKS([]licensefile.JWK{k2.JWK(), k.JWK()})
	if !bytes.Equal(body, body2) || etag != etag2 || !strings.HasPrefix(etag, `"`) {
		t.Errorf("ETag not stable: %s %s", etag, etag2)
	}
	if _, etag3, _ := RenderJWKS([]licensefile.JWK{k.JWK()}); etag3 == etag {
		t.Error("ETag does not change with the keys")
	}
	if empty, _, _ := RenderJWKS(nil); string(empty) != `{"keys":[]}` {
		t.Errorf("empty JWKS: %s", empty)
	}
}

// A Key shows its kid and public key, never its private half: not with
// any fmt verb, not in slog (text or JSON), not in JSON.
func TestKeyNeverShowsItsPrivateHalf(t *testing.T) {
	k, _ := Generate(nil)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		assertNoSecret(t, verb, fmt.Sprintf(verb, k), k)
		assertNoSecret(t, verb+" of a struct holding it", fmt.Sprintf(verb, struct{ K *Key }{k}), k)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("key", "key", k)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("key", "key", k)
	js, _ := json.Marshal(k)
	buf.Write(js)
	assertNoSecret(t, "logs and JSON", buf.String(), k)
	if !strings.Contains(buf.String(), k.Kid()) {
		t.Errorf("logs do not name the kid: %s", buf.String())
	}
	m, _ := GenerateMasterKey()
	for _, s := range []string{fmt.Sprintf("%v %+v %#v %s %x", m, m, m, m, m), m.String()} {
		if strings.Contains(s, m.Encode()) || strings.Contains(s, hex.EncodeToString(m.k[:])) {
			t.Errorf("master key printed: %s", s)
		}
	}
}

func TestSealing(t *testing.T) {
	m, _ := GenerateMasterKey()
	s, err := NewSealer(m)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := Generate(nil)
	aad := KeyAAD("org1", k.Kid())
	sealed, err := s.SealKey(k, aad)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sealed, "v1.") {
		t.Errorf("sealed %q", sealed)
	}
	assertNoSecret(t, "the sealed key", sealed, k)
	raw, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(sealed, "v1."))
	if bytes.Contains(raw, k.priv.Seed()) {
		t.Error("the sealed bytes hold the raw seed")
	}
	again, _ := s.SealKey(k, aad)
	if again == sealed {
		t.Error("two seals of one key are equal (nonce reused)")
	}
	back, err := s.OpenKey(sealed, k.Kid(), aad)
	if err != nil || back.Kid() != k.Kid() || !back.priv.Equal(k.priv) {
		t.Fatalf("open: %v", err)
	}

	other, _ := GenerateMasterKey()
	others, _ := NewSealer(other)
	flipped := []byte(sealed)
	flipped[len(flipped)-3] ^= 0x01
	for name, try := range map[string]func() error{
		"another master key": func() error { _, err := others.OpenKey(sealed, k.Kid(), aad); return err },
		"another row":        func() error { _, err := s.OpenKey(sealed, k.Kid(), KeyAAD("org2", k.Kid())); return err },
		"changed":            func() error { _, err := s.OpenKey(string(flipped), k.Kid(), aad); return err },
		"not sealed":         func() error { _, err := s.Open(base64.StdEncoding.EncodeToString(k.priv.Seed()), aad); return err },
		"truncated":          func() error { _, err := s.Open("v1.AAAA", aad); return err },
	} {
		if err := try(); !errors.Is(err, ErrUnseal) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := s.OpenKey(sealed, "some-other-kid", aad); err == nil {
		t.Error("opened under another kid")
	}
	if _, err := NewSealer(MasterKey{}); err == nil {
		t.Error("a sealer without a master key")
	}
}

func TestParseMasterKey(t *testing.T) {
	m, _ := GenerateMasterKey()
	raw := m.k[:]
	for _, s := range []string{base64.StdEncoding.EncodeToString(raw), base64.RawStdEncoding.EncodeToString(raw),
		base64.URLEncoding.EncodeToString(raw), " " + m.Encode() + "\n"} {
		got, err := ParseMasterKey(s)
		if err != nil || got.k != m.k {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"", "not base64!", base64.StdEncoding.EncodeToString(raw[:16])} {
		if _, err := ParseMasterKey(s); err == nil {
			t.Errorf("%q parsed", s)
		}
	}
}

func TestLoadMasterKey(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	dir := t.TempDir()
	db := filepath.Join(dir, "entitled.db")
	keyPath := db + ".master-key"

	set, _ := GenerateMasterKey()
	got, err := LoadMasterKey(set.Encode(), dialect.SQLite, db, log)
	if err != nil || got.k != set.k {
		t.Fatalf("from the variable: %v", err)
	}
	if _, err := os.Stat(keyPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a key file was made although the variable is set")
	}
	if _, err := LoadMasterKey("bad", dialect.SQLite, db, log); err == nil || !strings.Contains(err.Error(), MasterKeyEnv) {
		t.Errorf("a bad variable: %v", err)
	}
	_, err = LoadMasterKey("", dialect.Postgres, "postgres://x@db/entitled", log)
	if err == nil || !strings.Contains(err.Error(), MasterKeyEnv) {
		t.Fatalf("PostgreSQL without the variable: %v", err)
	}
	t.Logf("PostgreSQL without a key: %v", err)

	// SQLite without the variable: a 0600 file beside the database, and a
	// log line saying where; the next start reads the same key.
	first, err := LoadMasterKey("", dialect.SQLite, db, log)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(keyPath)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
	if !strings.Contains(logs.String(), keyPath) || !strings.Contains(logs.String(), MasterKeyEnv) {
		t.Errorf("the log does not say where the key is: %s", logs.String())
	}
	if strings.Contains(logs.String(), first.Encode()) {
		t.Error("the log shows the master key")
	}
	second, err := LoadMasterKey("", dialect.SQLite, db, log)
	if err != nil || second.k != first.k {
		t.Fatalf("second start: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("left files behind: %v", entries)
	}

	// Starts racing to create the file agree on one key.
	db2 := filepath.Join(dir, "race.db")
	var wg sync.WaitGroup
	keys := make([]MasterKey, 8)
	errs := make([]error, 8)
	for i := range keys {
		wg.Go(func() { keys[i], errs[i] = LoadMasterKey("", dialect.SQLite, db2, nil) })
	}
	wg.Wait()
	for i := range keys {
		if errs[i] != nil || keys[i].k != keys[0].k {
			t.Fatalf("racing start %d: %v", i, errs[i])
		}
	}

	if err := os.WriteFile(keyPath, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadMasterKey("", dialect.SQLite, db, log); err == nil || !strings.Contains(err.Error(), keyPath) {
		t.Errorf("a corrupt key file: %v", err)
	}
	if m, err := LoadMasterKey("", dialect.SQLite, ":memory:", log); err != nil || m.IsZero() {
		t.Errorf("in-memory database: %v", err)
	}
}

// A key signs a license file that the SDK verifies with the JWKS the
// server renders, and decides from.
func TestSignVerifies(t *testing.T) {
	k, _ := Generate(nil)
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	g, err := policy.NewGrant(map[string]any{"type": "boolean", "value": true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := licensefile.NewDataset(licensefile.Facts{
		Org:      &policy.Org{ID: "o1", Slug: "acme"},
		Instance: &policy.Instance{ID: "i1", Slug: "eu-prod-1", Name: "EU"},
		License:  &policy.License{ID: "l1", Slug: "pro", Type: "PAID", Version: 1, IsActive: true},
		Entitlements: []licensefile.Granted{
			{Entitlement: &policy.Entitlement{ID: "e1", Slug: "sso", Type: "BOOLEAN"}, Grant: g},
		},
		IssuedAt: now, ExpiresAt: now.Add(720 * time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := k.Sign(ds)
	if err != nil {
		t.Fatal(err)
	}
	assertNoSecret(t, "the certificate", cert, k)
	body, _, _ := RenderJWKS([]licensefile.JWK{k.JWK()})
	jwks, err := licensefile.ParseJWKS(body)
	if err != nil {
		t.Fatal(err)
	}
	f, err := licensefile.Parse([]byte(cert))
	if err != nil {
		t.Fatal(err)
	}
	if f.Kid() != k.Kid() {
		t.Errorf("file kid %s, key %s", f.Kid(), k.Kid())
	}
	if err := f.VerifyAt(jwks, now); err != nil {
		t.Fatal(err)
	}
	if d, err := f.Decide("sso", nil, nil, now); err != nil || !d.Allowed {
		t.Fatalf("%+v %v", d, err)
	}
	// The key, sealed and opened again, still signs for the same kid.
	m, _ := GenerateMasterKey()
	s, _ := NewSealer(m)
	sealed, _ := s.SealKey(k, KeyAAD("o1", k.Kid()))
	back, err := s.OpenKey(sealed, k.Kid(), KeyAAD("o1", k.Kid()))
	if err != nil {
		t.Fatal(err)
	}
	cert2, _ := back.Sign(ds)
	if f2, err := licensefile.Parse([]byte(cert2)); err != nil || f2.VerifyAt(jwks, now) != nil {
		t.Fatalf("re-opened key: %v", err)
	}
}
