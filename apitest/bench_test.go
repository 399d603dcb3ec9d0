package apitest

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/entitled/entitled/internal/testenv"
)

// BenchmarkAllowedHandler measures one decision through the whole HTTP
// handler in-process (no network): GraphQL allowed with every Decision
// field, and the OPA-compatible door.
func BenchmarkAllowedHandler(b *testing.B) {
	env := testenv.New(b, "sqlite")
	key := env.NewOrg("acme")
	e := testenv.Str(env.MustDo(key, createEntitlement, map[string]any{"in": map[string]any{"name": "s", "slug": "sso", "type": "BOOLEAN"}}), "createEntitlement.id")
	l := testenv.Str(env.MustDo(key, createLicense, map[string]any{"in": map[string]any{"name": "L", "slug": "l", "type": "PAID", "isDefault": true}}), "createLicense.id")
	env.MustDo(key, setLink, map[string]any{"in": map[string]any{"licenseID": l, "entitlementID": e, "value": map[string]any{"type": "boolean", "value": true}}})
	env.MustDo(key, `mutation { createInstance(input: {name: "I", slug: "i"}) { id } }`, nil)
	for _, c := range []struct{ name, path, body string }{
		{"graphql", "/graphql", `{"query":"query($i: String!, $e: String!) { allowed(instance: $i, entitlement: $e) { allowed reason reasons instance entitlement value usage limit hardCap remaining licenseVersion policyVersion evaluatedAt } }","variables":{"i":"i","e":"sso"}}`},
		{"door", "/v1/data/entitled/decision", `{"input":{"instance":"i","entitlement":"sso"}}`},
	} {
		b.Run(c.name, func(b *testing.B) {
			body := []byte(c.body)
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, c.path, bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+key)
				req.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				env.App.Handler.ServeHTTP(w, req)
				if w.Code != 200 || !bytes.Contains(w.Body.Bytes(), []byte(`"allowed":true`)) {
					b.Fatal(w.Code, w.Body.String())
				}
			}
		})
	}
}
