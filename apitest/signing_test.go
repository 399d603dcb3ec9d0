package apitest

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/entitled/entitled/internal/app"
	"github.com/entitled/entitled/internal/signing"
	"github.com/entitled/entitled/internal/testenv"
	"github.com/entitled/entitled/policy"
	"github.com/entitled/entitled/sdk/licensefile"
)

const issueQ = `mutation($in: IssueLicenseFileInput!) { issueLicenseFile(input: $in) { id kid issuedAt expiresAt certificate } }`

// jwksOf builds the JWKS of an organization from signingKeys (the
// public halves GraphQL shows).
func (c client) jwksOf(key string) *licensefile.JWKS {
	c.T.Helper()
	var keys []licensefile.JWK
	for _, k := range testenv.Get(c.MustDo(key, `{ signingKeys { id kid algorithm publicKey status createdAt } }`, nil), "signingKeys").([]any) {
		m := k.(map[string]any)
		pub, err := signing.PublicKeyFromText(m["publicKey"].(string))
		if err != nil {
			c.T.Fatal(err)
		}
		keys = append(keys, licensefile.PublicJWK(m["kid"].(string), ed25519.PublicKey(pub)))
	}
	raw, _ := json.Marshal(licensefile.JWKS{Keys: keys})
	j, err := licensefile.ParseJWKS(raw)
	if err != nil {
		c.T.Fatal(err)
	}
	return j
}

// An issued file verifies with the organization's keys, decides as the
// server does, and keeps verifying after a rotation; another
// organization's keys refuse it.
func TestSigningIssueVerifyDecide(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		key := c.NewOrg("acme")
		calls := c.NewEntitlement(key, "api-calls", "NUMBER", map[string]any{"meterType": "RAW_EVENT", "aggregationMethod": "SUM", "resetPeriod": "MONTH"})
		sso := c.NewEntitlement(key, "sso", "BOOLEAN", nil)
		c.NewEntitlement(key, "beta", "BOOLEAN", nil)
		lic := c.NewLicense(key, "pro", "PAID", nil)
		c.Link(key, lic, calls, num(100))
		c.Link(key, lic, sso, boolean(true))
		inst := c.NewInstance(key, "eu-1", lic)

		d := c.MustDo(key, issueQ, map[string]any{"in": map[string]any{"instanceID": inst}})
		cert := testenv.Str(d, "issueLicenseFile.certificate")
		kid := testenv.Str(d, "issueLicenseFile.kid")
		f, err := licensefile.Parse([]byte(cert))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Verify(c.jwksOf(key)); err != nil {
			t.Fatalf("verify: %v", err)
		}
		exp := parseTime(t, testenv.Str(d, "issueLicenseFile.expiresAt"))
		iat := parseTime(t, testenv.Str(d, "issueLicenseFile.issuedAt"))
		if exp.Sub(iat) != signing.DefaultTTL {
			t.Errorf("default ttl: %s", exp.Sub(iat))
		}
		for _, e := range []string{"api-calls", "sso", "beta", "unknown"} {
			got, err := f.Decide(e, nil, nil, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			want := c.MustDo(key, `query($e: String!) { allowed(instance: "eu-1", entitlement: $e) { allowed reason } }`, map[string]any{"e": e})
			if got.Allowed != testenv.Get(want, "allowed.allowed") || got.Reason != testenv.Get(want, "allowed.reason") {
				t.Errorf("%s: file %v %s, server %v", e, got.Allowed, got.Reason, want)
			}
		}

		// Rotation: the old file still verifies; the new key signs.
		rot := c.MustDo(key, `mutation { rotateSigningKey { kid status } }`, nil)
		if testenv.Str(rot, "rotateSigningKey.kid") == kid || testenv.Str(rot, "rotateSigningKey.status") != "CURRENT" {
			t.Fatalf("rotate: %v", rot)
		}
		if err := f.Verify(c.jwksOf(key)); err != nil {
			t.Fatalf("rotated-out key's file: %v", err)
		}
		d2 := c.MustDo(key, issueQ, map[string]any{"in": map[string]any{"instanceID": inst, "ttl": "2h"}})
		if testenv.Str(d2, "issueLicenseFile.kid") != testenv.Str(rot, "rotateSigningKey.kid") {
			t.Errorf("new file not signed by the new key")
		}

		// Another organization's keys refuse it.
		other := c.NewOrg("globex")
		c.MustDo(other, `mutation { rotateSigningKey { kid } }`, nil)
		if err := f.Verify(c.jwksOf(other)); err == nil {
			t.Fatal("verified with another organization's keys")
		}

		// ttl validation.
		for _, ttl := range []string{"59m", "soon", "-5h"} {
			c.MustFailWith(key, "BAD_USER_INPUT", "ttl", issueQ, map[string]any{"in": map[string]any{"instanceID": inst, "ttl": ttl}})
		}

		// No GraphQL answer or audit event holds key material.
		var sealed string
		if err := c.App.DB.SQL.QueryRow(`SELECT sealed_private_key FROM signing_keys ORDER BY created_at LIMIT 1`).Scan(&sealed); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(sealed, "v1.") {
			t.Errorf("stored private key is not sealed: %q", sealed[:8])
		}
		for _, ev := range c.trail(key, nil) {
			b, _ := json.Marshal(ev)
			if strings.Contains(string(b), sealed) || strings.Contains(string(b), "BEGIN ENTITLED") {
				t.Fatalf("audit event holds key material or a certificate: %s", b)
			}
		}
		actions := map[string]int{}
		for _, ev := range c.trail(key, nil) {
			actions[ev["action"].(string)]++
		}
		if actions["signing_key.created"] != 1 || actions["signing_key.rotated"] != 1 || actions["license_file.issued"] != 2 {
			t.Errorf("audit actions %v", actions)
		}
		lf := c.MustDo(key, `query($id: ID!) { node(id: $id) { ... on Instance { licenseFiles { kid issuedAt expiresAt issuedByName } } } }`, map[string]any{"id": inst})
		if n := len(testenv.Get(lf, "node.licenseFiles").([]any)); n != 2 {
			t.Errorf("licenseFiles: %d", n)
		}
	})
}

