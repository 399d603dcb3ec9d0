// Package decision gathers the facts of one question — may this instance
// use this entitlement now? — into the policy input document of DESIGN.md
// section 4, evaluates the prepared policy query (package policy) and maps
// the result to a Decision. It is pure: no storage, no ent, no GraphQL.
//
// Facts are split in parts. Org, Instance, License, Entitlement and Grant
// come from per-organization in-memory caches and are immutable once built;
// each converts itself to an *ast.Term once (Term memoizes), so per request
// only now, usage and the request are converted. The input object is built
// directly from AST terms: no JSON on the hot path.
//
// Missing facts are absent or null, never invented: no instance → no
// "instance" key; expiresAt nil → null; the NUMBER-only entitlement fields
// are absent for BOOLEAN and CONFIG; an unlimited grant has hardCap null;
// usage is absent until metering reports exist.
//
// The request part is exactly {"requested": n, "context": {...}} as in
// DESIGN.md §4: requested defaults to 1 and context to {} (the API's
// defaults). The slugs asked are not in the input; the Decision echoes
// them in its instance and entitlement fields.
package policy
