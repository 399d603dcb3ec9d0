package decision

import (
	"encoding/json"
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
	if req != nil {
		items = append(items, ast.Item(kRequest, req))
	}
	return ast.NewObject(items...), err
}

func requestTerm(f *Facts) (*ast.Term, error) {
	var err error
	items := make([][2]*ast.Term, 0, 4)
	if f.InstanceSlug != "" {
		items = append(items, ast.Item(kInstance, ast.StringTerm(f.InstanceSlug)))
	}
	if f.EntitlementSlug != "" {
		items = append(items, ast.Item(kEntitlement, ast.StringTerm(f.EntitlementSlug)))
	}
	if r := f.Request; r != nil {
		if r.Requested != nil {
			items = append(items, ast.Item(kRequested, numberTerm(*r.Requested)))
		}
		if r.Context != nil {
			ctx := ast.NewTerm(ast.NewObject())
			if len(r.Context) > 0 {
				v, cerr := ast.InterfaceToValue(r.Context)
				if cerr == nil {
					ctx = ast.NewTerm(v)
				} else {
					err = fmt.Errorf("request context: %w", cerr)
				}
			}
			items = append(items, ast.Item(kContext, ctx))
		}
	}
	if len(items) == 0 {
		return nil, err
	}
	return ast.ObjectTerm(items...), err
}
