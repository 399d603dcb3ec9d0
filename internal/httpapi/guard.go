package httpapi

import (
	"context"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/entitled/entitled/internal/apperr"
)

// Limits on one GraphQL document.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
	maxDepth        = 15
	// maxCost bounds the rows a document may ask for: every field costs 1,
	// and a connection multiplies its children by its page size.
	maxCost    = 200_000
	maxFields  = 2_000
	tokenLimit = 15_000
	// maxLookups bounds the root fields and connections a document runs
	// (each is at least one SQL statement, whatever its page size), so
	// aliasing one field hundreds of times is refused.
	maxLookups = 100
	// MaxDecisionsPerRequest bounds the decisions one document may ask
	// for, all aliases together: each is a policy evaluation, and each
	// may carry a CONFIG value of up to 64 KiB.
	MaxDecisionsPerRequest = 1000
	// maxListDecisions is what decisions() without a list may return: the
	// instance's grants, as many as decisions() accepts when named.
	maxListDecisions = 500
	// MaxInputDepth bounds the nesting of argument values (literal or
	// variables): objects and lists inside one another.
	MaxInputDepth = 32
	// MaxInputList bounds the length of one list in arguments (a usage
	// batch has up to 5,000 reports).
	MaxInputList = 5000
)

// decisionFields are the root fields that evaluate policies, each once
// (decisions: once per entitlement).
var decisionFields = map[string]bool{
	"allowed": true, "decisions": true, "consumeUsage": true,
	"explainDecision": true, "evaluatePolicy": true,
}

// guard rejects abusive documents before gqlgen validates them or computes
// complexity, both of which can take exponential time on nested fragment
// spreads. It walks the document once with each fragment's cost memoised,
// so its own time is linear in the document's size.
type guard struct {
	schema *ast.Schema
	// seen holds verdicts of recent documents that did not depend on
	// variables: at most maxVerdicts documents of at most maxCachedQuery
	// bytes each.
	seen *lru.Cache[string, error]
}

// maxVerdicts bounds the remembered verdicts.
const maxVerdicts = 1000

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = (*guard)(nil)

func newGuard(schema *ast.Schema) *guard {
	seen, err := lru.New[string, error](maxVerdicts)
	if err != nil {
		panic(err) // only for a size <= 0
	}
	return &guard{schema: schema, seen: seen}
}

func (g *guard) ExtensionName() string                   { return "QueryGuard" }
func (g *guard) Validate(graphql.ExecutableSchema) error { return nil }
func (g *guard) MutateOperationParameters(_ context.Context, p *graphql.RawParams) *gqlerror.Error {
	// A verdict that read no variable holds for every request with the same
	// document, whatever its variables: decisions ask with one document
	// and new variables each time.
	// Peek takes a read lock only: every request passes here.
	if err, ok := g.seen.Peek(p.Query); ok {
		return toGQL(err)
	}
	err, usedVars := g.check(p.Query, p.Variables)
	if !usedVars && len(p.Query) <= maxCachedQuery {
		g.seen.Add(p.Query, err)
	}
	return toGQL(err)
}

// maxCachedQuery bounds the documents whose verdict is remembered.
const maxCachedQuery = 16 << 10

func toGQL(err error) *gqlerror.Error {
	if err == nil {
		return nil
	}
	return &gqlerror.Error{Message: err.Error(), Err: err}
}

type cost struct {
	cost, depth, fields, lookups, decisions int
}

func sat(a, b int) int {
	if a > maxCost*10 || b > maxCost*10 || a+b > maxCost*10 {
		return maxCost * 10
	}
	return a + b
}

func satMul(a, b int) int {
	if a != 0 && b > maxCost*10/a {
		return maxCost * 10
	}
	return a * b
}

type walker struct {
	g     *guard
	doc   *ast.QueryDocument
	vars  map[string]any
	memo  map[string]cost
	stack map[string]bool
	bad   error
	// usedVars is set when a page size came from a variable.
	usedVars bool
}

