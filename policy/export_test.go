package policy

import "testing"

// CheckInputSchema validates a decoded JSON document against
// input.schema.json, for the external tests (package policy_test).
func CheckInputSchema(t testing.TB, doc any) []string { return checkSchema(loadSchema(t), doc) }
