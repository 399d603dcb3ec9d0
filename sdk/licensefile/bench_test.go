package licensefile

import (
	"context"
	"testing"

	"github.com/entitled/entitled/policy"
)

// The decision from a parsed, verified file against the server's
// in-process decision (package policy's Prepared.Decide, as
// internal/decision calls it with parts cached in the facts cache) for
// the same facts. docs/benchmarks.md has the figures.

// benchFacts are the server's facts of one question of sampleFacts: the
// cached parts (terms built once), per-request usage and request.
func benchFacts(b *testing.B, entitlement string) *policy.Facts {
	fs := sampleFacts(b, "eu-prod-1")
	f := &policy.Facts{Now: testNow, InstanceSlug: "eu-prod-1", EntitlementSlug: entitlement,
		Org: fs.Org, Instance: fs.Instance, License: fs.License}
	for _, g := range fs.Entitlements {
		if g.Entitlement.Slug == entitlement {
			f.Entitlement, f.Grant, f.Usage = g.Entitlement, g.Grant, g.Usage
		}
	}
	return f
}

func benchServer(b *testing.B, p *policy.Prepared, entitlement string) {
	f := benchFacts(b, entitlement)
	ctx := context.Background()
	if _, err := p.Decide(ctx, f); err != nil { // builds the cached parts' terms
		b.Fatal(err)
	}
	usage := f.Usage
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if usage != nil {
			u := *usage // read per request
			f.Usage = &u
		}
		f.Request = &policy.Request{Requested: ptr(1.0)}
		f.Now = testNow
		d, err := p.Decide(ctx, f)
		if err != nil || !d.Allowed {
			b.Fatal(err, d)
		}
	}
}

func benchFile(b *testing.B, ps *Policies, entitlement string) {
	k := newKey(b, "k1")
	facts := sampleFacts(b, "eu-prod-1")
	facts.Policies = ps
	f := verifiedFile(b, issue(b, k, facts), jwksOf(k))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		d, err := f.Decide(entitlement, ptr(1.0), nil, testNow)
		if err != nil || !d.Allowed {
			b.Fatal(err, d)
		}
	}
}

var benchPolicies = &Policies{Version: 3, Modules: map[string]string{"region.rego": `package entitled.custom

deny contains "US instances may not use sso" if {
	input.instance.metadata.region == "us"
	input.entitlement.slug == "sso"
}
`}}

func benchCustom(b *testing.B) *policy.Prepared {
	p, err := policy.Compile([]policy.Module{{Name: "region.rego", Source: benchPolicies.Modules["region.rego"]}},
		policy.WithVersion(3), policy.WithEvalTimeout(evalTimeout))
	if err != nil {
		b.Fatal(err)
	}
	return p
}

func BenchmarkServerDecide_Boolean(b *testing.B) { benchServer(b, policy.Default(), "sso") }
func BenchmarkFileDecide_Boolean(b *testing.B)   { benchFile(b, nil, "sso") }
func BenchmarkServerDecide_Number(b *testing.B)  { benchServer(b, policy.Default(), "api-calls") }
func BenchmarkFileDecide_Number(b *testing.B)    { benchFile(b, nil, "api-calls") }
func BenchmarkServerDecide_Custom(b *testing.B)  { benchServer(b, benchCustom(b), "sso") }
func BenchmarkFileDecide_Custom(b *testing.B)    { benchFile(b, benchPolicies, "sso") }

// BenchmarkParseVerify is the one-time cost of loading a file: parse,
// verify the signature, decode the dataset, build the parts, compile the
// custom module.
func BenchmarkParseVerify(b *testing.B) {
	k := newKey(b, "k1")
	facts := sampleFacts(b, "eu-prod-1")
	facts.Policies = benchPolicies
	cert := []byte(issue(b, k, facts))
	jwks := jwksOf(k)
	b.ReportAllocs()
	for b.Loop() {
		f, err := Parse(cert)
		if err != nil {
			b.Fatal(err)
		}
		if err := f.VerifyAt(jwks, testNow); err != nil {
			b.Fatal(err)
		}
	}
}
