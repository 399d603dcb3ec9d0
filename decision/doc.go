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
// usage is absent until metering reports exist; requested is absent when
// not asked (the policy defaults it to 1).
//
// Beyond DESIGN.md §4, request also carries the slugs asked
// ("instance", "entitlement"), so that refusal messages can name what was
// not found.
package decision
