package policy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown/print"
)

const (
	// DefaultTestTimeout bounds each test run by RunTests unless
	// WithEvalTimeout says otherwise.
	DefaultTestTimeout = time.Second
	// DefaultTestBudget bounds a whole RunTests call unless WithTotalBudget
	// says otherwise.
	DefaultTestBudget = 2 * time.Second
	// MaxTestOutput bounds what one test may print (bytes); the rest is
	// dropped and the output ends with a truncation note.
	MaxTestOutput = 16 << 10
)

// TestResult is the outcome of one test_ rule.
type TestResult struct {
	// Name is the test's full path, e.g. data.entitled.custom_test.eu.test_deny.
	Name string `json:"name"`
	// File, Row and Col locate the test rule.
	File string `json:"file"`
	Row  int    `json:"row"`
	Col  int    `json:"col"`
	// Passed: the rule is defined and not false.
	Passed   bool          `json:"passed"`
	Duration time.Duration `json:"duration"`
	// Output is what the test printed with print(), at most MaxTestOutput
	// bytes.
	Output string `json:"output"`
	// Error is set when the evaluation failed (e.g. its deadline passed);
	// the test has not passed then.
	Error string `json:"error,omitempty"`
}

// RunTests runs the test_ rules of a draft module and of its companion test
// module (tests, may be empty) in-process, with the sandboxed compiler, the
// default policy and no other module: the tests see the module as the
// engine would compile it for an organization that has only this module.
// Test modules use package entitled.custom_test (or below) or
// entitled.custom (or below); they may read data.entitled.decision to test
// the whole decision. print() output is captured per test, bounded by
// MaxTestOutput; each test is bounded by DefaultTestTimeout (WithEvalTimeout)
// and the whole run by DefaultTestBudget (WithTotalBudget): tests left when
// the budget is spent are reported failed without running. When ctx is
// cancelled, the running test stops and RunTests returns the results so far
// with ctx's error.
//
// A module or tests that do not compile give CompileErrors (files
// "module.rego" and "module_test.rego"); failing tests are results, not
// errors.
func RunTests(ctx context.Context, module, tests string, opts ...Option) ([]TestResult, error) {
	var ts []Module
	if strings.TrimSpace(tests) != "" {
		ts = []Module{{Name: "module_test.rego", Source: tests}}
	}
	return RunModuleTests(ctx, []Module{{Name: "module.rego", Source: module}}, ts, opts...)
}

// RunModuleTests is RunTests for several policy modules (e.g. an
// organization's active modules with a draft: see withDraft in Draft) and
// test modules.
func RunModuleTests(ctx context.Context, modules, tests []Module, opts ...Option) ([]TestResult, error) {
	cfg := newConfig(opts)
	timeout := DefaultTestTimeout
	if cfg.timeoutSet {
		timeout = cfg.timeout
	}
	budget := DefaultTestBudget
	if cfg.budgetSet {
		budget = cfg.budget
	}
	deadline := time.Now().Add(budget)
	compiler, _, err := compileModules(modules, tests, cfg, true)
	if err != nil {
		return nil, err
	}
	store := inmem.New()
	var out []TestResult
	for _, m := range append(append([]Module(nil), modules...), tests...) {
		mod := compiler.Modules[customPrefix+m.Name]
		if mod == nil {
			continue
		}
		done := map[string]bool{}
		for _, rule := range mod.Rules {
			name := ruleName(rule)
			if !strings.HasPrefix(name, "test_") || len(rule.Head.Ref()) != 1 || done[name] {
				continue
			}
			done[name] = true
			if err := ctx.Err(); err != nil {
				return out, err
			}
			t, cut := timeout, false
			if budget > 0 {
				left := time.Until(deadline)
				if left <= 0 {
					out = append(out, testResult(m.Name, mod, rule, fmt.Sprintf(
						"not run: the test run's total budget of %v was spent before this test", budget)))
					continue
				}
				if t <= 0 || left < t {
					t, cut = left, true
				}
			}
			tr, timedOut := runTest(ctx, compiler, store, m.Name, mod, rule, t)
			if timedOut && cut {
				tr.Error = fmt.Sprintf("%v: the test run's total budget of %v was spent", ErrEvalTimeout, budget)
			}
			out = append(out, tr)
		}
	}
	return out, nil
}

