package apitest

import (
	"testing"

	"github.com/entitled/entitled/internal/testenv"
)

const createEntitlement = `mutation($in: CreateEntitlementInput!) {
	createEntitlement(input: $in) { id slug type meterType aggregationMethod resetPeriod } }`

const createLicense = `mutation($in: CreateLicenseInput!) {
	createLicense(input: $in) { id slug type version isActive isDefault } }`

const setLink = `mutation($in: SetLicenseEntitlementInput!) {
	setLicenseEntitlement(input: $in) { id value overagePercent license { id version } entitlement { slug } } }`

const licenseVersions = `query($id: ID!) { node(id: $id) { ... on License {
	version versions(orderBy: {field: VERSION, direction: ASC}) { totalCount edges { node {
		version type isActive change terms { entitlementSlug entitlementType value overagePercent } } } } } } }`

func TestLicenseVersionsBumpExactlyOnTermChanges(t *testing.T) {
	t.Parallel()
	testenv.ForEachStore(t, func(t *testing.T, env *testenv.Env) {
		key := env.NewOrg("acme")
		calls := env.MustDo(key, createEntitlement, map[string]any{"in": map[string]any{
			"name": "API calls", "slug": "api-calls", "type": "NUMBER"}})
		entID := testenv.Str(calls, "createEntitlement.id")
		lic := env.MustDo(key, createLicense, map[string]any{"in": map[string]any{
			"name": "Enterprise", "slug": "enterprise", "type": "PAID"}})
		licID := testenv.Str(lic, "createLicense.id")
		if v := testenv.Num(lic, "createLicense.version"); v != 1 {
			t.Fatalf("new license version = %v, want 1", v)
		}

		steps := []struct {
			name    string
			doc     string
			vars    map[string]any
			version float64
		}{
			{"rename does not bump", `mutation($id: ID!) { updateLicense(id: $id, input: {name: "Enterprise 2", description: "d"}) { version } }`, map[string]any{"id": licID}, 1},
			{"link added bumps", setLink, map[string]any{"in": map[string]any{"licenseID": licID, "entitlementID": entID, "value": map[string]any{"type": "number", "value": 1000}}}, 2},
			{"same value does not bump", setLink, map[string]any{"in": map[string]any{"licenseID": licID, "entitlementID": entID, "value": map[string]any{"type": "number", "value": 1000}}}, 2},
			{"value change bumps", setLink, map[string]any{"in": map[string]any{"licenseID": licID, "entitlementID": entID, "value": map[string]any{"type": "number", "value": 2000}, "overagePercent": 10}}, 3},
			{"type change bumps", `mutation($id: ID!) { updateLicense(id: $id, input: {type: TRIAL}) { version } }`, map[string]any{"id": licID}, 4},
			{"same type does not bump", `mutation($id: ID!) { updateLicense(id: $id, input: {type: TRIAL}) { version } }`, map[string]any{"id": licID}, 4},
			{"deactivate bumps", `mutation($id: ID!) { updateLicense(id: $id, input: {isActive: false}) { version } }`, map[string]any{"id": licID}, 5},
			{"link removed bumps", `mutation($l: ID!, $e: ID!) { removeLicenseEntitlement(licenseID: $l, entitlementID: $e) { version } }`, map[string]any{"l": licID, "e": entID}, 6},
		}
		for _, s := range steps {
			env.MustDo(key, s.doc, s.vars)
			d := env.MustDo(key, licenseVersions, map[string]any{"id": licID})
			if got := testenv.Num(d, "node.version"); got != s.version {
				t.Fatalf("%s: version = %v, want %v", s.name, got, s.version)
			}
			if got := testenv.Num(d, "node.versions.totalCount"); got != s.version {
				t.Fatalf("%s: %v snapshots, want one per version (%v)", s.name, got, s.version)
			}
		}

		d := env.MustDo(key, licenseVersions, map[string]any{"id": licID})
		snap := func(i int, path string) any { return testenv.Get(d, "node.versions.edges."+itoa(i)+".node."+path) }
		if n := testenv.Len(snap(0, "terms"), ""); n != 0 {
			t.Fatalf("v1 terms = %v, want none", snap(0, "terms"))
		}
		if v := testenv.Num(snap(1, "terms"), "0.value.value"); v != 1000 {
			t.Fatalf("v2 granted %v, want 1000", v)
		}
		if v := testenv.Num(snap(2, "terms"), "0.value.value"); v != 2000 {
			t.Fatalf("v3 granted %v, want 2000", v)
		}
		if v := testenv.Num(snap(2, "terms"), "0.overagePercent"); v != 10 {
			t.Fatalf("v3 overage %v, want 10", v)
		}
		if typ := snap(3, "type"); typ != "TRIAL" {
			t.Fatalf("v4 type %v, want TRIAL", typ)
		}
		if active := snap(4, "isActive"); active != false {
			t.Fatalf("v5 isActive %v, want false", active)
		}
		if n := testenv.Len(snap(5, "terms"), ""); n != 0 {
			t.Fatalf("v6 terms = %v, want none after removal", snap(5, "terms"))
		}
		// Earlier snapshots are immutable: v2 still shows what it granted.
		if v := testenv.Num(snap(1, "terms"), "0.value.value"); v != 1000 {
			t.Fatalf("v2 snapshot changed to %v", v)
		}
	})
}

func itoa(i int) string { return string(rune('0' + i)) }
