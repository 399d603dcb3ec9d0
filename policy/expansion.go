package policy

import (
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
)

// MaxExpansion bounds the size a value written in a module may reach once
// the variables and rules it refers to are replaced by their values: a
// module that writes x1 := [x0, x0], x2 := [x1, x1], ... (or rules so
// defined) is refused when it is saved. OPA's type checker and its
// evaluator (which copies a local variable's value wherever it is used)
// both do work exponential in such chains, at compile time and inside one
// expression, where no deadline reaches.
const MaxExpansion = 100_000

// expansion estimates, before compiling, the expanded size of every term
// of the modules compiled together: scalars count 1, composites 1 plus
// their parts, a local variable the size of what it was bound to, a
// reference to a rule the size of the rule's value. Comprehensions and
// calls count 1 plus their head (their results are built once per
// iteration, not copied). The estimate is an upper bound for the chains
// above and small for ordinary modules.
type expansion struct {
	rules   map[string][]expansionRule // rule path (data.…) -> definitions
	sizes   map[string]int             // memo, by rule path
	funcs   map[string]funcModel       // memo, by function path
	pending map[string]bool            // rules being measured (recursion: the compiler reports it)
	quiet   int                        // > 0: measuring a function, report nothing
	errs    CompileErrors
	flagged map[string]bool // files with an error
}

// funcModel is a function's result size: base + k × (the sizes of its
// arguments beyond 1). The evaluator copies arguments into results (f(x) :=
// [x, x] doubles), so a chain of calls grows like a chain of variables.
type funcModel struct{ base, k int }

// funcProbe is the argument size a function is measured with.
const funcProbe = 1000

type expansionRule struct {
	file string
	mod  *ast.Module
	rule *ast.Rule
}

type expansionScope struct {
	vars   map[ast.Var]int
	parent *expansionScope
	file   string
	mod    *ast.Module
}

// checkExpansion checks parsed modules (file name -> module).
func checkExpansion(mods map[string]*ast.Module) CompileErrors {
	x := &expansion{rules: map[string][]expansionRule{}, sizes: map[string]int{}, funcs: map[string]funcModel{},
		pending: map[string]bool{}, flagged: map[string]bool{}}
	for file, mod := range mods {
		for _, r := range mod.Rules {
			if p := rulePath(mod, r); p != "" {
				x.rules[p] = append(x.rules[p], expansionRule{file, mod, r})
			}
		}
	}
	for file, mod := range mods {
		for _, r := range mod.Rules {
			if p := rulePath(mod, r); p != "" {
				x.rule(p)
			} else {
				x.measureRule(expansionRule{file, mod, r})
			}
		}
	}
	sortErrors(x.errs)
	return x.errs
}

// rulePath is the data path of a rule's ground head prefix.
func rulePath(mod *ast.Module, r *ast.Rule) string {
	ref := r.Head.Ref()
	if len(ref) == 0 {
		return ""
	}
	v, ok := ref[0].Value.(ast.Var)
	if !ok {
		return ""
	}
	path := mod.Package.Path.Copy().Append(ast.StringTerm(string(v)))
	for _, t := range ref[1:] {
		if !t.IsGround() {
			break
		}
		path = path.Append(t)
	}
	return path.String()
}

func (x *expansion) rule(path string) int {
	if n, ok := x.sizes[path]; ok {
		return n
	}
	if x.pending[path] {
		return 1
	}
	x.pending[path] = true
	n := 0
	for _, r := range x.rules[path] {
		n = sat(n + x.measureRule(r))
	}
	delete(x.pending, path)
	x.sizes[path] = n
	return n
}

// measureRule is the size of a rule's values (all its else branches).
func (x *expansion) measureRule(r expansionRule) int { return x.measureRuleArgs(r, 1) }

