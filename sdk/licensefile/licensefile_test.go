package licensefile

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/entitled/entitled/policy"
)

// armorOf re-armors an envelope (for tampering).
func armorOf(t *testing.T, e Envelope) string {
	t.Helper()
	s, err := e.Armor()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func envelopeOf(t *testing.T, cert string) Envelope {
	t.Helper()
	f, err := Parse([]byte(cert))
	if err != nil {
		t.Fatal(err)
	}
	return f.Envelope()
}

// verifyErr parses and verifies at testNow and returns the first error.
func verifyErr(cert string, jwks *JWKS) error {
	f, err := Parse([]byte(cert))
	if err != nil {
		return err
	}
	return f.VerifyAt(jwks, testNow)
}

func TestDecideEachKind(t *testing.T) {
	k := newKey(t, "k1")
	f := verifiedFile(t, issue(t, k, sampleFacts(t, "eu-prod-1")), jwksOf(k))
	for _, c := range []struct {
		entitlement string
		requested   *float64
		allowed     bool
		reason      string
	}{
		{"api-calls", nil, true, policy.ReasonAllowed},
		{"api-calls", ptr(68.0), true, policy.ReasonAllowed}, // 42 + 68 = 110, the hard cap
		{"api-calls", ptr(69.0), false, policy.ReasonLimitExceeded},
		{"sso", nil, true, policy.ReasonAllowed},
		{"beta", nil, false, policy.ReasonFeatureDisabled},
		{"theme", nil, true, policy.ReasonAllowed},
		{"seats", nil, false, policy.ReasonNotEntitled},
		{"nope", nil, false, policy.ReasonEntitlementNotFound},
	} {
		d, err := f.Decide(c.entitlement, c.requested, nil, testNow)
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed != c.allowed || d.Reason != c.reason || d.Instance != "eu-prod-1" || d.Entitlement != c.entitlement {
			t.Errorf("%s %v: got %+v, want %v %s", c.entitlement, c.requested, d, c.allowed, c.reason)
		}
	}
	d, _ := f.Decide("api-calls", nil, nil, testNow)
	if *d.Usage != 42 || *d.Limit != 100 || *d.HardCap != 110 || *d.Remaining != 68 || *d.LicenseVersion != 3 || d.PolicyVersion != 0 {
		t.Errorf("NUMBER figures: %+v", d)
	}
	d, _ = f.Decide("theme", nil, nil, testNow)
	if v, _ := d.Value["value"].(map[string]any); v["color"] != "blue" {
		t.Errorf("CONFIG value: %v", d.Value)
	}
}

// The file's dataset is the contract's shape, member by member.
func TestDatasetShape(t *testing.T) {
	k := newKey(t, "k1")
	facts := sampleFacts(t, "eu-prod-1")
	facts.Policies = &Policies{Version: 4, Modules: map[string]string{"eu.rego": "package entitled.custom\n\ndeny contains \"no\" if input.usage.current < 0\n"}}
	f := verifiedFile(t, issue(t, k, facts), jwksOf(k))
	js, err := base64.StdEncoding.DecodeString(f.Envelope().Enc)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(js, []byte(`\u003c`)) {
		t.Errorf("Rego source HTML-escaped: %s", js)
	}
	var doc map[string]any
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"iss": `"acme"`, "sub": `"eu-prod-1"`, "iat": `"2026-11-28T11:00:00Z"`, "exp": `"2026-12-28T12:00:00Z"`,
		"organization": `{"id":"o1","slug":"acme"}`,
		"instance":     `{"expiresAt":"2027-01-01T00:00:00Z","id":"i-eu-prod-1","metadata":{"region":"eu","tier":2},"name":"EU production","slug":"eu-prod-1","startsAt":"2026-01-01T00:00:00Z"}`,
		"license":      `{"id":"l1","isActive":true,"slug":"enterprise","type":"PAID","version":3,"versionName":"v2.1"}`,
		"entitlements": `[{"aggregationMethod":"SUM","grant":{"hardCap":110,"overagePercent":10,"type":"number","unlimited":false,"value":100},"id":"e1","meterType":"RAW_EVENT","resetPeriod":"MONTH","slug":"api-calls","type":"NUMBER"},` +
			`{"grant":{"type":"boolean","value":false},"id":"e3","slug":"beta","type":"BOOLEAN"},` +
			`{"aggregationMethod":"SUM","grant":null,"id":"e5","meterType":"RAW_EVENT","resetPeriod":"NONE","slug":"seats","type":"NUMBER"},` +
			`{"grant":{"type":"boolean","value":true},"id":"e2","slug":"sso","type":"BOOLEAN"},` +
			`{"grant":{"type":"object","value":{"color":"blue","seats":5}},"id":"e4","slug":"theme","type":"CONFIG"}]`,
		"usage":    `{"api-calls":{"count":7,"current":42,"periodEnd":"2026-12-01T00:00:00Z","periodStart":"2026-11-01T00:00:00Z"}}`,
		"policies": `{"modules":{"eu.rego":"package entitled.custom\n\ndeny contains \"no\" if input.usage.current \u003c 0\n"},"version":4}`,
	}
	for k, w := range want {
		got, _ := json.Marshal(doc[k])
		if string(got) != w {
			t.Errorf("%s = %s\nwant %s", k, got, w)
		}
	}
	if len(doc) != len(want) {
		t.Errorf("dataset has %d members, want %d: %s", len(doc), len(want), js)
	}
	if d, _ := f.Decide("sso", nil, nil, testNow); d.PolicyVersion != 4 || !d.Allowed {
		t.Errorf("with policies: %+v", d)
	}
}

