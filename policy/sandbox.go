package policy

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
)

// The sandbox is an allowlist: every module (default, custom and test) is
// compiled with capabilities that hold only the operators, OPA's internal
// builtins and the builtins below. Anything else — network (http.send,
// net.*), the host (opa.runtime), dynamic parsing (rego.parse_module,
// graphql.*), randomness (rand.*, uuid.*), wall-clock time (time.now_ns:
// policies read input.now), output beyond the bounded print hook (trace),
// remote schema fetching (json.match_schema, json.verify_schema), key
// material and signing (io.jwt.* but decode, crypto.x509.*, providers.*)
// and unbounded template loops (strings.render_template) — does not exist
// for a policy: calling it is a compile error. New OPA builtins stay out
// until they are added here, after the audit below.
//
// # Availability audit (OPA v1.22.3)
//
// OPA checks for cancellation between expressions, not inside a builtin: a
// builtin call that runs long runs past the deadline, and one that
// allocates much can take the process down. Every allowlisted builtin was
// checked for work or memory super-linear in its input, output much larger
// than its input, and long uninterruptible runs. Those that cannot be
// bounded are removed (removedBuiltins); those whose cost depends on their
// arguments are bounded by wrappers (bounds.go: each wrapper calls OPA's
// implementation, and refuses a call over a bound with an eval_builtin_error
// that halts the evaluation, so the decision fails closed). The bounds:
// S = MaxBuiltinString (1 MiB result), E = MaxBuiltinElements (100,000
// elements), V = MaxBuiltinValue (1 MiB of JSON text traversed, shared
// parts counted each time), W = MaxBuiltinWork (pattern × text ≤ 2^21),
// N = MaxNumberLength (512-character numbers), and in all MaxEvalBuiltinBytes
// (16 MiB of strings returned per evaluation).
//
//	builtin                      cost without the bound                 bound
//	graph.reachable_paths        every path of the graph: exponential,  REMOVED
//	                             never checks cancellation
//	graph.reachable              breadth-first, each node once          safe (linear)
//	walk                         one path per node, cancellation        safe (interruptible)
//	                             checked between nodes
//	abs round ceil floor         big-number arithmetic (operators too:  N in and out
//	plus minus mul div rem       x*x doubles the digits, parsing a long
//	                             number is quadratic)
//	equal neq lt lte gt gte      parsing the numbers compared;          N in; V in (composites)
//	                             comparing composites walks shared parts
//	bits.and bits.or bits.xor    big integers                           N in and out
//	bits.negate bits.rsh
//	bits.lsh                     x has n more bits                      N in and out, n ≤ 4N
//	sum product                  arithmetic per element                 N in and out
//	count all any                one pass                               safe
//	is_array is_boolean is_null  O(1)                                   safe
//	is_number is_object is_set
//	is_string type_name
//	max min sort                 comparisons of shared values           V in
//	numbers.range                |b-a|/step elements                    E, counted first
//	numbers.range_step
//	to_number                    ParseFloat (linear); keeps the text    N out
//	format_int                   big integer to text                    N in, S out
//	units.parse units.parse_bytes  big-float parsing of the text        N in and out
//	array.concat array.flatten   the sum of the parts (shared)          E, counted first
//	array.reverse array.slice    at most the input                      safe
//	intersection union           a pass over every member set           10E in, E out
//	and or (& |)                 hash lookups, one pass                 safe
//	in (internal.member_2/_3)    compares the needle with members       V (the needle)
//	object.get object.keys       linear                                 safe
//	object.filter object.remove  linear, at most the input              safe
//	object.union object.union_n  recursive merge of shared values       V in
//	object.subset                array search: super × sub              V in, W
//	json.filter json.remove      rebuild shared values                  V in
//	json.patch                   copy operations double the document    V in and out, 10,000 ops
//	json.marshal yaml.marshal    text of shared values, indentation     S computed first, S out
//	json.marshal_with_options    indent × depth on every line           S computed first, S out
//	json.unmarshal               values per input byte                  2E structural bytes,
//	yaml.unmarshal               (YAML aliases: the library caps them)  V and N out
//	json.is_valid yaml.is_valid  one parse                              safe
//	io.jwt.decode                base64 and JSON of the token           128 KiB token, V out
//	sprintf                      widths (%0999999d), precisions, %[1]s  S computed first from the
//	                             repeated, %v of shared values          format and arguments, S out
//	concat                       the sum of the parts                   S computed first
//	replace strings.replace_n    occurrences × growth                   S computed first, W
//	upper lower glob.quote_meta  result ≤ 3× input: chains grow         S out
//	base64.encode base64url.encode  result ≤ 2× input                   S out
//	base64url.encode_no_pad hex.encode
//	urlquery.encode              result ≤ 3× input                      S out
//	urlquery.encode_object       result ≤ 3× input                      V in, S out
//	time.format                  the layout expands                     S out
//	split strings.split_n        one element per separator              E, counted first
//	indexof indexof_n            non-ASCII search is base × search;     W, E out
//	                             indexof_n restarts after each match
//	trim trim_left trim_right    non-ASCII cutset: text × cutset        W
//	strings.any_prefix_match     strings × affixes                      W
//	strings.any_suffix_match
//	contains startswith endswith  linear                                safe
//	strings.count strings.reverse substring  linear, ≤ input            safe
//	trim_prefix trim_suffix trim_space       linear, ≤ input            safe
//	regex.match regex.split      linear in the text, times the          program × text ≤ W
//	regex.template_match         program size (a{1000} is 1000)
//	regex.find_n                 as regex.match; one match per byte     W, at most E found
//	regex.find_all_string_submatch_n
//	regex.replace                as regex.match; $1 expansions          W, S computed first
//	regex.is_valid               compiles the pattern                   64 KiB pattern
//	regex.globs_match glob.match  pattern × text                        W
//	base64.decode base64url.decode hex.decode urlquery.decode  ≤ input  safe
//	base64.is_valid uri.is_valid uri.parse   linear                     safe
//	urlquery.decode_object       one element per parameter              E parameters, V out
//	crypto.md5 crypto.sha1 crypto.sha256     linear, fixed output       safe
//	crypto.hmac.md5 crypto.hmac.sha1 crypto.hmac.sha256                 safe
//	crypto.hmac.sha512 crypto.hmac.equal     linear, fixed output
//	semver.compare semver.is_valid           linear                     safe
//	time.add_date time.clock time.date time.diff time.parse_duration_ns safe
//	time.parse_ns time.parse_rfc3339_ns time.weekday  linear
//	print                        internal.print: the cross product of   1,000 lines, S; erased
//	                             multi-valued operands, each rendered   outside tests
//	internal.template_string     renders shared values ($"{x}")         S in and out
//
// Beyond builtins, OPA's type checker and evaluator copy values written
// through chains of variables, rules or function calls (x1 := [x0, x0];
// x2 := [x1, x1]; ...), with work exponential in the chain, at compile time
// or inside one expression: such modules are refused when saved
// (expansion.go, MaxExpansion). NOT BOUNDED: the evaluator unifying (=,
// :=, and == too, which OPA compiles to a unification) or inserting into a
// set or object two distinct large values that share their parts. Such
// values are cheap to build with comprehensions (x1 := [x0 | some _ in r];
// x2 := [x1 | some _ in r]; ... is 100^n elements in 100·n iterations) and
// cannot be seen before they exist; unifying them recurses once per
// element, uninterruptibly: about 10^7 elements overflow the goroutine
// stack and the process exits. != and the other comparisons, and in, are
// builtins and bounded above. See docs/policies.md.
var allowedBuiltins = map[string]bool{}

