package policy

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/types"
)

// Bounds on what one builtin call may produce or do. A call that would go
// over one is refused before it runs (or, where its result cannot be
// foreseen cheaply, right after): the evaluation halts with an
// eval_builtin_error that wraps ErrBuiltinLimit, and the decision fails
// closed (POLICY_ERROR). The audit in sandbox.go says which bound applies
// to which builtin.
//
// OPA checks its cancellation between expressions, not inside a builtin, so
// these bounds are what keeps a single call short (milliseconds at most)
// and small: with them, the per-evaluation deadline is a real bound on CPU
// time, and memory is bounded by what a deadline's worth of calls can keep.
const (
	// MaxBuiltinString bounds a string a builtin returns, in bytes.
	MaxBuiltinString = 1 << 20
	// MaxBuiltinElements bounds the elements of an array, set or object a
	// builtin returns (numbers.range, split, array.concat, ...).
	MaxBuiltinElements = 100_000
	// MaxBuiltinValue bounds the size of a value a builtin serializes or
	// traverses (json.marshal, sprintf's %v, object.union, print, ...),
	// measured as its JSON text in bytes, a part that occurs several times
	// counted each time.
	MaxBuiltinValue = 1 << 20
	// MaxBuiltinWork bounds the product of a pattern's size and the text it
	// is matched against (regex.*, glob.match, regex.globs_match,
	// indexof_n, trim with a non-ASCII cutset, ...): some 25 ms of CPU at
	// most.
	MaxBuiltinWork = 1 << 21
	// MaxNumberLength bounds, in characters, the numbers that arithmetic,
	// comparisons and numeric builtins take and return: arbitrary-precision
	// arithmetic on longer numbers is super-linear (x*x doubles the digits).
	MaxNumberLength = 512
	// MaxEvalBuiltinBytes bounds the bytes of all strings the bounded
	// builtins return during one evaluation (or one test).
	MaxEvalBuiltinBytes = 16 << 20
	// maxPrintLines bounds the lines one print call may write (print of
	// several multi-valued expressions prints their cross product).
	maxPrintLines = 1000
	// maxPattern bounds a regular expression or glob pattern, in bytes.
	maxPattern = 64 << 10
	// maxJWT bounds the token io.jwt.decode decodes.
	maxJWT = 128 << 10
	// maxPatchOps bounds the operations of one json.patch.
	maxPatchOps = 10_000
)

// ErrBuiltinLimit is wrapped by the evaluation error when a builtin call
// was refused because it would exceed a sandbox bound.
var ErrBuiltinLimit = errors.New("sandbox builtin limit exceeded")

// limitf describes a refused call.
func limitf(format string, args ...any) error {
	return fmt.Errorf("%s (%w, see docs/policies.md)", fmt.Sprintf(format, args...), ErrBuiltinLimit)
}

// bound is what is checked around one builtin.
type bound struct {
	pre  func(ops []*ast.Term) error // before the call: nil, or why it is refused
	post func(out *ast.Term) error   // on its result
	// args rewrites the operands (e.g. a find_n limit); nil keeps them.
	args func(ops []*ast.Term) []*ast.Term
	// skip: the call is not made, and has no result (print once a test's
	// output is full).
	skip func(bctx topdown.BuiltinContext) bool
}

// The bounded builtins are installed process-wide: OPA's evaluator looks a
// builtin's implementation up in topdown's global registry before any
// per-query function (rego.Function* cannot replace a builtin), so
// topdown.RegisterBuiltinFunc is the one way to bound a builtin for
// rego.Compiler + PrepareForEval (Compile) and for RunTests alike. Each
// wrapper calls the implementation it replaced. Every evaluation in a
// process that imports this package gets these bounds, sandboxed or not;
// they are far above what a decision needs.
//
// Builtins declared CanSkipBctx get an empty BuiltinContext (no Context);
// those returning strings are made to get theirs, for the per-evaluation
// count of MaxEvalBuiltinBytes.
func installBounds() {
	for name, b := range bounds {
		orig := topdown.GetBuiltin(name)
		decl := ast.BuiltinMap[name]
		if orig == nil || decl == nil {
			panic("policy: bounded builtin " + name + " is not implemented by OPA")
		}
		str := decl.Decl != nil && types.Compare(decl.Decl.Result(), types.S) == 0
		if str {
			decl.CanSkipBctx = false
		}
		topdown.RegisterBuiltinFunc(name, wrapBuiltin(name, orig, b, str))
	}
}

// evalBytesKey keys the count of the bytes the bounded builtins returned
// in an evaluation's context (see withEvalBudget).
type evalBytesKey struct{}

// withEvalBudget gives an evaluation (Eval, Explain, a test) its own count
// for MaxEvalBuiltinBytes. OPA's per-query builtin cache is not set for
// prepared queries, so the count travels in the context, which reaches
// every builtin call of the evaluation.
func withEvalBudget(ctx context.Context) context.Context { return &evalBytes{Context: ctx} }

type evalBytes struct {
	context.Context
	n int
}

func (c *evalBytes) Value(key any) any {
	if key == (evalBytesKey{}) {
		return &c.n
	}
	return c.Context.Value(key)
}

// capture receives a builtin's result; pooled, with its method value made
// once, so that wrapping a builtin allocates nothing.
type capture struct {
	out    *ast.Term
	called bool
	fn     func(*ast.Term) error
}

func (c *capture) set(t *ast.Term) error {
	c.out, c.called = t, true
	return nil
}

