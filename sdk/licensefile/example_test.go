package licensefile

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/entitled/entitled/policy"
)

// The example of docs/offline.md: a file signed with a fixed key (Ed25519
// signatures are deterministic, so it is reproducible), its JWKS, and what
// deciding from it gives. Set ENTITLED_WRITE_EXAMPLE=1 to rewrite
// testdata/example.*; the test checks the docs quote them exactly.

var exampleIssued = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func exampleKey() testKey {
	seed := sha256.Sum256([]byte("entitled docs/offline.md example key; never use it for anything else"))
	priv := ed25519.NewKeyFromSeed(seed[:])
	pub := priv.Public().(ed25519.PublicKey)
	return testKey{kid: "ex1", priv: priv, pub: pub}
}

func exampleFile(t *testing.T) (cert string, jwks []byte) {
	k := exampleKey()
	// The kid the server would give it: its RFC 7638 thumbprint.
	k.kid = thumbprint(k.pub)
	calls := &policy.Entitlement{ID: "ent_calls", Slug: "api-calls", Type: "NUMBER", MeterType: "RAW_EVENT", AggregationMethod: "SUM", ResetPeriod: "MONTH"}
	facts := Facts{
		Org:      &policy.Org{ID: "org_acme", Slug: "acme"},
		Instance: &policy.Instance{ID: "ins_eu1", Slug: "eu-prod-1", Name: "EU production", Metadata: map[string]any{"region": "eu"}, StartsAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		License:  &policy.License{ID: "lic_ent", Slug: "enterprise", Type: "PAID", Version: 3, VersionName: "v2.1", IsActive: true},
		Entitlements: []Granted{
			{Entitlement: calls, Grant: mustGrant(t, map[string]any{"type": "number", "value": 10000.0}, 10),
				Usage: &policy.Usage{Current: 42, Count: 7, PeriodStart: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), PeriodEnd: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}},
			{Entitlement: &policy.Entitlement{ID: "ent_sso", Slug: "sso", Type: "BOOLEAN"}, Grant: mustGrant(t, map[string]any{"type": "boolean", "value": true}, 0)},
		},
		Policies: &Policies{Version: 2, Modules: map[string]string{"embargo.rego": "package entitled.custom\n\ndeny contains \"not available in RU\" if input.request.context.country == \"RU\"\n"}},
		IssuedAt: exampleIssued, ExpiresAt: exampleIssued.Add(720 * time.Hour),
	}
	cert = issue(t, k, facts)
	jwks, err := json.MarshalIndent(jwksOf(k), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return cert, append(jwks, '\n')
}

// thumbprint is RFC 7638's JWK thumbprint of an Ed25519 key (what
// internal/signing.Kid computes; repeated here, as any verifier could).
func thumbprint(pub ed25519.PublicKey) string {
	j := PublicJWK("", pub)
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + j.X + `"}`))
	return b64url(sum[:])
}

func TestDocsExample(t *testing.T) {
	cert, jwks := exampleFile(t)
	if os.Getenv("ENTITLED_WRITE_EXAMPLE") != "" {
		if err := os.WriteFile("testdata/example.lic", []byte(cert), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("testdata/example.jwks.json", jwks, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wantCert, err := os.ReadFile("testdata/example.lic")
	if err != nil {
		t.Fatal(err)
	}
	wantJWKS, err := os.ReadFile("testdata/example.jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	if string(wantCert) != cert || string(wantJWKS) != string(jwks) {
		t.Fatal("testdata/example.* are not what the example signs: run with ENTITLED_WRITE_EXAMPLE=1")
	}
	parsed, err := ParseJWKS(wantJWKS)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(wantCert)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.VerifyAt(parsed, exampleIssued.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	at := exampleIssued.Add(time.Hour)
	for _, c := range []struct {
		ent     string
		ctx     map[string]any
		allowed bool
		reason  string
	}{
		{"api-calls", nil, true, "ALLOWED"},
		{"sso", map[string]any{"country": "RU"}, false, "DENIED_BY_POLICY"},
	} {
		d, err := f.Decide(c.ent, nil, c.ctx, at)
		if err != nil || d.Allowed != c.allowed || d.Reason != c.reason {
			t.Errorf("%s: %+v %v", c.ent, d, err)
		}
	}
	if d, _ := f.Decide("sso", nil, nil, exampleIssued.Add(720*time.Hour)); d.Reason != policy.ReasonLicenseFileExpired {
		t.Errorf("at exp: %+v", d)
	}
	doc, err := os.ReadFile("../../docs/offline.md")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"example.lic": cert, "example.jwks.json": string(jwks)} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("docs/offline.md does not quote testdata/%s exactly", name)
		}
	}
}
