package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

func validateErrs(t *testing.T, src string) CompileErrors {
	t.Helper()
	errs := Validate(Module{Name: "m.rego", Source: src}, nil)
	if len(errs) == 0 {
		t.Fatalf("validated:\n%s", src)
	}
	for _, e := range errs {
		if e.Code == "" || e.Message == "" {
			t.Errorf("incomplete error %+v", e)
		}
	}
	return errs
}

func TestValidateAccepts(t *testing.T) {
	for _, src := range []string{
		"package entitled.custom\n",
		"package entitled.custom.a.b\n\ndeny contains \"x\" if input.instance.metadata.region == \"moon\"\n",
		// The organization's own namespace and the default decision.
		"package entitled.custom.a\n\nimport data.entitled.custom.helpers\n\ndeny contains \"x\" if helpers.blocked[input.instance.slug]\n",
		"package entitled.custom.a\n\nimport data.entitled\n\ngrant contains \"late\" if entitled.base.reason == \"LICENSE_EXPIRED\"\n",
		"package entitled.custom.a\n\ndeny contains k if some k, _ in data.entitled.custom.lists[input.organization.slug]\n",
		// Tests in the module may read the whole decision.
		"package entitled.custom.a\n\ndeny contains \"x\" if input.x\n\ntest_x if data.entitled.decision.reason == \"DENIED_BY_POLICY\" with input as {\"x\": true}\n",
		// print is allowed (erased outside RunTests).
		"package entitled.custom.a\n\ndeny contains \"x\" if {\n\tprint(input.x)\n\tinput.x\n}\n",
	} {
		if errs := Validate(Module{Name: "ok.rego", Source: src}, nil); errs != nil {
			t.Errorf("rejected %q: %v", src, errs)
		}
	}
}

func TestValidateForbiddenBuiltins(t *testing.T) {
	calls := map[string]string{
		"http.send":                      `http.send({"method": "GET", "url": "http://example.com"})`,
		"net.lookup_ip_addr":             `net.lookup_ip_addr("example.com")`,
		"net.cidr_expand":                `net.cidr_expand("10.0.0.0/8")`,
		"opa.runtime":                    `opa.runtime()`,
		"rego.parse_module":              `rego.parse_module("x.rego", "package x")`,
		"rand.intn":                      `rand.intn("seed", 10)`,
		"uuid.rfc4122":                   `uuid.rfc4122("seed")`,
		"time.now_ns":                    `time.now_ns()`,
		"trace":                          `trace("hello")`,
		"json.match_schema":              `json.match_schema({}, {"$ref": "http://example.com/s.json"})`,
		"strings.render_template":        `strings.render_template("{{.x}}", {"x": 1})`,
		"io.jwt.decode_verify":           `io.jwt.decode_verify("a.b.c", {"secret": "s"})`,
		"crypto.x509.parse_certificates": `crypto.x509.parse_certificates("")`,
		"providers.aws.sign_req":         `providers.aws.sign_req({}, {}, 0)`,
		"graphql.parse":                  `graphql.parse("", "")`,
		"rego.metadata.rule":             `rego.metadata.rule()`,
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			src := fmt.Sprintf("package entitled.custom\n\ndeny contains \"x\" if {\n\tx := %s\n\tx\n}\n", call)
			errs := validateErrs(t, src)
			e := errs[0]
			if e.Code != CodeBuiltin || !strings.Contains(e.Message, name) || e.Row != 4 || e.Col == 0 || e.File != "m.rego" {
				t.Fatalf("got %v", errs)
			}
			if BuiltinAllowed(name) || slices.ContainsFunc(Capabilities().Builtins, func(b *ast.Builtin) bool { return b.Name == name }) {
				t.Fatalf("%s is in the sandbox's capabilities", name)
			}
		})
	}
	// Mocking a forbidden builtin with `with` is rejected too.
	errs := validateErrs(t, "package entitled.custom\n\nf(_) := 1\n\ntest_x if { true with time.now_ns as f }\n")
	if errs[0].Code != CodeBuiltin {
		t.Fatalf("with: %v", errs)
	}
}