// check walks a document; usedVars reports whether the verdict depended on
// a variable (a page size given as one).
func (g *guard) check(query string, vars map[string]any) (_ error, usedVars bool) {
	if query == "" {
		return apperr.Invalid("query", "must not be empty"), false
	}
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: query}, tokenLimit)
	if err != nil {
		return nil, false // gqlgen reports the syntax error with its position
	}
	w := &walker{g: g, doc: doc, vars: vars, memo: map[string]cost{}, stack: map[string]bool{}}
	defer func() { usedVars = w.usedVars }()
	for _, op := range doc.Operations {
		var root *ast.Definition
		switch op.Operation {
		case ast.Mutation:
			root = g.schema.Mutation
		case ast.Subscription:
			root = g.schema.Subscription
		default:
			root = g.schema.Query
		}
		c := w.set(op.SelectionSet, root)
		if w.bad != nil {
			return w.bad, false
		}
		switch {
		case c.depth > maxDepth:
			return apperr.Invalid("query", "is nested %d levels deep; at most %d allowed", c.depth, maxDepth), false
		case c.fields > maxFields:
			return apperr.Invalid("query", "selects more than %d fields once fragments are expanded", maxFields), false
		case c.cost > maxCost:
			return apperr.Invalid("query", "could return more than %d objects; ask for smaller pages", maxCost), false
		case c.lookups > maxLookups:
			return apperr.Invalid("query", "runs more than %d root fields and connections; use fewer aliases", maxLookups), false
		case c.decisions > MaxDecisionsPerRequest:
			return apperr.Invalid("query", "asks for %d decisions; at most %d per request", c.decisions, MaxDecisionsPerRequest), false
		}
	}
	return nil, false
}

func (w *walker) set(ss ast.SelectionSet, typ *ast.Definition) cost {
	var total cost
	for _, sel := range ss {
		var c cost
		switch s := sel.(type) {
		case *ast.Field:
			c = w.field(s, typ)
		case *ast.InlineFragment:
			t := typ
			if s.TypeCondition != "" {
				t = w.g.schema.Types[s.TypeCondition]
			}
			c = w.set(s.SelectionSet, t)
		case *ast.FragmentSpread:
			c = w.fragment(s.Name)
		}
		total.cost = sat(total.cost, c.cost)
		total.fields = sat(total.fields, c.fields)
		total.depth = max(total.depth, c.depth)
		total.lookups = sat(total.lookups, c.lookups)
		total.decisions = sat(total.decisions, c.decisions)
		if w.bad != nil {
			return total
		}
	}
	return total
}

func (w *walker) fragment(name string) cost {
	if c, ok := w.memo[name]; ok {
		return c
	}
	if w.stack[name] {
		w.bad = apperr.Invalid("query", "fragment %q spreads itself", name)
		return cost{}
	}
	def := w.doc.Fragments.ForName(name)
	if def == nil {
		return cost{} // validation reports unknown fragments
	}
	w.stack[name] = true
	c := w.set(def.SelectionSet, w.g.schema.Types[def.TypeCondition])
	delete(w.stack, name)
	w.memo[name] = c
	return c
}