// removedBuiltins are OPA builtins taken out of the allowlist by the audit
// above, with the reason given to policy authors.
var removedBuiltins = map[string]string{
	"graph.reachable_paths": "it enumerates every path, exponential work that cannot be interrupted; use graph.reachable",
}

func init() {
	for _, name := range strings.Fields(`
		abs all any count max min product sort sum
		array.concat array.flatten array.reverse array.slice
		intersection union
		base64.decode base64.encode base64.is_valid base64url.decode base64url.encode base64url.encode_no_pad
		bits.and bits.lsh bits.negate bits.or bits.rsh bits.xor
		ceil floor round format_int to_number numbers.range numbers.range_step
		concat contains endswith indexof indexof_n lower replace split sprintf startswith substring
		trim trim_left trim_prefix trim_right trim_space trim_suffix upper
		strings.any_prefix_match strings.any_suffix_match strings.count strings.replace_n strings.reverse strings.split_n
		crypto.hmac.equal crypto.hmac.md5 crypto.hmac.sha1 crypto.hmac.sha256 crypto.hmac.sha512
		crypto.md5 crypto.sha1 crypto.sha256
		glob.match glob.quote_meta
		graph.reachable
		hex.decode hex.encode
		io.jwt.decode
		is_array is_boolean is_null is_number is_object is_set is_string type_name
		json.filter json.is_valid json.marshal json.marshal_with_options json.patch json.remove json.unmarshal
		yaml.is_valid yaml.marshal yaml.unmarshal
		object.filter object.get object.keys object.remove object.subset object.union object.union_n
		regex.find_all_string_submatch_n regex.find_n regex.globs_match regex.is_valid regex.match
		regex.replace regex.split regex.template_match
		semver.compare semver.is_valid
		time.add_date time.clock time.date time.diff time.format time.parse_duration_ns time.parse_ns
		time.parse_rfc3339_ns time.weekday
		units.parse units.parse_bytes
		uri.is_valid uri.parse urlquery.decode urlquery.decode_object urlquery.encode urlquery.encode_object
		walk print
	`) {
		allowedBuiltins[name] = true
	}
}

