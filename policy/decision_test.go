package policy

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

var testNow = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

func mustGrant(t testing.TB, value map[string]any, overage float64) *Grant {
	t.Helper()
	g, err := NewGrant(value, overageArg(overage))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// overageArg is a link's overagePercent as stored: 0 is none.
func overageArg(f float64) *float64 {
	if f == 0 {
		return nil
	}
	return &f
}

func numberFacts(t testing.TB) *Facts {
	expires := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	return &Facts{
		Now:             testNow,
		InstanceSlug:    "eu-prod-1",
		EntitlementSlug: "api-calls",
		Org:             &Org{ID: "o1", Slug: "acme"},
		Instance: &Instance{ID: "i1", Slug: "eu-prod-1", Name: "EU prod",
			Metadata: map[string]any{"region": "eu", "tier": json.Number("2")},
			StartsAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), ExpiresAt: &expires},
		License: &License{ID: "l1", Slug: "enterprise", Type: "PAID", Version: 3, VersionName: "v2.1", IsActive: true},
		Entitlement: &Entitlement{ID: "e1", Slug: "api-calls", Type: "NUMBER",
			MeterType: "RAW_EVENT", AggregationMethod: "SUM", ResetPeriod: "MONTH"},
		Grant: mustGrant(t, map[string]any{"type": "number", "value": 10000}, 0),
		Usage: &Usage{Current: 42, Count: 7,
			PeriodStart: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
			PeriodEnd:   time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)},
		Request: &Request{Requested: ptr(1.0), Context: map[string]any{}},
	}
}

func booleanFacts(t testing.TB) *Facts {
	return &Facts{
		Now:             testNow,
		InstanceSlug:    "eu-prod-1",
		EntitlementSlug: "sso",
		Org:             &Org{ID: "o1", Slug: "acme"},
		Instance: &Instance{ID: "i1", Slug: "eu-prod-1", Name: "EU prod",
			StartsAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		License:     &License{ID: "l1", Slug: "enterprise", Type: "PAID", Version: 3, IsActive: true},
		Entitlement: &Entitlement{ID: "e2", Slug: "sso", Type: "BOOLEAN"},
		Grant:       mustGrant(t, map[string]any{"type": "boolean", "value": true}, 0),
	}
}

func assertJSON(t *testing.T, f *Facts, want string) {
	t.Helper()
	got, err := InputJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expected JSON: %v", err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("input document\n got: %s\nwant: %s", got, want)
	}
}

func TestInputFull(t *testing.T) {
	assertJSON(t, numberFacts(t), `{
		"now": "2026-11-28T12:00:00Z",
		"organization": {"id": "o1", "slug": "acme"},
		"instance": {"id": "i1", "slug": "eu-prod-1", "name": "EU prod",
			"metadata": {"region": "eu", "tier": 2},
			"startsAt": "2026-01-01T00:00:00Z", "expiresAt": "2027-01-01T00:00:00Z"},
		"license": {"id": "l1", "slug": "enterprise", "type": "PAID", "version": 3,
			"versionName": "v2.1", "isActive": true},
		"entitlement": {"id": "e1", "slug": "api-calls", "type": "NUMBER",
			"meterType": "RAW_EVENT", "aggregationMethod": "SUM", "resetPeriod": "MONTH"},
		"grant": {"type": "number", "value": 10000, "unlimited": false,
			"overagePercent": 0, "hardCap": 10000},
		"usage": {"current": 42, "count": 7,
			"periodStart": "2026-11-01T00:00:00Z", "periodEnd": "2026-12-01T00:00:00Z"},
		"request": {"requested": 1, "context": {}}
	}`)
}