var capturePool = sync.Pool{New: func() any {
	c := &capture{}
	c.fn = c.set
	return c
}}

func wrapBuiltin(name string, orig topdown.BuiltinFunc, b bound, countBytes bool) topdown.BuiltinFunc {
	return func(bctx topdown.BuiltinContext, ops []*ast.Term, iter func(*ast.Term) error) error {
		if b.skip != nil && b.skip(bctx) {
			return iter(nil)
		}
		if b.pre != nil {
			if err := b.pre(ops); err != nil {
				return refuse(bctx, name, err)
			}
		}
		if b.args != nil {
			ops = b.args(ops)
		}
		if b.post == nil && !countBytes {
			return orig(bctx, ops, iter)
		}
		c := capturePool.Get().(*capture)
		err := orig(bctx, ops, c.fn)
		out, called := c.out, c.called
		c.out, c.called = nil, false
		capturePool.Put(c)
		if err != nil || !called {
			return err
		}
		if out != nil {
			if b.post != nil {
				if err := b.post(out); err != nil {
					return refuse(bctx, name, err)
				}
			}
			if s, ok := out.Value.(ast.String); ok && len(s) > 0 && bctx.Context != nil {
				if n, ok := bctx.Context.Value(evalBytesKey{}).(*int); ok {
					if *n += len(s); *n > MaxEvalBuiltinBytes {
						return refuse(bctx, name, limitf("the evaluation's builtins returned more than %d bytes of strings", MaxEvalBuiltinBytes))
					}
				}
			}
		}
		return iter(out)
	}
}

// refuse halts the evaluation: a plain builtin error would only make the
// expression undefined (OPA's default), which could turn a deny rule off.
func refuse(bctx topdown.BuiltinContext, name string, err error) error {
	e := &topdown.Error{Code: topdown.BuiltinErr, Message: name + ": " + err.Error(), Location: bctx.Location}
	return topdown.Halt{Err: e.Wrap(err)}
}

var bounds = map[string]bound{}

func init() {
	str, elems, num, valueOut := stringResult, elementsResult, numberResult, valueResult

	// Strings: results bounded; where the result can be far larger than
	// the input, its size is computed first.
	bounds["sprintf"] = bound{pre: sprintfPre, post: str}
	bounds["concat"] = bound{pre: concatPre, post: str}
	bounds["replace"] = bound{pre: replacePre, post: str}
	bounds["strings.replace_n"] = bound{pre: replaceNPre, post: str}
	bounds["internal.template_string"] = bound{pre: valuesPre(MaxBuiltinString), post: str}
	for _, name := range []string{"upper", "lower", "glob.quote_meta", "base64.encode",
		"base64url.encode", "base64url.encode_no_pad", "hex.encode", "urlquery.encode", "time.format"} {
		bounds[name] = bound{post: str}
	}
	bounds["format_int"] = bound{pre: numbersPre, post: str}
	bounds["urlquery.encode_object"] = bound{pre: valuesPre(MaxBuiltinValue), post: str}
	bounds["json.marshal"] = bound{pre: valuesPre(MaxBuiltinValue), post: str}
	bounds["json.marshal_with_options"] = bound{pre: marshalOptsPre, post: str}
	bounds["yaml.marshal"] = bound{pre: yamlMarshalPre, post: str}
	bounds["split"] = bound{pre: splitPre(false), post: elems}
	bounds["strings.split_n"] = bound{pre: splitPre(true), post: elems}
	bounds["indexof"] = bound{pre: indexofPre(false)}
	bounds["indexof_n"] = bound{pre: indexofPre(true), post: elems}
	for _, name := range []string{"trim", "trim_left", "trim_right"} {
		bounds[name] = bound{pre: trimPre}
	}
	bounds["strings.any_prefix_match"] = bound{pre: affixPre}
	bounds["strings.any_suffix_match"] = bound{pre: affixPre}

	// Patterns: pattern × text bounded.
	bounds["glob.match"] = bound{pre: globPre}
	bounds["regex.globs_match"] = bound{pre: globsPre}
	bounds["regex.is_valid"] = bound{pre: patternLenPre}
	bounds["regex.match"] = bound{pre: regexPre(false, false)}
	bounds["regex.split"] = bound{pre: regexPre(true, true), post: elems}
	bounds["regex.find_n"] = bound{pre: regexPre(true, false), args: capN, post: elems}
	bounds["regex.find_all_string_submatch_n"] = bound{pre: regexPre(true, false), args: capN, post: elems}
	bounds["regex.replace"] = bound{pre: regexReplacePre, post: str}
	bounds["regex.template_match"] = bound{pre: templatePre}

	// Numbers: operands and results of bounded length.
	for _, name := range []string{"plus", "minus", "mul", "div", "rem", "abs", "round", "ceil", "floor",
		"bits.and", "bits.or", "bits.xor", "bits.negate", "bits.rsh"} {
		bounds[name] = bound{pre: numbersPre, post: num}
	}
	for _, name := range []string{"equal", "neq", "lt", "lte", "gt", "gte"} {
		bounds[name] = bound{pre: comparePre}
	}
	bounds["internal.member_2"] = bound{pre: memberPre(1)}
	bounds["internal.member_3"] = bound{pre: memberPre(2)}
	bounds["bits.lsh"] = bound{pre: lshPre, post: num}
	bounds["sum"] = bound{pre: collectionNumbersPre, post: num}
	bounds["product"] = bound{pre: collectionNumbersPre, post: num}
	bounds["to_number"] = bound{post: num}
	bounds["units.parse"] = bound{pre: shortStringPre, post: num}
	bounds["units.parse_bytes"] = bound{pre: shortStringPre, post: num}
	bounds["numbers.range"] = bound{pre: rangePre}
	bounds["numbers.range_step"] = bound{pre: rangePre}

	// Collections: elements of results, and the size of what is traversed.
	bounds["array.concat"] = bound{pre: arrayConcatPre}
	bounds["array.flatten"] = bound{pre: flattenPre}
	bounds["union"] = bound{pre: setsPre, post: elems}
	bounds["intersection"] = bound{pre: setsPre}
	bounds["sort"] = bound{pre: valuesPre(MaxBuiltinValue)}
	bounds["max"] = bound{pre: valuesPre(MaxBuiltinValue)}
	bounds["min"] = bound{pre: valuesPre(MaxBuiltinValue)}
	bounds["object.union"] = bound{pre: valuesPre(MaxBuiltinValue)}
	bounds["object.union_n"] = bound{pre: valuesPre(MaxBuiltinValue)}
	bounds["object.subset"] = bound{pre: subsetPre}
	bounds["json.filter"] = bound{pre: valuesPre(MaxBuiltinValue)}
	bounds["json.remove"] = bound{pre: valuesPre(MaxBuiltinValue)}
	bounds["json.patch"] = bound{pre: patchPre, post: valueOut}

	// Decoders: results of bounded size.
	bounds["json.unmarshal"] = bound{pre: structuralPre, post: valueOut}
	bounds["yaml.unmarshal"] = bound{pre: structuralPre, post: valueOut}
	bounds["io.jwt.decode"] = bound{pre: jwtPre, post: valueOut}
	bounds["urlquery.decode_object"] = bound{pre: queryPre, post: valueOut}

	// Output of tests.
	bounds["internal.print"] = bound{pre: printPre, skip: func(bctx topdown.BuiltinContext) bool {
		p, ok := bctx.PrintHook.(*boundedPrint)
		return bctx.PrintHook == nil || ok && p.full()
	}}

	installBounds()
}

