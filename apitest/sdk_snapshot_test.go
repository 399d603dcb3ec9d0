package apitest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/entitled/entitled/internal/testenv"
	"github.com/entitled/entitled/sdk/licensefile"
)

// sdkFixture is an organization with all three entitlement types, a
// custom deny policy and instances on two licenses (and one on none).
type sdkFixture struct {
	admin, check string
	paid, calls  string
	sso          string
}

func newSDKFixture(c client) sdkFixture {
	c.T.Helper()
	f := sdkFixture{admin: c.NewOrg("acme")}
	f.calls = c.NewEntitlement(f.admin, "api-calls", "NUMBER", map[string]any{"meterType": "RAW_EVENT", "aggregationMethod": "SUM", "resetPeriod": "MONTH"})
	f.sso = c.NewEntitlement(f.admin, "sso", "BOOLEAN", nil)
	beta := c.NewEntitlement(f.admin, "beta", "BOOLEAN", nil)
	brand := c.NewEntitlement(f.admin, "branding", "CONFIG", nil)
	f.paid = c.NewLicense(f.admin, "enterprise", "PAID", nil)
	trial := c.NewLicense(f.admin, "trial", "TRIAL", nil)
	c.Link(f.admin, f.paid, f.calls, num(100))
	c.Link(f.admin, f.paid, f.sso, boolean(true))
	c.Link(f.admin, f.paid, beta, boolean(false))
	c.Link(f.admin, f.paid, brand, object(map[string]any{"theme": "dark"}))
	c.Link(f.admin, trial, f.calls, num(10))
	c.MustDo(f.admin, createPolicyQ, map[string]any{"in": map[string]any{"name": "no-us-branding", "active": true, "module": `package entitled.custom

deny contains "branding is not sold in the US" if {
	input.entitlement.type == "CONFIG"
	input.instance.metadata.region == "us"
}
`}})
	for _, in := range []map[string]any{
		{"name": "EU", "slug": "eu-1", "licenseID": f.paid, "metadata": map[string]any{"region": "eu"}},
		{"name": "US", "slug": "us-1", "licenseID": f.paid, "metadata": map[string]any{"region": "us"}},
		{"name": "Trial", "slug": "trial-1", "licenseID": trial, "metadata": map[string]any{"region": "eu"}},
	} {
		c.MustDo(f.admin, qCreateInstance, map[string]any{"in": in})
	}
	c.MustDo(f.admin, `mutation { reportUsage(input: {instance: "trial-1", entitlement: "api-calls", value: 12}) { replayed } }`, nil)
	c.MustDo(f.admin, `mutation { reportUsage(input: {instance: "eu-1", entitlement: "api-calls", value: 40}) { replayed } }`, nil)
	f.check = c.NewKey(f.admin, "CHECK")
	return f
}

// snapshot fetches an instance's SDK snapshot.
func (c client) snapshot(key, inst string, header map[string]string) (int, http.Header, []byte) {
	c.T.Helper()
	return c.get(key, "/v1/sdk/snapshot?instance="+inst, header)
}

func revisionOf(t testing.TB, h http.Header) int64 {
	t.Helper()
	n, err := strconv.ParseInt(h.Get("X-Entitled-Revision"), 10, 64)
	if err != nil || n < 0 {
		t.Fatalf("X-Entitled-Revision %q: %v", h.Get("X-Entitled-Revision"), err)
	}
	return n
}

func jsonNum(v any) any {
	if n, ok := v.(json.Number); ok {
		f, _ := n.Float64()
		return f
	}
	return v
}

