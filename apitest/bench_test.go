package apitest

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
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

// BenchmarkReportUsageHandler measures one reportUsage through the whole
// HTTP handler in-process, on each store, below every threshold (what
// nearly every report is: it records no audit event).
func BenchmarkReportUsageHandler(b *testing.B) {
	for _, store := range testenv.Stores {
		b.Run(store, func(b *testing.B) {
			env := testenv.New(b, store)
			key := env.NewOrg("acme")
			e := testenv.Str(env.MustDo(key, createEntitlement, map[string]any{"in": map[string]any{"name": "c", "slug": "calls", "type": "NUMBER"}}), "createEntitlement.id")
			l := testenv.Str(env.MustDo(key, createLicense, map[string]any{"in": map[string]any{"name": "L", "slug": "l", "type": "PAID", "isDefault": true}}), "createLicense.id")
			env.MustDo(key, setLink, map[string]any{"in": map[string]any{"licenseID": l, "entitlementID": e, "value": map[string]any{"type": "number", "value": 1e12}}})
			env.MustDo(key, `mutation { createInstance(input: {name: "I", slug: "i"}) { id } }`, nil)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				body := []byte(`{"query":"mutation($k: String) { reportUsage(input: {instance: \"i\", entitlement: \"calls\", value: 1, idempotencyKey: $k}) { replayed } }","variables":{"k":"k` + strconv.Itoa(i) + `"}}`)
				req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+key)
				req.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				env.App.Handler.ServeHTTP(w, req)
				if w.Code != 200 || !bytes.Contains(w.Body.Bytes(), []byte(`"replayed":false`)) {
					b.Fatal(w.Code, w.Body.String())
				}
			}
		})
	}
}