func TestInputSparse(t *testing.T) {
	// Boolean entitlement, no expiry, no versionName, no usage, nothing requested.
	assertJSON(t, booleanFacts(t), `{
		"now": "2026-11-28T12:00:00Z",
		"organization": {"id": "o1", "slug": "acme"},
		"instance": {"id": "i1", "slug": "eu-prod-1", "name": "EU prod", "metadata": {},
			"startsAt": "2026-01-01T00:00:00Z", "expiresAt": null},
		"license": {"id": "l1", "slug": "enterprise", "type": "PAID", "version": 3,
			"versionName": null, "isActive": true},
		"entitlement": {"id": "e2", "slug": "sso", "type": "BOOLEAN"},
		"grant": {"type": "boolean", "value": true},
		"request": {"requested": 1, "context": {}}
	}`)
	// Unknown instance: only what was asked.
	assertJSON(t, &Facts{Now: testNow, InstanceSlug: "ghost", EntitlementSlug: "sso",
		Org: &Org{ID: "o1", Slug: "acme"}}, `{
		"now": "2026-11-28T12:00:00Z",
		"organization": {"id": "o1", "slug": "acme"},
		"request": {"requested": 1, "context": {}}
	}`)
	// Instance whose license was removed.
	f := numberFacts(t)
	f.License, f.Grant, f.Usage, f.Request = nil, nil, nil, nil
	f.Now = time.Time{}
	got, err := InputJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(got, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"now", "license", "grant", "usage"} {
		if _, ok := m[k]; ok {
			t.Errorf("%q present in %s", k, got)
		}
	}
}

func TestInputUnlimitedAndConfig(t *testing.T) {
	f := numberFacts(t)
	f.Grant = mustGrant(t, map[string]any{"type": "number", "value": -1.0}, 0)
	f.Usage, f.Request = nil, &Request{Requested: ptr(2.5)}
	f.Instance, f.License, f.Org = nil, nil, nil
	f.Entitlement = &Entitlement{ID: "e1", Slug: "api-calls", Type: "NUMBER", MeterType: "CALCULATED_USAGE", AggregationMethod: "LATEST", ResetPeriod: "NONE"}
	assertJSON(t, f, `{
		"now": "2026-11-28T12:00:00Z",
		"entitlement": {"id": "e1", "slug": "api-calls", "type": "NUMBER",
			"meterType": "CALCULATED_USAGE", "aggregationMethod": "LATEST", "resetPeriod": "NONE"},
		"grant": {"type": "number", "value": -1, "unlimited": true, "overagePercent": 0, "hardCap": null},
		"request": {"requested": 2.5, "context": {}}
	}`)
	f = &Facts{Now: testNow.Add(1500 * time.Millisecond),
		Grant: mustGrant(t, map[string]any{"type": "object", "value": map[string]any{"color": "blue", "n": 1.5}}, 0)}
	assertJSON(t, f, `{"now": "2026-11-28T12:00:01.5Z", "grant": {"type": "object", "value": {"color": "blue", "n": 1.5}},
		"request": {"requested": 1, "context": {}}}`)
	f.Request = &Request{Context: map[string]any{"seats": 7}}
	assertJSON(t, f, `{"now": "2026-11-28T12:00:01.5Z", "grant": {"type": "object", "value": {"color": "blue", "n": 1.5}},
		"request": {"requested": 1, "context": {"seats": 7}}}`)
}

