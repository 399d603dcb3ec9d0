package apitest

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/entitled/entitled/internal/testenv"
)

func TestEntitlementCRUD(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		key := c.NewOrg("acme")

		cases := []struct {
			name              string
			in                map[string]any
			meter, agg, reset any
		}{
			{"boolean", map[string]any{"type": "BOOLEAN"}, nil, nil, nil},
			{"config", map[string]any{"type": "CONFIG"}, nil, nil, nil},
			{"number-defaults", map[string]any{"type": "NUMBER"}, "RAW_EVENT", "SUM", "NONE"},
			{"number-calculated", map[string]any{"type": "NUMBER", "meterType": "CALCULATED_USAGE"}, "CALCULATED_USAGE", "LATEST", "NONE"},
			{"number-explicit", map[string]any{"type": "NUMBER", "meterType": "RAW_EVENT", "aggregationMethod": "MAX", "resetPeriod": "MONTH"}, "RAW_EVENT", "MAX", "MONTH"},
		}
		ids := map[string]string{}
		for _, tc := range cases {
			in := map[string]any{"name": "Ent " + tc.name, "slug": tc.name, "description": "about " + tc.name}
			for k, v := range tc.in {
				in[k] = v
			}
			d := c.MustDo(key, qCreateEntitlement, map[string]any{"in": in})
			e := testenv.Get(d, "createEntitlement")
			if got := testenv.Str(e, "type"); got != tc.in["type"] {
				t.Errorf("%s: type %q, want %q", tc.name, got, tc.in["type"])
			}
			if got := testenv.Str(e, "description"); got != "about "+tc.name {
				t.Errorf("%s: description %q", tc.name, got)
			}
			for field, want := range map[string]any{"meterType": tc.meter, "aggregationMethod": tc.agg, "resetPeriod": tc.reset} {
				if got := testenv.Get(e, field); got != want {
					t.Errorf("%s: %s = %v, want %v", tc.name, field, got, want)
				}
			}
			ids[tc.name] = testenv.Str(e, "id")
		}

		// Read back through node and the connection.
		d := c.MustDo(key, `query($id: ID!) { node(id: $id) { __typename ... on Entitlement { slug type meterType aggregationMethod resetPeriod } } }`,
			map[string]any{"id": ids["number-calculated"]})
		if testenv.Str(d, "node.__typename") != "Entitlement" || testenv.Str(d, "node.aggregationMethod") != "LATEST" {
			t.Fatalf("node read back %v", d)
		}
		d = c.MustDo(key, `{ entitlements(orderBy: [{field: SLUG}]) { totalCount edges { node { slug } } } }`, nil)
		if n := testenv.Num(d, "entitlements.totalCount"); n != float64(len(cases)) {
			t.Fatalf("totalCount %v, want %d", n, len(cases))
		}
		if s := testenv.Str(d, "entitlements.edges.0.node.slug"); s != "boolean" {
			t.Fatalf("first by slug = %q, want boolean", s)
		}

		// The slug is fixed; names and metering change (the same slug
		// given again is no change).
		c.MustFailWith(key, "BAD_USER_INPUT", "slug", `mutation($id: ID!) { updateEntitlement(id: $id, input: {name: "Seats", slug: "seats"}) { id } }`, map[string]any{"id": ids["number-defaults"]})
		d = c.MustDo(key, `mutation($id: ID!) { updateEntitlement(id: $id, input: {name: "Seats", slug: "number-defaults", description: "d2", resetPeriod: DAY, aggregationMethod: MAX}) {
			name slug description type meterType aggregationMethod resetPeriod } }`, map[string]any{"id": ids["number-defaults"]})
		u := testenv.Get(d, "updateEntitlement")
		for field, want := range map[string]string{"name": "Seats", "slug": "number-defaults", "description": "d2", "type": "NUMBER", "meterType": "RAW_EVENT", "aggregationMethod": "MAX", "resetPeriod": "DAY"} {
			if got := testenv.Str(u, field); got != want {
				t.Errorf("after update %s = %q, want %q", field, got, want)
			}
		}
		d = c.MustDo(key, `query($id: ID!) { node(id: $id) { ... on Entitlement { slug resetPeriod } } }`, map[string]any{"id": ids["number-defaults"]})
		if testenv.Str(d, "node.slug") != "number-defaults" || testenv.Str(d, "node.resetPeriod") != "DAY" {
			t.Fatalf("update not persisted: %v", d)
		}

		// Delete.
		d = c.MustDo(key, `mutation($id: ID!) { deleteEntitlement(id: $id) }`, map[string]any{"id": ids["config"]})
		if testenv.Str(d, "deleteEntitlement") != ids["config"] {
			t.Fatalf("deleteEntitlement returned %v", d)
		}
		r := c.Do(key, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": ids["config"]})
		if testenv.Get(r.Data, "node") != nil {
			t.Fatalf("deleted entitlement still resolves: %s", r.Raw)
		}
		if c.Counts(key).Entitlements != len(cases)-1 {
			t.Fatalf("count after delete = %d", c.Counts(key).Entitlements)
		}
		c.MustFail(key, "NOT_FOUND", `mutation($id: ID!) { deleteEntitlement(id: $id) }`, map[string]any{"id": ids["config"]})
		c.MustFail(key, "NOT_FOUND", `mutation($id: ID!) { updateEntitlement(id: $id, input: {name: "x"}) { id } }`, map[string]any{"id": ids["config"]})
	})
}