// get fetches a path of the server, raw.
func (c client) get(key, path string, header map[string]string) (int, http.Header, []byte) {
	c.T.Helper()
	req, err := http.NewRequest(http.MethodGet, c.Server.URL+path, nil)
	if err != nil {
		c.T.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := c.Server.Client().Do(req)
	if err != nil {
		c.T.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, b
}

// The JWKS endpoint serves the public keys without authentication, with
// cache headers; a CHECK key fetches its instance's file, which verifies
// with them, and gets 304 while nothing changed.
func TestSigningJWKSAndLicenseFileEndpoints(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		key := c.NewOrg("acme")
		sso := c.NewEntitlement(key, "sso", "BOOLEAN", nil)
		lic := c.NewLicense(key, "pro", "PAID", nil)
		c.Link(key, lic, sso, boolean(true))
		c.NewInstance(key, "eu-1", lic)
		check := c.NewKey(key, "CHECK")

		st, h, cert := c.get(check, "/v1/license-file?instance=eu-1", nil)
		if st != http.StatusOK || h.Get("ETag") == "" {
			t.Fatalf("license file: %d %s", st, cert)
		}
		st2, _, again := c.get(check, "/v1/license-file?instance=eu-1", nil)
		if st2 != http.StatusOK || string(again) != string(cert) {
			t.Errorf("unchanged facts gave another file")
		}
		if st, _, _ := c.get(check, "/v1/license-file?instance=eu-1", map[string]string{"If-None-Match": h.Get("ETag")}); st != http.StatusNotModified {
			t.Errorf("If-None-Match: %d", st)
		}
		if st, _, _ := c.get("", "/v1/license-file?instance=eu-1", nil); st != http.StatusUnauthorized {
			t.Errorf("no key: %d", st)
		}
		if st, _, body := c.get(c.NewKey(key, "READ"), "/v1/license-file?instance=eu-1", nil); st != http.StatusForbidden || !strings.Contains(string(body), "FORBIDDEN") {
			t.Errorf("READ key: %d %s", st, body)
		}
		if st, _, _ := c.get(check, "/v1/license-file", nil); st != http.StatusBadRequest {
			t.Errorf("no instance: %d", st)
		}
		if st, _, _ := c.get(check, "/v1/license-file?instance=nope", nil); st != http.StatusNotFound {
			t.Errorf("unknown instance: %d", st)
		}

		st, h, body := c.get("", "/v1/orgs/acme/jwks.json", nil)
		if st != http.StatusOK || h.Get("Cache-Control") != "public, max-age=300" || h.Get("ETag") == "" {
			t.Fatalf("jwks: %d %v %s", st, h, body)
		}
		if st, _, _ := c.get("", "/v1/orgs/acme/jwks.json", map[string]string{"If-None-Match": h.Get("ETag")}); st != http.StatusNotModified {
			t.Errorf("jwks If-None-Match: %d", st)
		}
		if st, _, _ := c.get("", "/v1/orgs/nobody/jwks.json", nil); st != http.StatusNotFound {
			t.Errorf("unknown org: %d", st)
		}
		jwks, err := licensefile.ParseJWKS(body)
		if err != nil {
			t.Fatal(err)
		}
		f, err := licensefile.Parse(cert)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Verify(jwks); err != nil {
			t.Fatalf("verify with the served JWKS: %v", err)
		}
		d, err := f.Decide("sso", nil, nil, time.Now())
		if err != nil || !d.Allowed {
			t.Errorf("sso from the file: %+v %v", d, err)
		}

		// An independent verifier: Node's built-in crypto, from the served
		// JWKS (skipped only without node).
		node, err := exec.LookPath("node")
		if err != nil {
			t.Log("node is not installed: skipping the independent verifier")
			return
		}
		dir := t.TempDir()
		jp, lp := filepath.Join(dir, "jwks.json"), filepath.Join(dir, "file.lic")
		if err := os.WriteFile(jp, body, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(lp, cert, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(node, "../sdk/licensefile/testdata/verify.mjs", jp, lp).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "verified sub=eu-1") {
			t.Fatalf("node: %v: %s", err, out)
		}
	})
}

// A fixture organization with a custom deny policy and a CONFIG
// entitlement: every instance × entitlement decided from its file (policies
// included) equals the server's allowed and reason at the same moment.
func TestLicenseFileDecisionsEqualTheServers(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		key := c.NewOrg("acme")
		calls := c.NewEntitlement(key, "api-calls", "NUMBER", map[string]any{"meterType": "RAW_EVENT", "aggregationMethod": "SUM", "resetPeriod": "MONTH"})
		sso := c.NewEntitlement(key, "sso", "BOOLEAN", nil)
		beta := c.NewEntitlement(key, "beta", "BOOLEAN", nil)
		brand := c.NewEntitlement(key, "branding", "CONFIG", nil)
		paid := c.NewLicense(key, "enterprise", "PAID", nil)
		trial := c.NewLicense(key, "trial", "TRIAL", nil)
		c.Link(key, paid, calls, num(100))
		c.Link(key, paid, sso, boolean(true))
		c.Link(key, paid, beta, boolean(false))
		c.Link(key, paid, brand, object(map[string]any{"theme": "dark"}))
		c.Link(key, trial, calls, num(10))
		c.Link(key, trial, brand, object(map[string]any{"theme": "plain"}))
		c.MustDo(key, createPolicyQ, map[string]any{"in": map[string]any{"name": "no-us-branding", "active": true, "module": `package entitled.custom

deny contains "branding is not sold in the US" if {
	input.entitlement.type == "CONFIG"
	input.instance.metadata.region == "us"
}
`}})
		ids := map[string]string{}
		for _, in := range []map[string]any{
			{"name": "EU", "slug": "eu-1", "licenseID": paid, "metadata": map[string]any{"region": "eu"}},
			{"name": "US", "slug": "us-1", "licenseID": paid, "metadata": map[string]any{"region": "us"}},
			{"name": "Trial", "slug": "trial-1", "licenseID": trial, "metadata": map[string]any{"region": "eu"}},
		} {
			ids[in["slug"].(string)] = testenv.Str(c.MustDo(key, qCreateInstance, map[string]any{"in": in}), "createInstance.id")
		}
		c.MustDo(key, `mutation { reportUsage(input: {instance: "trial-1", entitlement: "api-calls", value: 12}) { replayed } }`, nil)
		jwks := func() *licensefile.JWKS { return c.jwksOf(key) }
		reasons := map[string]int{}
		for slug, id := range ids {
			d := c.MustDo(key, issueQ, map[string]any{"in": map[string]any{"instanceID": id, "includePolicies": true}})
			f, err := licensefile.Parse([]byte(testenv.Str(d, "issueLicenseFile.certificate")))
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Verify(jwks()); err != nil {
				t.Fatal(err)
			}
			for _, e := range []string{"api-calls", "sso", "beta", "branding", "unknown"} {
				want := c.MustDo(key, `query($i: String!, $e: String!) { allowed(instance: $i, entitlement: $e) { allowed reason } }`, map[string]any{"i": slug, "e": e})
				got, err := decideFromFile(f, e, testenv.Get(want, "allowed.reason"))
				if err != nil {
					t.Fatal(err)
				}
				if got.Allowed != testenv.Get(want, "allowed.allowed") || got.Reason != testenv.Get(want, "allowed.reason") {
					t.Errorf("%s × %s: file %v %s, server %v", slug, e, got.Allowed, got.Reason, want["allowed"])
				}
				reasons[got.Reason]++
			}
		}
		if reasons["DENIED_BY_POLICY"] == 0 || reasons["ALLOWED"] == 0 || reasons["ENTITLEMENT_NOT_FOUND"] == 0 {
			t.Errorf("the fixture does not exercise the custom policy: %v", reasons)
		}
	})
}