func TestSandboxAllowlistIsExplicit(t *testing.T) {
	// Every allowlisted name is a builtin of this OPA version (a typo would
	// silently allow nothing), and the capabilities hold nothing else but
	// operators and internals.
	for _, name := range AllowedBuiltins() {
		if ast.BuiltinMap[name] == nil {
			t.Errorf("allowlisted %q is not a builtin", name)
		}
	}
	for _, b := range Capabilities().Builtins {
		if !allowedBuiltins[b.Name] && b.Infix == "" && !strings.HasPrefix(b.Name, "internal.") {
			t.Errorf("capability %s is not allowlisted", b.Name)
		}
	}
	if len(Capabilities().AllowNet) != 0 || Capabilities().AllowNet == nil {
		t.Error("capabilities allow the network")
	}
}

func TestValidatePackage(t *testing.T) {
	for _, pkg := range []string{"entitled", "entitled.base", "entitled.customer", "system", "entitled.custom_test", "other.entitled.custom"} {
		errs := validateErrs(t, "package "+pkg+"\n\ndeny contains \"x\" if true\n")
		if errs[0].Code != CodePackage || errs[0].Row != 1 || errs[0].Col != 1 {
			t.Errorf("package %s: %v", pkg, errs)
		}
	}
}

func TestValidateDataRefs(t *testing.T) {
	for _, c := range []struct{ body, ref string }{
		{"data.entitled.checked.allowed", "data.entitled.checked"},
		{"data.entitled.decision.allowed", "data.entitled.decision"},
		{"data.system.version", "data.system.version"},
		{"data.acme.secret", "data.acme.secret"},
		{"data.entitled.custom_test.x", "data.entitled.custom_test.x"},
		{"data[\"entitled\"][input.k]", "data.entitled[...]"},
		{"count(data) > 0", "data"},
		{"walk(data, [_, _])", "data"},
		{"x := data.entitled\n\tx.base.allowed", "data.entitled"},
	} {
		src := "package entitled.custom\n\ndeny contains \"x\" if {\n\t" + c.body + "\n}\n"
		errs := validateErrs(t, src)
		if errs[0].Code != CodeData || !strings.Contains(errs[0].Message, c.ref) || errs[0].Row != 4 || errs[0].Col == 0 {
			t.Errorf("%s: %v", c.body, errs)
		}
	}
	// Through an import alias: the expanded use is checked.
	errs := validateErrs(t, "package entitled.custom\n\nimport data.system\n\ndeny contains \"x\" if system.config\n")
	if errs[0].Code != CodeData || errs[0].Row != 5 {
		t.Errorf("import: %v", errs)
	}
}

func TestValidateDenyGrantAreSets(t *testing.T) {
	for _, src := range []string{
		"package entitled.custom\n\ndeny := \"x\"\n",
		"package entitled.custom\n\ndeny := {\"x\"}\n",
		"package entitled.custom.a\n\ngrant if input.x\n",
		"package entitled.custom\n\nrules.deny := {\"x\"}\n",
		"package entitled.custom\n\ndeny(x) := x\n",
	} {
		errs := validateErrs(t, src)
		if errs[0].Code != CodeRule || errs[0].Row != 3 || !strings.Contains(errs[0].Message, "contains msg if") {
			t.Errorf("%q: %v", src, errs)
		}
	}
}

func TestValidateLimits(t *testing.T) {
	big := "package entitled.custom\n\n# " + strings.Repeat("x", DefaultLimits.MaxModuleBytes) + "\n"
	errs := validateErrs(t, big)
	if errs[0].Code != CodeLimit || !strings.Contains(errs[0].Message, "65536") {
		t.Errorf("size: %v", errs)
	}
	var b strings.Builder
	b.WriteString("package entitled.custom\n\n")
	for i := range DefaultLimits.MaxRules + 1 {
		fmt.Fprintf(&b, "r%d := %d\n", i, i)
	}
	errs = validateErrs(t, b.String())
	if errs[0].Code != CodeLimit || !strings.Contains(errs[0].Message, "201 rules") {
		t.Errorf("rules: %v", errs)
	}
	// Configurable.
	if errs := Validate(Module{Name: "a.rego", Source: "package entitled.custom\n\na := 1\nb := 2\n"}, nil, WithLimits(Limits{MaxRules: 1})); len(errs) != 1 || errs[0].Code != CodeLimit {
		t.Errorf("WithLimits: %v", errs)
	}
	var many []Module
	for i := range 3 {
		many = append(many, Module{Name: fmt.Sprintf("m%d.rego", i), Source: "package entitled.custom\n"})
	}
	if _, err := Compile(many, WithLimits(Limits{MaxModules: 2})); err == nil || !strings.Contains(err.Error(), CodeLimit) {
		t.Errorf("module count: %v", err)
	}
}

