package policy

import (
	"context"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// rawQuery prepares data.entitled.decision the stock way (rego.Module per
// file, default result conversion) over the same modules the engine loads.
func rawQuery(b *testing.B) rego.PreparedEvalQuery {
	b.Helper()
	opts := []func(*rego.Rego){rego.Query(Query)}
	for _, m := range EngineModules() {
		opts = append(opts, rego.Module(m.Name, m.Source))
	}
	pq, err := rego.New(opts...).PrepareForEval(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return pq
}

func benchRaw(b *testing.B, f *Facts) {
	pq := rawQuery(b)
	input := InputValue(f) // prebuilt once, outside the loop
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

func benchDecide(b *testing.B, f *Facts) {
	s := Default()
	ctx := context.Background()
	// Parts come from caches: their terms are already built.
	if _, err := s.Decide(ctx, f); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		// Usage and request are per request.
		f.Usage = cloneUsage(f.Usage)
		f.Request = &Request{Requested: ptr(1.0)}
		f.Now = testNow
		d, err := s.Decide(ctx, f)
		if err != nil || !d.Allowed {
			b.Fatal(err, d)
		}
	}
}

func cloneUsage(u *Usage) *Usage {
	if u == nil {
		return nil
	}
	c := *u
	return &c
}

func BenchmarkRawOPA_Boolean(b *testing.B) { benchRaw(b, booleanFacts(b)) }
func BenchmarkRawOPA_Number(b *testing.B)  { benchRaw(b, numberFacts(b)) }
func BenchmarkDecide_Boolean(b *testing.B) { benchDecide(b, booleanFacts(b)) }
func BenchmarkDecide_Number(b *testing.B)  { benchDecide(b, numberFacts(b)) }

// BenchmarkInput is the per-request share of the full path: building the
// input document from cached parts.
func BenchmarkInput_Number(b *testing.B) {
	f := numberFacts(b)
	_ = InputValue(f)
	b.ReportAllocs()
	var sink ast.Value
	for b.Loop() {
		f.Request = &Request{Requested: ptr(1.0)}
		sink, _ = input(f, testNow)
	}
	_ = sink
}