// The private key never shows: not in GraphQL answers, log lines (DEBUG
// included) or audit events; stored, it is sealed under the master key.
func TestSigningPrivateKeyNeverShows(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	opt := testenv.Configure(func(cfg *app.Config) {
		cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	forEachStoreWith(t, []testenv.Option{opt}, func(t *testing.T, c client) {
		key := c.NewOrg("acme")
		lic := c.NewLicense(key, "pro", "PAID", nil)
		inst := c.NewInstance(key, "eu-1", lic)
		var answers []string
		r := c.Do(key, issueQ, map[string]any{"in": map[string]any{"instanceID": inst, "includePolicies": true}})
		answers = append(answers, r.Raw)
		answers = append(answers, c.Do(key, `mutation { rotateSigningKey { id kid algorithm publicKey status createdAt } }`, nil).Raw)
		answers = append(answers, c.Do(key, `{ signingKeys { id kid algorithm publicKey status createdAt retiredAt } }`, nil).Raw)
		answers = append(answers, c.Do(key, `query($id: ID!) { node(id: $id) { ... on Instance { licenseFiles { id kid certificate } } } }`, map[string]any{"id": inst}).Raw)
		for _, ev := range c.trail(key, nil) {
			b, _ := json.Marshal(ev)
			answers = append(answers, string(b))
		}

		m, err := signing.ParseMasterKey(testenv.TestMasterKey)
		if err != nil {
			t.Fatal(err)
		}
		sealer, err := signing.NewSealer(m)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := c.App.DB.SQL.Query(`SELECT organization_id, kid, sealed_private_key FROM signing_keys`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			var org, kid, sealed string
			if err := rows.Scan(&org, &kid, &sealed); err != nil {
				t.Fatal(err)
			}
			n++
			seed, err := sealer.Open(sealed, signing.KeyAAD(org, kid))
			if err != nil {
				t.Fatalf("stored key does not open with the master key: %v", err)
			}
			forms := []string{sealed, base64.StdEncoding.EncodeToString(seed), base64.RawStdEncoding.EncodeToString(seed),
				base64.RawURLEncoding.EncodeToString(seed), hex.EncodeToString(seed)}
			if strings.Contains(sealed, forms[1]) || strings.Contains(sealed, forms[3]) || strings.Contains(sealed, forms[4]) {
				t.Fatal("the stored key is the raw key")
			}
			logText := string(logs.bytes())
			for _, f := range forms {
				if strings.Contains(logText, f) {
					t.Fatalf("a log line holds the private key")
				}
				for _, a := range answers {
					if strings.Contains(a, f) {
						t.Fatalf("an answer or audit event holds the private key: %s", a)
					}
				}
			}
		}
		if n != 2 {
			t.Fatalf("%d keys stored, want 2", n)
		}
	})
}

func (s *syncBuffer) bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.b.Bytes()...)
}

// decideFromFile decides for entitlement from a verified file, as a vendor
// would. The file's evaluations with custom modules have the server's
// default deadline (25 ms), while the test servers have a generous one: on
// a busy machine one evaluation may pass it, so a POLICY_ERROR the
// server did not give (serverReason) is asked again, up to 5 times,
// rather than compared.
func decideFromFile(f *licensefile.File, entitlement string, serverReason any) (policy.Decision, error) {
	got, err := f.Decide(entitlement, nil, nil, time.Now())
	for try := 0; err == nil && got.Reason == "POLICY_ERROR" && serverReason != "POLICY_ERROR" && try < 5; try++ {
		got, err = f.Decide(entitlement, nil, nil, time.Now())
	}
	return got, err
}