// ---- results

func stringResult(out *ast.Term) error {
	if s, ok := out.Value.(ast.String); ok && len(s) > MaxBuiltinString {
		return limitf("result of %d bytes is over the limit of %d", len(s), MaxBuiltinString)
	}
	return nil
}

func elementsResult(out *ast.Term) error {
	if n := collectionLen(out.Value); n > MaxBuiltinElements {
		return limitf("result of %d elements is over the limit of %d", n, MaxBuiltinElements)
	}
	return nil
}

func numberResult(out *ast.Term) error {
	if n, ok := out.Value.(ast.Number); ok && len(n) > MaxNumberLength {
		return limitf("result is a number of %d characters, over the limit of %d", len(n), MaxNumberLength)
	}
	return nil
}

func valueResult(out *ast.Term) error {
	sz := newSizer(MaxBuiltinValue)
	sz.numbers = true
	sz.value(out.Value, 0)
	if sz.err != nil {
		return sz.err
	}
	if sz.over() {
		return limitf("result is larger than %d bytes", MaxBuiltinValue)
	}
	return nil
}

func collectionLen(v ast.Value) int {
	switch v := v.(type) {
	case *ast.Array:
		return v.Len()
	case ast.Set:
		return v.Len()
	case ast.Object:
		return v.Len()
	}
	return 0
}

// ---- value sizes

// sizer measures a value as its JSON text (bytes), every occurrence of a
// shared part counted, and stops as soon as it is over its limit: its cost
// is bounded by the limit, not by the value.
type sizer struct {
	n, limit int
	indent   int  // bytes added per element and nesting level (pretty output)
	numbers  bool // refuse numbers longer than MaxNumberLength
	err      error
}

func newSizer(limit int) *sizer { return &sizer{limit: limit} }

func (s *sizer) over() bool { return s.n > s.limit || s.err != nil }

func (s *sizer) add(n int) { s.n += n }

func (s *sizer) value(v ast.Value, depth int) {
	if s.over() {
		return
	}
	switch v := v.(type) {
	case ast.Null:
		s.add(4)
	case ast.Boolean:
		s.add(5)
	case ast.Number:
		if s.numbers && len(v) > MaxNumberLength {
			s.err = limitf("a number of %d characters is over the limit of %d", len(v), MaxNumberLength)
			return
		}
		s.add(len(v))
	case ast.String:
		s.add(len(v) + 2)
	case *ast.Array:
		s.add(2)
		for i := 0; i < v.Len() && !s.over(); i++ {
			s.add(1 + depth*s.indent)
			s.value(v.Elem(i).Value, depth+1)
		}
	case ast.Set:
		s.add(2)
		_ = v.Iter(func(t *ast.Term) error {
			s.add(1 + depth*s.indent)
			s.value(t.Value, depth+1)
			if s.over() {
				return errStop
			}
			return nil
		})
	case ast.Object:
		s.add(2)
		_ = v.Iter(func(k, t *ast.Term) error {
			s.add(2 + depth*s.indent)
			s.value(k.Value, depth+1)
			s.value(t.Value, depth+1)
			if s.over() {
				return errStop
			}
			return nil
		})
	default: // refs, vars, comprehensions: not in evaluated values
		s.add(len(v.String()))
	}
}

var errStop = errors.New("stop")

// valueSize is the size of v as the sizer measures it (above limit: over).
func valueSize(v ast.Value, limit int) int {
	switch v := v.(type) {
	case ast.String:
		return len(v) + 2
	case ast.Number:
		return len(v)
	case ast.Boolean:
		return 5
	case ast.Null:
		return 4
	}
	sz := newSizer(limit)
	sz.value(v, 0)
	return sz.n
}

