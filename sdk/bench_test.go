package sdk_test

import (
	"context"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/entitled/entitled/policy"
	"github.com/entitled/entitled/sdk"
	"github.com/entitled/entitled/sdk/licensefile"
	"github.com/entitled/entitled/sdk/sdktest"
)

// Local Allowed against a raw OPA prepared evaluation of the same policy
// (policy.EngineModules, the modules the engine compiles; plus the custom
// module for _Custom) and the same input document (built once, outside
// the loop, from the same facts the snapshot signs). docs/benchmarks.md
// has the figures.
//
//   - Allowed_*: the ordinary call (no request context): remembered
//     between the facts' moments, so most calls do not evaluate.
//   - AllowedEval_*: with a request context, which is never remembered:
//     every call builds the input and evaluates, as the server does.
//   - RawOPA_*: rego.PreparedEvalQuery.Eval on a prebuilt input (the
//     request of AllowedEval_*: requested 1, context {"country": "DE"}).

var benchModule = `package entitled.custom

deny contains "US instances may not use sso" if {
	input.instance.metadata.region == "us"
	input.entitlement.slug == "sso"
}
`

func benchServer(b *testing.B, custom bool) (*sdktest.Server, sdktest.Instance) {
	s := sdktest.NewServer("acme")
	b.Cleanup(s.Close)
	in := fixture(b, "eu-prod-1")
	s.Set(in)
	if custom {
		s.SetPolicies(&licensefile.Policies{Version: 3, Modules: map[string]string{"region.rego": benchModule}})
	}
	return s, in
}

func benchClient(b *testing.B, s *sdktest.Server) *sdk.Client {
	cfg := fast(s, "")
	cfg.UsageRefresh = -1
	c := newClient(b, cfg)
	allowed(b, c, "eu-prod-1", "sso")
	return c
}

func benchAllowed(b *testing.B, custom bool, ent string, withContext bool) {
	s, _ := benchServer(b, custom)
	c := benchClient(b, s)
	ctx := context.Background()
	opts := []sdk.AllowedOption{sdk.Requested(1)}
	if withContext {
		opts = append(opts, sdk.Context(map[string]any{"country": "DE"}))
	}
	b.ReportAllocs()
	b.ResetTimer()
	timeouts := 0
	for b.Loop() {
		d, err := c.Allowed(ctx, "eu-prod-1", ent, opts...)
		if d.Reason == policy.ReasonPolicyError {
			timeouts++ // the 25 ms deadline of custom modules, on a loaded machine
			continue
		}
		if err != nil || !d.Allowed {
			b.Fatal(err, d)
		}
	}
	b.ReportMetric(float64(timeouts), "timeouts")
}

// benchParallel is the throughput figure: every core asking.
func benchParallel(b *testing.B, withContext bool) {
	s, _ := benchServer(b, false)
	c := benchClient(b, s)
	ctx := context.Background()
	opts := []sdk.AllowedOption{sdk.Requested(1)}
	if withContext {
		opts = append(opts, sdk.Context(map[string]any{"country": "DE"}))
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			d, err := c.Allowed(ctx, "eu-prod-1", "api-calls", opts...)
			if err != nil || !d.Allowed {
				b.Error(err, d)
				return
			}
		}
	})
}

func benchRaw(b *testing.B, custom bool, ent string) {
	_, in := benchServer(b, custom)
	opts := []func(*rego.Rego){rego.Query(policy.Query)}
	for _, m := range policy.EngineModules() {
		opts = append(opts, rego.Module(m.Name, m.Source))
	}
	if custom {
		opts = append(opts, rego.Module("region.rego", benchModule))
	}
	pq, err := rego.New(opts...).PrepareForEval(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	f := &policy.Facts{Now: time.Now(), InstanceSlug: "eu-prod-1", EntitlementSlug: ent,
		Org: &policy.Org{ID: "org-acme", Slug: "acme"}, Instance: in.Instance, License: in.License,
		// The request AllowedEval_* sends.
		Request: &policy.Request{Requested: ptr(1.0), Context: map[string]any{"country": "DE"}}}
	for _, g := range in.Entitlements {
		if g.Entitlement.Slug == ent {
			f.Entitlement, f.Grant = g.Entitlement, g.Grant
			if g.Entitlement.Type == policy.EntitlementNumber {
				f.Usage = &policy.Usage{}
			}
		}
	}
	input := policy.InputValue(f)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rs, err := pq.Eval(ctx, rego.EvalParsedInput(input))
		if err != nil || len(rs) != 1 {
			b.Fatal(err, rs)
		}
		if d := rs[0].Expressions[0].Value.(map[string]any); d["allowed"] != true {
			b.Fatal(d)
		}
	}
}

func BenchmarkAllowed_Boolean(b *testing.B)     { benchAllowed(b, false, "sso", false) }
func BenchmarkAllowedEval_Boolean(b *testing.B) { benchAllowed(b, false, "sso", true) }
func BenchmarkRawOPA_Boolean(b *testing.B)      { benchRaw(b, false, "sso") }
func BenchmarkAllowed_Number(b *testing.B)      { benchAllowed(b, false, "api-calls", false) }
func BenchmarkAllowedEval_Number(b *testing.B)  { benchAllowed(b, false, "api-calls", true) }
func BenchmarkRawOPA_Number(b *testing.B)       { benchRaw(b, false, "api-calls") }
func BenchmarkAllowed_Custom(b *testing.B)      { benchAllowed(b, true, "sso", false) }
func BenchmarkAllowedEval_Custom(b *testing.B)  { benchAllowed(b, true, "sso", true) }
func BenchmarkRawOPA_Custom(b *testing.B)       { benchRaw(b, true, "sso") }
func BenchmarkAllowedParallel(b *testing.B)     { benchParallel(b, false) }
func BenchmarkAllowedEvalParallel(b *testing.B) { benchParallel(b, true) }
