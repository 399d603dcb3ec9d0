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
// contract of DESIGN.md section 4; package decision builds it.
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
// strict mode, Rego v1, no data, sandboxed capabilities: no http.send, net.*,
// opa.runtime, rego.parse_module, rand.*, uuid.*, time.now_ns; time comes
// from input.now) and prepares the single query data.entitled.decision.
// Evaluations with custom modules are bounded by a per-evaluation timeout
// (WithEvalTimeout). An Engine holds the current Prepared behind an atomic
// pointer so that reloads never block or tear decisions.
//
// TODO(custom policies issue): limits on module count/size, storage of
// policies and their test results, and running an organization's own Rego
// tests against its modules (RunTests below runs the default ones).
package policy
