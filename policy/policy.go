package policy

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
)

//go:embed rego/*.rego
var regoFS embed.FS

const (
	// Query is the one query every Prepared evaluates.
	Query = "data.entitled.decision"
	// CustomPackage is the package custom modules must live in (or below).
	CustomPackage = "entitled.custom"

	// DefaultCustomEvalTimeout bounds one evaluation when custom modules are
	// loaded and no WithEvalTimeout was given.
	DefaultCustomEvalTimeout = 100 * time.Millisecond

	entryFile     = "decision.rego" // replaced by a generated module
	defaultPrefix = "default/"
	customPrefix  = "custom/"
)

var (
	customRoot = ast.MustParseRef("data." + CustomPackage)
	query      = ast.MustParseBody(Query)

	keyAllowed = ast.StringTerm("allowed")
	keyReason  = ast.StringTerm("reason")
	keyReasons = ast.StringTerm("reasons")

	// noCancel is shared by evaluations that need no cancellation (no
	// deadline in ctx, no timeout); it spares OPA's per-eval goroutine.
	noCancel = topdown.NewCancel()
)

// Module is one Rego source file.
type Module struct {
	Name   string // file name, unique among the modules given to Compile
	Source string
}

// Result is the mapped decision object.
type Result struct {
	Allowed bool
	Reason  string   // ALLOWED, INSTANCE_NOT_FOUND, ..., DENIED_BY_POLICY, GRANTED_BY_POLICY
	Reasons []string // human-readable, custom messages included; never nil
	// PolicyVersion is the version of the Prepared that evaluated (WithVersion).
	PolicyVersion int
}

// Option configures Compile.
type Option func(*config)

type config struct {
	version          int
	timeout          time.Duration
	timeoutSet       bool
	genericCollector bool
}

// WithVersion tags the Prepared (and each Result) with a policy version;
// 0 means the default policy only.
func WithVersion(v int) Option { return func(c *config) { c.version = v } }

// WithEvalTimeout bounds each evaluation (0: only ctx bounds it). Without
// it, DefaultCustomEvalTimeout applies when custom modules are given.
func WithEvalTimeout(d time.Duration) Option {
	return func(c *config) { c.timeout, c.timeoutSet = d, true }
}

// withGenericCollector keeps rego/decision.rego (walk) instead of the
// generated entry module: exactly what a stock OPA loads. For tests.
func withGenericCollector() Option { return func(c *config) { c.genericCollector = true } }

// Prepared is an immutable compiled policy set with its prepared query.
// It is safe for concurrent use.
type Prepared struct {
	query   rego.PreparedEvalQuery
	version int
	timeout time.Duration
	custom  []string // custom module names, sorted
}

// Version is the policy version given with WithVersion.
func (p *Prepared) Version() int { return p.version }

// CustomModules lists the names of the custom modules compiled in.
func (p *Prepared) CustomModules() []string { return append([]string(nil), p.custom...) }

// DefaultModules returns the embedded default policy (without tests).
func DefaultModules() []Module { return regoFiles(false) }

// TestModules returns the embedded Rego unit tests of the default policy.
func TestModules() []Module { return regoFiles(true) }

func regoFiles(tests bool) []Module {
	entries, err := fs.ReadDir(regoFS, "rego")
	if err != nil {
		panic(err)
	}
	var out []Module
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), "_test.rego") != tests {
			continue
		}
		src, err := regoFS.ReadFile(path.Join("rego", e.Name()))
		if err != nil {
			panic(err)
		}
		out = append(out, Module{Name: e.Name(), Source: string(src)})
	}
	return out
}

// Default returns the Prepared of the default policy alone, compiled once
// and shared (it holds no organization data).
var Default = sync.OnceValue(func() *Prepared {
	p, err := Compile(nil)
	if err != nil {
		panic("policy: embedded default policy does not compile: " + err.Error())
	}
	return p
})

var parserOptions = ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true}