func TestValidateSyntaxAndTypeErrors(t *testing.T) {
	errs := validateErrs(t, "package entitled.custom\n\ndeny contains msg if {\n\tmsg := \"a\"\n\tmsg ==\n}\n")
	if errs[0].Code != ast.ParseErr || errs[0].Row != 6 || errs[0].Col == 0 {
		t.Errorf("syntax: %v", errs)
	}
	errs = validateErrs(t, "package entitled.custom\n\ndeny contains msg if {\n\tmsg := concat(\", \", 42)\n}\n")
	if errs[0].Code != ast.TypeErr || errs[0].Row != 4 || errs[0].Col == 0 {
		t.Errorf("type: %v", errs)
	}
	errs = validateErrs(t, "package entitled.custom\n\ndeny contains \"x\" if {\n\tcount(input.x, 1, 2)\n}\n")
	if errs[0].Code != ast.TypeErr || errs[0].Row != 4 {
		t.Errorf("arity: %v", errs)
	}
	// Strict mode: unused import.
	errs = validateErrs(t, "package entitled.custom\n\nimport input.instance\n\ndeny contains \"x\" if input.y\n")
	if errs[0].Code != ast.CompileErr || errs[0].Row != 3 {
		t.Errorf("strict: %v", errs)
	}
	// Errors are JSON-friendly and located.
	if s := errs.Error(); !strings.Contains(s, "m.rego:3:") {
		t.Errorf("Error() = %q", s)
	}
}

func TestValidateAgainstActiveModules(t *testing.T) {
	helpers := Module{Name: "helpers.rego", Source: "package entitled.custom.helpers\n\nblocked := {\"eu-prod-1\"}\n"}
	m := Module{Name: "deny.rego", Source: "package entitled.custom\n\nimport data.entitled.custom.helpers\n\ndeny contains \"blocked\" if input.instance.slug in helpers.blocked\n"}
	if errs := Validate(m, []Module{helpers}); errs != nil {
		t.Fatal(errs)
	}
	// Updating a module replaces the active one of the same name.
	bad := Module{Name: "helpers.rego", Source: "package entitled.custom.helpers\n\nblocked := concat(\",\", 1)\n"}
	if errs := Validate(bad, []Module{helpers, m}); len(errs) == 0 || errs[0].File != "helpers.rego" {
		t.Fatalf("conflict: %v", errs)
	}
}