func TestParseErrors(t *testing.T) {
	k := newKey(t, "k1")
	cert := issue(t, k, sampleFacts(t, "eu-prod-1"))
	env := envelopeOf(t, cert)
	body := func(s string) string { return Begin + "\n" + s + "\n" + End + "\n" }
	b64s := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	envJSON := func(m map[string]any) string {
		b, _ := json.Marshal(m)
		return body(b64s(string(b)))
	}
	full := map[string]any{"enc": env.Enc, "sig": env.Sig, "alg": env.Alg, "kid": env.Kid}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for a, b := range full {
			m[a] = b
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	for _, c := range []struct {
		name string
		text string
		code Code
		msg  string
	}{
		{"empty", "", CodeArmor, "no -----BEGIN"},
		{"no end", Begin + "\nabc\n", CodeArmor, "no -----END"},
		{"nothing inside", Begin + "\n\n" + End, CodeArmor, "nothing between"},
		{"two files", cert + cert, CodeArmor, "more than one"},
		{"bad base64", body("not*base64"), CodeBase64, "armored body"},
		{"non-canonical base64", body(strings.TrimSuffix(b64s(`{"a":1}`), "=") + "A="), CodeBase64, "base64"},
		{"not JSON", body(b64s("hello")), CodeJSON, "envelope"},
		{"JSON array", body(b64s("[1]")), CodeJSON, "envelope"},
		{"trailing data", body(b64s(`{"enc":"a"} {}`)), CodeJSON, "after the object"},
		{"unknown member", envJSON(with("extra", "x")), CodeJSON, "unknown member"},
		{"member name case", envJSON(with("kid", nil)) + "", CodeJSON, "kid is missing"},
		{"Kid in capitals", envJSON(with("Kid", env.Kid)), CodeJSON, "unknown member"},
		{"number kid", envJSON(with("kid", 7)), CodeJSON, "not a string"},
		{"unknown alg", envJSON(with("alg", "base64+rsa")), CodeAlg, `unknown alg "base64+rsa"`},
		{"no alg", envJSON(with("alg", nil)), CodeAlg, "unknown alg"},
		{"no enc", envJSON(with("enc", nil)), CodeJSON, "enc is missing"},
		{"no sig", envJSON(with("sig", nil)), CodeJSON, "sig is missing"},
		{"sig not base64", envJSON(with("sig", "!!")), CodeBase64, "sig"},
		{"short sig", envJSON(with("sig", b64s("short"))), CodeSignature, "64"},
		{"enc not base64", envJSON(with("enc", "%%%")), CodeBase64, "enc"},
	} {
		_, err := Parse([]byte(c.text))
		wantCode(t, c.name, err, c.code)
		if !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %q does not say %q", c.name, err, c.msg)
		}
	}
	// Surrounding text and any line breaks are fine.
	if _, err := Parse([]byte("issued for ACME\n\n" + strings.ReplaceAll(cert, "\n", "\r\n") + "\nthanks")); err != nil {
		t.Errorf("armor with surrounding text and CRLF: %v", err)
	}
	one := Begin + strings.Join(strings.Fields(strings.TrimSuffix(strings.TrimPrefix(cert, Begin), End+"\n")), "") + End
	if _, err := Parse([]byte(one)); err != nil {
		t.Errorf("armor on one line: %v", err)
	}
	if !errors.Is(verifyErr(envJSON(with("alg", "x")), jwksOf(k)), ErrAlg) {
		t.Error("errors.Is(…, ErrAlg) does not match")
	}
}