// Compile compiles the default policy plus the given custom modules (Rego
// v1, strict mode, sandboxed capabilities) and prepares the decision query.
// Problems are returned as CompileErrors.
func Compile(custom []Module, opts ...Option) (*Prepared, error) {
	cfg := config{}
	for _, o := range opts {
		o(&cfg)
	}
	if !cfg.timeoutSet && len(custom) > 0 {
		cfg.timeout = DefaultCustomEvalTimeout
	}

	modules := make(map[string]*ast.Module, len(custom)+2)
	var errs CompileErrors
	names := make([]string, 0, len(custom))
	var customMods []*ast.Module
	for _, m := range custom {
		switch {
		case m.Name == "":
			errs = append(errs, CompileError{Code: CodeModule, Message: "module name is empty"})
			continue
		case modules[customPrefix+m.Name] != nil:
			errs = append(errs, CompileError{Code: CodeModule, File: m.Name, Message: "duplicate module name"})
			continue
		}
		mod, err := ast.ParseModuleWithOpts(customPrefix+m.Name, m.Source, parserOptions)
		if err != nil {
			errs = append(errs, fromOPA(err)...)
			continue
		}
		if mod == nil {
			errs = append(errs, CompileError{Code: CodeModule, File: m.Name, Message: "module is empty"})
			continue
		}
		if !mod.Package.Path.HasPrefix(customRoot) {
			ce := CompileError{Code: CodePackage, File: m.Name,
				Message: fmt.Sprintf("package %s is outside %s: custom modules must use package %s or one below it",
					strings.TrimPrefix(mod.Package.Path.String(), "data."), CustomPackage, CustomPackage)}
			if loc := mod.Package.Location; loc != nil {
				ce.Row, ce.Col = loc.Row, loc.Col
			}
			errs = append(errs, ce)
			continue
		}
		modules[customPrefix+m.Name] = mod
		customMods = append(customMods, mod)
		names = append(names, m.Name)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	sort.Strings(names)

	for _, m := range engineDefaults(customMods, cfg.genericCollector) {
		mod, err := ast.ParseModuleWithOpts(defaultPrefix+m.Name, m.Source, parserOptions)
		if err != nil {
			return nil, fromOPA(err)
		}
		modules[defaultPrefix+m.Name] = mod
	}

	compiler := ast.NewCompiler().
		WithStrict(true).
		WithCapabilities(Capabilities()).
		WithEnablePrintStatements(false)
	if compiler.Compile(modules); compiler.Failed() {
		return nil, fromOPA(compiler.Errors)
	}

	pq, err := rego.New(
		rego.ParsedQuery(query),
		rego.Compiler(compiler),
		rego.Capabilities(Capabilities()),
		rego.GenerateJSON(keepTerm), // results stay *ast.Term: no JSON conversion
	).PrepareForEval(context.Background())
	if err != nil {
		return nil, fromOPA(err)
	}
	return &Prepared{query: pq, version: cfg.version, timeout: cfg.timeout, custom: names}, nil
}

// engineDefaults is the default policy as the engine compiles it: with
// rego/decision.rego replaced by the generated entry module.
func engineDefaults(custom []*ast.Module, generic bool) []Module {
	mods := DefaultModules()
	if generic {
		return mods
	}
	for i := range mods {
		if mods[i].Name == entryFile {
			mods[i].Source = entrySource(custom)
		}
	}
	return mods
}

// EngineModules returns the default modules exactly as Compile(nil) loads
// them (decision.rego replaced by `decision := base`): for
// benchmarks and tools that evaluate the same policy with a plain OPA.
func EngineModules() []Module { return engineDefaults(nil, false) }

func keepTerm(t *ast.Term, _ *rego.EvalContext) (any, error) { return t, nil }

// entrySource generates the replacement of rego/decision.rego.
//
// Without custom modules it is `decision := base`: no walk, no sets. With
// them it is rego/decision.rego with the walk-based collectors replaced by
// one body per custom rule whose path ends in deny or grant. It keeps the
// walk version when a rule path has a variable before its last element.
// (The walk version would also pick up a set under a "deny"/"grant" key
// nested inside another rule's value; the generated one only takes rules so
// named.)
func entrySource(mods []*ast.Module) string {
	if len(mods) == 0 {
		return "# Generated by package policy: no custom modules.\npackage entitled\n\ndecision := base\n"
	}
	stock := stockEntry()
	cut := strings.Index(stock, "\ncustom_deny contains")
	if cut < 0 {
		panic("policy: rego/decision.rego lost its collectors")
	}
	var deny, grant []string
	seen := map[string]bool{}
	for _, mod := range mods {
		for _, r := range mod.Rules {
			ref := r.Ref()
			if !ref[:len(ref)-1].IsGround() {
				return stock // e.g. a[x].deny: let walk find them
			}
			last, ok := ref[len(ref)-1].Value.(ast.String)
			if !ok || (last != "deny" && last != "grant") {
				continue
			}
			s := ref.String()
			if seen[s] {
				continue
			}
			seen[s] = true
			if last == "deny" {
				deny = append(deny, s)
			} else {
				grant = append(grant, s)
			}
		}
	}
	var b strings.Builder
	b.WriteString("# Generated by package policy from rego/decision.rego and the custom modules.\n")
	b.WriteString(stock[:cut+1])
	writeCollector(&b, "custom_deny", deny)
	writeCollector(&b, "custom_grant", grant)
	return b.String()
}

func writeCollector(b *strings.Builder, name string, refs []string) {
	b.WriteString("\n")
	if len(refs) == 0 {
		fmt.Fprintf(b, "%s := set()\n", name)
		return
	}
	sort.Strings(refs)
	for _, ref := range refs {
		fmt.Fprintf(b, "%s contains msg if {\n\tx := %s\n\tis_set(x)\n\tsome msg in x\n}\n\n", name, ref)
	}
}

func stockEntry() string {
	src, err := regoFS.ReadFile("rego/" + entryFile)
	if err != nil {
		panic(err)
	}
	return string(src)
}

// ErrEvalTimeout is returned (wrapped) when an evaluation exceeds the
// Prepared's timeout.
var ErrEvalTimeout = errors.New("policy evaluation timed out")

// Eval evaluates the decision for a policy input document (see package
// decision) given as an AST value: no JSON round trip.
func (p *Prepared) Eval(ctx context.Context, input ast.Value) (Result, error) {
	var cancel topdown.Cancel = noCancel
	var timer *time.Timer
	if ctx.Done() != nil || p.timeout > 0 {
		cancel = topdown.NewCancel()
		if ctx.Done() != nil {
			stop := context.AfterFunc(ctx, cancel.Cancel)
			defer stop()
		}
		if p.timeout > 0 {
			timer = time.AfterFunc(p.timeout, cancel.Cancel)
			defer timer.Stop()
		}
	}
	rs, err := p.query.Eval(ctx, rego.EvalParsedInput(input), rego.EvalExternalCancel(cancel))
	if err != nil {
		if topdown.IsCancel(err) {
			if ctx.Err() != nil {
				return Result{}, fmt.Errorf("policy evaluation: %w", ctx.Err())
			}
			return Result{}, fmt.Errorf("%w after %v", ErrEvalTimeout, p.timeout)
		}
		return Result{}, fmt.Errorf("policy evaluation: %w", err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return Result{}, errors.New("policy evaluation: data.entitled.decision is undefined")
	}
	t, _ := rs[0].Expressions[0].Value.(*ast.Term)
	return toResult(t, p.version)
}

func toResult(t *ast.Term, version int) (Result, error) {
	if t == nil {
		return Result{}, errors.New("policy evaluation: no decision term")
	}
	obj, ok := t.Value.(ast.Object)
	if !ok {
		return Result{}, fmt.Errorf("policy evaluation: decision is %s, not an object", ast.ValueName(t.Value))
	}
	res := Result{PolicyVersion: version}
	if a := obj.Get(keyAllowed); a != nil {
		b, ok := a.Value.(ast.Boolean)
		if !ok {
			return Result{}, errors.New("policy evaluation: decision.allowed is not a boolean")
		}
		res.Allowed = bool(b)
	}
	if r := obj.Get(keyReason); r != nil {
		if s, ok := r.Value.(ast.String); ok {
			res.Reason = string(s)
		}
	}
	if res.Reason == "" {
		return Result{}, errors.New("policy evaluation: decision.reason is missing")
	}
	res.Reasons = []string{}
	if rs := obj.Get(keyReasons); rs != nil {
		switch v := rs.Value.(type) {
		case *ast.Array:
			res.Reasons = make([]string, 0, v.Len())
			for i := range v.Len() {
				res.Reasons = append(res.Reasons, termString(v.Elem(i)))
			}
		case ast.Set:
			arr := v.Sorted()
			res.Reasons = make([]string, 0, arr.Len())
			for i := range arr.Len() {
				res.Reasons = append(res.Reasons, termString(arr.Elem(i)))
			}
		}
	}
	return res, nil
}

func termString(t *ast.Term) string {
	if s, ok := t.Value.(ast.String); ok {
		return string(s)
	}
	return t.Value.String()
}

// Reason codes of the decision object.
const (
	ReasonAllowed             = "ALLOWED"
	ReasonInstanceNotFound    = "INSTANCE_NOT_FOUND"
	ReasonEntitlementNotFound = "ENTITLEMENT_NOT_FOUND"
	ReasonNoLicense           = "NO_LICENSE"
	ReasonLicenseInactive     = "LICENSE_INACTIVE"
	ReasonLicenseNotStarted   = "LICENSE_NOT_STARTED"
	ReasonLicenseExpired      = "LICENSE_EXPIRED"
	ReasonNotEntitled         = "NOT_ENTITLED"
	ReasonFeatureDisabled     = "FEATURE_DISABLED"
	ReasonLimitExceeded       = "LIMIT_EXCEEDED"
	ReasonDeniedByPolicy      = "DENIED_BY_POLICY"
	ReasonGrantedByPolicy     = "GRANTED_BY_POLICY"
)

// Reasons lists every reason code the policy can give.
var Reasons = []string{
	ReasonAllowed, ReasonInstanceNotFound, ReasonEntitlementNotFound, ReasonNoLicense,
	ReasonLicenseInactive, ReasonLicenseNotStarted, ReasonLicenseExpired, ReasonNotEntitled,
	ReasonFeatureDisabled, ReasonLimitExceeded, ReasonDeniedByPolicy, ReasonGrantedByPolicy,
}
