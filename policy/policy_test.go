package policy

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/tester"
)

// TestRegoUnitTests runs rego/*_test.rego with OPA's tester, as
// `opa test policy/rego` does.
func TestRegoUnitTests(t *testing.T) {
	modules := map[string]*ast.Module{}
	for _, m := range append(DefaultModules(), TestModules()...) {
		mod, err := ast.ParseModuleWithOpts(m.Name, m.Source, parserOptions)
		if err != nil {
			t.Fatal(err)
		}
		modules[m.Name] = mod
	}
	ch, err := tester.NewRunner().
		SetCompiler(ast.NewCompiler().WithStrict(true).WithCapabilities(Capabilities())).
		SetModules(modules).
		RunTests(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for r := range ch {
		n++
		if !r.Pass() {
			t.Errorf("%s.%s: %s %v", r.Package, r.Name, r.String(), r.Error)
		}
	}
	if n < 20 {
		t.Errorf("ran %d Rego tests, expected the whole suite", n)
	}
}

func TestEntryWithoutCustomModules(t *testing.T) {
	src := entrySource(nil)
	if !strings.Contains(src, "decision := base") || strings.Contains(src, "walk(") {
		t.Fatalf("entry without custom modules:\n%s", src)
	}
	if Default().Version() != 0 || len(Default().CustomModules()) != 0 {
		t.Fatal("default prepared has a version or custom modules")
	}
}

func TestEntryNamesCustomRules(t *testing.T) {
	mod := ast.MustParseModuleWithOpts(`package entitled.custom.x
deny contains "a" if true
grant contains "b" if true
helper := 1
`, parserOptions)
	src := entrySource([]*ast.Module{mod})
	for _, want := range []string{"x := data.entitled.custom.x.deny", "x := data.entitled.custom.x.grant", "not_overridable",
		"decision := d if {\n\td := base\n\td.allowed == true\n\tcount(data.entitled.custom.x.deny) == 0\n} else := base if {"} {
		if !strings.Contains(src, want) {
			t.Errorf("entry lacks %q:\n%s", want, src)
		}
	}
	if strings.Contains(src, "helper") || strings.Contains(src, "walk(") {
		t.Errorf("entry:\n%s", src)
	}
	mod = ast.MustParseModuleWithOpts("package entitled.custom\nhelper := 1\n", parserOptions)
	if src := entrySource([]*ast.Module{mod}); !strings.Contains(src, "custom_deny := set()") {
		t.Errorf("entry:\n%s", src)
	}
	// A deny rule that is not a partial set: no fast branch (count could be
	// ill-typed); the collectors check is_set.
	mod = ast.MustParseModuleWithOpts("package entitled.custom\ndeny := \"x\"\n", parserOptions)
	if src := entrySource([]*ast.Module{mod}); strings.Contains(src, "count(data.entitled.custom.deny) == 0") || !strings.Contains(src, "x := data.entitled.custom.deny") {
		t.Errorf("entry:\n%s", src)
	}
	// A variable before the last element keeps the walk version.
	mod = ast.MustParseModuleWithOpts(`package entitled.custom
rules[name].deny contains name if some name in ["a"]
`, parserOptions)
	if src := entrySource([]*ast.Module{mod}); !strings.Contains(src, "walk(") {
		t.Errorf("expected the walk version:\n%s", src)
	}
}

func TestVarPathCustomRulesStillCollected(t *testing.T) {
	p, err := Compile([]Module{{Name: "v.rego", Source: `package entitled.custom
rules[name].deny contains sprintf("rule %s", [name]) if some name in ["a"]
`}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Eval(context.Background(), ast.MustParseTerm(`{}`).Value)
	if err != nil {
		t.Fatal(err)
	}
	if res.Reason != ReasonInstanceNotFound {
		t.Fatalf("got %+v", res)
	}
	res, err = p.Eval(context.Background(), mustInput(t))
	if err != nil {
		t.Fatal(err)
	}
	if res.Reason != ReasonDeniedByPolicy || len(res.Reasons) != 1 || res.Reasons[0] != "rule a" {
		t.Fatalf("got %+v", res)
	}
}

func mustInput(t testing.TB) ast.Value {
	t.Helper()
	return ast.MustParseTerm(`{
		"now": "2026-11-28T12:00:00Z",
		"organization": {"id": "o1", "slug": "acme"},
		"instance": {"id": "i1", "slug": "eu-prod-1", "name": "EU", "metadata": {}, "startsAt": "2026-01-01T00:00:00Z", "expiresAt": null},
		"license": {"id": "l1", "slug": "enterprise", "type": "PAID", "version": 3, "versionName": null, "isActive": true},
		"entitlement": {"id": "e2", "slug": "sso", "type": "BOOLEAN"},
		"grant": {"type": "boolean", "value": true},
		"request": {"requested": 1, "context": {}}
	}`).Value
}

func compileErrs(t *testing.T, src string) CompileErrors {
	t.Helper()
	_, err := Compile([]Module{{Name: "org/custom.rego", Source: src}})
	if err == nil {
		t.Fatalf("compiled:\n%s", src)
	}
	var ces CompileErrors
	if !errors.As(err, &ces) || len(ces) == 0 {
		t.Fatalf("error %T %v is not CompileErrors", err, err)
	}
	return ces
}

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		name, src, code, msg string
		row                  int
	}{
		{"parse", "package entitled.custom\n\ndeny contains msg if {\n", ast.ParseErr, "", 4},
		{"outside custom package", "package entitled\n\nallow := true\n", CodePackage, "entitled.custom", 1},
		{"http.send sandboxed", "package entitled.custom\n\ndeny contains x if {\n\tx := http.send({\"method\": \"get\", \"url\": \"http://x\"})\n}\n", CodeBuiltin, "http.send", 4},
		{"time.now_ns sandboxed", "package entitled.custom\n\ndeny contains \"late\" if time.now_ns() > 0\n", CodeBuiltin, "time.now_ns", 3},
		{"opa.runtime sandboxed", "package entitled.custom\n\ndeny contains \"x\" if opa.runtime().env\n", CodeBuiltin, "opa.runtime", 3},
		{"net sandboxed", "package entitled.custom\n\ndeny contains \"x\" if net.lookup_ip_addr(\"example.com\")\n", CodeBuiltin, "net.lookup_ip_addr", 3},
		{"rand sandboxed", "package entitled.custom\n\ndeny contains \"x\" if rand.intn(\"a\", 2) == 1\n", CodeBuiltin, "rand.intn", 3},
		{"strict: unused var", "package entitled.custom\n\ndeny contains \"x\" if {\n\ty := 1\n\ttrue\n}\n", ast.CompileErr, "assigned var y unused", 4},
		{"unsafe var", "package entitled.custom\n\ndeny contains msg if true\n", ast.UnsafeVarErr, "msg", 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ces := compileErrs(t, c.src)
			e := ces[0]
			if e.Code != c.code || !strings.Contains(e.Message, c.msg) || e.Row != c.row || e.File != "org/custom.rego" {
				t.Fatalf("got %+v (all: %v), want code %s row %d message ~%q", e, ces, c.code, c.row, c.msg)
			}
			if e.Col == 0 && c.code != ast.ParseErr {
				t.Errorf("no column: %+v", e)
			}
		})
	}
}