// measureRuleArgs measures a rule whose arguments (a function's) have the
// given size.
func (x *expansion) measureRuleArgs(r expansionRule, args int) int {
	n := 0
	for rule := r.rule; rule != nil; rule = rule.Else {
		sc := &expansionScope{vars: map[ast.Var]int{}, file: r.file, mod: r.mod}
		for _, a := range rule.Head.Args {
			x.bind(sc, a, args)
		}
		x.body(sc, rule.Body)
		if rule.Head.Key != nil {
			n = sat(n + 1 + x.term(sc, rule.Head.Key))
		}
		if rule.Head.Value != nil {
			n = sat(n + x.term(sc, rule.Head.Value))
		}
	}
	return n
}

func sat(n int) int { return min(n, MaxExpansion+1) }

// function is the model of the function at path (false: no function).
func (x *expansion) function(path string) (funcModel, bool) {
	defs := x.rules[path]
	if len(defs) == 0 || len(defs[0].rule.Head.Args) == 0 {
		return funcModel{}, false
	}
	if m, ok := x.funcs[path]; ok {
		return m, true
	}
	key := "func " + path
	if x.pending[key] {
		return funcModel{base: 1}, true
	}
	x.pending[key] = true
	measure := func(args int) int {
		n := 0
		for _, d := range defs {
			n = sat(n + x.measureRuleArgs(d, args))
		}
		return n
	}
	x.quiet++
	base, probed := measure(1), measure(1+funcProbe)
	x.quiet--
	delete(x.pending, key)
	m := funcModel{base: base, k: (max(0, probed-base) + funcProbe - 1) / funcProbe}
	x.funcs[path] = m
	return m, true
}

func (sc *expansionScope) lookup(v ast.Var) (int, bool) {
	for ; sc != nil; sc = sc.parent {
		if n, ok := sc.vars[v]; ok {
			return n, true
		}
	}
	return 0, false
}

func (sc *expansionScope) child() *expansionScope {
	return &expansionScope{vars: map[ast.Var]int{}, parent: sc, file: sc.file, mod: sc.mod}
}

// bind gives the variables of t (a variable, or a pattern) the size n.
func (x *expansion) bind(sc *expansionScope, t *ast.Term, n int) {
	ast.WalkVars(t, func(v ast.Var) bool {
		if !v.IsWildcard() {
			sc.vars[v] = max(sc.vars[v], n)
		}
		return false
	})
}

func (x *expansion) body(sc *expansionScope, body ast.Body) {
	for _, e := range body {
		x.expr(sc, e)
	}
}

func (x *expansion) expr(sc *expansionScope, e *ast.Expr) {
	switch t := e.Terms.(type) {
	case *ast.Term:
		x.term(sc, t)
	case []*ast.Term:
		if (e.IsAssignment() || e.IsEquality()) && len(t) == 3 {
			l, r := x.term(sc, t[1]), x.term(sc, t[2])
			x.bind(sc, t[1], r)
			x.bind(sc, t[2], l)
		} else {
			for _, op := range t[1:] {
				x.term(sc, op)
			}
		}
	case *ast.SomeDecl:
		for _, s := range t.Symbols {
			if call, ok := s.Value.(ast.Call); ok && len(call) >= 3 { // some k, v in xs
				n := x.term(sc, call[len(call)-1])
				for _, v := range call[1 : len(call)-1] {
					x.bind(sc, v, n)
				}
			} else {
				x.bind(sc, s, 1)
			}
		}
	case *ast.Every:
		n := x.term(sc, t.Domain)
		inner := sc.child()
		if t.Key != nil {
			x.bind(inner, t.Key, n)
		}
		x.bind(inner, t.Value, n)
		x.body(inner, t.Body)
	case *ast.Not:
		x.body(sc.child(), t.Body)
	case *ast.LogicalAnd:
		x.body(sc, t.Lhs)
		x.body(sc, t.Rhs)
	case *ast.LogicalOr:
		x.body(sc.child(), t.Lhs)
		x.body(sc.child(), t.Rhs)
	}
	for _, w := range e.With {
		x.term(sc, w.Value)
	}
}

