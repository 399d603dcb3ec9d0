package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// InputValue builds the policy input document for f, using f.Now as is
// (zero: "now" absent). A request context that cannot be converted (it is
// not JSON-like) is rendered {}; Service.Decide reports it as an error.
func InputValue(f *Facts) ast.Value {
	v, _ := input(f, f.Now)
	return v
}

// InputJSON renders the policy input document as JSON, e.g. to feed a stock
// OPA server: POST /v1/data/entitled/decision {"input": <this>}.
func InputJSON(f *Facts) ([]byte, error) {
	v, err := ast.JSON(InputValue(f))
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// ErrRequestContext is returned (wrapped) by Prepared.Decide when the
// request context cannot be converted to a Rego value (it is not
// JSON-like): the question is malformed, nothing was evaluated.
var ErrRequestContext = errors.New("request context is not a JSON-like object")

func input(f *Facts, now time.Time) (ast.Object, error) {
	items := make([][2]*ast.Term, 0, 8)
	if !now.IsZero() {
		items = append(items, ast.Item(kNow, ast.StringTerm(now.UTC().Format(time.RFC3339Nano))))
	}
	if f.Org != nil {
		items = append(items, ast.Item(kOrganization, f.Org.Term()))
	}
	if f.Instance != nil {
		items = append(items, ast.Item(kInstance, f.Instance.Term()))
	}
	if f.License != nil {
		items = append(items, ast.Item(kLicense, f.License.Term()))
	}
	if f.Entitlement != nil {
		items = append(items, ast.Item(kEntitlement, f.Entitlement.Term()))
	}
	if f.Grant != nil {
		items = append(items, ast.Item(kGrant, f.Grant.Term()))
	}
	if f.Usage != nil {
		items = append(items, ast.Item(kUsage, f.Usage.term()))
	}
	req, err := requestTerm(f)
	items = append(items, ast.Item(kRequest, req))
	return ast.NewObject(items...), err
}

// defaultRequest is the request when nothing more was asked: shared,
// never modified.
var defaultRequest = ast.ObjectTerm(
	ast.Item(kRequested, ast.IntNumberTerm(1)),
	ast.Item(kContext, ast.ObjectTerm()),
)

// requestTerm is input.request, exactly {"requested": n, "context": {...}}
// (docs/policies.md): requested defaults to 1 and context to {}, as in the
// API. The slugs asked are not part of it (the Decision echoes them).
func requestTerm(f *Facts) (*ast.Term, error) {
	r := f.Request
	if r == nil || (r.Requested == nil && len(r.Context) == 0) {
		return defaultRequest, nil
	}
	requested := defaultRequest.Value.(ast.Object).Get(kRequested)
	if r.Requested != nil {
		requested = numberTerm(*r.Requested)
	}
	ctx := defaultRequest.Value.(ast.Object).Get(kContext)
	var err error
	if len(r.Context) > 0 {
		v, cerr := ast.InterfaceToValue(r.Context)
		if cerr == nil {
			ctx = ast.NewTerm(v)
		} else {
			err = fmt.Errorf("%w: %w", ErrRequestContext, cerr)
		}
	}
	return ast.ObjectTerm(ast.Item(kRequested, requested), ast.Item(kContext, ctx)), err
}
