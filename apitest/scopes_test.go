package apitest

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/entitled/entitled/internal/testenv"
)

// everyMutation calls each mutation of the foundation with valid arguments
// for the org in rows, so a rejection can only come from authorisation.
func everyMutation(r orgRows) []struct {
	name string
	doc  string
	vars map[string]any
} {
	return []struct {
		name string
		doc  string
		vars map[string]any
	}{
		{"createLicense", qCreateLicense, map[string]any{"in": map[string]any{"name": "N", "slug": "new-lic", "type": "PAID"}}},
		{"updateLicense", `mutation($id: ID!) { updateLicense(id: $id, input: {name: "changed"}) { id } }`, map[string]any{"id": r.license}},
		{"deleteLicense", `mutation($id: ID!) { deleteLicense(id: $id) }`, map[string]any{"id": r.license}},
		{"createEntitlement", qCreateEntitlement, map[string]any{"in": map[string]any{"name": "N", "slug": "new-ent", "type": "BOOLEAN"}}},
		{"updateEntitlement", `mutation($id: ID!) { updateEntitlement(id: $id, input: {name: "changed"}) { id } }`, map[string]any{"id": r.entitlement}},
		{"deleteEntitlement", `mutation($id: ID!) { deleteEntitlement(id: $id) }`, map[string]any{"id": r.entitlement}},
		{"setLicenseEntitlement", qSetLink, map[string]any{"in": map[string]any{"licenseID": r.license, "entitlementID": r.entitlement, "value": num(99)}}},
		{"removeLicenseEntitlement", `mutation($l: ID!, $e: ID!) { removeLicenseEntitlement(licenseID: $l, entitlementID: $e) { id } }`, map[string]any{"l": r.license, "e": r.entitlement}},
		{"createInstance", qCreateInstance, map[string]any{"in": map[string]any{"name": "N", "slug": "new-ins", "licenseID": r.license}}},
		{"updateInstance", `mutation($id: ID!) { updateInstance(id: $id, input: {name: "changed"}) { id } }`, map[string]any{"id": r.instance}},
		{"deleteInstance", `mutation($id: ID!) { deleteInstance(id: $id) }`, map[string]any{"id": r.instance}},
		{"createAPIKey", qCreateKey, map[string]any{"in": map[string]any{"name": "N", "scopes": []string{"ADMIN"}}}},
		{"revokeAPIKey", `mutation($id: ID!) { revokeAPIKey(id: $id) { id } }`, map[string]any{"id": r.keyID}},
		{"createOrganization", `mutation { createOrganization(input: {name: "N", slug: "new-org"}) { secret } }`, nil},
	}
}