func TestLicenseCRUD(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		key := c.NewOrg("acme")
		d := c.MustDo(key, qCreateLicense, map[string]any{"in": map[string]any{
			"name": "Enterprise", "slug": "enterprise", "type": "PAID", "versionName": "2024.1", "description": "big"}})
		l := testenv.Get(d, "createLicense")
		id := testenv.Str(l, "id")
		want := map[string]any{"name": "Enterprise", "slug": "enterprise", "type": "PAID", "versionName": "2024.1",
			"isActive": true, "isDefault": false, "description": "big"}
		for f, w := range want {
			if got := testenv.Get(l, f); got != w {
				t.Errorf("created %s = %v, want %v", f, got, w)
			}
		}
		if testenv.Num(l, "version") != 1 {
			t.Errorf("created version %v, want 1", testenv.Get(l, "version"))
		}
		c.NewLicense(key, "community", "COMMUNITY", map[string]any{"isActive": false})

		d = c.MustDo(key, `query($id: ID!) { node(id: $id) { __typename ... on License { slug createdAt updatedAt versions { totalCount } } } }`, map[string]any{"id": id})
		if testenv.Str(d, "node.__typename") != "License" || testenv.Str(d, "node.slug") != "enterprise" || testenv.Num(d, "node.versions.totalCount") != 1 {
			t.Fatalf("node read back %v", d)
		}
		parseTime(t, testenv.Str(d, "node.createdAt"))

		d = c.MustDo(key, `{ licenses(where: {isActive: true}) { totalCount edges { node { id } } } }`, nil)
		if testenv.Num(d, "licenses.totalCount") != 1 || testenv.Str(d, "licenses.edges.0.node.id") != id {
			t.Fatalf("where isActive: %v", d)
		}

		c.MustFailWith(key, "BAD_USER_INPUT", "slug", `mutation($id: ID!) { updateLicense(id: $id, input: {slug: "ent"}) { id } }`, map[string]any{"id": id})
		d = c.MustDo(key, `mutation($id: ID!) { updateLicense(id: $id, input: {name: "Ent", description: "", clearVersionName: true}) {
			name slug description versionName version } }`, map[string]any{"id": id})
		if testenv.Str(d, "updateLicense.slug") != "enterprise" || testenv.Get(d, "updateLicense.versionName") != nil || testenv.Num(d, "updateLicense.version") != 1 {
			t.Fatalf("updateLicense: %v", d)
		}

		// Deleting a license removes its links and snapshots with it.
		ent := c.NewEntitlement(key, "sso", "BOOLEAN", nil)
		link := c.Link(key, id, ent, boolean(true))
		d = c.MustDo(key, `mutation($id: ID!) { deleteLicense(id: $id) }`, map[string]any{"id": id})
		if testenv.Str(d, "deleteLicense") != id {
			t.Fatalf("deleteLicense returned %v", d)
		}
		for _, gone := range []string{id, link} {
			r := c.Do(key, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": gone})
			if testenv.Get(r.Data, "node") != nil {
				t.Fatalf("%s still resolves after license delete: %s", gone, r.Raw)
			}
		}
		if n := c.Counts(key).Licenses; n != 1 {
			t.Fatalf("licenses after delete = %d, want 1", n)
		}
		// The entitlement is free again and can be deleted.
		c.MustDo(key, `mutation($id: ID!) { deleteEntitlement(id: $id) }`, map[string]any{"id": ent})
		c.MustFail(key, "NOT_FOUND", `mutation($id: ID!) { deleteLicense(id: $id) }`, map[string]any{"id": id})
	})
}

