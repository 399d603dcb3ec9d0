package apitest

import (
	"net/http"
	"strings"
	"testing"

	"github.com/entitled/entitled/internal/testenv"
)

const mb = 1 << 20

func TestBadInputGetsTypedErrorsAndWritesNothing(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		org := seedOrg(c, "acme", false)
		key := org.key
		theme := c.NewEntitlement(key, "theme", "CONFIG", nil)
		before := snapshotOf(c, key)
		huge := strings.Repeat("x", mb)
		lic := func(over map[string]any) map[string]any {
			in := map[string]any{"name": "New", "slug": "new-lic", "type": "PAID"}
			for k, v := range over {
				if v == nil {
					delete(in, k)
				} else {
					in[k] = v
				}
			}
			return map[string]any{"in": in}
		}

		t.Run("wrong types and missing fields in variables", func(t *testing.T) {
			c := c.In(t)
			for _, tc := range []struct {
				name, field string
				vars        map[string]any
			}{
				{"number for name", "in.name", lic(map[string]any{"name": 123})},
				{"object for slug", "in.slug", lic(map[string]any{"slug": map[string]any{"a": 1}})},
				{"string for bool", "in.isDefault", lic(map[string]any{"isDefault": "yes"})},
				{"missing slug", "in.slug", lic(map[string]any{"slug": nil})},
				{"missing type", "in.type", lic(map[string]any{"type": nil})},
				{"unknown field", "in.owner", lic(map[string]any{"owner": "me"})},
				{"unknown enum", "in.type", lic(map[string]any{"type": "GOLD"})},
				{"number for enum", "in.type", lic(map[string]any{"type": 3})},
				{"missing input", "in", map[string]any{}},
				{"negative page size", "first", nil},
			} {
				if tc.vars == nil {
					e := c.MustFail(key, "BAD_USER_INPUT", `query($n: Int) { licenses(first: $n) { totalCount } }`, map[string]any{"n": -5})
					if e.Field() != tc.field {
						t.Errorf("%s: field %q, want %q (%s)", tc.name, e.Field(), tc.field, e.Message)
					}
					continue
				}
				e := c.MustFail(key, "BAD_USER_INPUT", qCreateLicense, tc.vars)
				if e.Field() != tc.field {
					t.Errorf("%s: field %q, want %q (%s)", tc.name, e.Field(), tc.field, e.Message)
				}
			}
			// Other types' inputs.
			c.MustFail(key, "BAD_USER_INPUT", qCreateInstance, map[string]any{"in": map[string]any{"name": "i", "slug": "i", "licenseID": org.license, "startsAt": "yesterday"}})
			c.MustFail(key, "BAD_USER_INPUT", qCreateInstance, map[string]any{"in": map[string]any{"name": "i", "slug": "i", "licenseID": org.license, "metadata": "not an object"}})
			c.MustFail(key, "BAD_USER_INPUT", qCreateEntitlement, map[string]any{"in": map[string]any{"name": "e", "slug": "e", "type": "NUMBER", "resetPeriod": "FORTNIGHT"}})
			c.MustFail(key, "BAD_USER_INPUT", qSetLink, map[string]any{"in": map[string]any{"licenseID": org.license, "entitlementID": org.entitlement, "value": num(5), "overagePercent": "ten"}})
			c.MustFail(key, "BAD_USER_INPUT", qCreateKey, map[string]any{"in": map[string]any{"name": "k", "scopes": []string{"SUPERUSER"}}})
			c.MustFail(key, "BAD_USER_INPUT", qCreateKey, map[string]any{"in": map[string]any{"name": "k", "scopes": "ADMIN,READ"}})
			// Enum values are case-sensitive.
			c.MustFail(key, "BAD_USER_INPUT", qCreateLicense, lic(map[string]any{"type": "paid"}))
		})

		t.Run("wrong types and unknown enums in literals", func(t *testing.T) {
			c := c.In(t)
			for _, q := range []string{
				`mutation { createLicense(input: {name: 123, slug: "x", type: PAID}) { id } }`,
				`mutation { createLicense(input: {name: "x", slug: "x"}) { id } }`,
				`mutation { createLicense(input: {name: "x", slug: "x", type: GOLD}) { id } }`,
				`mutation { createLicense(input: {name: "x", slug: "x", type: "PAID"}) { id } }`,
				`mutation { createLicense(input: {name: null, slug: "x", type: PAID}) { id } }`,
				`mutation { createEntitlement(input: {name: "x", slug: "x", type: NUMBER, meterType: WALL_CLOCK}) { id } }`,
				`mutation { createInstance(input: {name: "x", slug: "x", startsAt: 12}) { id } }`,
				`mutation { createLicense { id } }`,
				`mutation { createLicense(input: {name: "x", slug: "x", type: PAID}) { id nope } }`,
				`mutation { createLicense(input: {name: "x", slug: "x", type: PAID}) }`,
				`mutation { createLicense(input: {name: "x", slug: "x", type: PAID}) { id }`,
				`{ licenses(orderBy: [{field: COLOR}]) { totalCount } }`,
				`{ licenses(first: "ten") { totalCount } }`,
				`{ licenses(first: -1) { totalCount } }`,
			} {
				r := c.Do(key, q, nil)
				c.wantError(r, "BAD_USER_INPUT")
				if r.Status == http.StatusInternalServerError {
					t.Errorf("500 for %s", q)
				}
			}
		})

		t.Run("1 MB strings", func(t *testing.T) {
			c := c.In(t)
			c.MustFailField(key, "name", qCreateLicense, lic(map[string]any{"name": huge}))
			c.MustFailField(key, "description", qCreateLicense, lic(map[string]any{"description": huge}))
			c.MustFailField(key, "slug", qCreateLicense, lic(map[string]any{"slug": huge}))
			c.MustFailField(key, "versionName", qCreateLicense, lic(map[string]any{"versionName": huge}))
			c.MustFailField(key, "name", qCreateEntitlement, map[string]any{"in": map[string]any{"name": huge, "slug": "e", "type": "BOOLEAN"}})
			c.MustFailField(key, "name", qCreateInstance, map[string]any{"in": map[string]any{"name": huge, "slug": "i", "licenseID": org.license}})
			c.MustFailField(key, "metadata", qCreateInstance, map[string]any{"in": map[string]any{"name": "i", "slug": "i", "licenseID": org.license, "metadata": map[string]any{"blob": huge}}})
			c.MustFailField(key, "name", qCreateKey, map[string]any{"in": map[string]any{"name": huge, "scopes": []string{"READ"}}})
			c.MustFailField(testenv.OperatorToken, "name", `mutation($n: String!) { createOrganization(input: {name: $n, slug: "big"}) { secret } }`, map[string]any{"n": huge})
			c.MustFailField(key, "name", `mutation($id: ID!, $n: String!) { updateLicense(id: $id, input: {name: $n}) { id } }`, map[string]any{"id": org.license, "n": huge})
			c.MustFailField(key, "value.value", qSetLink, map[string]any{"in": map[string]any{"licenseID": org.license, "entitlementID": theme, "value": object(map[string]any{"blob": huge})}})
			// A slug that is not a slug.
			c.MustFailField(key, "slug", qCreateLicense, lic(map[string]any{"slug": "Not A Slug"}))
			c.MustFailField(key, "name", qCreateLicense, lic(map[string]any{"name": ""}))
		})

		t.Run("malformed HTTP bodies", func(t *testing.T) {
			c := c.In(t)
			const marker = "ECHO-MARKER-7731"
			for _, tc := range []struct {
				name   string
				body   string
				status int
			}{
				{"invalid JSON", `{"query": "mutation { createLicense(input: {name: \"` + marker + `\", slug: \"x\", type: PAID}) { id } }"`, http.StatusBadRequest},
				{"not JSON at all", marker + ` mutation { createLicense }`, http.StatusBadRequest},
				{"trailing data", `{"query": "{ viewer { scopes } }"} {"query": "` + marker + `"}`, http.StatusBadRequest},
				{"empty body", ``, http.StatusBadRequest},
				{"blank body", "  \n\t ", http.StatusBadRequest},
				{"null body", `null`, http.StatusBadRequest},
				{"empty object", `{}`, http.StatusBadRequest},
				{"query not a string", `{"query": 12}`, http.StatusBadRequest},
				{"variables not an object", `{"query": "{ viewer { scopes } }", "variables": ["` + marker + `"]}`, http.StatusBadRequest},
				{"batch", `[{"query": "mutation { createLicense(input: {name: \"B1\", slug: \"batch-1\", type: PAID}) { id } }"}, {"query": "mutation { createLicense(input: {name: \"B2\", slug: \"batch-2\", type: PAID}) { id } }"}]`, http.StatusBadRequest},
			} {
				r := c.Raw(key, "application/json", []byte(tc.body))
				if r.Status != tc.status {
					t.Errorf("%s: status %d, want %d: %s", tc.name, r.Status, tc.status, r.Raw)
				}
				if len(r.Errors) != 1 || r.Errors[0].Code() != "BAD_USER_INPUT" || r.Data != nil {
					t.Errorf("%s: want one BAD_USER_INPUT error and no data: %s", tc.name, r.Raw)
				}
				if strings.Contains(r.Raw, marker) {
					t.Errorf("%s: the response echoes the request body: %s", tc.name, r.Raw)
				}
			}
			r := c.Raw(key, "text/plain", []byte(`{"query": "{ viewer { scopes } }"}`))
			if r.Status != http.StatusUnsupportedMediaType || len(r.Errors) != 1 || r.Errors[0].Code() != "BAD_USER_INPUT" {
				t.Errorf("text/plain body: %d %s", r.Status, r.Raw)
			}
		})

		t.Run("bodies over 2 MiB", func(t *testing.T) {
			c := c.In(t)
			body := doc(qCreateLicense, lic(map[string]any{"description": strings.Repeat("y", 2*mb+1)}))
			r := c.Raw(key, "application/json", body)
			if r.Status != http.StatusRequestEntityTooLarge || len(r.Errors) != 1 || r.Errors[0].Code() != "BAD_USER_INPUT" {
				t.Fatalf("2 MiB body: %d %.300s", r.Status, r.Raw)
			}
			// Just under the limit is read and judged on its merits.
			body = doc(qCreateLicense, lic(map[string]any{"description": strings.Repeat("y", 2*mb-1000)}))
			if len(body) > 2*mb {
				t.Fatalf("test body is %d bytes", len(body))
			}
			c.MustFailField(key, "description", qCreateLicense, lic(map[string]any{"description": strings.Repeat("y", 2*mb-1000)}))
		})

		if after := snapshotOf(c, key); after != before {
			t.Fatalf("bad input changed data:\nbefore %s\nafter  %s", before, after)
		}
		if got := c.Counts(key); got.Licenses != 1 || got.Entitlements != 2 || got.Instances != 1 || got.Keys != 1 {
			t.Fatalf("counts after bad input: %+v", got)
		}
		r := c.Do(testenv.OperatorToken, `mutation { createOrganization(input: {name: "Big", slug: "big"}) { organization { slug } } }`, nil)
		if len(r.Errors) != 0 {
			t.Fatalf("slug \"big\" was taken by a rejected createOrganization: %s", r.Raw)
		}
	})
}