func ptrNum(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// A snapshot is a license file of the instance's current facts: it parses
// and verifies with the organization's served JWKS, lives for the
// snapshot lifetime, and decides every entitlement as the server does
// (allowed, reason, reasons, value, usage, limit, hard cap, remaining).
func TestSDKSnapshotVerifiesAndDecidesLikeTheServer(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		f := newSDKFixture(c)
		st, _, body := c.get("", "/v1/orgs/acme/jwks.json", nil)
		if st != http.StatusOK {
			t.Fatalf("jwks: %d %s", st, body)
		}
		// The first snapshot makes the organization's first key: fetch the
		// JWKS after it.
		reasons := map[string]int{}
		for _, inst := range []string{"eu-1", "us-1", "trial-1"} {
			st, h, cert := c.snapshot(f.check, inst, nil)
			if st != http.StatusOK {
				t.Fatalf("snapshot %s: %d %s", inst, st, cert)
			}
			if h.Get("Content-Type") != "text/plain; charset=utf-8" || h.Get("Cache-Control") != "private, no-cache" || len(h.Get("ETag")) != 66 {
				t.Errorf("snapshot headers: %v", h)
			}
			revisionOf(t, h)
			_, _, jb := c.get("", "/v1/orgs/acme/jwks.json", nil)
			jwks, err := licensefile.ParseJWKS(jb)
			if err != nil {
				t.Fatal(err)
			}
			file, err := licensefile.Parse(cert)
			if err != nil {
				t.Fatalf("parse %s: %v", inst, err)
			}
			if err := file.Verify(jwks); err != nil {
				t.Fatalf("verify %s: %v", inst, err)
			}
			ds := file.Dataset()
			if ds.Sub != inst || ds.Iss != "acme" || ds.Exp.Sub(ds.Iat) != 24*time.Hour {
				t.Errorf("dataset %s: sub %s iss %s lifetime %s", inst, ds.Sub, ds.Iss, ds.Exp.Sub(ds.Iat))
			}
			for _, e := range []string{"api-calls", "sso", "beta", "branding", "unknown"} {
				got, err := file.Decide(e, nil, nil, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				want := ask(t, c.Env, f.check, inst, e, nil)
				gotValue, _ := json.Marshal(got.Value)
				wantValue, _ := json.Marshal(want["value"])
				wantReasons, _ := json.Marshal(want["reasons"])
				gotReasons, _ := json.Marshal(got.Reasons)
				if got.Allowed != want["allowed"] || got.Reason != want["reason"] || string(gotReasons) != string(wantReasons) ||
					string(gotValue) != string(wantValue) || ptrNum(got.Usage) != jsonNum(want["usage"]) || ptrNum(got.Limit) != jsonNum(want["limit"]) ||
					ptrNum(got.HardCap) != jsonNum(want["hardCap"]) || ptrNum(got.Remaining) != jsonNum(want["remaining"]) {
					t.Errorf("%s × %s: snapshot %+v, server %v", inst, e, got, want)
				}
				reasons[got.Reason]++
			}
		}
		if reasons["DENIED_BY_POLICY"] == 0 || reasons["ALLOWED"] == 0 || reasons["ENTITLEMENT_NOT_FOUND"] == 0 || reasons["NOT_ENTITLED"] == 0 {
			t.Errorf("the fixture does not exercise every outcome: %v", reasons)
		}
	})
}