func TestNewGrant(t *testing.T) {
	cases := []struct {
		value     map[string]any
		overage   float64
		unlimited bool
		hardCap   float64
	}{
		{map[string]any{"type": "number", "value": 100}, 10, false, 110},
		{map[string]any{"type": "number", "value": json.Number("1000")}, 10, false, 1100},
		{map[string]any{"type": "number", "value": 100.0}, 0, false, 100},
		{map[string]any{"type": "number", "value": int64(7)}, 15, false, 8.05},
		{map[string]any{"type": "number", "value": 0}, 50, false, 0},
		{map[string]any{"type": "number", "value": -1}, 0, true, 0},
	}
	for _, c := range cases {
		g, err := NewGrant(c.value, overageArg(c.overage))
		if err != nil {
			t.Fatalf("%v: %v", c.value, err)
		}
		if g.Unlimited != c.unlimited || g.HardCap != c.hardCap || g.Limited() == c.unlimited {
			t.Errorf("%v +%v%%: unlimited=%v hardCap=%v, want %v %v", c.value, c.overage, g.Unlimited, g.HardCap, c.unlimited, c.hardCap)
		}
	}
	bad := []struct {
		value   map[string]any
		overage float64
	}{
		{nil, 0},
		{map[string]any{"type": "number"}, 0},
		{map[string]any{"type": "number", "value": -2}, 0},
		{map[string]any{"type": "number", "value": "10"}, 0},
		{map[string]any{"type": "number", "value": 10}, -1},
		{map[string]any{"type": "boolean", "value": 1}, 0},
		{map[string]any{"type": "boolean", "value": true}, 10},
		{map[string]any{"type": "object", "value": []any{}}, 0},
		{map[string]any{"type": "string", "value": "x"}, 0},
		{map[string]any{"type": "number", "value": -1}, 20},
		{map[string]any{"type": "number", "value": 1e16}, 0},
		{map[string]any{"type": "number", "value": 10}, 1001},
	}
	for _, b := range bad {
		if _, err := NewGrant(b.value, overageArg(b.overage)); err == nil {
			t.Errorf("NewGrant(%v, %v) accepted", b.value, b.overage)
		}
	}
}

func TestMap(t *testing.T) {
	f := numberFacts(t)
	f.Grant = mustGrant(t, map[string]any{"type": "number", "value": 100}, 10)
	f.Usage = &Usage{Current: 115}
	d := Map(f, testNow, Result{Allowed: false, Reason: ReasonLimitExceeded, Reasons: []string{"x"}, PolicyVersion: 4})
	if d.Allowed || d.Reason != ReasonLimitExceeded || d.Instance != "eu-prod-1" || d.Entitlement != "api-calls" ||
		*d.Usage != 115 || *d.Limit != 100 || *d.HardCap != 110 || *d.Remaining != 0 ||
		*d.LicenseVersion != 3 || d.PolicyVersion != 4 || !d.EvaluatedAt.Equal(testNow) || d.Value["value"] != 100.0 {
		t.Fatalf("got %+v", d)
	}
	f.Usage = nil
	d = Map(f, testNow, Result{Allowed: true, Reason: ReasonAllowed})
	if *d.Usage != 0 || *d.Remaining != 110 || d.Reasons == nil {
		t.Fatalf("no usage: %+v", d)
	}
	f.Grant = mustGrant(t, map[string]any{"type": "number", "value": -1}, 0)
	d = Map(f, testNow, Result{Allowed: true, Reason: ReasonAllowed})
	if *d.Limit != -1 || d.HardCap != nil || d.Remaining != nil {
		t.Fatalf("unlimited: %+v", d)
	}
	d = Map(booleanFacts(t), testNow, Result{Allowed: true, Reason: ReasonAllowed})
	if d.Usage != nil || d.Limit != nil || d.Value["value"] != true {
		t.Fatalf("boolean: %+v", d)
	}
	d = Map(&Facts{InstanceSlug: "ghost"}, testNow, Result{Reason: ReasonInstanceNotFound})
	if d.Value != nil || d.LicenseVersion != nil || d.Instance != "ghost" {
		t.Fatalf("not found: %+v", d)
	}
	bs, _ := json.Marshal(d)
	var m map[string]any
	_ = json.Unmarshal(bs, &m)
	for _, k := range []string{"allowed", "reason", "reasons", "instance", "entitlement", "value", "usage", "limit",
		"hardCap", "remaining", "licenseVersion", "policyVersion", "evaluatedAt"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, bs)
		}
	}
}

