package policy

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

const benchNumberInput = `{
	"now": "2026-11-28T12:00:00Z",
	"organization": {"id": "o1", "slug": "acme"},
	"instance": {"id": "i1", "slug": "eu-prod-1", "name": "EU", "metadata": {"region": "eu"},
		"startsAt": "2026-01-01T00:00:00Z", "expiresAt": "2027-01-01T00:00:00Z"},
	"license": {"id": "l1", "slug": "enterprise", "type": "PAID", "version": 3, "versionName": "v2.1", "isActive": true},
	"entitlement": {"id": "e1", "slug": "api-calls", "type": "NUMBER", "meterType": "RAW_EVENT",
		"aggregationMethod": "SUM", "resetPeriod": "MONTH"},
	"grant": {"type": "number", "value": 10000, "unlimited": false, "overagePercent": 0, "hardCap": 10000},
	"usage": {"current": %USAGE%, "count": 7, "periodStart": "2026-11-01T00:00:00Z", "periodEnd": "2026-12-01T00:00:00Z"},
	"request": {"requested": 1, "context": {}}
}`

func numberInput(usage string) ast.Value {
	return ast.MustParseTerm(strings.Replace(benchNumberInput, "%USAGE%", usage, 1)).Value
}

func benchEval(b *testing.B, p *Prepared, input ast.Value, allowed bool) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r, err := p.Eval(ctx, input)
		if err != nil || r.Allowed != allowed {
			b.Fatal(err, r)
		}
	}
}

func BenchmarkEval_Number(b *testing.B) { benchEval(b, Default(), numberInput("42"), true) }

func BenchmarkEval_LimitExceeded(b *testing.B) {
	benchEval(b, Default(), numberInput("10000"), false)
}

func BenchmarkEval_Boolean(b *testing.B) {
	in := ast.MustParseTerm(`{"now": "2026-11-28T12:00:00Z", "organization": {"id": "o1", "slug": "acme"},
		"instance": {"id": "i1", "slug": "eu-prod-1", "name": "EU", "metadata": {}, "startsAt": "2026-01-01T00:00:00Z", "expiresAt": null},
		"license": {"id": "l1", "slug": "enterprise", "type": "PAID", "version": 3, "versionName": null, "isActive": true},
		"entitlement": {"id": "e2", "slug": "sso", "type": "BOOLEAN"}, "grant": {"type": "boolean", "value": true},
		"request": {"requested": 1, "context": {}}}`).Value
	benchEval(b, Default(), in, true)
}

func BenchmarkEval_NotFound(b *testing.B) {
	in := ast.MustParseTerm(`{"now": "2026-11-28T12:00:00Z", "request": {"requested": 1, "context": {}}}`).Value
	benchEval(b, Default(), in, false)
}

// BenchmarkEval_CustomDeny: one custom module (generated entry module).
func BenchmarkEval_CustomModule(b *testing.B) {
	p, err := Compile([]Module{{Name: "eu.rego", Source: `package entitled.custom
deny contains "no api calls from the moon" if input.instance.metadata.region == "moon"
`}}, WithEvalTimeout(0))
	if err != nil {
		b.Fatal(err)
	}
	benchEval(b, p, numberInput("42"), true)
}

// BenchmarkEval_CustomModuleDeadline: the same with a per-evaluation
// deadline (one timer per evaluation), as organizations with custom modules
// run. (1 s rather than DefaultEvalTimeout: a loaded benchmark machine must
// not fail the run; the timer costs the same.)
func BenchmarkEval_CustomModuleDeadline(b *testing.B) {
	p, err := Compile([]Module{{Name: "eu.rego", Source: `package entitled.custom
deny contains "no api calls from the moon" if input.instance.metadata.region == "moon"
`}}, WithEvalTimeout(time.Second))
	if err != nil {
		b.Fatal(err)
	}
	benchEval(b, p, numberInput("42"), true)
}

// BenchmarkExplain_CustomModule: the traced path, for comparison; Eval
// never traces.
func BenchmarkExplain_CustomModule(b *testing.B) {
	p, err := Compile([]Module{{Name: "eu.rego", Source: `package entitled.custom
deny contains "no api calls from the moon" if input.instance.metadata.region == "moon"
`}}, WithEvalTimeout(time.Second))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	input := numberInput("42")
	b.ReportAllocs()
	for b.Loop() {
		r, err := p.Explain(ctx, input)
		if err != nil || !r.Allowed || len(r.Explanation) == 0 {
			b.Fatal(err, r)
		}
	}
}

// BenchmarkEntry_* compare ways of gathering custom rules when an
// organization has none: the generated `decision := base`, the stock walk
// (rego/decision.rego), and a fixed-depth comprehension.
func BenchmarkEntry_Generated(b *testing.B) {
	benchEntry(b, EngineModules())
}

func BenchmarkEntry_Walk(b *testing.B) {
	benchEntry(b, DefaultModules())
}

func BenchmarkEntry_FixedDepth(b *testing.B) {
	mods := DefaultModules()
	for i := range mods {
		if mods[i].Name != entryFile {
			continue
		}
		src := mods[i].Source
		src = src[:strings.Index(src, "\ncustom_deny contains")+1]
		for _, name := range []string{"deny", "grant"} {
			for _, ref := range []string{"data.entitled.custom." + name, "data.entitled.custom[_]." + name, "data.entitled.custom[_][_]." + name} {
				src += "\ncustom_" + name + " contains msg if {\n\tx := " + ref + "\n\tis_set(x)\n\tsome msg in x\n}\n"
			}
		}
		mods[i].Source = src
	}
	benchEntry(b, mods)
}

func benchEntry(b *testing.B, mods []Module) {
	opts := []func(*rego.Rego){rego.Query(Query), rego.GenerateJSON(keepTerm)}
	for _, m := range mods {
		opts = append(opts, rego.Module(m.Name, m.Source))
	}
	pq, err := rego.New(opts...).PrepareForEval(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	p := &Prepared{query: pq}
	benchEval(b, p, numberInput("42"), true)
}