// valuesPre bounds the total size of the operands.
func valuesPre(limit int) func(ops []*ast.Term) error {
	return func(ops []*ast.Term) error {
		n := 0
		for _, t := range ops {
			if n += valueSize(t.Value, limit); n > limit {
				return limitf("operands are larger than %d bytes", limit)
			}
		}
		return nil
	}
}

// ---- strings

func concatPre(ops []*ast.Term) error {
	delim, ok1 := ops[0].Value.(ast.String)
	n, total := 0, 0
	add := func(t *ast.Term) error {
		if s, ok := t.Value.(ast.String); ok {
			total += len(s)
		}
		n++
		if total+n*len(delim) > MaxBuiltinString {
			return errStop
		}
		return nil
	}
	if !ok1 {
		return nil // the implementation reports the type error
	}
	var err error
	switch c := ops[1].Value.(type) {
	case *ast.Array:
		for i := 0; i < c.Len() && err == nil; i++ {
			err = add(c.Elem(i))
		}
	case ast.Set:
		err = c.Iter(add)
	}
	if err != nil {
		return limitf("result would be over %d bytes", MaxBuiltinString)
	}
	return nil
}

// occurrences counts the non-overlapping occurrences of sub in s: with ""
// one more than the runes, as strings.Replace and strings.Split see it.
func occurrences(s, sub string) int {
	return strings.Count(s, sub)
}

func replacePre(ops []*ast.Term) error {
	s, ok1 := ops[0].Value.(ast.String)
	old, ok2 := ops[1].Value.(ast.String)
	repl, ok3 := ops[2].Value.(ast.String)
	if !ok1 || !ok2 || !ok3 {
		return nil
	}
	if grow := len(repl) - len(old); grow > 0 {
		if est := len(s) + occurrences(string(s), string(old))*grow; est > MaxBuiltinString {
			return limitf("result would be %d bytes, over the limit of %d", est, MaxBuiltinString)
		}
	}
	return nil
}

func replaceNPre(ops []*ast.Term) error {
	pats, ok1 := ops[0].Value.(ast.Object)
	s, ok2 := ops[1].Value.(ast.String)
	if !ok1 || !ok2 {
		return nil
	}
	if pats.Len() > 0 && pats.Len()*(len(s)+1) > 16*MaxBuiltinWork {
		return limitf("%d replacements in a string of %d bytes are over the work limit", pats.Len(), len(s))
	}
	est := len(s)
	_ = pats.Iter(func(k, v *ast.Term) error {
		old, ok1 := k.Value.(ast.String)
		repl, ok2 := v.Value.(ast.String)
		if ok1 && ok2 {
			if grow := len(repl) - len(old); grow > 0 {
				est += occurrences(string(s), string(old)) * grow
			}
		}
		if est > MaxBuiltinString {
			return errStop
		}
		return nil
	})
	if est > MaxBuiltinString {
		return limitf("result would be over %d bytes", MaxBuiltinString)
	}
	return nil
}