// BuiltinAllowed reports whether a builtin may be called by a policy.
func BuiltinAllowed(name string) bool {
	if allowedBuiltins[name] || strings.HasPrefix(name, "internal.") {
		return true
	}
	b := ast.BuiltinMap[name]
	return b != nil && b.Infix != "" // operators: +, ==, :=, in, ...
}

// AllowedBuiltins lists the builtins a policy may call by name (operators
// and OPA's internal builtins aside), sorted.
func AllowedBuiltins() []string {
	out := make([]string, 0, len(allowedBuiltins))
	for name := range allowedBuiltins {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Capabilities returns the sandboxed capabilities used by Compile, Validate
// and RunTests (shared; do not modify).
var Capabilities = sync.OnceValue(func() *ast.Capabilities {
	caps := ast.CapabilitiesForThisVersion()
	kept := caps.Builtins[:0]
	for _, b := range caps.Builtins {
		if BuiltinAllowed(b.Name) {
			kept = append(kept, b)
		}
	}
	caps.Builtins = kept
	caps.AllowNet = []string{} // empty, not nil: no host may be contacted (schemas)
	return caps
})

// Limits bound what an organization may upload.
type Limits struct {
	MaxModuleBytes int // size of one module's source
	MaxRules       int // rules in one module (each else branch and each test counts)
	MaxModules     int // custom modules compiled together
	// MaxTotalBytes bounds the sources of all modules compiled together
	// (an organization's modules, plus its test modules when tests run).
	MaxTotalBytes int
}

// DefaultLimits apply unless WithLimits says otherwise.
var DefaultLimits = Limits{MaxModuleBytes: 64 << 10, MaxRules: 200, MaxModules: 100, MaxTotalBytes: 512 << 10}

// Packages and data documents a custom module may use.
var (
	customTestRoot = ast.MustParseRef("data." + CustomTestPackage)
	baseRef        = ast.MustParseRef("data.entitled.base")
	decisionRef    = ast.MustParseRef(Query)
)

// moduleKind says which sandbox rules apply to a module.
type moduleKind int

const (
	kindPolicy moduleKind = iota // custom policy module: package entitled.custom...
	kindTest                     // test module: package entitled.custom_test... or entitled.custom...
)

// checkParsed applies the checks that need no compiler: rule count,
// package, builtins. name is the Module.Name (for error locations).
func checkParsed(name string, mod *ast.Module, kind moduleKind, lim Limits) CompileErrors {
	var errs CompileErrors
	pkg := mod.Package.Path
	okPkg := pkg.HasPrefix(customRoot) || (kind == kindTest && pkg.HasPrefix(customTestRoot))
	if !okPkg {
		want := CustomPackage
		if kind == kindTest {
			want = CustomTestPackage + " or " + CustomPackage
		}
		errs = append(errs, errAt(CodePackage, name, mod.Package.Location,
			fmt.Sprintf("package %s is outside %s: custom modules must use package %s or one below it",
				strings.TrimPrefix(pkg.String(), "data."), CustomPackage, want)))
	}
	if lim.MaxRules > 0 {
		n := 0
		for _, r := range mod.Rules {
			for ; r != nil; r = r.Else {
				n++
			}
		}
		if n > lim.MaxRules {
			errs = append(errs, CompileError{Code: CodeLimit, File: name, Row: 1, Col: 1,
				Message: fmt.Sprintf("module has %d rules, more than the limit of %d", n, lim.MaxRules)})
		}
	}
	for _, r := range mod.Rules {
		ref := r.Head.Ref()
		last, ok := ref[len(ref)-1].Value.(ast.String)
		if len(ref) == 1 {
			if v, isVar := ref[0].Value.(ast.Var); isVar {
				last, ok = ast.String(v), true
			}
		}
		if ok && (last == "deny" || last == "grant") && (r.Head.RuleKind() != ast.MultiValue || len(r.Head.Args) > 0) {
			errs = append(errs, errAt(CodeRule, name, r.Location, fmt.Sprintf(
				"%s must be a set of messages: write `%s contains msg if { ... }`", last, last)))
		}
	}
	seen := map[string]bool{}
	report := func(op ast.Ref, loc *ast.Location) {
		s := op.String()
		if _, builtin := ast.BuiltinMap[s]; !builtin || BuiltinAllowed(s) {
			return
		}
		key := s
		if loc != nil {
			key = fmt.Sprintf("%s@%d:%d", s, loc.Row, loc.Col)
		}
		if seen[key] {
			return
		}
		seen[key] = true
		msg := fmt.Sprintf("builtin %s is not available to policies (sandbox: no network, host, randomness, wall clock or trace output; see docs/policies.md)", s)
		if why, ok := removedBuiltins[s]; ok {
			msg = fmt.Sprintf("builtin %s is not available to policies: %s (see docs/policies.md)", s, why)
		}
		errs = append(errs, errAt(CodeBuiltin, name, loc, msg))
	}
	vis := ast.NewGenericVisitor(func(x any) bool {
		switch x := x.(type) {
		case *ast.Expr:
			if x.IsCall() {
				report(x.Operator(), x.Location)
			}
			for _, w := range x.With {
				if r, ok := w.Target.Value.(ast.Ref); ok {
					report(r, w.Target.Location)
				}
			}
		case ast.Call:
			if len(x) > 0 {
				if r, ok := x[0].Value.(ast.Ref); ok {
					report(r, x[0].Location)
				}
			}
		}
		return false
	})
	for _, r := range mod.Rules {
		vis.Walk(r)
	}
	return errs
}

// checkDataRefs rejects references to data outside the organization's own
// namespace, on a compiled module (refs resolved: imports expanded, so every
// data reference is absolute). Policy rules may read data.entitled.custom
// (the organization's own modules: nothing else is compiled in) and
// data.entitled.base (the default decision). Tests (test_ rules and test
// modules) may also read data.entitled.decision and data.entitled.custom_test.
func checkDataRefs(name string, mod *ast.Module, kind moduleKind) CompileErrors {
	// Imports are only aliases: the compiler has expanded their uses in
	// rule bodies and heads, which are checked below.
	var errs CompileErrors
	for _, rule := range mod.Rules {
		test := kind == kindTest || strings.HasPrefix(ruleName(rule), "test_")
		var vis *ast.GenericVisitor
		vis = ast.NewGenericVisitor(func(x any) bool {
			t, ok := x.(*ast.Term)
			if !ok {
				return false
			}
			switch v := t.Value.(type) {
			case ast.Ref:
				if v[0].Value.Compare(ast.DefaultRootDocument.Value) == 0 {
					if !dataRefAllowed(v, test) {
						errs = append(errs, dataRefError(name, v, t.Location))
					}
				} else {
					vis.Walk(v[0])
				}
				for _, p := range v[1:] { // dynamic parts: data.entitled.custom[input.x]
					vis.Walk(p)
				}
				return true
			case ast.Var:
				if v.Equal(ast.DefaultRootDocument.Value) {
					errs = append(errs, dataRefError(name, ast.Ref{t}, t.Location))
				}
			}
			return false
		})
		// The head's own reference is relative to the package: skip it.
		for r := rule; r != nil; r = r.Else {
			for _, a := range r.Head.Args {
				vis.Walk(a)
			}
			if r.Head.Key != nil {
				vis.Walk(r.Head.Key)
			}
			if r.Head.Value != nil {
				vis.Walk(r.Head.Value)
			}
			vis.Walk(r.Body)
		}
	}
	return errs
}

func dataRefAllowed(r ast.Ref, test bool) bool {
	if r.HasPrefix(customRoot) || r.HasPrefix(baseRef) {
		return true
	}
	return test && (r.HasPrefix(decisionRef) || r.HasPrefix(customTestRoot))
}

func dataRefError(name string, r ast.Ref, loc *ast.Location) CompileError {
	shown := r.String()
	if g := r.GroundPrefix(); len(g) < len(r) { // compiled dynamic parts are renamed vars
		shown = g.String() + "[...]"
	}
	return errAt(CodeData, name, loc, fmt.Sprintf(
		"reference to %s is outside the organization's namespace: policies may read input, data.%s (the organization's own modules) and data.entitled.base",
		shown, CustomPackage))
}

func ruleName(r *ast.Rule) string {
	ref := r.Head.Ref()
	if len(ref) == 0 {
		return ""
	}
	if v, ok := ref[0].Value.(ast.Var); ok {
		return string(v)
	}
	return ""
}

func errAt(code, file string, loc *ast.Location, msg string) CompileError {
	ce := CompileError{Code: code, File: file, Message: msg}
	if loc != nil {
		ce.Row, ce.Col = loc.Row, loc.Col
	}
	return ce
}
