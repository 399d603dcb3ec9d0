package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/entitled/entitled/internal/signing"
	"github.com/entitled/entitled/policy"
	"github.com/entitled/entitled/sdk/licensefile"
)

// licenseFixture is a signing key, its JWKS in a file and at a loopback
// URL, and license files signed with it.
type licenseFixture struct {
	dir      string
	key      *signing.Key
	jwksPath string
	jwksURL  string
}

func newLicenseFixture(t *testing.T) *licenseFixture {
	t.Helper()
	k, err := signing.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	fx := &licenseFixture{dir: t.TempDir(), key: k}
	body, _, err := signing.RenderJWKS([]licensefile.JWK{k.JWK()})
	if err != nil {
		t.Fatal(err)
	}
	fx.jwksPath = fx.write(t, "jwks.json", body)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/orgs/acme/jwks.json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	fx.jwksURL = srv.URL + "/v1/orgs/acme/jwks.json"
	return fx
}

func (fx *licenseFixture) write(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(fx.dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// issue signs a file for instance eu-prod-1 valid from issued to expires:
// api-calls (NUMBER, 100, 42 used), sso (true), beta (false), and a deny
// policy for the context country RU.
func (fx *licenseFixture) issue(t *testing.T, name string, issued, expires time.Time) string {
	t.Helper()
	grant := func(v map[string]any) *policy.Grant {
		g, err := policy.NewGrant(v, nil)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	ds, err := licensefile.NewDataset(licensefile.Facts{
		Org:      &policy.Org{ID: "o1", Slug: "acme"},
		Instance: &policy.Instance{ID: "i1", Slug: "eu-prod-1", Name: "EU production", Metadata: map[string]any{"region": "eu"}},
		License:  &policy.License{ID: "l1", Slug: "enterprise", Type: "PAID", Version: 3, IsActive: true},
		Entitlements: []licensefile.Granted{
			{Entitlement: &policy.Entitlement{ID: "e1", Slug: "api-calls", Type: "NUMBER", MeterType: "RAW_EVENT", AggregationMethod: "SUM", ResetPeriod: "NONE"},
				Grant: grant(map[string]any{"type": "number", "value": 100.0}), Usage: &policy.Usage{Current: 42, Count: 3}},
			{Entitlement: &policy.Entitlement{ID: "e2", Slug: "sso", Type: "BOOLEAN"}, Grant: grant(map[string]any{"type": "boolean", "value": true})},
			{Entitlement: &policy.Entitlement{ID: "e3", Slug: "beta", Type: "BOOLEAN"}, Grant: grant(map[string]any{"type": "boolean", "value": false})},
		},
		Policies: &licensefile.Policies{Version: 2, Modules: map[string]string{"embargo.rego": `package entitled.custom

deny contains "not in RU" if input.request.context.country == "RU"
`}},
		IssuedAt: issued, ExpiresAt: expires,
	})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := fx.key.Sign(ds)
	if err != nil {
		t.Fatal(err)
	}
	return fx.write(t, name, []byte(cert))
}

func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := executeTo(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestLicenseVerify(t *testing.T) {
	fx := newLicenseFixture(t)
	now := time.Now()
	good := fx.issue(t, "good.lic", now.Add(-time.Minute), now.Add(720*time.Hour))

	for _, jwks := range []string{fx.jwksPath, fx.jwksURL} {
		code, out, errOut := runCLI("license", "verify", "--jwks", jwks, good)
		if code != 0 || errOut != "" {
			t.Fatalf("verify --jwks %s: exit %d\n%s%s", jwks, code, out, errOut)
		}
		var ds map[string]any
		if err := json.Unmarshal([]byte(out), &ds); err != nil || ds["iss"] != "acme" || ds["sub"] != "eu-prod-1" || ds["policies"] == nil {
			t.Fatalf("verify printed %s (%v)", out, err)
		}
	}

	// A tampered file: the dataset changed after signing (beta turned on).
	raw, _ := os.ReadFile(good)
	f, err := licensefile.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	env := f.Envelope()
	js, _ := base64.StdEncoding.DecodeString(env.Enc)
	env.Enc = base64.StdEncoding.EncodeToString(bytes.Replace(js, []byte(`"value":false`), []byte(`"value":true`), 1))
	armored, _ := env.Armor()
	tampered := fx.write(t, "tampered.lic", []byte(armored))
	code, out, errOut := runCLI("license", "verify", "--jwks", fx.jwksPath, tampered)
	if code != 1 || out != "" || !strings.Contains(errOut, "signature") {
		t.Errorf("tampered: exit %d, stdout %q, stderr %q; want 1 and a message about the signature", code, out, errOut)
	}
	t.Logf("tampered: %s", strings.TrimSpace(errOut))

	// A wrong JWKS: another organization's keys.
	other, _ := signing.Generate(nil)
	body, _, _ := signing.RenderJWKS([]licensefile.JWK{other.JWK()})
	wrong := fx.write(t, "other-jwks.json", body)
	code, out, errOut = runCLI("license", "verify", "--jwks", wrong, good)
	if code != 1 || out != "" || !strings.Contains(errOut, fx.key.Kid()) || !strings.Contains(errOut, "not among the trusted keys") {
		t.Errorf("wrong JWKS: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	t.Logf("wrong JWKS: %s", strings.TrimSpace(errOut))

	// Expired; and issued in the future (the clock set back).
	expired := fx.issue(t, "expired.lic", now.Add(-48*time.Hour), now.Add(-time.Hour))
	if code, out, errOut := runCLI("license", "verify", "--jwks", fx.jwksPath, expired); code != 1 || out != "" || !strings.Contains(errOut, "expired at") {
		t.Errorf("expired: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	future := fx.issue(t, "future.lic", now.Add(time.Hour), now.Add(48*time.Hour))
	if code, _, errOut := runCLI("license", "verify", "--jwks", fx.jwksPath, future); code != 1 || !strings.Contains(errOut, "clock") {
		t.Errorf("issued in an hour: exit %d, stderr %q", code, errOut)
	}

	// Not a license file; a JWKS that is not one; a JWKS URL that is not
	// there; missing files.
	notLicense := fx.write(t, "notes.txt", []byte("hello"))
	for name, args := range map[string][]string{
		"not a license file": {"--jwks", fx.jwksPath, notLicense},
		"not a JWKS":         {"--jwks", notLicense, good},
		"JWKS URL 404":       {"--jwks", strings.TrimSuffix(fx.jwksURL, "jwks.json") + "nope.json", good},
		"no license file":    {"--jwks", fx.jwksPath, filepath.Join(fx.dir, "absent.lic")},
		"no JWKS file":       {"--jwks", filepath.Join(fx.dir, "absent.json"), good},
	} {
		if code, out, errOut := runCLI(append([]string{"license", "verify"}, args...)...); code != 1 || out != "" || errOut == "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", name, code, out, errOut)
		}
	}

	// Usage errors.
	for _, args := range [][]string{
		{"license", "verify", good},
		{"license", "verify", "--jwks", fx.jwksPath},
		{"license", "verify", "--jwks", fx.jwksPath, good, good},
		{"license", "verify", "--bogus", good},
	} {
		if code, out, errOut := runCLI(args...); code != 2 || out != "" || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and one line", args, code, out, errOut)
		}
	}
}

func TestLicenseCheck(t *testing.T) {
	fx := newLicenseFixture(t)
	now := time.Now()
	good := fx.issue(t, "good.lic", now.Add(-time.Minute), now.Add(720*time.Hour))
	check := func(args ...string) (int, map[string]any, string) {
		t.Helper()
		code, out, errOut := runCLI(append([]string{"license", "check", "--jwks", fx.jwksPath}, args...)...)
		var d map[string]any
		if out != "" {
			if err := json.Unmarshal([]byte(out), &d); err != nil {
				t.Fatalf("check %v printed %q: %v", args, out, err)
			}
		}
		return code, d, errOut
	}
	for _, c := range []struct {
		args    []string
		code    int
		reason  string
		message string
	}{
		{[]string{"--entitlement", "sso", good}, 0, "ALLOWED", ""},
		{[]string{"--entitlement", "api-calls", "--requested", "58", good}, 0, "ALLOWED", ""},
		{[]string{"--entitlement", "api-calls", "--requested", "59", good}, 1, "LIMIT_EXCEEDED", "usage 42 + requested 59 exceeds hard cap 100"},
		{[]string{"--entitlement", "beta", good}, 1, "FEATURE_DISABLED", "disabled"},
		{[]string{"--entitlement", "nope", good}, 1, "ENTITLEMENT_NOT_FOUND", "not found"},
		{[]string{"--entitlement", "sso", "--context", `{"country": "DE"}`, good}, 0, "ALLOWED", ""},
		{[]string{"--entitlement", "sso", "--context", `{"country": "RU"}`, good}, 1, "DENIED_BY_POLICY", "not in RU"},
	} {
		code, d, errOut := check(c.args...)
		if code != c.code || d["reason"] != c.reason || !strings.Contains(errOut, c.message) || (c.code == 0) != (errOut == "") {
			t.Errorf("check %v: exit %d, decision %v, stderr %q; want %d %s", c.args, code, d, errOut, c.code, c.reason)
		}
	}
	code, d, _ := check("--entitlement", "api-calls", good)
	if code != 0 || d["remaining"] != 58.0 || d["policyVersion"] != 2.0 || d["instance"] != "eu-prod-1" {
		t.Errorf("decision fields: %v", d)
	}

	expired := fx.issue(t, "expired.lic", now.Add(-48*time.Hour), now.Add(-time.Hour))
	if code, d, errOut := check("--entitlement", "sso", expired); code != 1 || d["reason"] != "LICENSE_FILE_EXPIRED" || !strings.Contains(errOut, "LICENSE_FILE_EXPIRED") {
		t.Errorf("expired: exit %d, %v, %q", code, d, errOut)
	}

	// Tampered and wrong JWKS: exit 1, nothing decided.
	raw, _ := os.ReadFile(good)
	f, _ := licensefile.Parse(raw)
	env := f.Envelope()
	sig := []byte(env.Sig)
	// Another valid base64 character (a flipped bit can leave the
	// alphabet, which is a format error, not a bad signature).
	if sig[10] == 'A' {
		sig[10] = 'B'
	} else {
		sig[10] = 'A'
	}
	env.Sig = string(sig)
	armored, _ := env.Armor()
	tampered := fx.write(t, "tampered.lic", []byte(armored))
	if code, d, errOut := check("--entitlement", "sso", tampered); code != 1 || d != nil || !strings.Contains(errOut, "signature") {
		t.Errorf("tampered: exit %d, %v, %q", code, d, errOut)
	}
	other, _ := signing.Generate(nil)
	body, _, _ := signing.RenderJWKS([]licensefile.JWK{other.JWK()})
	wrong := fx.write(t, "other.json", body)
	if code, out, errOut := runCLI("license", "check", "--jwks", wrong, "--entitlement", "sso", good); code != 1 || out != "" || !strings.Contains(errOut, "not among the trusted keys") {
		t.Errorf("wrong JWKS: exit %d, %q, %q", code, out, errOut)
	}

	// Usage errors: exit 2, one line.
	for _, args := range [][]string{
		{"license", "check", "--jwks", fx.jwksPath, good},
		{"license", "check", "--entitlement", "sso", good},
		{"license", "check", "--jwks", fx.jwksPath, "--entitlement", "sso"},
		{"license", "check", "--jwks", fx.jwksPath, "--entitlement", "sso", "--requested", "lots", good},
		{"license", "check", "--jwks", fx.jwksPath, "--entitlement", "api-calls", "--requested", "-1", good},
		{"license", "check", "--jwks", fx.jwksPath, "--entitlement", "sso", "--context", "[1]", good},
		{"license", "check", "--jwks", fx.jwksPath, "--entitlement", "sso", "--context", "{", good},
	} {
		if code, out, errOut := runCLI(args...); code != 2 || out != "" || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and one line", args[2:], code, out, errOut)
		}
	}
}