// testResult is a failed result for a test, before it runs.
func testResult(file string, mod *ast.Module, rule *ast.Rule, errMsg string) TestResult {
	tr := TestResult{Name: mod.Package.Path.String() + "." + ruleName(rule), File: file, Error: errMsg}
	if rule.Location != nil {
		tr.Row, tr.Col = rule.Location.Row, rule.Location.Col
	}
	return tr
}

// runTest runs one test; timedOut: its timeout (not ctx) stopped it.
func runTest(ctx context.Context, compiler *ast.Compiler, store storage.Store, file string, mod *ast.Module, rule *ast.Rule, timeout time.Duration) (tr TestResult, timedOut bool) {
	ref := mod.Package.Path.Append(ast.StringTerm(ruleName(rule)))
	tr = testResult(file, mod, rule, "")
	out := &boundedPrint{max: MaxTestOutput}
	p := &Prepared{timeout: timeout}
	start := time.Now()
	rs, err := func() (rego.ResultSet, error) {
		pq, err := rego.New(
			rego.ParsedQuery(ast.NewBody(ast.NewExpr(ast.NewTerm(ref)))),
			rego.Compiler(compiler),
			rego.Store(store),
			rego.PrintHook(out),
			rego.EnablePrintStatements(true),
			rego.Capabilities(Capabilities()),
		).PrepareForEval(ctx)
		if err != nil {
			return nil, err
		}
		cancel, release := p.cancelFor(ctx, timeout)
		defer release()
		return pq.Eval(withEvalBudget(ctx), rego.EvalExternalCancel(cancel))
	}()
	tr.Duration = time.Since(start)
	tr.Output = out.String()
	switch {
	case err != nil:
		err = p.evalError(ctx, err)
		tr.Error = err.Error()
		timedOut = errors.Is(err, ErrEvalTimeout)
	case len(rs) == 0 || len(rs[0].Expressions) == 0:
		// undefined: failed
	default:
		tr.Passed = rs[0].Expressions[0].Value != false
	}
	return tr, timedOut
}

// boundedPrint is the print hook of tests: it keeps the first max bytes.
type boundedPrint struct {
	mu        sync.Mutex
	b         strings.Builder
	max       int
	truncated bool
}

// full reports whether nothing more will be kept (print is then skipped:
// see bounds.go).
func (p *boundedPrint) full() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.truncated
}

func (p *boundedPrint) Print(_ print.Context, msg string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.truncated {
		return nil
	}
	if p.b.Len()+len(msg)+1 > p.max {
		p.truncated = true
		return nil
	}
	p.b.WriteString(msg)
	p.b.WriteByte('\n')
	return nil
}

func (p *boundedPrint) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.truncated {
		return p.b.String() + fmt.Sprintf("… output truncated at %d bytes\n", p.max)
	}
	return p.b.String()
}

// renameDuplicateTests names the second and later bodies of a test_ rule
// test_x#01, test_x#02, ... so that each runs as its own test (as opa test
// does).
func renameDuplicateTests(mod *ast.Module) {
	count := map[string]int{}
	for _, r := range mod.Rules {
		name := ruleName(r)
		if !strings.HasPrefix(name, "test_") || len(r.Head.Ref()) != 1 {
			continue
		}
		n := count[name]
		count[name] = n + 1
		if n == 0 {
			continue
		}
		v := ast.Var(fmt.Sprintf("%s#%02d", name, n))
		r.Head.Name = v
		r.Head.Reference = ast.Ref{ast.NewTerm(v).SetLocation(r.Head.Location)}
	}
}