func TestLicenseEntitlementCRUD(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		key := c.NewOrg("acme")
		lic := c.NewLicense(key, "pro", "PAID", nil)
		calls := c.NewEntitlement(key, "api-calls", "NUMBER", nil)
		sso := c.NewEntitlement(key, "sso", "BOOLEAN", nil)
		theme := c.NewEntitlement(key, "theme", "CONFIG", nil)

		d := c.MustDo(key, qSetLink, map[string]any{"in": map[string]any{
			"licenseID": lic, "entitlementID": calls, "value": num(1000), "overagePercent": 20}})
		link := testenv.Get(d, "setLicenseEntitlement")
		if testenv.Str(link, "value.type") != "number" || testenv.Num(link, "value.value") != 1000 || testenv.Num(link, "overagePercent") != 20 {
			t.Fatalf("number link: %v", link)
		}
		if testenv.Str(link, "license.id") != lic || testenv.Str(link, "entitlement.slug") != "api-calls" {
			t.Fatalf("link edges: %v", link)
		}
		callsLink := testenv.Str(link, "id")
		c.Link(key, lic, sso, boolean(true))
		c.Link(key, lic, theme, object(map[string]any{"color": "teal", "max": 3.0, "nested": map[string]any{"a": []any{1.0, "b"}}}))

		// Replacing keeps one link per pair, with the new value.
		d = c.MustDo(key, qSetLink, map[string]any{"in": map[string]any{"licenseID": lic, "entitlementID": calls, "value": num(-1)}})
		if testenv.Str(d, "setLicenseEntitlement.id") != callsLink {
			t.Fatalf("replacing a link created a new one: %v", d)
		}
		if testenv.Num(d, "setLicenseEntitlement.value.value") != -1 || testenv.Get(d, "setLicenseEntitlement.overagePercent") != nil {
			t.Fatalf("replaced link: %v", d)
		}

		d = c.MustDo(key, `query($id: ID!) { node(id: $id) { ... on License { version entitlements { id value overagePercent entitlement { slug type grants { id } } } } } }`, map[string]any{"id": lic})
		links := map[string]any{}
		for i := 0; i < testenv.Len(d, "node.entitlements"); i++ {
			l := testenv.Get(d, fmt.Sprintf("node.entitlements.%d", i))
			links[testenv.Str(l, "entitlement.slug")] = l
			if testenv.Len(l, "entitlement.grants") != 1 || testenv.Str(l, "entitlement.grants.0.id") != testenv.Str(l, "id") {
				t.Errorf("Entitlement.grants of %s = %v", testenv.Str(l, "entitlement.slug"), testenv.Get(l, "entitlement.grants"))
			}
		}
		if len(links) != 3 {
			t.Fatalf("license has %d links, want 3: %v", len(links), d)
		}
		if testenv.Num(links["api-calls"], "value.value") != -1 || testenv.Get(links["sso"], "value.value") != true ||
			testenv.Str(links["theme"], "value.value.color") != "teal" || testenv.Str(links["theme"], "value.value.nested.a.1") != "b" {
			t.Fatalf("link values read back wrong: %v", links)
		}
		if v := testenv.Num(d, "node.version"); v != 5 {
			t.Fatalf("version after 3 adds and 1 change = %v, want 5", v)
		}

		d = c.MustDo(key, `query($id: ID!) { node(id: $id) { __typename ... on LicenseEntitlement { license { slug } entitlement { slug } } } }`, map[string]any{"id": callsLink})
		if testenv.Str(d, "node.__typename") != "LicenseEntitlement" || testenv.Str(d, "node.license.slug") != "pro" {
			t.Fatalf("link via node: %v", d)
		}

		d = c.MustDo(key, `mutation($l: ID!, $e: ID!) { removeLicenseEntitlement(licenseID: $l, entitlementID: $e) { id version entitlements { entitlement { slug } } } }`,
			map[string]any{"l": lic, "e": sso})
		if testenv.Len(d, "removeLicenseEntitlement.entitlements") != 2 || testenv.Num(d, "removeLicenseEntitlement.version") != 6 {
			t.Fatalf("after remove: %v", d)
		}
		for i := 0; i < 2; i++ {
			if testenv.Str(d, fmt.Sprintf("removeLicenseEntitlement.entitlements.%d.entitlement.slug", i)) == "sso" {
				t.Fatalf("removed link still listed: %v", d)
			}
		}
		// Removing it again: the link is gone.
		e := c.MustFail(key, "NOT_FOUND", `mutation($l: ID!, $e: ID!) { removeLicenseEntitlement(licenseID: $l, entitlementID: $e) { id } }`,
			map[string]any{"l": lic, "e": sso})
		if e.Field() != "entitlementID" {
			t.Errorf("NOT_FOUND for missing link names %q, want entitlementID", e.Field())
		}
		if v := licenseVersion(c, key, lic); v != 6 {
			t.Fatalf("failed remove changed version to %v", v)
		}
	})
}

