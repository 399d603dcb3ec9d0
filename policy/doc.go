// Package policy embeds Open Policy Agent and computes entitlement decisions.
//
// The default policy ships as Rego v1 files in rego/ (embedded with go:embed)
// together with Rego unit tests that pass under a stock `opa test policy/rego`.
// Its entry point is data.entitled.decision, which IS the decision object
//
//	{"allowed": bool, "reason": "ENUM", "reasons": [string, ...]}
//
// so a stock `opa run --server policy/rego` answers
// POST /v1/data/entitled/decision {"input": <policy input document>} with
// the same decision as the embedded engine. The input document is the
// contract with policy authors (docs/policies.md); Facts build it.
//
// Custom policies: an organization's modules live under package
// entitled.custom (or below) and may define `deny contains msg if {...}`
// and `grant contains msg if {...}`. Deny wins (DENIED_BY_POLICY); grant
// lifts a default refusal (GRANTED_BY_POLICY) except INSTANCE_NOT_FOUND and
// ENTITLEMENT_NOT_FOUND. rego/default.rego holds the default rules
// (data.entitled.base); rego/decision.rego is the entry point, combining
// base with the deny/grant sets it gathers with walk. The engine replaces
// that entry module at compile time: `decision := base` when there are no
// custom modules, else one generated from the custom modules' rule paths,
// so the default path never walks.
//
// Compile builds one Prepared per organization (default + custom modules,
// strict mode, Rego v1, no data, sandboxed capabilities) and prepares the
// single query data.entitled.decision. A Prepared is immutable: whoever
// keeps it (internal/custompolicy) swaps whole Prepared values, so a reload
// never tears a decision; organizations share no Prepared (but the default
// one, Default()) and no lock.
//
// Facts, the input document and the answer: a question's facts come in
// parts (Org, Instance, License, Entitlement, Grant, Usage, Request).
// The first five come from per-organization caches and are immutable once
// built; each converts itself to an *ast.Term once, so per request only
// now, usage and the request are converted, and the input object is built
// from AST terms with no JSON on the hot path. Missing facts are absent or
// null, never invented: no instance → no "instance" key; expiresAt nil →
// null; the NUMBER-only entitlement fields are absent for BOOLEAN and
// CONFIG; an unlimited grant has hardCap null; usage is there for a
// granted NUMBER entitlement (current 0 before any report) and absent
// otherwise. input.request is exactly {"requested": n,
// "context": {...}}, with the API's defaults 1 and {}. Prepared.Decide
// evaluates the facts and Map turns the result into a Decision, which
// echoes the slugs asked. NewGrant and NormalizeGrant are the one
// validator of a link's value, and Grant the one home of the hard cap and
// of what remains of it.
//
// Custom policies (docs/policies.md):
//
//   - Sandbox (sandbox.go): an allowlist of builtins (no http.send, net.*,
//     opa.runtime, rego.parse_module, rand.*, uuid.*, time.now_ns, trace,
//     ...; time comes from input.now), package entitled.custom or below,
//     data references limited to data.entitled.custom and
//     data.entitled.base (tests: also data.entitled.decision and
//     data.entitled.custom_test), Limits on size, rules and module count.
//     Each organization's Prepared compiles only its own modules, so
//     reading another organization's package finds nothing.
//   - Validate checks a module on save (with the organization's active
//     modules); errors are CompileErrors with code, message, file, row, col.
//   - Each evaluation with custom modules has a deadline (DefaultEvalTimeout,
//     WithEvalTimeout): OPA is cancelled through topdown.Cancel and the
//     error matches ErrEvalTimeout and context.DeadlineExceeded (the caller
//     answers POLICY_ERROR).
//   - RunTests / RunModuleTests run test_ rules in-process with the same
//     sandbox, a bounded print hook and a deadline per test.
//   - Prepared.Explain traces one evaluation and reports the rules that
//     fired (Explanation); Eval never traces.
//   - Draft compiles active modules plus a draft into a throwaway Prepared
//     for evaluatePolicy / previewPolicy (internal/decision Service.Preview).
//   - InputSchema is the JSON Schema of the input document
//     (input.schema.json).
package policy
