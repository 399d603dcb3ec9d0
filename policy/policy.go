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
	// CustomTestPackage is where companion test modules may live (or
	// below); they may also use CustomPackage.
	CustomTestPackage = "entitled.custom_test"

	// DefaultEvalTimeout bounds one evaluation when custom modules are
	// loaded and no WithEvalTimeout was given.
	DefaultEvalTimeout = 25 * time.Millisecond

	entryFile     = "decision.rego" // replaced by a generated module
	defaultPrefix = "default/"
	customPrefix  = "custom/"
)

// defaultEvalTimeout is what Compile applies: DefaultEvalTimeout, except in
// this package's tests (a loaded test machine must not turn functional
// tests into deadline tests).
var defaultEvalTimeout = DefaultEvalTimeout

// DefaultCustomEvalTimeout is the former name of DefaultEvalTimeout.
//
// Deprecated: use DefaultEvalTimeout.
const DefaultCustomEvalTimeout = DefaultEvalTimeout

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
	// Explanation lists the rules that fired; only Explain fills it.
	Explanation Explanation
}

// Option configures Compile, Draft, Validate and RunTests.
type Option func(*config)

type config struct {
	version          int
	timeout          time.Duration
	timeoutSet       bool
	limits           Limits
	limitsSet        bool
	budget           time.Duration
	budgetSet        bool
	genericCollector bool
}

func newConfig(opts []Option) config {
	cfg := config{}
	for _, o := range opts {
		o(&cfg)
	}
	if !cfg.limitsSet {
		cfg.limits = DefaultLimits
	}
	return cfg
}

// WithVersion tags the Prepared (and each Result) with a policy version;
// 0 means the default policy only.
func WithVersion(v int) Option { return func(c *config) { c.version = v } }

// WithEvalTimeout bounds each evaluation (0: only ctx bounds it). Without
// it, DefaultEvalTimeout applies when custom modules are given. For
// RunTests it bounds each test (default DefaultTestTimeout).
func WithEvalTimeout(d time.Duration) Option {
	return func(c *config) { c.timeout, c.timeoutSet = d, true }
}

// WithTotalBudget bounds a RunTests or RunModuleTests call as a whole
// (default DefaultTestBudget; 0: no total bound): each test runs under the
// smaller of its own timeout and what is left of the budget, and once the
// budget is spent the remaining tests are not run and are reported failed.
func WithTotalBudget(d time.Duration) Option {
	return func(c *config) { c.budget, c.budgetSet = d, true }
}

// WithLimits replaces DefaultLimits (a zero field: no limit).
func WithLimits(l Limits) Option { return func(c *config) { c.limits, c.limitsSet = l, true } }

// withGenericCollector keeps rego/decision.rego (walk) instead of the
// generated entry module: exactly what a stock OPA loads. For tests.
func withGenericCollector() Option { return func(c *config) { c.genericCollector = true } }

// Prepared is an immutable compiled policy set with its prepared query.
// It is safe for concurrent use; evaluations share no lock with other
// Prepared values, so one organization's slow policy cannot slow another's.
type Prepared struct {
	query   rego.PreparedEvalQuery
	version int
	timeout time.Duration
	custom  []string // custom module names, sorted
}

// Version is the policy version given with WithVersion.
func (p *Prepared) Version() int { return p.version }

// Timeout is the per-evaluation deadline (0: none but the context's).
func (p *Prepared) Timeout() time.Duration { return p.timeout }

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