// A dataset the issuer signed but that is inconsistent is refused after
// the signature checked out.
func TestBadDatasets(t *testing.T) {
	k := newKey(t, "k1")
	sign := func(js string) string {
		enc := base64.StdEncoding.EncodeToString([]byte(js))
		sig := base64.StdEncoding.EncodeToString(ed25519Sign(k, enc))
		return armorOf(t, Envelope{Enc: enc, Sig: sig, Alg: Alg, Kid: k.kid})
	}
	good, _ := NewDataset(sampleFacts(t, "eu-prod-1"))
	mutate := func(fn func(*Dataset)) string {
		js, _ := good.Encode()
		var ds Dataset
		if err := json.Unmarshal(js, &ds); err != nil {
			t.Fatal(err)
		}
		fn(&ds)
		out, _ := ds.Encode()
		return string(out)
	}
	for _, c := range []struct {
		name string
		js   string
		code Code
	}{
		{"not JSON", "nope", CodeJSON},
		{"no exp", mutate(func(d *Dataset) { d.Exp = time.Time{} }), CodeDataset},
		{"exp before iat", mutate(func(d *Dataset) { d.Exp = d.Iat.Add(-time.Second) }), CodeDataset},
		{"sub not the instance", mutate(func(d *Dataset) { d.Sub = "other" }), CodeDataset},
		{"iss not the organization", mutate(func(d *Dataset) { d.Iss = "other" }), CodeDataset},
		{"grant of the wrong type", mutate(func(d *Dataset) { d.Entitlements[1].Grant.Type = "number" }), CodeDataset},
		{"hard cap not the value's", mutate(func(d *Dataset) { d.Entitlements[0].Grant.HardCap = ptr(1e6) }), CodeDataset},
		{"grant without a license", mutate(func(d *Dataset) { d.License = nil }), CodeDataset},
		{"entitlement twice", mutate(func(d *Dataset) { d.Entitlements = append(d.Entitlements, d.Entitlements[0]) }), CodeDataset},
		{"policy that does not compile", mutate(func(d *Dataset) {
			d.Policies = &Policies{Version: 2, Modules: map[string]string{"x.rego": "package entitled.custom\ndeny contains x if {"}}
		}), CodePolicy},
		{"policy outside the sandbox", mutate(func(d *Dataset) {
			d.Policies = &Policies{Version: 2, Modules: map[string]string{"x.rego": "package entitled.custom\ndeny contains \"x\" if http.send({\"url\": \"http://x\", \"method\": \"GET\"})\n"}}
		}), CodePolicy},
	} {
		wantCode(t, c.name, verifyErr(sign(c.js), jwksOf(k)), c.code)
	}
}