func TestModuleNameErrors(t *testing.T) {
	src := "package entitled.custom\n"
	_, err := Compile([]Module{{Name: "a.rego", Source: src}, {Name: "a.rego", Source: src}, {Source: src}})
	var ces CompileErrors
	if !errors.As(err, &ces) || len(ces) != 2 || ces[0].Code != CodeModule || ces[1].Code != CodeModule {
		t.Fatalf("got %v", err)
	}
}

func TestEvalTimeout(t *testing.T) {
	p, err := Compile([]Module{{Name: "slow.rego", Source: `package entitled.custom

deny contains "never" if {
	some i in numbers.range(1, 20000)
	some j in numbers.range(1, 20000)
	i * j < 0
}
`}}, WithEvalTimeout(30*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = p.Eval(context.Background(), mustInput(t))
	if !errors.Is(err, ErrEvalTimeout) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("timeout took %v", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Eval(ctx, mustInput(t)); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ctx: err = %v", err)
	}
}

func TestDefaultTimeoutOnlyWithCustomModules(t *testing.T) {
	if Default().timeout != 0 {
		t.Fatal("default policy has a timeout")
	}
	saved := defaultEvalTimeout
	defaultEvalTimeout = DefaultEvalTimeout
	defer func() { defaultEvalTimeout = saved }()
	p, err := Compile([]Module{{Name: "a.rego", Source: "package entitled.custom\n"}})
	if err != nil {
		t.Fatal(err)
	}
	if p.timeout != DefaultEvalTimeout || DefaultEvalTimeout != 25*time.Millisecond {
		t.Fatalf("timeout = %v", p.timeout)
	}
}

func TestResultMapping(t *testing.T) {
	r, err := toResult(ast.MustParseTerm(`{"allowed": false, "reason": "DENIED_BY_POLICY", "reasons": ["a", {"k": 1}, 2]}`), 7)
	if err != nil {
		t.Fatal(err)
	}
	if r.Allowed || r.Reason != ReasonDeniedByPolicy || r.PolicyVersion != 7 ||
		len(r.Reasons) != 3 || r.Reasons[0] != "a" || r.Reasons[1] != `{"k": 1}` || r.Reasons[2] != "2" {
		t.Fatalf("got %#v", r)
	}
	for _, bad := range []string{`"x"`, `{"allowed": "yes", "reason": "ALLOWED"}`, `{"allowed": true}`} {
		if _, err := toResult(ast.MustParseTerm(bad), 0); err == nil {
			t.Errorf("%s mapped without error", bad)
		}
	}
}