func licenseVersion(c client, key, id string) float64 {
	c.T.Helper()
	d := c.MustDo(key, `query($id: ID!) { node(id: $id) { ... on License { version versions { totalCount } } } }`, map[string]any{"id": id})
	if testenv.Num(d, "node.version") != testenv.Num(d, "node.versions.totalCount") {
		c.T.Fatalf("license has version %v but %v snapshots", testenv.Num(d, "node.version"), testenv.Num(d, "node.versions.totalCount"))
	}
	return testenv.Num(d, "node.version")
}

func TestInstanceCRUD(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		key := c.NewOrg("acme")
		pro := c.NewLicense(key, "pro", "PAID", nil)
		basic := c.NewLicense(key, "basic", "COMMUNITY", nil)
		starts := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
		expires := starts.Add(365 * 24 * time.Hour)

		d := c.MustDo(key, qCreateInstance, map[string]any{"in": map[string]any{
			"name": "EU prod", "slug": "eu-prod-1", "licenseID": pro,
			"startsAt": starts.Format(time.RFC3339), "expiresAt": expires.Format(time.RFC3339),
			"metadata": map[string]any{"region": "eu", "cpus": 8}}})
		in := testenv.Get(d, "createInstance")
		id := testenv.Str(in, "id")
		if testenv.Str(in, "slug") != "eu-prod-1" || testenv.Str(in, "license.id") != pro ||
			!parseTime(t, testenv.Str(in, "startsAt")).Equal(starts) || !parseTime(t, testenv.Str(in, "expiresAt")).Equal(expires) ||
			testenv.Str(in, "metadata.region") != "eu" || testenv.Num(in, "metadata.cpus") != 8 {
			t.Fatalf("created instance: %v", in)
		}

		d = c.MustDo(key, `query($id: ID!) { node(id: $id) { __typename ... on Instance { slug license { slug instances { totalCount } } } } }`, map[string]any{"id": id})
		if testenv.Str(d, "node.__typename") != "Instance" || testenv.Str(d, "node.license.slug") != "pro" || testenv.Num(d, "node.license.instances.totalCount") != 1 {
			t.Fatalf("instance via node: %v", d)
		}

		d = c.MustDo(key, `mutation($id: ID!, $lic: ID!) { updateInstance(id: $id, input: {name: "EU prod 2", licenseID: $lic, metadata: {tier: "gold"}, clearExpiresAt: true}) {
			name slug expiresAt metadata license { slug } } }`, map[string]any{"id": id, "lic": basic})
		u := testenv.Get(d, "updateInstance")
		if testenv.Str(u, "name") != "EU prod 2" || testenv.Str(u, "license.slug") != "basic" || testenv.Get(u, "expiresAt") != nil ||
			testenv.Str(u, "metadata.tier") != "gold" || testenv.Get(u, "metadata.region") != nil {
			t.Fatalf("updated instance: %v", u)
		}
		d = c.MustDo(key, `{ instances(where: {hasLicenseWith: [{slug: "basic"}]}) { totalCount edges { node { id } } } }`, nil)
		if testenv.Num(d, "instances.totalCount") != 1 || testenv.Str(d, "instances.edges.0.node.id") != id {
			t.Fatalf("instances by license: %v", d)
		}

		d = c.MustDo(key, `mutation($id: ID!) { deleteInstance(id: $id) }`, map[string]any{"id": id})
		if testenv.Str(d, "deleteInstance") != id || c.Counts(key).Instances != 0 {
			t.Fatalf("deleteInstance: %v", d)
		}
		c.MustFail(key, "NOT_FOUND", `mutation($id: ID!) { deleteInstance(id: $id) }`, map[string]any{"id": id})
		c.MustFail(key, "NOT_FOUND", `mutation($id: ID!) { updateInstance(id: $id, input: {name: "x"}) { id } }`, map[string]any{"id": id})
	})
}