// Flipping any byte of enc, sig or kid, or of the armored body, swapping
// one file's dataset into another's envelope, or verifying with another
// organization's JWKS fails with a clear error; nothing tampered ever
// verifies.
func TestTampering(t *testing.T) {
	k := newKey(t, "k1")
	jwks := jwksOf(k)
	cert := issue(t, k, sampleFacts(t, "eu-prod-1"))
	env := envelopeOf(t, cert)
	if err := verifyErr(cert, jwks); err != nil {
		t.Fatal(err)
	}
	flip := func(s string, i int) string { b := []byte(s); b[i] ^= 0x01; return string(b) }
	for i := range len(env.Enc) {
		e := env
		e.Enc = flip(e.Enc, i)
		err := verifyErr(armorOf(t, e), jwks)
		wantCode(t, "enc byte flipped", err, CodeSignature, CodeBase64)
		if errors.Is(err, ErrSignature) && !strings.Contains(err.Error(), "signature") {
			t.Fatalf("message does not say signature: %v", err)
		}
	}
	for i := range len(env.Sig) {
		e := env
		e.Sig = flip(e.Sig, i)
		wantCode(t, "sig byte flipped", verifyErr(armorOf(t, e), jwks), CodeSignature, CodeBase64)
	}
	for i := range len(env.Kid) {
		e := env
		e.Kid = flip(e.Kid, i)
		err := verifyErr(armorOf(t, e), jwks)
		wantCode(t, "kid byte flipped", err, CodeUnknownKey)
	}
	// Every byte of the armored text between the lines.
	lines := strings.Split(cert, "\n")
	for li := 1; li < len(lines)-2; li++ {
		for i := range len(lines[li]) {
			changed := append([]string(nil), lines...)
			changed[li] = flip(changed[li], i)
			if err := verifyErr(strings.Join(changed, "\n"), jwks); err == nil {
				t.Fatalf("line %d byte %d flipped still verifies", li, i)
			}
		}
	}

	// Another file's dataset in this file's envelope.
	other := envelopeOf(t, issue(t, k, sampleFacts(t, "us-prod-2")))
	swapped := env
	swapped.Enc = other.Enc
	err := verifyErr(armorOf(t, swapped), jwks)
	wantCode(t, "swapped dataset", err, CodeSignature)
	t.Logf("swapped dataset: %v", err)

	// Another organization's JWKS, and one that names the same kid with its
	// own key.
	globex := newKey(t, "k2")
	err = verifyErr(cert, jwksOf(globex))
	wantCode(t, "another organization's JWKS", err, CodeUnknownKey)
	t.Logf("another organization's JWKS: %v", err)
	impostor := newKey(t, k.kid)
	err = verifyErr(cert, jwksOf(impostor))
	wantCode(t, "a JWKS with the kid but another key", err, CodeSignature)

	// A changed dataset re-encoded but signed by nobody.
	js, _ := base64.StdEncoding.DecodeString(env.Enc)
	forged := env
	forged.Enc = base64.StdEncoding.EncodeToString(bytes.Replace(js, []byte(`"value":false`), []byte(`"value":true`), 1))
	err = verifyErr(armorOf(t, forged), jwks)
	wantCode(t, "forged dataset", err, CodeSignature)
	if !strings.Contains(err.Error(), "signature") {
		t.Errorf("forged dataset: %v", err)
	}
}