func splitPre(withN bool) func(ops []*ast.Term) error {
	return func(ops []*ast.Term) error {
		s, ok1 := ops[0].Value.(ast.String)
		sep, ok2 := ops[1].Value.(ast.String)
		if !ok1 || !ok2 {
			return nil
		}
		n := occurrences(string(s), string(sep)) + 1
		if withN {
			if m, ok := ops[2].Value.(ast.Number); ok {
				if k, ok := m.Int(); ok && k >= 0 && k < n {
					n = k
				}
			}
		}
		if n > MaxBuiltinElements {
			return limitf("result would have %d elements, over the limit of %d", n, MaxBuiltinElements)
		}
		return nil
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// indexofPre: OPA searches non-ASCII strings rune by rune (base × search),
// and indexof_n restarts the search one byte after each match.
func indexofPre(all bool) func(ops []*ast.Term) error {
	return func(ops []*ast.Term) error {
		base, ok1 := ops[0].Value.(ast.String)
		search, ok2 := ops[1].Value.(ast.String)
		if !ok1 || !ok2 || len(search) == 0 {
			return nil
		}
		if !all && isASCII(string(base)) && isASCII(string(search)) {
			return nil // strings.Index
		}
		if work := len(base) * len(search); work > MaxBuiltinWork {
			return limitf("searching %d bytes for %d bytes is over the work limit of %d", len(base), len(search), MaxBuiltinWork)
		}
		return nil
	}
}

// trimPre: strings.Trim tests each trimmed rune against a non-ASCII cutset
// by scanning it.
func trimPre(ops []*ast.Term) error {
	s, ok1 := ops[0].Value.(ast.String)
	cut, ok2 := ops[1].Value.(ast.String)
	if !ok1 || !ok2 || isASCII(string(cut)) || utf8.RuneCountInString(string(cut)) <= 1 {
		return nil
	}
	if work := len(s) * len(cut); work > MaxBuiltinWork {
		return limitf("trimming %d bytes with a cutset of %d bytes is over the work limit of %d", len(s), len(cut), MaxBuiltinWork)
	}
	return nil
}

func affixPre(ops []*ast.Term) error {
	n, m := max(1, collectionLen(ops[0].Value)), max(1, collectionLen(ops[1].Value))
	if n*m > MaxBuiltinWork {
		return limitf("%d strings against %d affixes is over the work limit of %d", n, m, MaxBuiltinWork)
	}
	return nil
}

func shortStringPre(ops []*ast.Term) error {
	if s, ok := ops[0].Value.(ast.String); ok && len(s) > MaxNumberLength {
		return limitf("a string of %d bytes is over the limit of %d", len(s), MaxNumberLength)
	}
	return nil
}

// ---- sprintf

// sprintfPre computes an upper bound of sprintf's result from the format
// and the arguments, so that widths (%0999999d), precisions and repeated
// explicit arguments (%[1]s%[1]s...) are refused before fmt allocates.
func sprintfPre(ops []*ast.Term) error {
	format, ok1 := ops[0].Value.(ast.String)
	args, ok2 := ops[1].Value.(*ast.Array)
	if !ok1 || !ok2 {
		return nil
	}
	est, err := sprintfSize(string(format), args)
	if err != nil {
		return err
	}
	if est > MaxBuiltinString {
		return limitf("result could be %d bytes, over the limit of %d", est, MaxBuiltinString)
	}
	return nil
}

func sprintfSize(format string, args *ast.Array) (int, error) {
	var sizesBuf [8]int
	var usedBuf [8]bool
	sizes, used := sizesBuf[:0], usedBuf[:0]
	if args.Len() > len(sizesBuf) {
		sizes, used = make([]int, 0, args.Len()), make([]bool, 0, args.Len())
	}
	total := 0
	for i := range args.Len() {
		n := valueSize(args.Elem(i).Value, MaxBuiltinString)
		sizes, used = append(sizes, n), append(used, false)
		if total += n; total > MaxBuiltinString {
			return total, nil // every argument is rendered once, used or not
		}
	}
	est, argNum := 0, 0
	num := func(i int) (int, int) { // a decimal number at format[i:], capped
		n, j := 0, i
		for ; j < len(format) && format[j] >= '0' && format[j] <= '9'; j++ {
			if n <= MaxBuiltinString {
				n = n*10 + int(format[j]-'0')
			}
		}
		return n, j
	}
	for i := 0; i < len(format); {
		if format[i] != '%' {
			est++
			i++
			continue
		}
		i++
		for i < len(format) && strings.IndexByte("+-# 0", format[i]) >= 0 {
			i++
		}
		index := func() {
			if i < len(format) && format[i] == '[' {
				n, j := num(i + 1)
				if j < len(format) && format[j] == ']' {
					argNum, i = n-1, j+1
				}
			}
		}
		index()
		width, prec := 0, 0
		if i < len(format) && format[i] == '*' {
			return 0, limitf("a '*' width is not supported")
		}
		width, i = num(i)
		if i < len(format) && format[i] == '.' {
			i++
			index()
			if i < len(format) && format[i] == '*' {
				return 0, limitf("a '*' precision is not supported")
			}
			prec, i = num(i)
		}
		index()
		if width > MaxBuiltinString || prec > MaxBuiltinString {
			return 0, limitf("a width or precision over %d", MaxBuiltinString)
		}
		if i >= len(format) {
			est += 16 // %!(NOVERB)
			break
		}
		verb, w := utf8.DecodeRuneInString(format[i:])
		i += w
		if verb == '%' {
			est++
			continue
		}
		argSize := 16 // %!v(MISSING), %!(BADINDEX)
		if argNum >= 0 && argNum < len(sizes) {
			used[argNum] = true
			t := args.Elem(argNum)
			argSize = sizes[argNum]
			if _, isNum := t.Value.(ast.Number); isNum {
				argSize = 4*argSize + 330 // %b of an integer, %f of 1e308
			} else if verb != 's' && verb != 'v' {
				argSize = 4*argSize + 16 // %q, %x, % x of a string
			}
		}
		argNum++
		est += max(width, argSize+prec) + 16
		if est > MaxBuiltinString {
			return est, nil
		}
	}
	for i, u := range used {
		if !u {
			est += sizes[i] + 32 // %!(EXTRA type=value)
		}
	}
	return est, nil
}

// ---- patterns

// regexInsts is the size of a regular expression's compiled program: Go's
// matcher costs up to program × text. Cached, as OPA caches the regexps.
var regexInsts = struct {
	sync.Mutex
	m map[string]int
}{m: map[string]int{}}

func programSize(pattern string) int {
	cache := len(pattern) <= 1<<10
	if cache {
		regexInsts.Lock()
		n, ok := regexInsts.m[pattern]
		regexInsts.Unlock()
		if ok {
			return n
		}
	}
	n := 1 // invalid patterns: the implementation reports them
	if re, err := syntax.Parse(pattern, syntax.Perl); err == nil {
		if prog, err := syntax.Compile(re.Simplify()); err == nil {
			n = len(prog.Inst)
		}
	}
	if !cache {
		return n
	}
	regexInsts.Lock()
	if len(regexInsts.m) >= 1000 {
		clear(regexInsts.m)
	}
	regexInsts.m[pattern] = n
	regexInsts.Unlock()
	return n
}

func patternLenPre(ops []*ast.Term) error {
	if s, ok := ops[0].Value.(ast.String); ok && len(s) > maxPattern {
		return limitf("a pattern of %d bytes is over the limit of %d", len(s), maxPattern)
	}
	return nil
}

// matchCost is what a match costs besides the program (Go restarts its
// matcher after each one, and the builtins allocate for each), counted per
// byte of text for the builtins that find every match.
const matchCost = 32

// regexWork checks a pattern against a text; all: every match is found.
func regexWork(pattern, text string, all bool) error {
	if len(pattern) > maxPattern {
		return limitf("a pattern of %d bytes is over the limit of %d", len(pattern), maxPattern)
	}
	insts := programSize(pattern)
	if all {
		insts += matchCost
	}
	if work := insts * (len(text) + 1); work > MaxBuiltinWork {
		return limitf("matching a pattern of %d instructions against %d bytes is over the work limit of %d",
			programSize(pattern), len(text), MaxBuiltinWork)
	}
	return nil
}

// regexPre checks the regex builtins of operands (pattern, text, ...):
// all, the builtin finds every match; split, it returns the pieces between
// them, which are counted first.
func regexPre(all, split bool) func(ops []*ast.Term) error {
	return func(ops []*ast.Term) error {
		pattern, ok1 := ops[0].Value.(ast.String)
		text, ok2 := ops[1].Value.(ast.String)
		if !ok1 || !ok2 {
			return nil
		}
		if err := regexWork(string(pattern), string(text), all); err != nil {
			return err
		}
		if split && len(text) >= MaxBuiltinElements {
			if re, err := regexp.Compile(string(pattern)); err == nil {
				if n := len(re.FindAllStringIndex(string(text), MaxBuiltinElements+1)); n >= MaxBuiltinElements {
					return limitf("result would have more than %d elements", MaxBuiltinElements)
				}
			}
		}
		return nil
	}
}

// capN makes regex.find_n and regex.find_all_string_submatch_n find at most
// one match more than MaxBuiltinElements (the result check refuses it).
func capN(ops []*ast.Term) []*ast.Term {
	if n, ok := ops[2].Value.(ast.Number); ok {
		if k, ok := n.Int(); ok && (k < 0 || k > MaxBuiltinElements) {
			ops = append([]*ast.Term(nil), ops...)
			ops[2] = ast.InternedTerm(MaxBuiltinElements + 1)
		}
	}
	return ops
}

func regexReplacePre(ops []*ast.Term) error {
	s, ok1 := ops[0].Value.(ast.String)
	pattern, ok2 := ops[1].Value.(ast.String)
	repl, ok3 := ops[2].Value.(ast.String)
	if !ok1 || !ok2 || !ok3 {
		return nil
	}
	if err := regexWork(string(pattern), string(s), true); err != nil {
		return err
	}
	// Each match is replaced by repl with $n expanded: at most len(repl)
	// plus, per $, the whole text.
	refs := strings.Count(string(repl), "$")
	est := len(s) + (len(s)+1)*len(repl) + refs*len(s)
	if est <= MaxBuiltinString {
		return nil
	}
	re, err := regexp.Compile(string(pattern))
	if err != nil {
		return nil
	}
	limit := MaxBuiltinString/max(1, len(repl)) + 2
	matches := len(re.FindAllStringIndex(string(s), limit))
	if est = len(s) + matches*len(repl) + refs*len(s); matches >= limit || est > MaxBuiltinString {
		return limitf("result could be over %d bytes", MaxBuiltinString)
	}
	return nil
}

// templatePre estimates the regular expression regex.template_match builds
// (see OPA's generateRegexTemplate).
func templatePre(ops []*ast.Term) error {
	tpl, ok1 := ops[0].Value.(ast.String)
	text, ok2 := ops[1].Value.(ast.String)
	start, ok3 := ops[2].Value.(ast.String)
	end, ok4 := ops[3].Value.(ast.String)
	if !ok1 || !ok2 || !ok3 || !ok4 || len(start) != 1 || len(end) != 1 {
		return nil
	}
	var b strings.Builder
	level, from, last := 0, 0, 0
	for i := 0; i < len(tpl); i++ {
		switch tpl[i] {
		case start[0]:
			if level++; level == 1 {
				from = i
			}
		case end[0]:
			if level--; level == 0 {
				b.WriteString(regexp.QuoteMeta(string(tpl[last:from])))
				b.WriteString("(" + string(tpl[from+1:i]) + ")")
				last = i + 1
			}
		}
	}
	b.WriteString(regexp.QuoteMeta(string(tpl[last:])))
	return regexWork(b.String(), string(text), false)
}

func globPre(ops []*ast.Term) error {
	pattern, ok1 := ops[0].Value.(ast.String)
	text, ok2 := ops[2].Value.(ast.String)
	if !ok1 || !ok2 {
		return nil
	}
	if len(pattern) > maxPattern {
		return limitf("a pattern of %d bytes is over the limit of %d", len(pattern), maxPattern)
	}
	if work := (len(pattern) + 1) * (len(text) + 1); work > MaxBuiltinWork {
		return limitf("matching a pattern of %d bytes against %d bytes is over the work limit of %d", len(pattern), len(text), MaxBuiltinWork)
	}
	return nil
}

func globsPre(ops []*ast.Term) error {
	a, ok1 := ops[0].Value.(ast.String)
	b, ok2 := ops[1].Value.(ast.String)
	if ok1 && ok2 && (len(a)+1)*(len(b)+1) > MaxBuiltinWork {
		return limitf("intersecting patterns of %d and %d bytes is over the work limit of %d", len(a), len(b), MaxBuiltinWork)
	}
	return nil
}

// ---- numbers

func numbersPre(ops []*ast.Term) error {
	for _, t := range ops {
		if n, ok := t.Value.(ast.Number); ok && len(n) > MaxNumberLength {
			return limitf("a number of %d characters is over the limit of %d", len(n), MaxNumberLength)
		}
	}
	return nil
}

// comparePre: comparing composites walks both, a part that occurs several
// times each time (values that share their parts are cheap to build, and
// exponential to compare).
func comparePre(ops []*ast.Term) error {
	if err := numbersPre(ops); err != nil {
		return err
	}
	if isComposite(ops[0].Value) && isComposite(ops[1].Value) {
		return valuesPre(MaxBuiltinValue)(ops[:2])
	}
	return nil
}

// memberPre: x in xs (k, x in xs) compares x (and k) with the members of
// xs: the first n operands.
func memberPre(n int) func(ops []*ast.Term) error {
	check := valuesPre(MaxBuiltinValue)
	return func(ops []*ast.Term) error { return check(ops[:n]) }
}

func isComposite(v ast.Value) bool {
	switch v.(type) {
	case *ast.Array, ast.Object, ast.Set:
		return true
	}
	return false
}

func collectionNumbersPre(ops []*ast.Term) error {
	var err error
	check := func(t *ast.Term) error {
		if n, ok := t.Value.(ast.Number); ok && len(n) > MaxNumberLength {
			err = limitf("a number of %d characters is over the limit of %d", len(n), MaxNumberLength)
			return errStop
		}
		return nil
	}
	switch c := ops[0].Value.(type) {
	case *ast.Array:
		_ = c.Iter(check)
	case ast.Set:
		_ = c.Iter(check)
	}
	return err
}

// lshPre: bits.lsh(x, n) has as many bits as x plus n.
func lshPre(ops []*ast.Term) error {
	if err := numbersPre(ops); err != nil {
		return err
	}
	if n, ok := ops[1].Value.(ast.Number); ok {
		if k, ok := n.Int(); ok && k > 4*MaxNumberLength {
			return limitf("a shift of %d bits is over the limit of %d", k, 4*MaxNumberLength)
		}
	}
	return nil
}

// rangePre counts the numbers numbers.range(_step) would generate.
func rangePre(ops []*ast.Term) error {
	if err := numbersPre(ops); err != nil {
		return err
	}
	x, ok1 := ops[0].Value.(ast.Number)
	y, ok2 := ops[1].Value.(ast.Number)
	if !ok1 || !ok2 {
		return nil
	}
	a, ok1 := integer(x)
	b, ok2 := integer(y)
	if !ok1 || !ok2 {
		return nil // not integers: the implementation reports it
	}
	n := new(big.Int).Sub(b, a)
	n.Abs(n)
	if len(ops) == 3 {
		if s, ok := ops[2].Value.(ast.Number); ok {
			step, ok := integer(s)
			if !ok || step.Sign() <= 0 {
				return nil
			}
			n.Quo(n, step)
		}
	}
	if n.Cmp(big.NewInt(MaxBuiltinElements-1)) > 0 {
		return limitf("a range of %s numbers is over the limit of %d", n.Add(n, big.NewInt(1)), MaxBuiltinElements)
	}
	return nil
}

// integer is n as an integer, as OPA reads integer operands (1e5 is one).
// n is at most MaxNumberLength characters, and the parser and decoders keep
// exponents small.
func integer(n ast.Number) (*big.Int, bool) {
	if i, ok := new(big.Int).SetString(string(n), 10); ok {
		return i, true
	}
	r, ok := new(big.Rat).SetString(string(n))
	if !ok || !r.IsInt() {
		return nil, false
	}
	return r.Num(), true
}

// ---- collections

func arrayConcatPre(ops []*ast.Term) error {
	if n := collectionLen(ops[0].Value) + collectionLen(ops[1].Value); n > MaxBuiltinElements {
		return limitf("result would have %d elements, over the limit of %d", n, MaxBuiltinElements)
	}
	return nil
}

func flattenPre(ops []*ast.Term) error {
	arr, ok := ops[0].Value.(*ast.Array)
	if !ok {
		return nil
	}
	n := 0
	for i := range arr.Len() {
		if nested, ok := arr.Elem(i).Value.(*ast.Array); ok {
			n += nested.Len()
		} else {
			n++
		}
	}
	if n > MaxBuiltinElements {
		return limitf("result would have %d elements, over the limit of %d", n, MaxBuiltinElements)
	}
	return nil
}

// setsPre: union and intersection of a set of sets go through every member.
func setsPre(ops []*ast.Term) error {
	s, ok := ops[0].Value.(ast.Set)
	if !ok {
		return nil
	}
	n := 0
	_ = s.Iter(func(t *ast.Term) error {
		n += collectionLen(t.Value)
		return nil
	})
	if n > 10*MaxBuiltinElements {
		return limitf("%d elements in all are over the limit of %d", n, 10*MaxBuiltinElements)
	}
	return nil
}

// subsetPre bounds object.subset: sizes, and the array searches (each
// position of the super array against the sub array).
func subsetPre(ops []*ast.Term) error {
	if err := valuesPre(MaxBuiltinValue)(ops); err != nil {
		return err
	}
	if w := subsetWork(ops[0].Value, ops[1].Value, 0); w > MaxBuiltinWork {
		return limitf("comparing these values is over the work limit of %d", MaxBuiltinWork)
	}
	return nil
}

func subsetWork(super, sub ast.Value, acc int) int {
	switch sub := sub.(type) {
	case ast.Object:
		super, ok := super.(ast.Object)
		if !ok {
			return acc
		}
		_ = sub.Iter(func(k, v *ast.Term) error {
			acc++
			if t := super.Get(k); t != nil {
				acc = subsetWork(t.Value, v.Value, acc)
			}
			if acc > MaxBuiltinWork {
				return errStop
			}
			return nil
		})
	case *ast.Array:
		if super, ok := super.(*ast.Array); ok {
			sz := newSizer(MaxBuiltinWork)
			sz.value(sub, 0)
			acc += (super.Len() + 1) * sz.n
		}
	case ast.Set:
		acc += sub.Len()
	}
	return acc
}

func patchPre(ops []*ast.Term) error {
	if n := collectionLen(ops[1].Value); n > maxPatchOps {
		return limitf("%d operations are over the limit of %d", n, maxPatchOps)
	}
	return valuesPre(MaxBuiltinValue)(ops)
}

func marshalOptsPre(ops []*ast.Term) error {
	sz := newSizer(MaxBuiltinString)
	sz.indent = 1
	if opts, ok := ops[1].Value.(ast.Object); ok {
		for _, key := range []string{"indent", "prefix"} {
			if t := opts.Get(ast.StringTerm(key)); t != nil {
				if s, ok := t.Value.(ast.String); ok {
					sz.indent += len(s)
				}
			}
		}
	}
	if sz.indent > 1024 {
		return limitf("an indent and prefix of %d bytes are over the limit of 1024", sz.indent)
	}
	sz.value(ops[0].Value, 1)
	if sz.over() {
		return limitf("result would be over %d bytes", MaxBuiltinString)
	}
	return nil
}

func yamlMarshalPre(ops []*ast.Term) error {
	sz := newSizer(MaxBuiltinString)
	sz.indent = 4
	sz.value(ops[0].Value, 1)
	if sz.over() {
		return limitf("result would be over %d bytes", MaxBuiltinString)
	}
	return nil
}

// ---- decoders

// structuralPre bounds the values a JSON or YAML text decodes to by the
// characters that start one.
func structuralPre(ops []*ast.Term) error {
	s, ok := ops[0].Value.(ast.String)
	if !ok {
		return nil
	}
	n := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ',', '[', '{', ':', '\n', '-', '&', '*':
			n++
		}
	}
	if n > 2*MaxBuiltinElements {
		return limitf("a document of about %d values is over the limit of %d", n, 2*MaxBuiltinElements)
	}
	return nil
}

