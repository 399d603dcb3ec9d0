package policy_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/entitled/entitled/policy"
)

// TestDecisionInputsMatchSchema: the input documents Facts build match policy.InputSchema, whatever facts are missing.
func TestDecisionInputsMatchSchema(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	expires := now.AddDate(0, 1, 0)
	grant := func(v map[string]any, overage float64) *policy.Grant {
		var o *float64
		if overage != 0 {
			o = &overage
		}
		g, err := policy.NewGrant(v, o)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	one := 2.5
	full := func() *policy.Facts {
		return &policy.Facts{
			Now: now, InstanceSlug: "eu-prod-1", EntitlementSlug: "api-calls",
			Org: &policy.Org{ID: "o1", Slug: "acme"},
			Instance: &policy.Instance{ID: "i1", Slug: "eu-prod-1", Name: "EU", Metadata: map[string]any{"region": "eu"},
				StartsAt: now.AddDate(-1, 0, 0), ExpiresAt: &expires},
			License: &policy.License{ID: "l1", Slug: "enterprise", Type: "PAID", Version: 3, VersionName: "v2", IsActive: true},
			Entitlement: &policy.Entitlement{ID: "e1", Slug: "api-calls", Type: "NUMBER",
				MeterType: "RAW_EVENT", AggregationMethod: "SUM", ResetPeriod: "MONTH"},
			Grant:   grant(map[string]any{"type": "number", "value": 100.0}, 10),
			Usage:   &policy.Usage{Current: 42, Count: 7, PeriodStart: now.AddDate(0, 0, -27), PeriodEnd: now.AddDate(0, 0, 3)},
			Request: &policy.Request{Requested: &one, Context: map[string]any{"seats": 3}},
		}
	}
	facts := map[string]*policy.Facts{"full": full()}
	f := full()
	f.Grant, f.Usage = grant(map[string]any{"type": "number", "value": -1.0}, 0), &policy.Usage{Current: 1}
	facts["unlimited, usage without period"] = f
	f = full()
	f.Entitlement = &policy.Entitlement{ID: "e2", Slug: "sso", Type: "BOOLEAN"}
	f.Grant, f.Usage, f.Request = grant(map[string]any{"type": "boolean", "value": true}, 0), nil, nil
	f.Instance.ExpiresAt, f.Instance.StartsAt = nil, time.Time{}
	facts["boolean, no request, open-ended instance"] = f
	f = full()
	f.Entitlement = &policy.Entitlement{ID: "e3", Slug: "seats", Type: "CONFIG"}
	f.Grant, f.Usage = grant(map[string]any{"type": "object", "value": map[string]any{"maxUsers": 50.0}}, 0), nil
	facts["config"] = f
	facts["instance not found"] = &policy.Facts{Now: now, InstanceSlug: "ghost", EntitlementSlug: "sso", Org: &policy.Org{ID: "o1", Slug: "acme"}}
	f = full()
	f.License, f.Grant, f.Usage = nil, nil, nil
	facts["no license"] = f

	for name, f := range facts {
		bs, err := policy.InputJSON(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := json.Unmarshal(bs, &doc); err != nil {
			t.Fatal(err)
		}
		if errs := policy.CheckInputSchema(t, doc); len(errs) > 0 {
			t.Errorf("%s: %s\n%s", name, strings.Join(errs, "; "), bs)
		}
	}
}