const qCreateKey = `mutation($in: CreateAPIKeyInput!) { createAPIKey(input: $in) { secret apiKey { id name prefix scopes expiresAt revoked } } }`

func TestAPIKeyLifecycle(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		admin := c.NewOrg("acme")
		d := c.MustDo(admin, qCreateKey, map[string]any{"in": map[string]any{"name": "ci", "scopes": []string{"READ", "CHECK"}}})
		secret := testenv.Str(d, "createAPIKey.secret")
		keyID := testenv.Str(d, "createAPIKey.apiKey.id")
		prefix := testenv.Str(d, "createAPIKey.apiKey.prefix")
		if len(secret) < 32 || prefix == "" || secret[:len(prefix)] != prefix {
			t.Fatalf("secret %q / prefix %q", secret, prefix)
		}
		if testenv.Get(d, "createAPIKey.apiKey.revoked") != false || testenv.Len(d, "createAPIKey.apiKey.scopes") != 2 {
			t.Fatalf("new key: %v", d)
		}

		// The secret is a working bearer credential with its scopes.
		d = c.MustDo(secret, `{ viewer { operator scopes organization { slug } apiKey { id name } } }`, nil)
		if testenv.Str(d, "viewer.apiKey.id") != keyID || testenv.Str(d, "viewer.organization.slug") != "acme" || testenv.Get(d, "viewer.operator") != false {
			t.Fatalf("viewer with new key: %v", d)
		}
		scopes := []string{testenv.Str(d, "viewer.scopes.0"), testenv.Str(d, "viewer.scopes.1")}
		slices.Sort(scopes)
		if !slices.Equal(scopes, []string{"CHECK", "READ"}) {
			t.Fatalf("scopes %v", scopes)
		}

		// The secret is shown only once: keys have no secret field, and
		// the listing shows the key without it.
		c.MustFail(admin, "BAD_USER_INPUT", `{ apiKeys { id secret } }`, nil)
		d = c.MustDo(admin, `{ apiKeys { id prefix } }`, nil)
		if testenv.Len(d, "apiKeys") != 2 {
			t.Fatalf("apiKeys: %v", d)
		}

		// Revoking takes effect at once.
		d = c.MustDo(admin, `mutation($id: ID!) { revokeAPIKey(id: $id) { id revoked revokedAt } }`, map[string]any{"id": keyID})
		if testenv.Get(d, "revokeAPIKey.revoked") != true || testenv.Str(d, "revokeAPIKey.revokedAt") == "" {
			t.Fatalf("revoke: %v", d)
		}
		r := c.Do(secret, `{ viewer { scopes } }`, nil)
		if r.Status != http.StatusUnauthorized {
			t.Fatalf("revoked key: status %d %s", r.Status, r.Raw)
		}
		c.wantError(r, "UNAUTHENTICATED")
		c.MustFail(admin, "NOT_FOUND", `mutation { revokeAPIKey(id: "key_doesnotexist") { id } }`, nil)

		// Expiry.
		now := time.Now().UTC().Truncate(time.Second)
		c.SetNow(now)
		d = c.MustDo(admin, qCreateKey, map[string]any{"in": map[string]any{"name": "temp", "scopes": []string{"READ"}, "expiresAt": now.Add(time.Hour).Format(time.RFC3339)}})
		temp := testenv.Str(d, "createAPIKey.secret")
		if !parseTime(t, testenv.Str(d, "createAPIKey.apiKey.expiresAt")).Equal(now.Add(time.Hour)) {
			t.Fatalf("expiresAt: %v", d)
		}
		c.MustDo(temp, `{ licenses { totalCount } }`, nil)
		c.SetNow(now.Add(time.Hour + time.Second))
		r = c.Do(temp, `{ licenses { totalCount } }`, nil)
		if r.Status != http.StatusUnauthorized {
			t.Fatalf("expired key: status %d %s", r.Status, r.Raw)
		}
		c.wantError(r, "UNAUTHENTICATED")
		c.MustDo(admin, `{ viewer { scopes } }`, nil) // keys without expiry still work

		// A key cannot be born expired, and needs a scope.
		c.MustFailField(admin, "expiresAt", qCreateKey, map[string]any{"in": map[string]any{"name": "past", "scopes": []string{"READ"}, "expiresAt": now.Add(-time.Hour).Format(time.RFC3339)}})
		c.MustFailField(admin, "scopes", qCreateKey, map[string]any{"in": map[string]any{"name": "none", "scopes": []string{}}})
		if n := c.Counts(admin).Keys; n != 3 {
			t.Fatalf("keys = %d, want 3 (failed creates wrote nothing)", n)
		}
	})
}