func jwtPre(ops []*ast.Term) error {
	if s, ok := ops[0].Value.(ast.String); ok && len(s) > maxJWT {
		return limitf("a token of %d bytes is over the limit of %d", len(s), maxJWT)
	}
	return nil
}

func queryPre(ops []*ast.Term) error {
	if s, ok := ops[0].Value.(ast.String); ok {
		if n := strings.Count(string(s), "&") + strings.Count(string(s), ";") + 1; n > MaxBuiltinElements {
			return limitf("a query of %d parameters is over the limit of %d", n, MaxBuiltinElements)
		}
	}
	return nil
}

// ---- print

// printPre bounds one print call: print(a, b) prints the cross product of
// the values of its operands, each rendered.
func printPre(ops []*ast.Term) error {
	arr, ok := ops[0].Value.(*ast.Array)
	if !ok {
		return nil
	}
	lines := 1
	sz := newSizer(MaxBuiltinString)
	for i := range arr.Len() {
		if s, ok := arr.Elem(i).Value.(ast.Set); ok {
			lines *= max(1, s.Len())
			if lines > maxPrintLines {
				return limitf("would print more than %d lines", maxPrintLines)
			}
		}
		sz.value(arr.Elem(i).Value, 0)
	}
	if sz.n*lines > MaxBuiltinString || sz.over() {
		return limitf("would print more than %d bytes", MaxBuiltinString)
	}
	return nil
}

