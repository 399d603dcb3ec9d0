package apitest

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/entitled/entitled/internal/testenv"
)

// BenchmarkReportUsageHandler measures one reportUsage through the whole
// HTTP handler in-process, on each store: under the limit (no threshold
// reached) and past every threshold (each report finds its crossings
// recorded already), the two steady states of a metered instance.
func BenchmarkReportUsageHandler(b *testing.B) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		b.Run(dialect, func(b *testing.B) {
			env := testenv.New(b, dialect)
			key := env.NewOrg("acme")
			l := testenv.Str(env.MustDo(key, createLicense, map[string]any{"in": map[string]any{"name": "L", "slug": "l", "type": "PAID", "isDefault": true}}), "createLicense.id")
			for _, c := range []struct {
				slug  string
				limit float64
			}{{"under", 1e15}, {"past", 1}} {
				e := testenv.Str(env.MustDo(key, createEntitlement, map[string]any{"in": map[string]any{"name": c.slug, "slug": c.slug, "type": "NUMBER"}}), "createEntitlement.id")
				env.MustDo(key, setLink, map[string]any{"in": map[string]any{"licenseID": l, "entitlementID": e, "value": map[string]any{"type": "number", "value": c.limit}}})
			}
			env.MustDo(key, `mutation { createInstance(input: {name: "I", slug: "i"}) { id } }`, nil)
			for _, ent := range []string{"under", "past"} {
				b.Run(ent, func(b *testing.B) {
					body := []byte(fmt.Sprintf(`{"query":"mutation($e: String!) { reportUsage(input: {instance: \"i\", entitlement: $e, value: 1}) { usage { value } softLimitExceeded } }","variables":{"e":%q}}`, ent))
					b.ReportAllocs()
					for b.Loop() {
						req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
						req.Header.Set("Authorization", "Bearer "+key)
						req.Header.Set("Content-Type", "application/json")
						w := httptest.NewRecorder()
						env.App.Handler.ServeHTTP(w, req)
						if w.Code != 200 || !bytes.Contains(w.Body.Bytes(), []byte(`"softLimitExceeded":`)) {
							b.Fatal(w.Code, w.Body.String())
						}
					}
				})
			}
		})
	}
}
