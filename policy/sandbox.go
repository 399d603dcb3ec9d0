package policy

import (
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
)

// deniedBuiltins are removed from the capabilities every module (default and
// custom) is compiled with: network, runtime introspection, dynamic parsing,
// randomness and wall-clock time (policies read input.now).
var (
	deniedBuiltins = map[string]bool{
		"http.send":         true,
		"opa.runtime":       true,
		"rego.parse_module": true,
		"time.now_ns":       true,
	}
	deniedPrefixes = []string{"net.", "rand.", "uuid."}
)

func denied(name string) bool {
	if deniedBuiltins[name] {
		return true
	}
	for _, p := range deniedPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// Capabilities returns the sandboxed capabilities used by Compile (shared;
// do not modify).
var Capabilities = sync.OnceValue(func() *ast.Capabilities {
	caps := ast.CapabilitiesForThisVersion()
	kept := caps.Builtins[:0]
	for _, b := range caps.Builtins {
		if !denied(b.Name) {
			kept = append(kept, b)
		}
	}
	caps.Builtins = kept
	caps.AllowNet = []string{} // empty, not nil: no host may be contacted (schemas)
	return caps
})