func TestCreateOrganizationAndViewer(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		const q = `mutation($in: CreateOrganizationInput!) { createOrganization(input: $in) {
			organization { id name slug } apiKey { id scopes } secret } }`
		d := c.MustDo(testenv.OperatorToken, q, map[string]any{"in": map[string]any{"name": "Acme Corp", "slug": "acme"}})
		p := testenv.Get(d, "createOrganization")
		if testenv.Str(p, "organization.slug") != "acme" || testenv.Str(p, "organization.name") != "Acme Corp" ||
			testenv.Len(p, "apiKey.scopes") != 1 || testenv.Str(p, "apiKey.scopes.0") != "ADMIN" || testenv.Str(p, "secret") == "" {
			t.Fatalf("createOrganization: %v", p)
		}
		secret := testenv.Str(p, "secret")
		d = c.MustDo(secret, `{ viewer { operator scopes organization { id slug } apiKey { id } } }`, nil)
		if testenv.Str(d, "viewer.organization.id") != testenv.Str(p, "organization.id") || testenv.Str(d, "viewer.apiKey.id") != testenv.Str(p, "apiKey.id") {
			t.Fatalf("viewer of the first admin key: %v", d)
		}
		// The new admin key can do admin work at once.
		c.NewLicense(secret, "pro", "PAID", nil)

		d = c.MustDo(testenv.OperatorToken, `{ viewer { operator scopes organization { id } apiKey { id } } }`, nil)
		if testenv.Get(d, "viewer.operator") != true || testenv.Get(d, "viewer.organization") != nil || testenv.Len(d, "viewer.scopes") != 0 {
			t.Fatalf("operator viewer: %v", d)
		}

		e := c.MustFail(testenv.OperatorToken, "CONFLICT", q, map[string]any{"in": map[string]any{"name": "Other", "slug": "acme"}})
		if !strings.Contains(e.Message, "acme") {
			t.Errorf("conflict message does not name the slug: %q", e.Message)
		}
		c.MustFailField(testenv.OperatorToken, "slug", q, map[string]any{"in": map[string]any{"name": "Bad", "slug": "Not A Slug"}})
		c.MustFailField(testenv.OperatorToken, "name", q, map[string]any{"in": map[string]any{"name": "", "slug": "empty-name"}})
	})
}