// TestOtherOrganizationsAreInvisible: each organization's Prepared compiles
// only its own modules and no data, so a module that reads another
// organization's package (same paths: all custom modules live under
// entitled.custom) finds nothing.
func TestOtherOrganizationsAreInvisible(t *testing.T) {
	ctx := context.Background()
	orgA, err := Compile([]Module{{Name: "secret.rego", Source: `package entitled.custom.acme
secret := "acme's secret"
deny contains "acme deny" if input.x == 1
`}})
	if err != nil {
		t.Fatal(err)
	}
	snoop := `package entitled.custom.snoop
deny contains msg if {
	some msg in data.entitled.custom.acme.deny
}
deny contains data.entitled.custom.acme.secret if true
deny contains "acme exists" if data.entitled.custom.acme
`
	orgB, err := Compile([]Module{{Name: "snoop.rego", Source: snoop}})
	if err != nil {
		t.Fatal(err)
	}
	in := ast.MustParseTerm(`{"x": 1}`).Value
	rb, err := orgB.Eval(ctx, mustInput(t))
	if err != nil || rb.Reason != ReasonAllowed || len(rb.Reasons) != 0 {
		t.Fatalf("org B saw something: %+v %v", rb, err)
	}
	rb, err = orgB.Explain(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rb.Explanation {
		if strings.Contains(f.Message, "acme") {
			t.Fatalf("org B's explanation shows org A: %v", rb.Explanation)
		}
	}
	// Org A is unaffected by org B's module.
	if ra, _ := orgA.Eval(ctx, mustInput(t)); ra.Reason != ReasonAllowed {
		t.Fatalf("org A: %+v", ra)
	}
	// And data outside data.entitled.custom is rejected on save.
	if errs := Validate(Module{Name: "x.rego", Source: "package entitled.custom\n\ndeny contains \"x\" if data.organizations.acme\n"}, nil); len(errs) == 0 || errs[0].Code != CodeData {
		t.Fatalf("data outside the namespace: %v", errs)
	}
}

const slowModule = `package entitled.custom.slow

deny contains "never" if {
	count([x | some i in numbers.range(1, 100000); some j in numbers.range(1, 100000); x := i * j; x < 0]) > 0
}
`

// TestDeadline: an expensive policy (a large comprehension) is stopped at
// its deadline — OPA's evaluation is cancelled, not abandoned — and the
// error maps to POLICY_ERROR (it matches ErrEvalTimeout and
// context.DeadlineExceeded).
func TestDeadline(t *testing.T) {
	p, err := Compile([]Module{{Name: "slow.rego", Source: slowModule}}, WithEvalTimeout(DefaultEvalTimeout))
	if err != nil {
		t.Fatal(err)
	}
	for _, eval := range []func(context.Context, ast.Value) (Result, error){p.Eval, p.Explain} {
		start := time.Now()
		_, err = eval(context.Background(), mustInput(t))
		took := time.Since(start)
		if !errors.Is(err, ErrEvalTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", err)
		}
		if took > 500*time.Millisecond {
			t.Fatalf("evaluation stopped after %v, deadline %v", took, DefaultEvalTimeout)
		}
	}
	// Configurable.
	p, err = Compile([]Module{{Name: "slow.rego", Source: slowModule}}, WithEvalTimeout(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Eval(context.Background(), mustInput(t)); !errors.Is(err, ErrEvalTimeout) || !strings.Contains(err.Error(), "5ms") {
		t.Fatalf("err = %v", err)
	}
}

// TestSlowOrganizationDoesNotSlowOthers: while one organization's policy
// keeps hitting its deadline, another organization's decisions answer
// normally: separate Prepared values share no lock.
func TestSlowOrganizationDoesNotSlowOthers(t *testing.T) {
	slow, err := Compile([]Module{{Name: "slow.rego", Source: slowModule}}, WithEvalTimeout(DefaultEvalTimeout))
	if err != nil {
		t.Fatal(err)
	}
	fast, err := Compile([]Module{{Name: "fast.rego", Source: "package entitled.custom\n\ndeny contains \"moon\" if input.instance.metadata.region == \"moon\"\n"}},
		WithEvalTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	in := mustInput(t)
	latency := func(n int) time.Duration { // median
		ds := make([]time.Duration, n)
		for i := range ds {
			start := time.Now()
			if r, err := fast.Eval(ctx, in); err != nil || r.Reason != ReasonAllowed {
				t.Fatalf("fast org: %+v %v", r, err)
			}
			ds[i] = time.Since(start)
		}
		slices.Sort(ds)
		return ds[n/2]
	}
	_ = latency(200) // warm up
	alone := latency(500)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	timeouts := 0
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := slow.Eval(ctx, in); errors.Is(err, ErrEvalTimeout) {
				timeouts++
			} else {
				t.Errorf("slow org: %v", err)
				return
			}
		}
	})
	time.Sleep(10 * time.Millisecond)
	loaded := latency(500)
	close(stop)
	wg.Wait()
	if timeouts == 0 {
		t.Fatal("the slow organization never hit its deadline")
	}
	// The slow org occupies one core; the other's median must stay in the
	// same range (generous bound for noisy machines), far below a deadline.
	if loaded > 5*alone+2*time.Millisecond {
		t.Fatalf("median latency %v alone, %v next to a slow organization", alone, loaded)
	}
	t.Logf("median latency %v alone, %v next to a slow organization (%d timeouts)", alone, loaded, timeouts)
}

func TestExplain(t *testing.T) {
	p, err := Compile([]Module{{Name: "eu.rego", Source: `package entitled.custom.eu

regions := {"eu"}

deny contains sprintf("region %s is blocked", [r]) if {
	r := input.instance.metadata.region
	r in regions
}

deny contains "never" if input.instance.metadata.region == "moon"

grant contains "vip" if input.request.context.tier == "vip"
`}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	in := exampleInput(t, `usage.current=5000`, `request.context={"tier": "vip"}`)
	plain, err := p.Eval(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	r, err := p.Explain(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if r.Reason != ReasonDeniedByPolicy || r.Reason != plain.Reason || !slices.Equal(r.Reasons, plain.Reasons) || plain.Explanation != nil {
		t.Fatalf("explain %+v, eval %+v", r, plain)
	}
	// Deny wins, so the grant rules are not even evaluated.
	want := []Fired{
		{Rule: "data.entitled.custom.eu.deny", Kind: "deny", File: "eu.rego", Row: 5, Col: 1, Message: "region eu is blocked"},
		{Rule: "data.entitled.custom.eu.regions", Kind: "rule", File: "eu.rego", Row: 3, Col: 1, Message: `{"eu"}`},
	}
	for _, w := range want {
		if !slices.Contains(r.Explanation, w) {
			t.Errorf("explanation lacks %v:\n%s", w, r.Explanation)
		}
	}
	var sawDefault bool
	for _, f := range r.Explanation {
		if f.Message == "never" {
			t.Errorf("a rule that did not fire is listed: %v", f)
		}
		if f.Kind == "default" && strings.HasPrefix(f.Message, "LIMIT_EXCEEDED: usage 5000") && strings.HasPrefix(f.File, "default/") && f.Row > 0 {
			sawDefault = true
		}
	}
	if !sawDefault {
		t.Errorf("the default refusal is not explained:\n%s", r.Explanation)
	}
	if s := r.Explanation.String(); !strings.Contains(s, "eu.rego:5: deny data.entitled.custom.eu.deny: region eu is blocked") {
		t.Errorf("String():\n%s", s)
	}
	// Outside the EU the grant fires and lifts the refusal.
	r, err = p.Explain(ctx, exampleInput(t, `usage.current=5000`, `request.context={"tier": "vip"}`, `instance.metadata={"region": "us"}`))
	if err != nil || r.Reason != ReasonGrantedByPolicy {
		t.Fatalf("%+v %v", r, err)
	}
	if w := (Fired{Rule: "data.entitled.custom.eu.grant", Kind: "grant", File: "eu.rego", Row: 12, Col: 1, Message: "vip"}); !slices.Contains(r.Explanation, w) {
		t.Errorf("explanation lacks %v:\n%s", w, r.Explanation)
	}
	// Default policy alone.
	r, err = Default().Explain(ctx, ast.MustParseTerm(`{"now": "2026-11-28T12:00:00Z", "request": {"requested": 1, "context": {}}}`).Value)
	if err != nil || len(r.Explanation) == 0 || !strings.Contains(r.Explanation.String(), "INSTANCE_NOT_FOUND") {
		t.Fatalf("%+v %v", r, err)
	}
}

func TestDraft(t *testing.T) {
	active := []Module{{Name: "region.rego", Source: "package entitled.custom.region\n\ndeny contains \"no apac\" if input.instance.metadata.region == \"apac\"\n"}}
	current, err := Compile(active, WithVersion(3))
	if err != nil {
		t.Fatal(err)
	}
	// A draft replacing the active module of the same name.
	draft, err := Draft(active, Module{Name: "region.rego", Source: "package entitled.custom.region\n\ndeny contains \"no eu\" if input.instance.metadata.region == \"eu\"\n"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	eu, apac := exampleInput(t), exampleInput(t, `instance.metadata={"region": "apac"}`)
	for in, want := range map[*ast.Value][2]string{
		&eu:   {ReasonAllowed, ReasonDeniedByPolicy},
		&apac: {ReasonDeniedByPolicy, ReasonAllowed},
	} {
		before, _ := current.Eval(ctx, *in)
		after, err := draft.Eval(ctx, *in)
		if err != nil || before.Reason != want[0] || after.Reason != want[1] {
			t.Errorf("before %+v after %+v %v, want %v", before, after, err, want)
		}
	}
	if slices.Equal(draft.CustomModules(), []string{"region.rego", "x"}) {
		t.Fatal("draft compiled the wrong modules")
	}
	// An added draft module.
	draft, err = Draft(active, Module{Name: "more.rego", Source: "package entitled.custom.more\n\ndeny contains \"all\" if true\n"})
	if err != nil || !slices.Equal(draft.CustomModules(), []string{"more.rego", "region.rego"}) {
		t.Fatalf("%v %v", draft, err)
	}
	// A draft that does not compile.
	if _, err := Draft(active, Module{Name: "bad.rego", Source: "package entitled.custom\n\ndeny contains x if true\n"}); err == nil {
		t.Fatal("bad draft compiled")
	}
}

func TestRunTests(t *testing.T) {
	ctx := context.Background()
	module := `package entitled.custom.eu

deny contains "no sso in the EU" if {
	input.instance.metadata.region == "eu"
	input.entitlement.slug == "sso"
}

test_denies_eu_sso if {
	print("checking", "eu")
	deny == {"no sso in the EU"} with input as {"instance": {"metadata": {"region": "eu"}}, "entitlement": {"slug": "sso"}}
}

test_wrong if deny == {"nothing"} with input as {}

test_wrong if true
`
	tests := `package entitled.custom_test.eu

import data.entitled

test_decision if {
	d := entitled.decision with input as {"instance": {"metadata": {"region": "eu"}}, "entitlement": {"slug": "sso"}}
	d.reason == "DENIED_BY_POLICY"
}

test_loud if {
	every i in numbers.range(1, 5000) {
		print("line", i)
	}
}
`
	results, err := RunTests(ctx, module, tests, WithEvalTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]TestResult{}
	for _, r := range results {
		got[r.Name] = r
	}
	check := func(name string, passed bool) TestResult {
		t.Helper()
		r, ok := got[name]
		if !ok {
			t.Fatalf("no result for %s: %+v", name, results)
		}
		if r.Passed != passed {
			t.Errorf("%s: passed=%v, want %v (%+v)", name, r.Passed, passed, r)
		}
		return r
	}
	r := check("data.entitled.custom.eu.test_denies_eu_sso", true)
	if r.Output != "checking eu\n" || r.File != "module.rego" || r.Row != 8 || r.Duration <= 0 {
		t.Errorf("%+v", r)
	}
	check("data.entitled.custom.eu.test_wrong", false)
	check("data.entitled.custom.eu.test_wrong#01", true) // each body is its own test, as with opa test
	check("data.entitled.custom_test.eu.test_decision", true)
	r = check("data.entitled.custom_test.eu.test_loud", true)
	if len(r.Output) > MaxTestOutput+100 || !strings.Contains(r.Output, "truncated") {
		t.Errorf("output not bounded: %d bytes", len(r.Output))
	}
	if len(results) != 5 {
		t.Errorf("%d results", len(results))
	}

	// Each test has a deadline (DefaultTestTimeout unless WithEvalTimeout).
	results, err = RunTests(ctx, "package entitled.custom\n", `package entitled.custom_test

test_slow if {
	count([x | some i in numbers.range(1, 100000); some j in numbers.range(1, 100000); x := i * j; x < 0]) > 0
}
`, WithEvalTimeout(100*time.Millisecond))
	if err != nil || len(results) != 1 {
		t.Fatalf("%+v %v", results, err)
	}
	if r := results[0]; r.Passed || !strings.Contains(r.Error, "timed out") || r.Duration > 2*time.Second {
		t.Errorf("slow test: %+v", r)
	}

	// Tests go through the sandbox too.
	_, err = RunTests(ctx, "package entitled.custom\n", "package entitled.custom_test\n\ntest_x if http.send({})\n")
	var ces CompileErrors
	if !errors.As(err, &ces) || ces[0].Code != CodeBuiltin || ces[0].File != "module_test.rego" || ces[0].Row != 3 {
		t.Fatalf("sandbox: %v", err)
	}
	_, err = RunTests(ctx, "package entitled.custom\n", "package system\n\ntest_x if true\n")
	if !errors.As(err, &ces) || ces[0].Code != CodePackage {
		t.Fatalf("package: %v", err)
	}
	// No tests at all.
	if results, err := RunTests(ctx, "package entitled.custom\n", ""); err != nil || len(results) != 0 {
		t.Fatalf("%v %v", results, err)
	}
}
