package policy

import _ "embed"

//go:embed input.schema.json
var inputSchema []byte

// InputSchema returns the JSON Schema (draft 2020-12) of the policy input
// document (docs/policies.md), for policy authors and their tools: e.g.
// `entitled policy input-schema > input.schema.json`, then check sample
// inputs before `opa test` or `opa eval --schema`. The caller gets a copy.
func InputSchema() []byte { return append([]byte(nil), inputSchema...) }
