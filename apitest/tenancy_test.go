package apitest

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/entitled/entitled/internal/testenv"
)

// orgRows are one organization's rows, made the same way in every org.
type orgRows struct {
	key                                  string
	org, keyID                           string
	license, entitlement, link, instance string
	version                              string
}

func seedOrg(c client, slug string, isDefault bool) orgRows {
	c.T.Helper()
	r := orgRows{key: c.NewOrg(slug)}
	r.license = c.NewLicense(r.key, "pro", "PAID", map[string]any{"isDefault": isDefault})
	r.entitlement = c.NewEntitlement(r.key, "seats", "NUMBER", nil)
	r.link = c.Link(r.key, r.license, r.entitlement, num(10))
	r.instance = c.NewInstance(r.key, "box", r.license)
	d := c.MustDo(r.key, `query($id: ID!) { node(id: $id) { ... on License { versions(orderBy: {field: VERSION, direction: DESC}) { edges { node { id } } } } }
		viewer { organization { id } apiKey { id } } }`, map[string]any{"id": r.license})
	r.version = testenv.Str(d, "node.versions.edges.0.node.id")
	r.org = testenv.Str(d, "viewer.organization.id")
	r.keyID = testenv.Str(d, "viewer.apiKey.id")
	return r
}

// snapshotOf is everything org A can see, to prove B changed none of it.
func snapshotOf(c client, key string) string {
	c.T.Helper()
	d := c.MustDo(key, `{
		licenses { totalCount edges { node { id name slug version isDefault isActive
			entitlements { id value overagePercent entitlement { id slug } }
			instances { totalCount edges { node { id name slug expiresAt license { id } } } }
			versions { totalCount } } } }
		entitlements { totalCount edges { node { id name slug resetPeriod } } }
		instances { totalCount }
		apiKeys { id revoked } }`, nil)
	return fmt.Sprint(d)
}

