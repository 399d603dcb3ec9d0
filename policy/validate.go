package policy

import "errors"

// Validate checks a module as saving it must: the limits (size, rule count,
// module count), the package (entitled.custom or below), the builtin
// allowlist, references to data outside the organization's namespace, and
// a strict Rego v1 compile together with the default policy and the
// organization's active modules (active; one named like m is replaced by
// m, so an update validates against the others). It returns nil when the
// module may be saved, else every problem with code, message, file, row
// and column.
//
// Validate does not run the module's tests; see RunTests.
func Validate(m Module, active []Module, opts ...Option) CompileErrors {
	_, _, err := compileModules(withDraft(active, m), nil, newConfig(opts), false)
	if err == nil {
		return nil
	}
	var ces CompileErrors
	if errors.As(err, &ces) {
		return ces
	}
	return CompileErrors{{Code: CodeModule, Message: err.Error()}}
}

// Draft compiles the default policy, an organization's active modules and a
// draft module (replacing the active one of the same name) into a throwaway
// Prepared: nothing is installed or cached. evaluatePolicy evaluates it once;
// previewPolicy evaluates it against every instance × entitlement next to
// the organization's current Prepared and reports the decisions that differ.
func Draft(active []Module, draft Module, opts ...Option) (*Prepared, error) {
	return Compile(withDraft(active, draft), opts...)
}

// withDraft returns active with m added, or replacing the module of the
// same name.
func withDraft(active []Module, m Module) []Module {
	out := make([]Module, 0, len(active)+1)
	for _, a := range active {
		if a.Name != m.Name {
			out = append(out, a)
		}
	}
	return append(out, m)
}