// Compile compiles the default policy plus an organization's custom modules
// and prepares the decision query. Every custom module goes through the
// checks of Validate (limits, package, builtin allowlist, data references,
// Rego v1 strict mode); problems are returned as CompileErrors.
//
// Only the given modules are compiled in, and no data: a module that reads
// another organization's package finds nothing there. Call Compile once
// per organization and keep the Prepared (e.g. in an Engine); it is never
// shared between organizations.
func Compile(custom []Module, opts ...Option) (*Prepared, error) {
	cfg := newConfig(opts)
	if !cfg.timeoutSet && len(custom) > 0 {
		cfg.timeout = defaultEvalTimeout
	}
	compiler, names, err := compileModules(custom, nil, cfg, false)
	if err != nil {
		return nil, err
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

// compileModules parses and checks custom (policy) and test modules and
// compiles them with the default policy: strict, Rego v1, sandboxed. It
// returns the compiler and the sorted custom module names. testing keeps
// print statements and gives each body of a test_ rule its own name.
func compileModules(custom, tests []Module, cfg config, testing bool) (*ast.Compiler, []string, error) {
	lim := cfg.limits
	var errs CompileErrors
	if lim.MaxModules > 0 && len(custom) > lim.MaxModules {
		errs = append(errs, CompileError{Code: CodeLimit,
			Message: fmt.Sprintf("%d custom modules, more than the limit of %d", len(custom), lim.MaxModules)})
	}
	if lim.MaxTotalBytes > 0 {
		total := 0
		for _, m := range custom {
			total += len(m.Source)
		}
		for _, m := range tests {
			total += len(m.Source)
		}
		if total > lim.MaxTotalBytes {
			errs = append(errs, CompileError{Code: CodeLimit,
				Message: fmt.Sprintf("the modules are %d bytes in all, more than the limit of %d", total, lim.MaxTotalBytes)})
			return nil, nil, errs // not even parsed
		}
	}
	modules := make(map[string]*ast.Module, len(custom)+len(tests)+2)
	kinds := make(map[string]moduleKind, len(custom)+len(tests))
	names := make([]string, 0, len(custom))
	seen := make(map[string]bool, len(custom)+len(tests))
	var customMods []*ast.Module
	add := func(m Module, kind moduleKind) {
		dup := seen[m.Name]
		seen[m.Name] = true
		switch {
		case m.Name == "":
			errs = append(errs, CompileError{Code: CodeModule, Message: "module name is empty"})
			return
		case dup:
			errs = append(errs, CompileError{Code: CodeModule, File: m.Name, Message: "duplicate module name"})
			return
		case lim.MaxModuleBytes > 0 && len(m.Source) > lim.MaxModuleBytes:
			errs = append(errs, CompileError{Code: CodeLimit, File: m.Name, Row: 1, Col: 1,
				Message: fmt.Sprintf("module is %d bytes, more than the limit of %d", len(m.Source), lim.MaxModuleBytes)})
			return
		}
		mod, err := ast.ParseModuleWithOpts(customPrefix+m.Name, m.Source, parserOptions)
		if err != nil {
			errs = append(errs, fromOPA(err)...)
			return
		}
		if mod == nil {
			errs = append(errs, CompileError{Code: CodeModule, File: m.Name, Message: "module is empty"})
			return
		}
		if ces := checkParsed(m.Name, mod, kind, lim); len(ces) > 0 {
			errs = append(errs, ces...)
			return
		}
		if testing {
			renameDuplicateTests(mod)
		}
		modules[customPrefix+m.Name] = mod
		kinds[m.Name] = kind
		if mod.Package.Path.HasPrefix(customRoot) {
			customMods = append(customMods, mod)
		}
		if kind == kindPolicy {
			names = append(names, m.Name)
		}
	}
	for _, m := range custom {
		add(m, kindPolicy)
	}
	for _, m := range tests {
		add(m, kindTest)
	}
	if len(errs) > 0 {
		return nil, nil, errs
	}
	parsed := make(map[string]*ast.Module, len(kinds))
	for name := range kinds {
		parsed[name] = modules[customPrefix+name]
	}
	if ces := checkExpansion(parsed); len(ces) > 0 {
		return nil, nil, ces
	}
	sort.Strings(names)

	for _, m := range engineDefaults(customMods, cfg.genericCollector) {
		mod, err := ast.ParseModuleWithOpts(defaultPrefix+m.Name, m.Source, parserOptions)
		if err != nil {
			return nil, nil, fromOPA(err)
		}
		modules[defaultPrefix+m.Name] = mod
	}

	compiler := ast.NewCompiler().
		WithStrict(true).
		WithCapabilities(Capabilities()).
		WithEnablePrintStatements(testing)
	compiler.Compile(modules)
	// References to data outside the namespace are checked on the compiled
	// modules (imports expanded). They are reported even when the compile
	// failed — e.g. reading data.entitled.decision from a deny rule is also
	// a recursion error — because they are the cause to fix.
	for name, kind := range kinds {
		if mod := compiler.Modules[customPrefix+name]; mod != nil {
			errs = append(errs, checkDataRefs(name, mod, kind)...)
		}
	}
	if len(errs) == 0 && compiler.Failed() {
		return nil, nil, fromOPA(compiler.Errors)
	}
	if len(errs) > 0 {
		sortErrors(errs)
		return nil, nil, errs
	}
	return compiler, names, nil
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
// one body per custom rule whose path ends in deny or grant, and with a
// first branch for the common case — the default rules allow and every deny
// set is empty: the decision is base — that builds no set. It keeps the
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
	allSets := true // every deny rule is a partial set rule (count is well-typed)
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
			if last == "deny" && r.Head.RuleKind() != ast.MultiValue {
				allSets = false
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
	sort.Strings(deny)
	head := stock[:cut+1]
	if allSets {
		const first = "decision := base if {\n\tnot_overridable[base.reason]\n}"
		if !strings.Contains(head, first) {
			panic("policy: rego/decision.rego lost its first branch")
		}
		var fast strings.Builder
		fast.WriteString("decision := d if {\n\td := base\n\td.allowed == true\n")
		for _, ref := range deny {
			fmt.Fprintf(&fast, "\tcount(%s) == 0\n", ref)
		}
		fast.WriteString("} else := base if {\n\tnot_overridable[base.reason]\n}")
		head = strings.Replace(head, first, fast.String(), 1)
	}
	var b strings.Builder
	b.WriteString("# Generated by package policy from rego/decision.rego and the custom modules.\n")
	b.WriteString(head)
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
// Prepared's timeout. The error also matches context.DeadlineExceeded, so
// callers that map deadlines to POLICY_ERROR catch both.
var ErrEvalTimeout = errors.New("policy evaluation timed out")

func (p *Prepared) evalError(ctx context.Context, err error) error {
	if topdown.IsCancel(err) {
		if ctx.Err() != nil {
			return fmt.Errorf("policy evaluation: %w", ctx.Err())
		}
		return fmt.Errorf("%w after %v: %w", ErrEvalTimeout, p.timeout, context.DeadlineExceeded)
	}
	return fmt.Errorf("policy evaluation: %w", err)
}

// cancelFor returns the Cancel an evaluation runs under (ctx and the
// Prepared's timeout) and a func releasing its timers.
func (p *Prepared) cancelFor(ctx context.Context, timeout time.Duration) (topdown.Cancel, func()) {
	if ctx.Done() == nil && timeout <= 0 {
		return noCancel, func() {}
	}
	cancel := topdown.NewCancel()
	var stop func() bool
	var timer *time.Timer
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, cancel.Cancel)
	}
	if timeout > 0 {
		timer = time.AfterFunc(timeout, cancel.Cancel)
	}
	return cancel, func() {
		if stop != nil {
			stop()
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// Eval evaluates the decision for a policy input document (built by
// Facts; see InputValue) given as an AST value: no JSON round trip.
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
	rs, err := p.query.Eval(withEvalBudget(ctx), rego.EvalParsedInput(input), rego.EvalExternalCancel(cancel))
	if err != nil {
		return Result{}, p.evalError(ctx, err)
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

// maxReasonRendered bounds the rendering of a message that is not a
// string (a value that shares its parts can be far larger as text).
const maxReasonRendered = 64 << 10

func termString(t *ast.Term) string {
	if s, ok := t.Value.(ast.String); ok {
		return string(s)
	}
	return boundedString(t.Value, maxReasonRendered)
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

// Reason codes a Decision may carry that the Rego policy never gives:
// they are given around it, by whoever evaluates.
const (
	// ReasonPolicyError: the policy could not decide (it failed, passed its
	// deadline, or its facts could not be read); the decision fails closed.
	ReasonPolicyError = "POLICY_ERROR"
	// ReasonLicenseFileExpired: the decision was asked of a signed license
	// file (or SDK snapshot) past its exp; it is refused without
	// evaluating (sdk/licensefile).
	ReasonLicenseFileExpired = "LICENSE_FILE_EXPIRED"
)

// Reasons lists every reason code the policy can give.
var Reasons = []string{
	ReasonAllowed, ReasonInstanceNotFound, ReasonEntitlementNotFound, ReasonNoLicense,
	ReasonLicenseInactive, ReasonLicenseNotStarted, ReasonLicenseExpired, ReasonNotEntitled,
	ReasonFeatureDisabled, ReasonLimitExceeded, ReasonDeniedByPolicy, ReasonGrantedByPolicy,
}

// DecisionReasons lists every reason a Decision may carry: Reasons and
// the two given outside the policy.
var DecisionReasons = append(append([]string(nil), Reasons...), ReasonPolicyError, ReasonLicenseFileExpired)