func TestNodeAndNodes(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		key := c.NewOrg("acme")
		lic := c.NewLicense(key, "pro", "PAID", nil)
		ent := c.NewEntitlement(key, "sso", "BOOLEAN", nil)
		link := c.Link(key, lic, ent, boolean(true))
		ins := c.NewInstance(key, "box", lic)
		d := c.MustDo(key, `query($id: ID!) { node(id: $id) { ... on License { versions { edges { node { id } } } } } viewer { organization { id } apiKey { id } } }`, map[string]any{"id": lic})
		ver := testenv.Str(d, "node.versions.edges.0.node.id")
		org := testenv.Str(d, "viewer.organization.id")
		keyID := testenv.Str(d, "viewer.apiKey.id")

		want := map[string]string{lic: "License", ent: "Entitlement", link: "LicenseEntitlement", ins: "Instance", ver: "LicenseVersion", org: "Organization", keyID: "APIKey"}
		ids := []string{}
		for id, typ := range want {
			d := c.MustDo(key, `query($id: ID!) { node(id: $id) { __typename id } }`, map[string]any{"id": id})
			if testenv.Str(d, "node.__typename") != typ || testenv.Str(d, "node.id") != id {
				t.Errorf("node(%s) = %v, want %s", id, d, typ)
			}
			ids = append(ids, id)
		}
		d = c.MustDo(key, `query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }`, map[string]any{"ids": ids})
		for i, id := range ids {
			if testenv.Str(d, fmt.Sprintf("nodes.%d.id", i)) != id || testenv.Str(d, fmt.Sprintf("nodes.%d.__typename", i)) != want[id] {
				t.Errorf("nodes[%d] = %v, want %s %s", i, testenv.Get(d, fmt.Sprintf("nodes.%d", i)), want[id], id)
			}
		}

		// Unknown IDs: null with NOT_FOUND.
		for _, id := range []string{"lic_00000000000000000000000000", "nonsense", ""} {
			r := c.Do(key, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": id})
			if testenv.Get(r.Data, "node") != nil {
				t.Fatalf("node(%q) = %s", id, r.Raw)
			}
			c.wantError(r, "NOT_FOUND")
		}
		r := c.Do(key, `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": []string{lic, "lic_00000000000000000000000000"}})
		if testenv.Str(r.Data, "nodes.0.id") != lic || testenv.Get(r.Data, "nodes.1") != nil || testenv.Len(r.Data, "nodes") != 2 {
			t.Fatalf("nodes with a missing id: %s", r.Raw)
		}
		c.wantError(r, "NOT_FOUND")
	})
}

func TestConnectionsPaginateFilterOrderAndCap(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		key := c.NewOrg("acme")
		const n = 60
		for i := 0; i < n; i++ {
			typ := []string{"BOOLEAN", "NUMBER", "CONFIG"}[i%3]
			c.NewEntitlement(key, fmt.Sprintf("e-%02d", i), typ, nil)
		}

		// Default page size 50.
		d := c.MustDo(key, `{ entitlements { totalCount pageInfo { hasNextPage endCursor } edges { node { id } } } }`, nil)
		if testenv.Len(d, "entitlements.edges") != 50 || testenv.Num(d, "entitlements.totalCount") != n || testenv.Get(d, "entitlements.pageInfo.hasNextPage") != true {
			t.Fatalf("default page: %d edges, %v", testenv.Len(d, "entitlements.edges"), testenv.Get(d, "entitlements.pageInfo"))
		}
		// A page size over the cap is capped, not an error (literal and variable).
		d = c.MustDo(key, `{ entitlements(first: 1000) { pageInfo { hasNextPage } edges { node { id } } } }`, nil)
		if testenv.Len(d, "entitlements.edges") != n || testenv.Get(d, "entitlements.pageInfo.hasNextPage") != false {
			t.Fatalf("first: 1000 gave %d edges", testenv.Len(d, "entitlements.edges"))
		}
		d = c.MustDo(key, `query($n: Int) { entitlements(first: $n) { edges { node { id } } } }`, map[string]any{"n": 100000})
		if testenv.Len(d, "entitlements.edges") != n {
			t.Fatalf("first: $n=100000 gave %d edges", testenv.Len(d, "entitlements.edges"))
		}
		d = c.MustDo(key, `query($n: Int) { entitlements(first: $n) { edges { node { id } } } }`, map[string]any{"n": nil})
		if testenv.Len(d, "entitlements.edges") != 50 {
			t.Fatalf("first: null gave %d edges, want the default 50", testenv.Len(d, "entitlements.edges"))
		}

		// Walk all pages in slug order, descending, 7 at a time.
		var slugs []string
		var after any
		for page := 0; ; page++ {
			if page > n {
				t.Fatal("pagination does not end")
			}
			d := c.MustDo(key, `query($after: Cursor) { entitlements(first: 7, after: $after, orderBy: [{field: SLUG, direction: DESC}]) {
				totalCount pageInfo { hasNextPage endCursor } edges { cursor node { slug } } } }`, map[string]any{"after": after})
			for i := 0; i < testenv.Len(d, "entitlements.edges"); i++ {
				slugs = append(slugs, testenv.Str(d, fmt.Sprintf("entitlements.edges.%d.node.slug", i)))
			}
			if testenv.Get(d, "entitlements.pageInfo.hasNextPage") != true {
				break
			}
			after = testenv.Get(d, "entitlements.pageInfo.endCursor")
		}
		if len(slugs) != n {
			t.Fatalf("paged through %d entitlements, want %d", len(slugs), n)
		}
		if !slices.IsSortedFunc(slugs, func(a, b string) int { return -strings.Compare(a, b) }) || len(slices.Compact(slices.Clone(slugs))) != n {
			t.Fatalf("pages out of order or repeated: %v", slugs)
		}

		// Filters.
		d = c.MustDo(key, `{ entitlements(where: {typeIn: [BOOLEAN, CONFIG], slugHasPrefix: "e-1"}) { totalCount edges { node { slug type } } } }`, nil)
		// e-10..e-19: i%3 != 1 → 10,12,13,15,16,18 (i%3==1 is NUMBER: 10,13,16,19)
		want := 0
		for i := 10; i < 20; i++ {
			if i%3 != 1 {
				want++
			}
		}
		if got := testenv.Num(d, "entitlements.totalCount"); got != float64(want) {
			t.Fatalf("where typeIn+prefix: %v, want %d", got, want)
		}
		for i := 0; i < want; i++ {
			if testenv.Str(d, fmt.Sprintf("entitlements.edges.%d.node.type", i)) == "NUMBER" {
				t.Fatalf("filter returned NUMBER: %v", d)
			}
		}

		// Nested connections are capped too: 60 instances on one license.
		lic := c.NewLicense(key, "pro", "PAID", nil)
		for i := 0; i < n; i++ {
			c.NewInstance(key, fmt.Sprintf("i-%02d", i), lic)
		}
		d = c.MustDo(key, `{ licenses { edges { node { instances { totalCount pageInfo { hasNextPage } edges { node { id } } } } } } }`, nil)
		if got := testenv.Len(d, "licenses.edges.0.node.instances.edges"); got != 50 {
			t.Fatalf("nested License.instances without first returned %d, want 50", got)
		}
		if testenv.Num(d, "licenses.edges.0.node.instances.totalCount") != n || testenv.Get(d, "licenses.edges.0.node.instances.pageInfo.hasNextPage") != true {
			t.Fatalf("nested connection info: %v", testenv.Get(d, "licenses.edges.0.node.instances.pageInfo"))
		}
		d = c.MustDo(key, `query($id: ID!) { node(id: $id) { ... on License { instances(first: 1000, orderBy: [{field: SLUG, direction: DESC}]) { edges { node { slug } } } } } }`, map[string]any{"id": lic})
		if testenv.Len(d, "node.instances.edges") != n || testenv.Str(d, "node.instances.edges.0.node.slug") != "i-59" {
			t.Fatalf("nested first: 1000: %d edges", testenv.Len(d, "node.instances.edges"))
		}
		// Nested pages are per parent, not shared between parents.
		basic := c.NewLicense(key, "basic", "COMMUNITY", nil)
		for i := 0; i < 3; i++ {
			c.NewInstance(key, fmt.Sprintf("b-%d", i), basic)
		}
		d = c.MustDo(key, `{ licenses(orderBy: [{field: SLUG}]) { edges { node { slug instances(first: 2) { totalCount edges { node { license { slug } } } } } } } }`, nil)
		for i, want := range map[int]float64{0: 3, 1: n} {
			l := testenv.Get(d, fmt.Sprintf("licenses.edges.%d.node", i))
			if testenv.Len(l, "instances.edges") != 2 || testenv.Num(l, "instances.totalCount") != want ||
				testenv.Str(l, "instances.edges.1.node.license.slug") != testenv.Str(l, "slug") {
				t.Fatalf("license %d: instances(first: 2) = %v", i, testenv.Get(l, "instances"))
			}
		}
		d = c.MustDo(key, `{ instances(last: 5, orderBy: [{field: SLUG}]) { edges { node { slug } } } }`, nil)
		if testenv.Len(d, "instances.edges") != 5 || testenv.Str(d, "instances.edges.4.node.slug") != "i-59" {
			t.Fatalf("last: 5 = %v", d)
		}
		d = c.MustDo(key, `{ licenses(orderBy: [{field: INSTANCES_COUNT, direction: DESC}]) { edges { node { slug } } } }`, nil)
		if testenv.Str(d, "licenses.edges.0.node.slug") != "pro" {
			t.Fatalf("order by instance count: %v", d)
		}
	})
}
