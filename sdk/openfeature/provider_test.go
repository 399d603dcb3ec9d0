package openfeature_test

import (
	"context"
	"testing"
	"time"

	of "github.com/open-feature/go-sdk/openfeature"

	"github.com/entitled/entitled/policy"
	"github.com/entitled/entitled/sdk"
	"github.com/entitled/entitled/sdk/licensefile"
	entof "github.com/entitled/entitled/sdk/openfeature"
	"github.com/entitled/entitled/sdk/sdktest"
)

func fixture(t *testing.T) sdktest.Instance {
	return sdktest.Instance{
		Instance: &policy.Instance{ID: "i1", Slug: "eu-prod-1", Name: "EU", Metadata: map[string]any{"region": "eu"},
			StartsAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		License: &policy.License{ID: "l1", Slug: "enterprise", Type: "PAID", Version: 3, IsActive: true},
		Entitlements: []licensefile.Granted{
			{Entitlement: &policy.Entitlement{ID: "e1", Slug: "api-calls", Type: "NUMBER", MeterType: "RAW_EVENT", AggregationMethod: "SUM", ResetPeriod: "NONE"},
				Grant: sdktest.Grant(t, map[string]any{"type": "number", "value": 100.0}, 0)},
			{Entitlement: &policy.Entitlement{ID: "e2", Slug: "sso", Type: "BOOLEAN"}, Grant: sdktest.Grant(t, map[string]any{"type": "boolean", "value": true}, 0)},
			{Entitlement: &policy.Entitlement{ID: "e4", Slug: "branding", Type: "CONFIG"},
				Grant: sdktest.Grant(t, map[string]any{"type": "object", "value": map[string]any{"logo": "acme.png"}}, 0)},
		},
	}
}

func TestProvider(t *testing.T) {
	s := sdktest.NewServer("acme")
	t.Cleanup(s.Close)
	s.Set(fixture(t))
	c, err := sdk.New(context.Background(), sdk.Config{URL: s.URL, APIKey: sdktest.APIKey, JWKS: s.JWKS(),
		UsageRefresh: 50 * time.Millisecond, ReportInterval: 10 * time.Millisecond, CloseTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	var trackErrs []error
	p := entof.NewProvider(c, entof.WithTrackErrors(func(err error) { trackErrs = append(trackErrs, err) }))
	if err := of.SetNamedProviderAndWait(t.Name(), p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = of.SetNamedProviderAndWait(t.Name(), of.NoopProvider{}) })
	oc := of.NewClient(t.Name())
	ctx := context.Background()
	ec := of.NewEvaluationContext("eu-prod-1", nil)

	b, err := oc.BooleanValueDetails(ctx, "sso", false, ec)
	if err != nil || !b.Value || b.Reason != of.StaticReason || b.FlagMetadata["reason"] != "ALLOWED" {
		t.Errorf("sso: %+v %v", b, err)
	}
	o, err := oc.ObjectValue(ctx, "branding", nil, ec)
	if m, _ := o.(map[string]any); err != nil || m["logo"] != "acme.png" {
		t.Errorf("branding: %v %v", o, err)
	}
	f, err := oc.FloatValueDetails(ctx, "api-calls", -1, ec)
	if err != nil || f.Value != 100 || f.FlagMetadata["limit"] != 100.0 || f.FlagMetadata["licenseVersion"] != 3 {
		t.Errorf("api-calls: %+v %v", f, err)
	}
	i, err := oc.IntValue(ctx, "api-calls", -1, ec)
	if err != nil || i != 100 {
		t.Errorf("api-calls int: %v %v", i, err)
	}
	nf, err := oc.BooleanValueDetails(ctx, "nope", true, ec)
	if err == nil || nf.ErrorCode != of.FlagNotFoundCode || !nf.Value {
		t.Errorf("unknown flag: %+v %v", nf, err)
	}
	nk, err := oc.BooleanValueDetails(ctx, "sso", false, of.NewTargetlessEvaluationContext(nil))
	if err == nil || nk.ErrorCode != of.TargetingKeyMissingCode {
		t.Errorf("no targeting key: %+v %v", nk, err)
	}
	ni, err := oc.BooleanValueDetails(ctx, "sso", false, of.NewEvaluationContext("nobody", nil))
	if err == nil || ni.ErrorCode != of.GeneralCode {
		t.Errorf("unknown instance: %+v %v", ni, err)
	}
	tm, err := oc.FloatValueDetails(ctx, "sso", -1, ec)
	if err == nil || tm.ErrorCode != of.TypeMismatchCode {
		t.Errorf("float of a boolean: %+v %v", tm, err)
	}

	// Track reports usage.
	oc.Track(ctx, "api-calls", ec, of.NewTrackingEventDetails(40))
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	oc.Track(ctx, "api-calls", of.NewTargetlessEvaluationContext(nil), of.NewTrackingEventDetails(1))
	if len(trackErrs) != 1 {
		t.Errorf("Track without a targeting key: errors %v", trackErrs)
	}
	if u := s.Usage("eu-prod-1", "api-calls"); u.Current != 40 {
		t.Errorf("server usage after Track %v, want 40", u.Current)
	}
	if f, _ := oc.FloatValue(ctx, "api-calls", -1, ec); f != 60 {
		t.Errorf("remaining after Track %v, want 60", f)
	}

	// A custom policy decides: TARGETING_MATCH; the change is an event.
	changed := make(chan of.EventDetails, 16)
	cb := func(d of.EventDetails) { changed <- d }
	oc.AddHandler(of.ProviderConfigChange, &cb)
	s.SetPolicies(&licensefile.Policies{Version: 2, Modules: map[string]string{"deny.rego": `package entitled.custom

deny contains "no sso in the EU" if {
	input.instance.metadata.region == "eu"
	input.entitlement.slug == "sso"
}
`}})
	// (A usage change of api-calls may come first: wait for the one
	// naming sso.)
	for seen := false; !seen; {
		select {
		case d := <-changed:
			for _, f := range d.FlagChanges {
				seen = seen || f == "sso"
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no PROVIDER_CONFIGURATION_CHANGED event naming sso")
		}
	}
	b, _ = oc.BooleanValueDetails(ctx, "sso", true, ec)
	if b.Value || b.Reason != of.TargetingMatchReason || b.FlagMetadata["reason"] != "DENIED_BY_POLICY" {
		t.Errorf("denied by policy: %+v", b)
	}

	// Stale answers are CACHED.
	s.SetDown(true)
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ = oc.BooleanValueDetails(ctx, "branding", false, ec)
		if b.Reason == of.CachedReason || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if b.Reason != of.CachedReason || !b.Value {
		t.Errorf("during an outage: %+v", b)
	}
}
