package policy

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// The worked examples of docs/policies.md live in examples/*.rego with
// companion *_test.rego files (stock `opa test policy/rego policy/examples`).
// Here each is compiled as an organization's only custom module and must
// change the decision as documented; its Rego tests must pass in-process
// under the sandbox (RunModuleTests).

func readExample(t testing.TB, name string) Module {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return Module{Name: name, Source: string(src)}
}

// exampleInput is a valid NUMBER question on a Wednesday, with parts
// replaced by "dotted.path=JSON value" patches.
func exampleInput(t testing.TB, patches ...string) ast.Value {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal([]byte(`{
		"now": "2026-11-25T12:00:00Z",
		"organization": {"id": "o1", "slug": "acme"},
		"instance": {"id": "i1", "slug": "eu-prod-1", "name": "EU prod", "metadata": {"region": "eu"},
			"startsAt": "2026-01-01T00:00:00Z", "expiresAt": "2027-01-01T00:00:00Z"},
		"license": {"id": "l1", "slug": "enterprise", "type": "PAID", "version": 3, "versionName": "v2.1", "isActive": true},
		"entitlement": {"id": "e1", "slug": "api-calls", "type": "NUMBER", "meterType": "RAW_EVENT",
			"aggregationMethod": "SUM", "resetPeriod": "MONTH"},
		"grant": {"type": "number", "value": 1000, "unlimited": false, "overagePercent": 0, "hardCap": 1000},
		"usage": {"current": 42, "count": 7},
		"request": {"requested": 1, "context": {}}
	}`), &doc); err != nil {
		t.Fatal(err)
	}
	for _, p := range patches {
		path, val, ok := strings.Cut(p, "=")
		if !ok {
			t.Fatalf("bad patch %q", p)
		}
		var v any
		if err := json.Unmarshal([]byte(val), &v); err != nil {
			t.Fatalf("patch %q: %v", p, err)
		}
		keys := strings.Split(path, ".")
		obj := doc
		for _, k := range keys[:len(keys)-1] {
			obj = obj[k].(map[string]any)
		}
		obj[keys[len(keys)-1]] = v
	}
	if errs := checkSchema(loadSchema(t), jsonRoundTrip(t, doc)); len(errs) > 0 {
		t.Fatalf("example input %v does not match the schema: %v", patches, errs)
	}
	return toValue(t, doc)
}

type exampleCase struct {
	name    string
	patches []string
	before  string // default policy reason
	after   string // with the example
	reasons []string
}