func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		a := seedOrg(c, "org-a", true)
		b := seedOrg(c, "org-b", false)
		aBefore := snapshotOf(c, a.key)

		aIDs := map[string]string{"license": a.license, "entitlement": a.entitlement, "link": a.link,
			"instance": a.instance, "version": a.version, "organization": a.org, "apiKey": a.keyID}

		t.Run("node", func(t *testing.T) {
			c := c.In(t)
			for what, id := range aIDs {
				// Control: the ID is real (A sees it).
				if d := c.MustDo(a.key, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": id}); testenv.Str(d, "node.id") != id {
					t.Fatalf("A cannot see its own %s: %v", what, d)
				}
				r := c.Do(b.key, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": id})
				if testenv.Get(r.Data, "node") != nil {
					t.Fatalf("B reads A's %s through node(): %s", what, r.Raw)
				}
				c.wantError(r, "NOT_FOUND")
			}
			ids := slices.Collect(maps.Values(aIDs))
			r := c.Do(b.key, `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": append(ids, b.license)})
			for i := range ids {
				if testenv.Get(r.Data, fmt.Sprintf("nodes.%d", i)) != nil {
					t.Fatalf("B reads A's rows through nodes(): %s", r.Raw)
				}
			}
			if testenv.Str(r.Data, fmt.Sprintf("nodes.%d.id", len(ids))) != b.license {
				t.Fatalf("B cannot read its own license through nodes(): %s", r.Raw)
			}
			for _, e := range r.Errors {
				if e.Code() != "NOT_FOUND" {
					t.Fatalf("nodes() error %s", r.Raw)
				}
			}
		})

		t.Run("list", func(t *testing.T) {
			c := c.In(t)
			d := c.MustDo(b.key, `{
				licenses { totalCount edges { node { id entitlements { id entitlement { id } } instances { totalCount edges { node { id } } } versions { totalCount } } } }
				entitlements { totalCount edges { node { id grants { id license { id } } } } }
				instances { totalCount edges { node { id license { id } } } }
				apiKeys { id } }`, nil)
			seen := fmt.Sprint(d)
			for what, id := range aIDs {
				if strings.Contains(seen, id) {
					t.Fatalf("B's lists include A's %s %s: %v", what, id, d)
				}
			}
			for _, conn := range []string{"licenses", "entitlements", "instances"} {
				if n := testenv.Num(d, conn+".totalCount"); n != 1 {
					t.Errorf("B's %s totalCount = %v, want 1", conn, n)
				}
			}
			if testenv.Num(d, "licenses.edges.0.node.instances.totalCount") != 1 || testenv.Num(d, "licenses.edges.0.node.versions.totalCount") != 2 {
				t.Errorf("B's license edges: %v", testenv.Get(d, "licenses.edges.0.node"))
			}
			if testenv.Len(d, "apiKeys") != 1 {
				t.Errorf("B lists %d API keys", testenv.Len(d, "apiKeys"))
			}
			// Filtering by A's IDs finds nothing.
			d = c.MustDo(b.key, `query($l: ID!, $i: ID!, $e: ID!) {
				licenses(where: {id: $l}) { totalCount } instances(where: {id: $i}) { totalCount } entitlements(where: {idIn: [$e]}) { totalCount }
				byLicense: instances(where: {hasLicenseWith: [{id: $l}]}) { totalCount } }`,
				map[string]any{"l": a.license, "i": a.instance, "e": a.entitlement})
			for _, f := range []string{"licenses", "instances", "entitlements", "byLicense"} {
				if testenv.Num(d, f+".totalCount") != 0 {
					t.Errorf("B's %s filtered by A's id: %v", f, d)
				}
			}
			d = c.MustDo(b.key, `{ viewer { organization { id slug } } }`, nil)
			if testenv.Str(d, "viewer.organization.id") != b.org {
				t.Errorf("B's viewer: %v", d)
			}
		})

		t.Run("update and delete", func(t *testing.T) {
			c := c.In(t)
			writes := []struct {
				doc  string
				vars map[string]any
			}{
				{`mutation($id: ID!) { updateLicense(id: $id, input: {name: "pwned", isActive: false}) { id } }`, map[string]any{"id": a.license}},
				{`mutation($id: ID!) { updateEntitlement(id: $id, input: {name: "pwned", resetPeriod: DAY}) { id } }`, map[string]any{"id": a.entitlement}},
				{`mutation($id: ID!) { updateInstance(id: $id, input: {name: "pwned"}) { id } }`, map[string]any{"id": a.instance}},
				{`mutation($id: ID!, $l: ID!) { updateInstance(id: $id, input: {licenseID: $l}) { id } }`, map[string]any{"id": a.instance, "l": b.license}},
				{`mutation($id: ID!) { deleteInstance(id: $id) }`, map[string]any{"id": a.instance}},
				{`mutation($id: ID!) { deleteLicense(id: $id) }`, map[string]any{"id": a.license}},
				{`mutation($id: ID!) { deleteEntitlement(id: $id) }`, map[string]any{"id": a.entitlement}},
				{`mutation($id: ID!) { revokeAPIKey(id: $id) { id } }`, map[string]any{"id": a.keyID}},
				{`mutation($l: ID!, $e: ID!) { removeLicenseEntitlement(licenseID: $l, entitlementID: $e) { id } }`, map[string]any{"l": a.license, "e": a.entitlement}},
			}
			for _, w := range writes {
				c.MustFail(b.key, "NOT_FOUND", w.doc, w.vars)
			}
			// A's key still works and nothing of A's changed.
			if got := snapshotOf(c, a.key); got != aBefore {
				t.Fatalf("A's data changed by B's writes:\nbefore %s\nafter  %s", aBefore, got)
			}
		})

		t.Run("link and reference", func(t *testing.T) {
			c := c.In(t)
			link := func(lic, ent string) {
				c.T.Helper()
				c.MustFail(b.key, "NOT_FOUND", qSetLink, map[string]any{"in": map[string]any{"licenseID": lic, "entitlementID": ent, "value": num(1)}})
			}
			link(b.license, a.entitlement) // B's license, A's entitlement
			link(a.license, b.entitlement) // A's license, B's entitlement
			link(a.license, a.entitlement) // both A's
			c.MustFail(b.key, "NOT_FOUND", `mutation($l: ID!, $e: ID!) { removeLicenseEntitlement(licenseID: $l, entitlementID: $e) { id } }`,
				map[string]any{"l": b.license, "e": a.entitlement})
			e := c.MustFail(b.key, "NOT_FOUND", qCreateInstance, map[string]any{"in": map[string]any{"name": "x", "slug": "stolen", "licenseID": a.license}})
			if e.Field() != "licenseID" {
				t.Errorf("NOT_FOUND for A's license names %q", e.Field())
			}
			// B has no default license; A's default must not be used.
			c.MustFailField(b.key, "licenseID", qCreateInstance, map[string]any{"in": map[string]any{"name": "x", "slug": "no-default"}})
			// Making B's license default leaves A's default alone.
			c.MustDo(b.key, `mutation($id: ID!) { updateLicense(id: $id, input: {isDefault: true}) { id } }`, map[string]any{"id": b.license})
			d := c.MustDo(b.key, qCreateInstance, map[string]any{"in": map[string]any{"name": "x", "slug": "defaulted"}})
			if testenv.Str(d, "createInstance.license.id") != b.license {
				t.Fatalf("B's default instance got license %v", testenv.Get(d, "createInstance.license"))
			}
			d = c.MustDo(b.key, `query($id: ID!) { node(id: $id) { ... on License { version entitlements { id } } } }`, map[string]any{"id": b.license})
			if testenv.Num(d, "node.version") != 2 || testenv.Len(d, "node.entitlements") != 1 {
				t.Fatalf("B's license changed by rejected links: %v", d)
			}
			if got := snapshotOf(c, a.key); got != aBefore {
				t.Fatalf("A's data changed by B's links:\nbefore %s\nafter  %s", aBefore, got)
			}
			if got := c.Counts(b.key); got.Instances != 2 {
				t.Fatalf("B has %d instances, want 2 (its own + defaulted)", got.Instances)
			}
		})

		t.Run("same slugs resolve per organization", func(t *testing.T) {
			c := c.In(t)
			// Both orgs use slug "seats": A's license sees only A's link.
			d := c.MustDo(a.key, `query($id: ID!) { node(id: $id) { ... on License { entitlements { id entitlement { id } } } } }`, map[string]any{"id": a.license})
			if testenv.Len(d, "node.entitlements") != 1 || testenv.Str(d, "node.entitlements.0.entitlement.id") != a.entitlement {
				t.Fatalf("A's license links: %v", d)
			}
			d = c.MustDo(a.key, `{ entitlements(where: {slug: "seats"}) { totalCount edges { node { id } } } }`, nil)
			if testenv.Num(d, "entitlements.totalCount") != 1 || testenv.Str(d, "entitlements.edges.0.node.id") != a.entitlement {
				t.Fatalf("A's seats: %v", d)
			}
		})
	})
}
