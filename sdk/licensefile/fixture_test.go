package licensefile

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/entitled/entitled/policy"
)

// A fixture organization with a custom deny policy and a CONFIG
// entitlement: for every instance × entitlement (and a slug it does not
// have), the decision from the instance's file equals the server's for the
// facts the server gathers (internal/decision.Facts: the organization's
// entitlements, the instance's license and its grants, usage for granted
// NUMBER entitlements). The lead's API test does the same through
// issueLicenseFile and allowed.
func TestFixtureOrganization(t *testing.T) {
	ctx := context.Background()
	key := newKey(t, "k1")
	jwks := jwksOf(key)
	org := &policy.Org{ID: "o1", Slug: "acme"}
	mods := map[string]string{"custom.rego": `package entitled.custom

deny contains "branding is not sold in the US" if {
	input.entitlement.type == "CONFIG"
	input.instance.metadata.region == "us"
}

deny contains sprintf("trial instances may not burst past %v", [input.usage.current]) if {
	input.license.type == "TRIAL"
	input.usage.current >= 50
}
`}
	server, err := policy.Compile([]policy.Module{{Name: "custom.rego", Source: mods["custom.rego"]}},
		policy.WithVersion(5), policy.WithEvalTimeout(evalTimeout))
	if err != nil {
		t.Fatal(err)
	}

	ents := []*policy.Entitlement{
		{ID: "e1", Slug: "api-calls", Type: "NUMBER", MeterType: "RAW_EVENT", AggregationMethod: "SUM", ResetPeriod: "MONTH"},
		{ID: "e2", Slug: "sso", Type: "BOOLEAN"},
		{ID: "e3", Slug: "beta", Type: "BOOLEAN"},
		{ID: "e4", Slug: "branding", Type: "CONFIG"},
		{ID: "e5", Slug: "seats", Type: "NUMBER", MeterType: "RAW_EVENT", AggregationMethod: "MAX", ResetPeriod: "NONE"},
	}
	paid := &policy.License{ID: "l1", Slug: "enterprise", Type: "PAID", Version: 4, VersionName: "2026", IsActive: true}
	trial := &policy.License{ID: "l2", Slug: "trial", Type: "TRIAL", Version: 1, IsActive: true}
	off := &policy.License{ID: "l3", Slug: "old", Type: "PAID", Version: 9, IsActive: false}
	grants := map[string]map[string]*policy.Grant{
		"l1": {"e1": mustGrant(t, map[string]any{"type": "number", "value": 1000.0}, 20), "e2": mustGrant(t, map[string]any{"type": "boolean", "value": true}, 0),
			"e3": mustGrant(t, map[string]any{"type": "boolean", "value": false}, 0),
			"e4": mustGrant(t, map[string]any{"type": "object", "value": map[string]any{"theme": "dark", "logo": true}}, 0)},
		"l2": {"e1": mustGrant(t, map[string]any{"type": "number", "value": 100.0}, 0), "e4": mustGrant(t, map[string]any{"type": "object", "value": map[string]any{"theme": "plain"}}, 0)},
		"l3": {"e2": mustGrant(t, map[string]any{"type": "boolean", "value": true}, 0)},
	}
	period := func(u float64) *policy.Usage {
		return &policy.Usage{Current: u, Count: 3, PeriodStart: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), PeriodEnd: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	}
	ended := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	type inst struct {
		i     *policy.Instance
		lic   *policy.License
		usage float64
	}
	instances := []inst{
		{&policy.Instance{ID: "i1", Slug: "eu-1", Name: "EU", Metadata: map[string]any{"region": "eu"}, StartsAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, paid, 1199},
		{&policy.Instance{ID: "i2", Slug: "us-1", Name: "US", Metadata: map[string]any{"region": "us"}}, paid, 10},
		{&policy.Instance{ID: "i3", Slug: "trial-1", Name: "Trial", Metadata: map[string]any{"region": "eu"}}, trial, 50},
		{&policy.Instance{ID: "i4", Slug: "trial-2", Name: "Trial 2"}, trial, 3},
		{&policy.Instance{ID: "i5", Slug: "gone-1", Name: "Ended", ExpiresAt: &ended}, paid, 0},
		{&policy.Instance{ID: "i6", Slug: "off-1", Name: "Inactive"}, off, 0},
		{&policy.Instance{ID: "i7", Slug: "bare-1", Name: "No license"}, nil, 0},
	}
	asked := []string{"api-calls", "sso", "beta", "branding", "seats", "unknown"}
	allowed, denied := 0, 0
	for _, in := range instances {
		// The file: every entitlement of the organization, with the
		// instance's grant or null.
		facts := Facts{Org: org, Instance: in.i, License: in.lic, Policies: &Policies{Version: 5, Modules: mods},
			IssuedAt: testNow.Add(-time.Hour), ExpiresAt: testNow.Add(720 * time.Hour)}
		serverFacts := func(slug string) *policy.Facts {
			f := &policy.Facts{Now: testNow, InstanceSlug: in.i.Slug, EntitlementSlug: slug, Org: org, Instance: in.i, License: in.lic,
				Request: &policy.Request{}}
			for _, e := range ents {
				if e.Slug != slug {
					continue
				}
				f.Entitlement = e
				if in.lic != nil {
					f.Grant = grants[in.lic.ID][e.ID]
				}
				if f.Grant != nil && e.Type == policy.EntitlementNumber {
					f.Usage = period(in.usage)
				}
			}
			return f
		}
		for _, e := range ents {
			sf := serverFacts(e.Slug)
			facts.Entitlements = append(facts.Entitlements, Granted{Entitlement: e, Grant: sf.Grant, Usage: sf.Usage})
		}
		f := verifiedFile(t, issue(t, key, facts), jwks)
		for _, slug := range asked {
			want, err := server.Decide(ctx, serverFacts(slug))
			if err != nil {
				t.Fatal(err)
			}
			got, err := f.Decide(slug, nil, nil, testNow)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s × %s: file %+v\nserver %+v", in.i.Slug, slug, got, want)
			}
			if got.Allowed {
				allowed++
			} else {
				denied++
			}
		}
	}
	t.Logf("%d instances × %d entitlements: %d allowed, %d denied, all equal to the server's", len(instances), len(asked), allowed, denied)
	if allowed < 5 || denied < 15 {
		t.Errorf("fixture too one-sided: %d allowed, %d denied", allowed, denied)
	}
}