// The trust is the JWKS given, never a key in the file, and a failed
// Verify leaves the file unusable even after an earlier success.
func TestVerifyState(t *testing.T) {
	k := newKey(t, "k1")
	f, err := Parse([]byte(issue(t, k, sampleFacts(t, "eu-prod-1"))))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Decide("sso", nil, nil, testNow); !errors.Is(err, ErrNotVerified) {
		t.Fatalf("Decide before Verify: %v", err)
	}
	if f.Dataset() != nil {
		t.Fatal("dataset visible before Verify")
	}
	if err := f.VerifyAt(nil, testNow); !errors.Is(err, ErrJWKS) {
		t.Fatalf("nil JWKS: %v", err)
	}
	if err := f.VerifyAt(jwksOf(k), testNow); err != nil {
		t.Fatal(err)
	}
	if f.Dataset() == nil || f.Dataset().Sub != "eu-prod-1" {
		t.Fatal("no dataset after Verify")
	}
	if err := f.VerifyAt(jwksOf(newKey(t, "k9")), testNow); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("second Verify with another JWKS: %v", err)
	}
	if _, err := f.Decide("sso", nil, nil, testNow); !errors.Is(err, ErrNotVerified) {
		t.Fatalf("Decide after a failed Verify: %v", err)
	}
	if err := f.VerifyAt(jwksOf(k), testNow); err != nil {
		t.Fatal(err)
	}
	if d, err := f.Decide("sso", nil, nil, testNow); err != nil || !d.Allowed {
		t.Fatalf("after verifying again: %v %v", d, err)
	}
}

// A file signed by a key since rotated out still verifies with a JWKS
// holding both keys (the organization's serves retired keys too); a JWKS
// with only the new key does not know it.
func TestRotation(t *testing.T) {
	old, cur := newKey(t, "k-old"), newKey(t, "k-new")
	before := issue(t, old, sampleFacts(t, "eu-prod-1"))
	after := issue(t, cur, sampleFacts(t, "eu-prod-1"))
	both := jwksOf(cur, old)
	for name, cert := range map[string]string{"old key": before, "new key": after} {
		if err := verifyErr(cert, both); err != nil {
			t.Errorf("%s with both keys: %v", name, err)
		}
	}
	wantCode(t, "old key, new JWKS only", verifyErr(before, jwksOf(cur)), CodeUnknownKey)
}

func TestExpiryAndClock(t *testing.T) {
	k := newKey(t, "k1")
	facts := sampleFacts(t, "eu-prod-1")
	f := verifiedFile(t, issue(t, k, facts), jwksOf(k))
	exp := facts.ExpiresAt
	if d, _ := f.Decide("sso", nil, nil, exp.Add(-time.Second)); !d.Allowed {
		t.Fatalf("a second before exp: %+v", d)
	}
	for _, at := range []time.Time{exp, exp.Add(time.Hour), exp.Add(1000 * time.Hour)} {
		for _, e := range []string{"sso", "api-calls", "nope"} {
			d, err := f.Decide(e, nil, nil, at)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed || d.Reason != policy.ReasonLicenseFileExpired || len(d.Reasons) != 1 ||
				!strings.Contains(d.Reasons[0], "expired at 2026-12-28T12:00:00Z") || !d.EvaluatedAt.Equal(at) {
				t.Errorf("%s at %v: %+v", e, at, d)
			}
		}
	}
	// An expired file still verifies (its decisions say why they refuse).
	if err := f.VerifyAt(jwksOf(k), exp.Add(time.Hour)); err != nil {
		t.Errorf("expired file: %v", err)
	}

	iat := facts.IssuedAt
	if err := f.VerifyAt(jwksOf(k), iat.Add(-ClockSkew+time.Second)); err != nil {
		t.Errorf("within the skew: %v", err)
	}
	if _, err := f.Decide("sso", nil, nil, iat.Add(-ClockSkew-time.Second)); !errors.Is(err, ErrClock) {
		t.Errorf("Decide before iat - skew: %v", err)
	}
	err := f.VerifyAt(jwksOf(k), iat.Add(-time.Hour))
	if !errors.Is(err, ErrClock) {
		t.Errorf("Verify before iat - skew: %v", err)
	}
	t.Logf("clock set back: %v", err)
}

func TestDecideRequestErrors(t *testing.T) {
	k := newKey(t, "k1")
	f := verifiedFile(t, issue(t, k, sampleFacts(t, "eu-prod-1")), jwksOf(k))
	for _, r := range []float64{-1, 2e15} {
		if _, err := f.Decide("api-calls", &r, nil, testNow); !errors.Is(err, ErrRequest) {
			t.Errorf("requested %v: %v", r, err)
		}
	}
	if _, err := f.Decide("sso", nil, map[string]any{"ch": make(chan int)}, testNow); !errors.Is(err, ErrRequest) {
		t.Errorf("context with a channel: %v", err)
	}
	d, err := f.Decide("api-calls", nil, map[string]any{"country": "DE"}, testNow)
	if err != nil || !d.Allowed {
		t.Errorf("with a context: %+v %v", d, err)
	}
}

