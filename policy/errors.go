package policy

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Error codes of CompileError besides OPA's own (rego_parse_error,
// rego_compile_error, rego_type_error, rego_unsafe_var_error,
// rego_recursion_error, ...).
const (
	// CodePackage: a custom module declares a package outside entitled.custom.
	CodePackage = "entitled_package_error"
	// CodeModule: a custom module has no name, a duplicate name, or no source.
	CodeModule = "entitled_module_error"
	// CodeLimit: a module is too large, has too many rules, or there are
	// too many modules (Limits).
	CodeLimit = "entitled_limit_error"
	// CodeBuiltin: a module calls a builtin outside the sandbox's allowlist.
	CodeBuiltin = "entitled_builtin_error"
	// CodeData: a module reads data outside the organization's namespace.
	CodeData = "entitled_data_error"
	// CodeRule: a deny or grant rule is not a set of messages.
	CodeRule = "entitled_rule_error"
)

// CompileError is one problem found while parsing or compiling a module.
type CompileError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	File    string `json:"file,omitempty"` // Module.Name
	Row     int    `json:"row,omitempty"`
	Col     int    `json:"col,omitempty"`
}

func (e CompileError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Row > 0 {
			fmt.Fprintf(&b, ":%d", e.Row)
			if e.Col > 0 {
				fmt.Fprintf(&b, ":%d", e.Col)
			}
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Code)
	b.WriteString(": ")
	b.WriteString(e.Message)
	return b.String()
}

// CompileErrors is the error Compile returns when modules do not compile.
type CompileErrors []CompileError

func (es CompileErrors) Error() string {
	switch len(es) {
	case 0:
		return "no error"
	case 1:
		return "1 policy error: " + es[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d policy errors:", len(es))
	for _, e := range es {
		b.WriteString("\n")
		b.WriteString(e.Error())
	}
	return b.String()
}

// fromOPA converts OPA parse/compile errors, stripping the file-name prefix
// used to keep custom modules apart from the default ones.
func fromOPA(err error) CompileErrors {
	var aerrs ast.Errors
	if !errors.As(err, &aerrs) {
		var aerr *ast.Error
		if errors.As(err, &aerr) {
			aerrs = ast.Errors{aerr}
		} else {
			return CompileErrors{{Code: ast.CompileErr, Message: err.Error()}}
		}
	}
	out := make(CompileErrors, 0, len(aerrs))
	for _, e := range aerrs {
		ce := CompileError{Code: e.Code, Message: e.Message}
		if e.Location != nil {
			ce.File = strings.TrimPrefix(e.Location.File, customPrefix)
			ce.Row, ce.Col = e.Location.Row, e.Location.Col
		}
		out = append(out, ce)
	}
	return out
}

func sortErrors(es CompileErrors) {
	slices.SortStableFunc(es, func(a, b CompileError) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Row, b.Row), cmp.Compare(a.Col, b.Col))
	})
}