func TestScopes(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		org := seedOrg(c, "acme", false)
		read := c.NewKey(org.key, "READ")
		check := c.NewKey(org.key, "CHECK")
		before := snapshotOf(c, org.key)
		const reads = `{ licenses { totalCount } entitlements { totalCount } instances { totalCount } }`

		t.Run("read key queries but never mutates", func(t *testing.T) {
			c := c.In(t)
			d := c.MustDo(read, reads, nil)
			if testenv.Num(d, "licenses.totalCount") != 1 || testenv.Num(d, "instances.totalCount") != 1 {
				t.Fatalf("READ key reads: %v", d)
			}
			c.MustDo(read, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": org.license})
			for _, m := range everyMutation(org) {
				c.MustFail(read, "FORBIDDEN", m.doc, m.vars)
			}
			c.MustFail(read, "FORBIDDEN", `{ apiKeys { id } }`, nil) // admin only
		})

		t.Run("check key cannot read the catalog", func(t *testing.T) {
			c := c.In(t)
			d := c.MustDo(check, `{ viewer { scopes } }`, nil)
			if testenv.Str(d, "viewer.scopes.0") != "CHECK" {
				t.Fatalf("CHECK viewer: %v", d)
			}
			for _, q := range []string{`{ licenses { totalCount } }`, `{ entitlements { totalCount } }`, `{ instances { totalCount } }`, `{ apiKeys { id } }`} {
				r := c.Do(check, q, nil)
				c.wantError(r, "FORBIDDEN")
				if testenv.Get(r.Data, "licenses") != nil || testenv.Get(r.Data, "entitlements") != nil || testenv.Get(r.Data, "instances") != nil {
					t.Fatalf("CHECK key got data: %s", r.Raw)
				}
			}
			r := c.Do(check, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": org.license})
			if testenv.Get(r.Data, "node") != nil {
				t.Fatalf("CHECK key reads through node(): %s", r.Raw)
			}
			c.wantError(r, "FORBIDDEN")
			for _, m := range everyMutation(org) {
				c.MustFail(check, "FORBIDDEN", m.doc, m.vars)
			}
		})

		t.Run("operator token only creates organizations", func(t *testing.T) {
			c := c.In(t)
			for _, q := range []string{`{ licenses { totalCount } }`, `{ entitlements { totalCount } }`, `{ instances { totalCount } }`, `{ apiKeys { id } }`} {
				c.MustFail(testenv.OperatorToken, "FORBIDDEN", q, nil)
			}
			c.MustFail(testenv.OperatorToken, "FORBIDDEN", `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": org.license})
			for _, m := range everyMutation(org) {
				if m.name == "createOrganization" {
					continue
				}
				c.MustFail(testenv.OperatorToken, "FORBIDDEN", m.doc, m.vars)
			}
		})

		t.Run("API keys cannot create organizations", func(t *testing.T) {
			c := c.In(t)
			for _, key := range []string{org.key, read, check} {
				c.MustFail(key, "FORBIDDEN", `mutation { createOrganization(input: {name: "N", slug: "sneaky"}) { secret } }`, nil)
			}
			c.MustFail(testenv.OperatorToken, "CONFLICT", `mutation { createOrganization(input: {name: "N", slug: "acme"}) { secret } }`, nil)
		})

		t.Run("a forbidden field does not run its siblings' writes", func(t *testing.T) {
			c := c.In(t)
			r := c.Do(read, `mutation { a: createLicense(input: {name: "A", slug: "sneak-a", type: PAID}) { id } b: createEntitlement(input: {name: "B", slug: "sneak-b", type: BOOLEAN}) { id } }`, nil)
			if len(r.Errors) != 2 || r.Errors[0].Code() != "FORBIDDEN" || r.Errors[1].Code() != "FORBIDDEN" {
				t.Fatalf("two forbidden mutations: %s", r.Raw)
			}
		})

		if after := snapshotOf(c, org.key); after != before {
			t.Fatalf("rejected calls changed data:\nbefore %s\nafter  %s", before, after)
		}
	})
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		admin := c.NewOrg("acme")
		body := doc(`{ viewer { scopes } }`, nil)
		for name, auth := range map[string]string{
			"missing":         "",
			"unknown key":     "Bearer etk_notarealkeyatall",
			"operator typo":   "Bearer " + testenv.OperatorToken + "x",
			"basic scheme":    "Basic " + admin,
			"no scheme":       admin,
			"empty bearer":    "Bearer ",
			"key with suffix": "Bearer " + admin + "0",
		} {
			req, _ := http.NewRequest(http.MethodPost, c.Server.URL+"/graphql", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			r := c.Send(req)
			if r.Status != http.StatusUnauthorized {
				t.Errorf("%s: status %d, want 401: %s", name, r.Status, r.Raw)
				continue
			}
			if len(r.Errors) != 1 || r.Errors[0].Code() != "UNAUTHENTICATED" || r.Data != nil {
				t.Errorf("%s: %s", name, r.Raw)
			}
		}
		// GET needs a credential as well.
		r := c.Get("", `{ viewer { scopes } }`, nil)
		if r.Status != http.StatusUnauthorized || len(r.Errors) != 1 || r.Errors[0].Code() != "UNAUTHENTICATED" {
			t.Fatalf("GET without credential: %d %s", r.Status, r.Raw)
		}
		// The right key, with a case-insensitive scheme, works.
		req, _ := http.NewRequest(http.MethodPost, c.Server.URL+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "bearer "+admin)
		if r := c.Send(req); r.Status != http.StatusOK || len(r.Errors) != 0 {
			t.Fatalf("lower-case bearer: %d %s", r.Status, r.Raw)
		}
	})
}