// The ETag names the facts: 304 while they are the same (the same
// signed bytes meanwhile), a new ETag after a usage report or a link
// change, and a revision that grew after the change. Snapshots are not
// stored as license files and not audited.
func TestSDKSnapshotETagFollowsTheFacts(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		f := newSDKFixture(c)
		st, h, first := c.snapshot(f.check, "eu-1", nil)
		if st != http.StatusOK {
			t.Fatalf("snapshot: %d %s", st, first)
		}
		etag, rev := h.Get("ETag"), revisionOf(t, h)
		if st, _, again := c.snapshot(f.check, "eu-1", nil); st != http.StatusOK || string(again) != string(first) {
			t.Errorf("unchanged facts were signed again: %d", st)
		}
		st, h304, b := c.snapshot(f.check, "eu-1", map[string]string{"If-None-Match": etag})
		if st != http.StatusNotModified || len(b) != 0 || h304.Get("ETag") != etag || revisionOf(t, h304) != rev {
			t.Errorf("If-None-Match of the current ETag: %d %v %q", st, h304, b)
		}
		if st, _, _ := c.snapshot(f.check, "eu-1", map[string]string{"If-None-Match": `"other"`}); st != http.StatusOK {
			t.Errorf("If-None-Match of another ETag: %d", st)
		}

		c.MustDo(f.check, `mutation { reportUsage(input: {instance: "eu-1", entitlement: "api-calls", value: 1}) { replayed } }`, nil)
		st, h, _ = c.snapshot(f.check, "eu-1", map[string]string{"If-None-Match": etag})
		if st != http.StatusOK || h.Get("ETag") == etag {
			t.Fatalf("after a usage report: %d, ETag %s (was %s)", st, h.Get("ETag"), etag)
		}
		etag = h.Get("ETag")

		c.Link(f.admin, f.paid, f.calls, num(200))
		st, h, cert := c.snapshot(f.check, "eu-1", map[string]string{"If-None-Match": etag})
		if st != http.StatusOK || h.Get("ETag") == etag {
			t.Fatalf("after setLicenseEntitlement: %d, ETag %s (was %s)", st, h.Get("ETag"), etag)
		}
		if got := revisionOf(t, h); got <= rev {
			t.Errorf("revision after a change: %d, before %d", got, rev)
		}
		file, err := licensefile.Parse(cert)
		if err != nil {
			t.Fatal(err)
		}
		_, _, jb := c.get("", "/v1/orgs/acme/jwks.json", nil)
		jwks, err := licensefile.ParseJWKS(jb)
		if err != nil {
			t.Fatal(err)
		}
		if err := file.Verify(jwks); err != nil {
			t.Fatal(err)
		}
		if d, err := file.Decide("api-calls", nil, nil, time.Now()); err != nil || d.Limit == nil || *d.Limit != 200 {
			t.Errorf("the new snapshot's limit: %+v %v", d, err)
		}

		files := c.MustDo(f.admin, `{ instances { edges { node { slug licenseFiles { id } } } } }`, nil)
		for _, e := range testenv.Get(files, "instances.edges").([]any) {
			if n := testenv.Len(e, "node.licenseFiles"); n != 0 {
				t.Errorf("%s has %d stored license files; snapshots are not stored", testenv.Str(e, "node.slug"), n)
			}
		}
		for _, ev := range c.trail(f.admin, nil) {
			if ev["action"] == "license_file.issued" {
				t.Errorf("a snapshot was audited: %v", ev)
			}
		}
	})
}

// Who may fetch what: CHECK and ADMIN keys fetch snapshots; READ keys are
// FORBIDDEN, no key 401; an unknown instance is NOT_FOUND and a missing
// one BAD_USER_INPUT, all as JSON {code, message}.
func TestSDKSnapshotRefusals(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		f := newSDKFixture(c)
		read := c.NewKey(f.admin, "READ")
		for _, tc := range []struct {
			key, path string
			status    int
			code      string
		}{
			{f.admin, "/v1/sdk/snapshot?instance=eu-1", http.StatusOK, ""},
			{f.check, "/v1/sdk/snapshot?instance=eu-1", http.StatusOK, ""},
			{read, "/v1/sdk/snapshot?instance=eu-1", http.StatusForbidden, "FORBIDDEN"},
			{"", "/v1/sdk/snapshot?instance=eu-1", http.StatusUnauthorized, "UNAUTHENTICATED"},
			{"etk_bogus", "/v1/sdk/snapshot?instance=eu-1", http.StatusUnauthorized, "UNAUTHENTICATED"},
			{f.check, "/v1/sdk/snapshot?instance=nope", http.StatusNotFound, "NOT_FOUND"},
			{f.check, "/v1/sdk/snapshot", http.StatusBadRequest, "BAD_USER_INPUT"},
		} {
			st, _, b := c.get(tc.key, tc.path, nil)
			if st != tc.status {
				t.Errorf("%s with %q: %d, want %d: %s", tc.path, tc.key, st, tc.status, b)
				continue
			}
			if tc.code == "" {
				continue
			}
			var e struct{ Code, Message string }
			if err := json.Unmarshal(b, &e); err != nil || e.Code != tc.code || e.Message == "" {
				t.Errorf("%s with %q: body %s, want code %s", tc.path, tc.key, b, tc.code)
			}
		}
	})
}