// A custom policy that cannot decide fails closed, as on the server.
func TestPolicyErrorFailsClosed(t *testing.T) {
	k := newKey(t, "k1")
	facts := sampleFacts(t, "eu-prod-1")
	facts.Policies = &Policies{Version: 2, Modules: map[string]string{"conflict.rego": `package entitled.custom

# Two values for one complete rule: an evaluation error at run time.
tier := "a" if input.request.context.n == "x"

tier := "b" if input.request.context.n == "x"

deny contains "tier" if tier == "a"
`}}
	f := verifiedFile(t, issue(t, k, facts), jwksOf(k))
	d, err := f.Decide("sso", nil, map[string]any{"n": "x"}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if d.Allowed || d.Reason != policy.ReasonPolicyError || len(d.Reasons) != 1 || d.PolicyVersion != 0 {
		t.Errorf("policy error: %+v", d)
	}
	t.Logf("policy error: %v", d.Reasons)
}

func TestParseJWKS(t *testing.T) {
	k := newKey(t, "k1")
	good, _ := json.Marshal(jwksOf(k))
	if s, err := ParseJWKS(good); err != nil || len(s.Keys) != 1 {
		t.Fatalf("%v %v", s, err)
	}
	// Keys of other types are skipped.
	mixed := `{"keys": [{"kty": "RSA", "kid": "r", "n": "x", "e": "AQAB"}, ` + string(mustJSON(t, k.jwk())) + `]}`
	if _, err := ParseJWKS([]byte(mixed)); err != nil {
		t.Errorf("mixed: %v", err)
	}
	x := k.jwk().X
	for name, raw := range map[string]string{
		"not JSON":       "nope",
		"no keys":        `{"keys": []}`,
		"only RSA":       `{"keys": [{"kty": "RSA", "kid": "r"}]}`,
		"no kid":         `{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "` + x + `"}]}`,
		"short x":        `{"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "a", "x": "AAAA"}]}`,
		"padded x":       `{"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "a", "x": "` + x + `="}]}`,
		"wrong alg":      `{"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "a", "alg": "RS256", "x": "` + x + `"}]}`,
		"encryption use": `{"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "a", "use": "enc", "x": "` + x + `"}]}`,
		"duplicate kid":  `{"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "a", "x": "` + x + `"}, {"kty": "OKP", "crv": "Ed25519", "kid": "a", "x": "` + x + `"}]}`,
	} {
		_, err := ParseJWKS([]byte(raw))
		wantCode(t, name, err, CodeJWKS)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A verified file decides from many goroutines at once (run with -race).
func TestConcurrentDecide(t *testing.T) {
	k := newKey(t, "k1")
	facts := sampleFacts(t, "eu-prod-1")
	facts.Policies = &Policies{Version: 2, Modules: map[string]string{"eu.rego": "package entitled.custom\n\ndeny contains \"no beta in DE\" if input.request.context.country == \"DE\"\n"}}
	f := verifiedFile(t, issue(t, k, facts), jwksOf(k))
	want := map[string]bool{"api-calls": true, "sso": true, "beta": false, "theme": true, "seats": false}
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			for i := range 50 {
				for e, allowed := range want {
					ctx := map[string]any{"country": "FR"}
					if (g+i)%3 == 0 {
						ctx["country"] = "DE"
					}
					d, err := f.Decide(e, nil, ctx, testNow)
					if err != nil {
						errs <- err
						return
					}
					if d.Allowed != (allowed && ctx["country"] != "DE") {
						errs <- fmt.Errorf("%s %v: %+v", e, ctx, d)
						return
					}
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