func checkExample(t *testing.T, file string, cases []exampleCase) {
	t.Helper()
	mod := readExample(t, file)
	if errs := Validate(mod, nil); errs != nil {
		t.Fatalf("%s does not validate: %v", file, errs)
	}
	p, err := Compile([]Module{mod}, WithVersion(1))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range cases {
		in := exampleInput(t, c.patches...)
		before, err := Default().Eval(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		after, err := p.Eval(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if before.Reason != c.before || after.Reason != c.after {
			t.Errorf("%s: %s: reason %s → %s (%q), want %s → %s", file, c.name, before.Reason, after.Reason, after.Reasons, c.before, c.after)
		}
		if c.reasons != nil && !slices.Equal(after.Reasons, c.reasons) {
			t.Errorf("%s: %s: reasons %q, want %q", file, c.name, after.Reasons, c.reasons)
		}
		if after.Allowed != (after.Reason == ReasonAllowed || after.Reason == ReasonGrantedByPolicy) {
			t.Errorf("%s: %s: allowed=%v with reason %s", file, c.name, after.Allowed, after.Reason)
		}
	}
	// Its Rego tests pass in-process, in the sandbox.
	results, err := RunModuleTests(ctx, []Module{mod}, []Module{readExample(t, strings.TrimSuffix(file, ".rego")+"_test.rego")})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) < 4 {
		t.Errorf("%s: ran %d Rego tests", file, len(results))
	}
	for _, r := range results {
		if !r.Passed {
			t.Errorf("%s: Rego test %s failed: %s %s", file, r.Name, r.Error, r.Output)
		}
	}
}

func TestExampleGracePeriod(t *testing.T) {
	expired := `instance.expiresAt="2026-11-20T00:00:00Z"`
	checkExample(t, "grace_period.rego", []exampleCase{
		{"valid license", nil, ReasonAllowed, ReasonAllowed, []string{}},
		{"PAID, expired 5.5 days ago", []string{expired}, ReasonLicenseExpired, ReasonGrantedByPolicy,
			[]string{`license "enterprise" expired at 2026-11-20T00:00:00Z: grace period of 14 days, 9 left`}},
		{"PAID, expired 14 days ago", []string{expired, `now="2026-12-04T00:00:00Z"`}, ReasonLicenseExpired, ReasonLicenseExpired, nil},
		{"PAID, last second of grace", []string{expired, `now="2026-12-03T23:59:59Z"`}, ReasonLicenseExpired, ReasonGrantedByPolicy, nil},
		{"TRIAL, expired", []string{expired, `license.type="TRIAL"`}, ReasonLicenseExpired, ReasonLicenseExpired, nil},
		{"inactive stays refused", []string{expired, `license.isActive=false`}, ReasonLicenseInactive, ReasonLicenseInactive, nil},
	})
}

func TestExampleRegion(t *testing.T) {
	config := []string{`entitlement={"id": "e3", "slug": "regions", "type": "CONFIG"}`,
		`grant={"type": "object", "value": {"allowedRegions": ["apac"]}}`}
	checkExample(t, "region.rego", []exampleCase{
		{"allowed region", nil, ReasonAllowed, ReasonAllowed, nil},
		{"other region", []string{`instance.metadata={"region": "apac"}`}, ReasonAllowed, ReasonDeniedByPolicy,
			[]string{`instance "eu-prod-1" is in region apac, which is not allowed (allowed: eu, us)`}},
		{"no region", []string{`instance.metadata={}`}, ReasonAllowed, ReasonDeniedByPolicy,
			[]string{`instance "eu-prod-1" has no region in its metadata`}},
		{"CONFIG list allows", append([]string{`instance.metadata={"region": "apac"}`}, config...), ReasonAllowed, ReasonAllowed, nil},
		{"CONFIG list denies", config, ReasonAllowed, ReasonDeniedByPolicy,
			[]string{`instance "eu-prod-1" is in region eu, which is not allowed (allowed: apac)`}},
		{"deny over a refusal", []string{`instance.metadata={"region": "apac"}`, `usage.current=5000`}, ReasonLimitExceeded, ReasonDeniedByPolicy, nil},
	})
}

func TestExampleWeekendBurst(t *testing.T) {
	sat, sun := `now="2026-11-28T12:00:00Z"`, `now="2026-11-29T12:00:00Z"`
	checkExample(t, "weekend_burst.rego", []exampleCase{
		{"weekday, over", []string{`usage.current=1100`}, ReasonLimitExceeded, ReasonLimitExceeded, nil},
		{"saturday, over within 20%", []string{sat, `usage.current=1100`}, ReasonLimitExceeded, ReasonGrantedByPolicy,
			[]string{"weekend burst: usage 1100 + requested 1 is within 1200 (hard cap 1000 + 20%)"}},
		{"sunday, at the burst cap", []string{sun, `usage.current=1199`}, ReasonLimitExceeded, ReasonGrantedByPolicy, nil},
		{"sunday, past the burst cap", []string{sun, `usage.current=1200`}, ReasonLimitExceeded, ReasonLimitExceeded, nil},
		{"saturday, within limits", []string{sat}, ReasonAllowed, ReasonAllowed, []string{}},
		{"saturday, unlimited", []string{sat, `grant={"type": "number", "value": -1, "unlimited": true, "overagePercent": 0, "hardCap": null}`},
			ReasonAllowed, ReasonAllowed, nil},
	})
}

func TestExampleSeatCap(t *testing.T) {
	seats := []string{`entitlement={"id": "e3", "slug": "seats", "type": "CONFIG"}`, `grant={"type": "object", "value": {"maxUsers": 50}}`}
	checkExample(t, "seat_cap.rego", []exampleCase{
		{"within cap", append(seats, `request.context={"seats": 50}`), ReasonAllowed, ReasonAllowed, nil},
		{"over cap", append(seats, `request.context={"seats": 51}`), ReasonAllowed, ReasonDeniedByPolicy,
			[]string{`51 seats requested, but "seats" allows at most 50 (maxUsers)`}},
		{"no seats asked", seats, ReasonAllowed, ReasonAllowed, nil},
		{"NUMBER entitlement unaffected", []string{`request.context={"seats": 51}`}, ReasonAllowed, ReasonAllowed, nil},
	})
}

// TestExamplesTogether: the four modules compile together (as one
// organization's policy set) and keep their documented effects.
func TestExamplesTogether(t *testing.T) {
	var mods []Module
	for _, f := range []string{"grace_period.rego", "region.rego", "weekend_burst.rego", "seat_cap.rego"} {
		mods = append(mods, readExample(t, f))
	}
	p, err := Compile(mods)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for patches, want := range map[string]string{
		`usage.current=1100|now="2026-11-28T12:00:00Z"`:                               ReasonGrantedByPolicy,
		`usage.current=1100|now="2026-11-28T12:00:00Z"|instance.metadata={}`:          ReasonDeniedByPolicy,
		`instance.expiresAt="2026-11-20T00:00:00Z"`:                                   ReasonGrantedByPolicy,
		`instance.expiresAt="2026-11-20T00:00:00Z"|instance.metadata={"region": "x"}`: ReasonDeniedByPolicy,
	} {
		r, err := p.Eval(ctx, exampleInput(t, strings.Split(patches, "|")...))
		if err != nil || r.Reason != want {
			t.Errorf("%s: %+v %v, want %s", patches, r, err, want)
		}
	}
}
