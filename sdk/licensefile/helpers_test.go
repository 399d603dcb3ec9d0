package licensefile

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/entitled/entitled/policy"
)

// TestMain lengthens the deadline of custom policies for functional tests:
// on a loaded machine 25 ms of wall clock can pass before a goroutine gets
// a CPU (package policy's tests do the same).
func TestMain(m *testing.M) {
	evalTimeout = 5 * time.Second
	os.Exit(m.Run())
}

var testNow = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// testKey is a signing key with its kid and the JWKS that trusts it.
type testKey struct {
	kid  string
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
}

func newKey(t testing.TB, kid string) testKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{kid: kid, priv: priv, pub: pub}
}

func (k testKey) jwk() JWK { return PublicJWK(k.kid, k.pub) }

func jwksOf(keys ...testKey) *JWKS {
	s := &JWKS{}
	for _, k := range keys {
		s.Keys = append(s.Keys, k.jwk())
	}
	return s
}

func mustGrant(t testing.TB, value map[string]any, overage float64) *policy.Grant {
	t.Helper()
	var o *float64
	if overage != 0 {
		o = &overage
	}
	g, err := policy.NewGrant(value, o)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// sampleFacts is an instance with one entitlement of each kind: a NUMBER
// with a soft limit and usage, BOOLEAN true and false, a CONFIG, and a
// NUMBER the license does not grant.
func sampleFacts(t testing.TB, instance string) Facts {
	t.Helper()
	expires := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	calls := &policy.Entitlement{ID: "e1", Slug: "api-calls", Type: "NUMBER", MeterType: "RAW_EVENT", AggregationMethod: "SUM", ResetPeriod: "MONTH"}
	return Facts{
		Org: &policy.Org{ID: "o1", Slug: "acme"},
		Instance: &policy.Instance{ID: "i-" + instance, Slug: instance, Name: "EU production",
			Metadata: map[string]any{"region": "eu", "tier": 2.0},
			StartsAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), ExpiresAt: &expires},
		License: &policy.License{ID: "l1", Slug: "enterprise", Type: "PAID", Version: 3, VersionName: "v2.1", IsActive: true},
		Entitlements: []Granted{
			{Entitlement: calls, Grant: mustGrant(t, map[string]any{"type": "number", "value": 100.0}, 10),
				Usage: &policy.Usage{Current: 42, Count: 7,
					PeriodStart: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), PeriodEnd: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}},
			{Entitlement: &policy.Entitlement{ID: "e2", Slug: "sso", Type: "BOOLEAN"}, Grant: mustGrant(t, map[string]any{"type": "boolean", "value": true}, 0)},
			{Entitlement: &policy.Entitlement{ID: "e3", Slug: "beta", Type: "BOOLEAN"}, Grant: mustGrant(t, map[string]any{"type": "boolean", "value": false}, 0)},
			{Entitlement: &policy.Entitlement{ID: "e4", Slug: "theme", Type: "CONFIG"},
				Grant: mustGrant(t, map[string]any{"type": "object", "value": map[string]any{"color": "blue", "seats": 5.0}}, 0)},
			{Entitlement: &policy.Entitlement{ID: "e5", Slug: "seats", Type: "NUMBER", MeterType: "RAW_EVENT", AggregationMethod: "SUM", ResetPeriod: "NONE"}},
		},
		IssuedAt:  testNow.Add(-time.Hour),
		ExpiresAt: testNow.Add(30 * 24 * time.Hour),
	}
}

// issue builds the dataset of facts and signs it with k.
func issue(t testing.TB, k testKey, f Facts) string {
	t.Helper()
	ds, err := NewDataset(f)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := Sign(ds, k.kid, k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// verified parses and verifies a certificate at testNow.
func verifiedFile(t testing.TB, cert string, jwks *JWKS) *File {
	t.Helper()
	f, err := Parse([]byte(cert))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.VerifyAt(jwks, testNow); err != nil {
		t.Fatal(err)
	}
	return f
}

// wantCode fails unless err is an *Error of one of the codes.
func wantCode(t testing.TB, what string, err error, codes ...Code) {
	t.Helper()
	var le *Error
	if !errors.As(err, &le) {
		t.Fatalf("%s: error %v (%T), want a *licensefile.Error with code %v", what, err, err, codes)
	}
	for _, c := range codes {
		if le.Code == c {
			return
		}
	}
	t.Fatalf("%s: code %s (%v), want one of %v", what, le.Code, err, codes)
}

func ed25519Sign(k testKey, enc string) []byte { return ed25519.Sign(k.priv, SignedBytes(enc)) }

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