func (w *walker) field(f *ast.Field, parent *ast.Definition) cost {
	var def *ast.FieldDefinition
	if parent != nil {
		def = parent.Fields.ForName(f.Name)
	}
	for _, a := range f.Arguments {
		if a.Value != nil && valueDepth(a.Value, 0) > MaxInputDepth {
			w.bad = apperr.Invalid(a.Name, "is nested more than %d levels deep", MaxInputDepth)
			return cost{}
		}
	}
	var child *ast.Definition
	mult, lookups, decisions := 1, 0, 0
	if def != nil {
		child = w.g.schema.Types[def.Type.Name()]
		if isConnection(def) {
			for _, name := range []string{"first", "last"} {
				if a := f.Arguments.ForName(name); a != nil && a.Value != nil && a.Value.Kind == ast.Variable {
					w.usedVars = true
				}
			}
			mult, lookups = pageSizeOf(f, w.vars), 1
			for _, name := range []string{"first", "last"} {
				if a := f.Arguments.ForName(name); a != nil && a.Value != nil && negative(a.Value, w.vars) {
					w.bad = apperr.Invalid(name, "must be zero or more")
				}
			}
		}
		if parent == w.g.schema.Query || parent == w.g.schema.Mutation {
			lookups = 1
			// A list answer costs its children once per element.
			switch f.Name {
			case "decisions":
				mult = w.listLen(f, "entitlements", maxListDecisions)
			case "nodes":
				mult = w.listLen(f, "ids", 1)
			}
			if decisionFields[f.Name] {
				decisions = mult
			}
		}
	}
	c := w.set(f.SelectionSet, child)
	return cost{
		cost:      sat(1, satMul(mult, c.cost)),
		fields:    sat(1, c.fields),
		depth:     c.depth + 1,
		lookups:   sat(lookups, c.lookups),
		decisions: sat(decisions, satMul(mult, c.decisions)),
	}
}

// listLen is the length of a list argument (literal or variable), or
// absent when the argument is missing or null. A verdict that read a
// variable is not remembered.
func (w *walker) listLen(f *ast.Field, arg string, absent int) int {
	a := f.Arguments.ForName(arg)
	if a == nil || a.Value == nil {
		return absent
	}
	switch a.Value.Kind {
	case ast.ListValue:
		return max(1, len(a.Value.Children))
	case ast.Variable:
		w.usedVars = true
		if l, ok := w.vars[a.Value.Raw].([]any); ok {
			return max(1, len(l))
		}
	}
	return absent
}

// valueDepth is how deeply a literal argument value nests, stopping as
// soon as it passes MaxInputDepth.
func valueDepth(v *ast.Value, d int) int {
	if d > MaxInputDepth {
		return d
	}
	deepest := d
	for _, c := range v.Children {
		if c.Value != nil {
			deepest = max(deepest, valueDepth(c.Value, d+1))
		}
	}
	return deepest
}

// negative reports whether a page size (literal or variable) is below zero.
func negative(v *ast.Value, vars map[string]any) bool {
	if v.Kind == ast.IntValue {
		return strings.HasPrefix(v.Raw, "-")
	}
	n, ok := intValue(v, vars)
	return ok && n < 0
}

func isConnection(def *ast.FieldDefinition) bool {
	return strings.HasSuffix(def.Type.Name(), "Connection") && def.Arguments.ForName("first") != nil
}

// pageSizeOf returns the page size a connection field will use after
// capping: the first/last argument (literal or variable) or the default.
func pageSizeOf(f *ast.Field, vars map[string]any) int {
	size := 0
	for _, name := range []string{"first", "last"} {
		a := f.Arguments.ForName(name)
		if a == nil || a.Value == nil {
			continue
		}
		if n, ok := intValue(a.Value, vars); ok && n > size {
			size = n
		}
	}
	if size <= 0 {
		size = DefaultPageSize
	}
	return min(size, MaxPageSize)
}

func intValue(v *ast.Value, vars map[string]any) (int, bool) {
	switch v.Kind {
	case ast.IntValue:
		var n int
		for _, r := range v.Raw {
			if r < '0' || r > '9' {
				return 0, false
			}
			n = min(n*10+int(r-'0'), 1<<30)
		}
		return n, true
	case ast.Variable:
		switch x := vars[v.Raw].(type) {
		case int:
			return x, true
		case int64:
			return int(x), true
		case float64:
			return int(x), true
		case interface{ Int64() (int64, error) }:
			n, err := x.Int64()
			return int(n), err == nil
		}
	}
	return 0, false
}