// term is the expanded size of t; over MaxExpansion, it is reported.
func (x *expansion) term(sc *expansionScope, t *ast.Term) int {
	n := x.size(sc, t)
	if n > MaxExpansion && x.quiet == 0 && !x.flagged[sc.file] {
		x.flagged[sc.file] = true
		x.errs = append(x.errs, errAt(CodeLimit, sc.file, t.Location, fmt.Sprintf(
			"%s expands to more than %d values once the variables and rules it uses are replaced by theirs "+
				"(a part used twice counts twice): OPA copies such values when it type-checks and evaluates them",
			shorten(t.String()), MaxExpansion)))
	}
	return n
}

func shorten(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}

func (x *expansion) size(sc *expansionScope, t *ast.Term) int {
	if t == nil {
		return 0
	}
	switch v := t.Value.(type) {
	case ast.Var:
		if n, ok := sc.lookup(v); ok {
			return n
		}
		return max(1, x.rule(sc.mod.Package.Path.Copy().Append(ast.StringTerm(string(v))).String()))
	case ast.Ref:
		for _, p := range v[1:] {
			if !p.IsGround() {
				x.term(sc, p)
			}
		}
		return max(1, x.ref(sc, v))
	case *ast.Array:
		n := 1
		for i := 0; i < v.Len() && n <= MaxExpansion; i++ {
			n = sat(n + x.term(sc, v.Elem(i)))
		}
		return n
	case ast.Set:
		n := 1
		v.Foreach(func(e *ast.Term) { n = sat(n + x.term(sc, e)) })
		return n
	case ast.Object:
		n := 1
		v.Foreach(func(k, e *ast.Term) { n = sat(n + x.term(sc, k) + x.term(sc, e)) })
		return n
	case *ast.ArrayComprehension:
		inner := sc.child()
		x.body(inner, v.Body)
		return sat(1 + x.term(inner, v.Term))
	case *ast.SetComprehension:
		inner := sc.child()
		x.body(inner, v.Body)
		return sat(1 + x.term(inner, v.Term))
	case *ast.ObjectComprehension:
		inner := sc.child()
		x.body(inner, v.Body)
		return sat(1 + x.term(inner, v.Key) + x.term(inner, v.Value))
	case ast.Call:
		args := 0
		for _, a := range v[1:] {
			args = sat(args + x.term(sc, a) - 1)
		}
		if op, ok := v[0].Value.(ast.Ref); ok {
			if path := x.resolve(sc, op); path != "" {
				if m, ok := x.function(path); ok {
					return sat(m.base + m.k*args)
				}
			}
		}
		return 1
	case *ast.TemplateString:
		for _, p := range v.Parts {
			switch p := p.(type) {
			case *ast.Term:
				x.term(sc, p)
			case *ast.Expr:
				x.expr(sc, p)
			}
		}
		return 1
	}
	return 1
}

// ref is the size of what a reference names: a local variable's value, or
// the rule it reaches (directly, through the package or an import).
func (x *expansion) ref(sc *expansionScope, r ast.Ref) int {
	head, ok := r[0].Value.(ast.Var)
	if !ok {
		return 1
	}
	if n, ok := sc.lookup(head); ok {
		return n
	}
	if path := x.resolve(sc, r); path != "" {
		return x.rule(path)
	}
	return 1
}

// resolve is the path of the longest rule a (non-local) reference reaches,
// or "".
func (x *expansion) resolve(sc *expansionScope, r ast.Ref) string {
	head, ok := r[0].Value.(ast.Var)
	if !ok {
		return ""
	}
	var abs ast.Ref
	switch {
	case head.Equal(ast.DefaultRootDocument.Value):
		abs = r
	default:
		for _, imp := range sc.mod.Imports {
			if path, ok := imp.Path.Value.(ast.Ref); ok && imp.Name().Equal(head) {
				abs = path.Concat(r[1:])
				break
			}
		}
		if abs == nil { // a rule of the package
			abs = sc.mod.Package.Path.Copy().Append(ast.StringTerm(string(head))).Concat(r[1:])
		}
	}
	for i := len(abs); i > 1; i-- {
		if !abs[i-1].IsGround() {
			continue
		}
		if p := abs[:i].String(); len(x.rules[p]) > 0 {
			return p
		}
	}
	return ""
}