// ---- display

// boundedString renders a value as Rego for a person: v.String() when it
// is at most max bytes, else the first max bytes of an equivalent
// rendering followed by "...", without rendering the rest.
func boundedString(v ast.Value, limit int) string {
	sz := newSizer(limit)
	sz.value(v, 0)
	if !sz.over() {
		return v.String()
	}
	var b strings.Builder
	writeBounded(&b, v, limit)
	s := b.String()
	if len(s) > limit {
		s = s[:limit]
	}
	return s + "..."
}

func writeBounded(b *strings.Builder, v ast.Value, limit int) {
	if b.Len() > limit {
		return
	}
	sep := func(i int) {
		if i > 0 {
			b.WriteString(", ")
		}
	}
	switch v := v.(type) {
	case ast.String:
		if len(v) > limit {
			v = v[:limit]
		}
		b.WriteString(strconv.Quote(string(v)))
	case *ast.Array:
		b.WriteByte('[')
		for i := 0; i < v.Len() && b.Len() <= limit; i++ {
			sep(i)
			writeBounded(b, v.Elem(i).Value, limit)
		}
		b.WriteByte(']')
	case ast.Set:
		b.WriteByte('{')
		i := 0
		_ = v.Iter(func(t *ast.Term) error {
			sep(i)
			i++
			writeBounded(b, t.Value, limit)
			if b.Len() > limit {
				return errStop
			}
			return nil
		})
		b.WriteByte('}')
	case ast.Object:
		b.WriteByte('{')
		i := 0
		_ = v.Iter(func(k, t *ast.Term) error {
			sep(i)
			i++
			writeBounded(b, k.Value, limit)
			b.WriteString(": ")
			writeBounded(b, t.Value, limit)
			if b.Len() > limit {
				return errStop
			}
			return nil
		})
		b.WriteByte('}')
	case ast.Number:
		if len(v) > limit {
			v = v[:limit]
		}
		b.WriteString(string(v))
	default:
		b.WriteString(v.String())
	}
}