func TestDecide(t *testing.T) {
	s := Default()
	ctx := context.Background()

	f := numberFacts(t)
	f.Now = testNow
	d, err := s.Decide(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Allowed || d.Reason != ReasonAllowed || !d.EvaluatedAt.Equal(testNow) || *d.Remaining != 9958 {
		t.Fatalf("got %+v", d)
	}

	f.Usage = &Usage{Current: 10000}
	d, _ = s.Decide(ctx, f)
	if d.Allowed || d.Reason != ReasonLimitExceeded || d.Reasons[0] != "usage 10000 + requested 1 exceeds hard cap 10000" {
		t.Fatalf("got %+v", d)
	}

	// Expiry edges through the input's now.
	f.Usage = nil
	f.Now = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	if d, _ = s.Decide(ctx, f); d.Reason != ReasonLicenseExpired {
		t.Fatalf("at expiresAt: %+v", d)
	}
	f.Now = f.Now.Add(-time.Second)
	if d, _ = s.Decide(ctx, f); d.Reason != ReasonAllowed {
		t.Fatalf("one second before: %+v", d)
	}

	d, err = s.Decide(ctx, &Facts{Now: testNow, InstanceSlug: "ghost", EntitlementSlug: "sso"})
	if err != nil || d.Reason != ReasonInstanceNotFound || d.Reasons[0] != "instance not found" || d.Instance != "ghost" {
		t.Fatalf("ghost: %+v %v", d, err)
	}

	// An organization's custom policy.
	p, err := Compile([]Module{{Name: "eu.rego", Source: `package entitled.custom
deny contains "no sso in the EU" if input.instance.metadata.region == "eu"
`}}, WithVersion(2), WithEvalTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	bf := booleanFacts(t)
	bf.Instance = &Instance{ID: "i1", Slug: "eu-prod-1", Metadata: map[string]any{"region": "eu"}}
	d, err = p.Decide(ctx, bf)
	if err != nil || d.Reason != ReasonDeniedByPolicy || d.PolicyVersion != 2 || d.Reasons[0] != "no sso in the EU" {
		t.Fatalf("custom: %+v %v", d, err)
	}

	if _, err := s.Decide(ctx, &Facts{Request: &Request{Context: map[string]any{"ch": make(chan int)}}}); err == nil {
		t.Fatal("unconvertible context accepted")
	}
}

func TestPartTermsBuiltOnceConcurrently(t *testing.T) {
	f := numberFacts(t)
	var wg sync.WaitGroup
	terms := make([]any, 8)
	for i := range terms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			terms[i] = f.Instance.Term()
		}()
	}
	wg.Wait()
	for _, x := range terms {
		if x != terms[0] {
			t.Fatal("instance term built more than once")
		}
	}
}

func TestDecideExplainedAndChanged(t *testing.T) {
	ctx := context.Background()
	current, err := Compile([]Module{{Name: "eu.rego", Source: `package entitled.custom
deny contains "no sso in the EU" if input.instance.metadata.region == "eu"
`}}, WithVersion(1), WithEvalTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	f := booleanFacts(t)
	f.Instance = &Instance{ID: "i1", Slug: "eu-prod-1", Metadata: map[string]any{"region": "eu"}}
	d, err := current.DecideExplained(ctx, f)
	if err != nil || d.Reason != ReasonDeniedByPolicy || len(d.Explanation) == 0 ||
		!strings.Contains(d.Explanation.String(), "eu.rego:2: deny data.entitled.custom.deny: no sso in the EU") {
		t.Fatalf("%+v %v", d, err)
	}
	plain, _ := current.Decide(ctx, f)
	if plain.Explanation != nil {
		t.Fatal("Decide explains")
	}
	draft, err := Draft([]Module{{Name: "eu.rego"}}, Module{Name: "eu.rego", Source: "package entitled.custom\n"},
		WithEvalTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	after, err := draft.Decide(ctx, f)
	if err != nil || after.Reason != ReasonAllowed || !Changed(plain, after) {
		t.Fatalf("%+v %+v %v", plain, after, err)
	}
	if Changed(plain, plain) {
		t.Fatal("a decision differs from itself")
	}
}
