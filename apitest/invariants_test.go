package apitest

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/entitled/entitled/internal/testenv"
)

func TestSlugsAreUniquePerOrganization(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		a, b := c.NewOrg("org-a"), c.NewOrg("org-b")
		licA := ""
		for _, key := range []string{a, b} {
			// The same slugs are fine in two organizations.
			lic := c.NewLicense(key, "pro", "PAID", nil)
			c.NewEntitlement(key, "seats", "NUMBER", nil)
			c.NewInstance(key, "box", lic)
			if key == a {
				licA = lic
			}
		}
		before := c.Counts(a)

		for _, tc := range []struct{ doc, typ string }{
			{qCreateLicense, "COMMUNITY"},
			{qCreateEntitlement, "BOOLEAN"},
		} {
			slug := map[string]string{qCreateLicense: "pro", qCreateEntitlement: "seats"}[tc.doc]
			e := c.MustFailWith(a, "CONFLICT", "slug", tc.doc, map[string]any{"in": map[string]any{"name": "Again", "slug": slug, "type": tc.typ}})
			if !strings.Contains(e.Message, slug) {
				t.Errorf("conflict message does not name the slug: %q", e.Message)
			}
		}
		c.MustFailWith(a, "CONFLICT", "slug", qCreateInstance, map[string]any{"in": map[string]any{"name": "Again", "slug": "box", "licenseID": licA}})

		// Slugs never change, not even into a taken one; the attempt changes
		// nothing.
		other := c.NewLicense(a, "basic", "COMMUNITY", nil)
		c.MustFailWith(a, "BAD_USER_INPUT", "slug", `mutation($id: ID!) { updateLicense(id: $id, input: {slug: "pro", name: "Renamed"}) { id } }`, map[string]any{"id": other})
		d := c.MustDo(a, `query($id: ID!) { node(id: $id) { ... on License { slug name } } }`, map[string]any{"id": other})
		if testenv.Str(d, "node.slug") != "basic" || testenv.Str(d, "node.name") != "BASIC" {
			t.Fatalf("failed rename changed the license: %v", d)
		}

		after := c.Counts(a)
		before.Licenses++ // "basic"
		if after != before {
			t.Fatalf("conflicting creates wrote rows: before %+v, after %+v", before, after)
		}
		if got := c.Counts(b); got.Licenses != 1 || got.Entitlements != 1 || got.Instances != 1 {
			t.Fatalf("org B counts %+v", got)
		}
	})
}

func TestOneDefaultLicensePerOrganization(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		key := c.NewOrg("acme")
		other := c.NewOrg("other")
		otherDefault := c.NewLicense(other, "theirs", "PAID", map[string]any{"isDefault": true})

		// No default yet: an instance needs an explicit license.
		c.MustFailField(key, "licenseID", qCreateInstance, map[string]any{"in": map[string]any{"name": "Box", "slug": "box"}})
		if n := c.Counts(key).Instances; n != 0 {
			t.Fatalf("failed createInstance wrote %d instances", n)
		}

		l1 := c.NewLicense(key, "one", "PAID", map[string]any{"isDefault": true})
		l2 := c.NewLicense(key, "two", "PAID", map[string]any{"isDefault": true})
		defaults := func(key string) []string {
			d := c.MustDo(key, `{ licenses(where: {isDefault: true}) { edges { node { id } } } }`, nil)
			var ids []string
			for i := 0; i < testenv.Len(d, "licenses.edges"); i++ {
				ids = append(ids, testenv.Str(d, fmt.Sprintf("licenses.edges.%d.node.id", i)))
			}
			return ids
		}
		if got := defaults(key); len(got) != 1 || got[0] != l2 {
			t.Fatalf("after creating a second default: defaults %v, want [%s]", got, l2)
		}

		d := c.MustDo(key, qCreateInstance, map[string]any{"in": map[string]any{"name": "Box", "slug": "box"}})
		if testenv.Str(d, "createInstance.license.id") != l2 {
			t.Fatalf("instance without license got %v, want default %s", testenv.Get(d, "createInstance.license"), l2)
		}

		d = c.MustDo(key, `mutation($id: ID!) { updateLicense(id: $id, input: {isDefault: true}) { isDefault version } }`, map[string]any{"id": l1})
		if testenv.Get(d, "updateLicense.isDefault") != true || testenv.Num(d, "updateLicense.version") != 1 {
			t.Fatalf("make default: %v (the default flag is not a term and must not bump the version)", d)
		}
		if got := defaults(key); len(got) != 1 || got[0] != l1 {
			t.Fatalf("after making l1 default: defaults %v, want [%s]", got, l1)
		}
		d = c.MustDo(key, qCreateInstance, map[string]any{"in": map[string]any{"name": "Box 2", "slug": "box-2"}})
		if testenv.Str(d, "createInstance.license.id") != l1 {
			t.Fatalf("instance without license got %v, want new default %s", testenv.Get(d, "createInstance.license"), l1)
		}
		// Another organization's default is untouched by all of this.
		if got := defaults(other); len(got) != 1 || got[0] != otherDefault {
			t.Fatalf("other org's defaults %v, want [%s]", got, otherDefault)
		}

		// Unset the default: instances without a license fail again.
		c.MustDo(key, `mutation($id: ID!) { updateLicense(id: $id, input: {isDefault: false}) { id } }`, map[string]any{"id": l1})
		if got := defaults(key); len(got) != 0 {
			t.Fatalf("defaults %v after unsetting", got)
		}
		e := c.MustFailField(key, "licenseID", qCreateInstance, map[string]any{"in": map[string]any{"name": "Box 3", "slug": "box-3"}})
		if !strings.Contains(e.Message, "default") {
			t.Errorf("no-default error does not explain itself: %q", e.Message)
		}
		if n := c.Counts(key).Instances; n != 2 {
			t.Fatalf("instances = %d, want 2", n)
		}
	})
}

func TestEntitlementTypeIsImmutableAndMeteringIsNumberOnly(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		key := c.NewOrg("acme")
		seats := c.NewEntitlement(key, "seats", "NUMBER", nil)
		sso := c.NewEntitlement(key, "sso", "BOOLEAN", nil)

		// There is no way to send a type: literal and variable forms are
		// both rejected before anything runs.
		c.MustFail(key, "BAD_USER_INPUT", `mutation($id: ID!) { updateEntitlement(id: $id, input: {name: "Changed", type: CONFIG}) { type } }`, map[string]any{"id": seats})
		c.MustFail(key, "BAD_USER_INPUT", `mutation($id: ID!, $in: UpdateEntitlementInput!) { updateEntitlement(id: $id, input: $in) { type } }`,
			map[string]any{"id": seats, "in": map[string]any{"name": "Changed", "type": "CONFIG"}})
		d := c.MustDo(key, `query($id: ID!) { node(id: $id) { ... on Entitlement { name type meterType } } }`, map[string]any{"id": seats})
		if testenv.Str(d, "node.type") != "NUMBER" || testenv.Str(d, "node.name") != "SEATS" || testenv.Str(d, "node.meterType") != "RAW_EVENT" {
			t.Fatalf("entitlement changed by rejected update: %v", d)
		}

		for _, typ := range []string{"BOOLEAN", "CONFIG"} {
			for field, val := range map[string]string{"meterType": "RAW_EVENT", "aggregationMethod": "SUM", "resetPeriod": "MONTH"} {
				c.MustFailField(key, field, qCreateEntitlement, map[string]any{"in": map[string]any{
					"name": "X", "slug": "x-" + strings.ToLower(typ), "type": typ, field: val}})
			}
		}
		for field, val := range map[string]string{"meterType": "RAW_EVENT", "aggregationMethod": "SUM", "resetPeriod": "MONTH"} {
			c.MustFailField(key, field, `mutation($id: ID!, $in: UpdateEntitlementInput!) { updateEntitlement(id: $id, input: $in) { id } }`,
				map[string]any{"id": sso, "in": map[string]any{"name": "SSO 2", field: val}})
		}
		// A NUMBER entitlement cannot lose its metering.
		c.MustFailField(key, "clearMeterType", `mutation($id: ID!) { updateEntitlement(id: $id, input: {clearMeterType: true}) { id } }`, map[string]any{"id": seats})

		d = c.MustDo(key, `{ entitlements(orderBy: [{field: SLUG}]) { totalCount edges { node { slug name meterType aggregationMethod resetPeriod } } } }`, nil)
		if testenv.Num(d, "entitlements.totalCount") != 2 {
			t.Fatalf("rejected creates wrote entitlements: %v", d)
		}
		if testenv.Str(d, "entitlements.edges.1.node.name") != "SSO" || testenv.Get(d, "entitlements.edges.1.node.resetPeriod") != nil {
			t.Fatalf("BOOLEAN entitlement changed by rejected updates: %v", testenv.Get(d, "entitlements.edges.1.node"))
		}
		if testenv.Str(d, "entitlements.edges.0.node.meterType") != "RAW_EVENT" {
			t.Fatalf("NUMBER entitlement lost its meter type: %v", testenv.Get(d, "entitlements.edges.0.node"))
		}
	})
}

func TestLinkValuesAreValidatedAgainstTheEntitlementType(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		key := c.NewOrg("acme")
		lic := c.NewLicense(key, "pro", "PAID", nil)
		ents := map[string]string{
			"NUMBER":  c.NewEntitlement(key, "calls", "NUMBER", nil),
			"BOOLEAN": c.NewEntitlement(key, "sso", "BOOLEAN", nil),
			"CONFIG":  c.NewEntitlement(key, "theme", "CONFIG", nil),
		}
		f := func(v float64) *float64 { return &v }

		type tc struct {
			name    string
			typ     string
			value   any
			overage *float64
			field   string // "" means accepted
			message string
		}
		cases := []tc{
			{"number", "NUMBER", num(1000), nil, "", ""},
			{"zero", "NUMBER", num(0), nil, "", ""},
			{"fraction", "NUMBER", num(2.5), f(0), "", ""},
			{"unlimited", "NUMBER", num(-1), nil, "", ""},
			{"overage", "NUMBER", num(100), f(25), "", ""},
			{"negative", "NUMBER", num(-2), nil, "value.value", "-1 for unlimited"},
			{"string for number", "NUMBER", map[string]any{"type": "number", "value": "1000"}, nil, "value.value", "must be a number"},
			{"array for number", "NUMBER", map[string]any{"type": "number", "value": []any{1}}, nil, "value.value", "must be a number"},
			{"null number", "NUMBER", map[string]any{"type": "number", "value": nil}, nil, "value.value", "required"},
			{"missing value", "NUMBER", map[string]any{"type": "number"}, nil, "value.value", "required"},
			{"boolean tag on number", "NUMBER", boolean(true), nil, "value.type", `value.type: must be "number" for NUMBER entitlements`},
			{"missing tag", "NUMBER", map[string]any{"value": 5}, nil, "value.type", `must be "number"`},
			{"upper-case tag", "NUMBER", map[string]any{"type": "NUMBER", "value": 5}, nil, "value.type", `must be "number"`},
			{"extra key", "NUMBER", map[string]any{"type": "number", "value": 5, "unit": "calls"}, nil, "value.unit", "not allowed"},
			{"negative overage", "NUMBER", num(100), f(-1), "overagePercent", ">= 0"},
			{"bool", "BOOLEAN", boolean(false), nil, "", ""},
			{"string for bool", "BOOLEAN", map[string]any{"type": "boolean", "value": "true"}, nil, "value.value", "true or false"},
			{"number for bool", "BOOLEAN", map[string]any{"type": "boolean", "value": 1}, nil, "value.value", "true or false"},
			{"number tag on bool", "BOOLEAN", num(1), nil, "value.type", `must be "boolean" for BOOLEAN entitlements`},
			{"overage on bool", "BOOLEAN", boolean(true), f(10), "overagePercent", "only allowed on NUMBER"},
			{"object", "CONFIG", object(map[string]any{"color": "teal"}), nil, "", ""},
			{"empty object", "CONFIG", object(map[string]any{}), nil, "", ""},
			{"array for object", "CONFIG", map[string]any{"type": "object", "value": []any{"a", "b"}}, nil, "value.value", "must be a JSON object"},
			{"string for object", "CONFIG", map[string]any{"type": "object", "value": `{"color":"teal"}`}, nil, "value.value", "must be a JSON object"},
			{"config tag", "CONFIG", map[string]any{"type": "config", "value": map[string]any{}}, nil, "value.type", `must be "object" for CONFIG entitlements`},
			{"overage on config", "CONFIG", object(map[string]any{}), f(0), "overagePercent", "only allowed on NUMBER"},
		}
		version := licenseVersion(c, key, lic)
		for _, tc := range cases {
			in := map[string]any{"licenseID": lic, "entitlementID": ents[tc.typ], "value": tc.value}
			if tc.overage != nil {
				in["overagePercent"] = *tc.overage
			}
			if tc.field == "" {
				d := c.MustDo(key, qSetLink, map[string]any{"in": in})
				got := testenv.Get(d, "setLicenseEntitlement.value")
				want := tc.value.(map[string]any)
				if fmt.Sprint(testenv.Get(got, "value")) != fmt.Sprint(want["value"]) || testenv.Str(got, "type") != want["type"] {
					t.Errorf("%s: stored %v, want %v", tc.name, got, want)
				}
				version++
				continue
			}
			e := c.MustFailField(key, tc.field, qSetLink, map[string]any{"in": in})
			if !strings.Contains(e.Message, tc.message) {
				t.Errorf("%s: message %q does not say %q", tc.name, e.Message, tc.message)
			}
		}
		// Rejected values changed nothing: one version per accepted change.
		if v := licenseVersion(c, key, lic); v != version {
			t.Fatalf("version %v after the table, want %v", v, version)
		}
		d := c.MustDo(key, `query($id: ID!) { node(id: $id) { ... on License { entitlements { value overagePercent entitlement { type } } } } }`, map[string]any{"id": lic})
		for i := 0; i < testenv.Len(d, "node.entitlements"); i++ {
			l := testenv.Get(d, fmt.Sprintf("node.entitlements.%d", i))
			switch testenv.Str(l, "entitlement.type") {
			case "NUMBER":
				if testenv.Num(l, "value.value") != 100 || testenv.Num(l, "overagePercent") != 25 {
					t.Errorf("NUMBER link is %v, want the last accepted value 100 +25%%", l)
				}
			case "BOOLEAN":
				if testenv.Get(l, "value.value") != false {
					t.Errorf("BOOLEAN link is %v", l)
				}
			case "CONFIG":
				if v, ok := testenv.Get(l, "value.value").(map[string]any); !ok || len(v) != 0 {
					t.Errorf("CONFIG link is %v", l)
				}
			}
		}

		// A number no float holds (1e999, i.e. infinity) is rejected before
		// anything runs.
		body := fmt.Sprintf(`{"query": %q, "variables": {"in": {"licenseID": %q, "entitlementID": %q, "value": {"type": "number", "value": 1e999}}}}`,
			qSetLink, lic, ents["NUMBER"])
		r := c.Raw(key, "application/json", []byte(body))
		e := c.wantError(r, "BAD_USER_INPUT")
		if r.Status != http.StatusBadRequest || e.Field() != "variables" || !strings.Contains(e.Message, "out of range") {
			t.Fatalf("1e999: status %d, field %q: %s", r.Status, e.Field(), r.Raw)
		}
		// A Map that is not an object at all.
		c.MustFail(key, "BAD_USER_INPUT", qSetLink, map[string]any{"in": map[string]any{"licenseID": lic, "entitlementID": ents["CONFIG"], "value": []any{1, 2}}})
		// Unlimited reads back as -1 and is accepted as a literal too.
		d = c.MustDo(key, `mutation($l: ID!, $e: ID!) { setLicenseEntitlement(input: {licenseID: $l, entitlementID: $e, value: {type: "number", value: -1}}) { value } }`,
			map[string]any{"l": lic, "e": ents["NUMBER"]})
		if testenv.Num(d, "setLicenseEntitlement.value.value") != -1 {
			t.Fatalf("unlimited literal: %v", d)
		}
		if v := licenseVersion(c, key, lic); v != version+1 {
			t.Fatalf("version %v, want %v", v, version+1)
		}
	})
}

func TestDeleteConflicts(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		key := c.NewOrg("acme")
		lic := c.NewLicense(key, "pro", "PAID", nil)
		ent := c.NewEntitlement(key, "sso", "BOOLEAN", nil)
		c.Link(key, lic, ent, boolean(true))
		ins := c.NewInstance(key, "box", lic)

		e := c.MustFail(key, "CONFLICT", `mutation($id: ID!) { deleteLicense(id: $id) }`, map[string]any{"id": lic})
		if !strings.Contains(e.Message, "instance") {
			t.Errorf("license delete conflict does not mention instances: %q", e.Message)
		}
		e = c.MustFail(key, "CONFLICT", `mutation($id: ID!) { deleteEntitlement(id: $id) }`, map[string]any{"id": ent})
		if !strings.Contains(e.Message, "license") {
			t.Errorf("entitlement delete conflict does not mention licenses: %q", e.Message)
		}
		if got := c.Counts(key); got.Licenses != 1 || got.Entitlements != 1 || got.Instances != 1 {
			t.Fatalf("conflicting deletes removed rows: %+v", got)
		}
		d := c.MustDo(key, `query($id: ID!) { node(id: $id) { ... on License { version entitlements { id } } } }`, map[string]any{"id": lic})
		if testenv.Len(d, "node.entitlements") != 1 || testenv.Num(d, "node.version") != 2 {
			t.Fatalf("license changed by failed deletes: %v", d)
		}

		// Once nothing depends on them, both deletes work.
		c.MustDo(key, `mutation($id: ID!) { deleteInstance(id: $id) }`, map[string]any{"id": ins})
		c.MustDo(key, `mutation($l: ID!, $e: ID!) { removeLicenseEntitlement(licenseID: $l, entitlementID: $e) { id } }`, map[string]any{"l": lic, "e": ent})
		c.MustDo(key, `mutation($id: ID!) { deleteEntitlement(id: $id) }`, map[string]any{"id": ent})
		c.MustDo(key, `mutation($id: ID!) { deleteLicense(id: $id) }`, map[string]any{"id": lic})
		if got := c.Counts(key); got.Licenses != 0 || got.Entitlements != 0 || got.Instances != 0 {
			t.Fatalf("after deletes: %+v", got)
		}
	})
}

func TestInstanceDatesAndTrialExpiry(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		key := c.NewOrg("acme")
		now := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
		c.SetNow(now)
		trial := c.NewLicense(key, "trial", "TRIAL", nil)
		paid := c.NewLicense(key, "paid", "PAID", nil)
		const month = 30 * 24 * time.Hour

		create := func(slug, lic string, starts, expires *time.Time) map[string]any {
			in := map[string]any{"name": slug, "slug": slug, "licenseID": lic}
			if starts != nil {
				in["startsAt"] = starts.Format(time.RFC3339)
			}
			if expires != nil {
				in["expiresAt"] = expires.Format(time.RFC3339)
			}
			return testenv.Get(c.MustDo(key, qCreateInstance, map[string]any{"in": in}), "createInstance").(map[string]any)
		}
		at := func(in map[string]any, f string) time.Time { return parseTime(t, testenv.Str(in, f)) }

		in := create("t-now", trial, nil, nil)
		if !at(in, "startsAt").Equal(now) || !at(in, "expiresAt").Equal(now.Add(month)) {
			t.Fatalf("TRIAL without dates: %v, want starts %s expires +30d", in, now)
		}
		starts := time.Date(2032, 1, 31, 12, 0, 0, 0, time.UTC)
		in = create("t-later", trial, &starts, nil)
		if !at(in, "expiresAt").Equal(starts.Add(month)) {
			t.Fatalf("TRIAL from %s expires %v, want +30d", starts, in["expiresAt"])
		}
		explicit := starts.Add(7 * 24 * time.Hour)
		in = create("t-explicit", trial, &starts, &explicit)
		if !at(in, "expiresAt").Equal(explicit) {
			t.Fatalf("explicit expiresAt replaced: %v", in["expiresAt"])
		}
		in = create("p", paid, nil, nil)
		if in["expiresAt"] != nil {
			t.Fatalf("PAID instance got an expiry: %v", in["expiresAt"])
		}
		// The default license path applies the trial rule too.
		c.MustDo(key, `mutation($id: ID!) { updateLicense(id: $id, input: {isDefault: true}) { id } }`, map[string]any{"id": trial})
		d := c.MustDo(key, qCreateInstance, map[string]any{"in": map[string]any{"name": "d", "slug": "d"}})
		if !parseTime(t, testenv.Str(d, "createInstance.expiresAt")).Equal(now.Add(month)) {
			t.Fatalf("TRIAL default license instance: %v", d)
		}
		// Moving an open-ended instance onto a TRIAL license gives it 30 days.
		pid := testenv.Str(in, "id")
		d = c.MustDo(key, `mutation($id: ID!, $l: ID!) { updateInstance(id: $id, input: {licenseID: $l}) { startsAt expiresAt } }`, map[string]any{"id": pid, "l": trial})
		if !parseTime(t, testenv.Str(d, "updateInstance.expiresAt")).Equal(parseTime(t, testenv.Str(d, "updateInstance.startsAt")).Add(month)) {
			t.Fatalf("moved to TRIAL: %v", d)
		}

		before := c.Counts(key)
		early := starts.Add(-time.Hour)
		for _, exp := range []time.Time{early, starts} {
			c.MustFailField(key, "expiresAt", qCreateInstance, map[string]any{"in": map[string]any{"name": "bad", "slug": "bad", "licenseID": paid,
				"startsAt": starts.Format(time.RFC3339), "expiresAt": exp.Format(time.RFC3339)}})
		}
		later := create("later", paid, &starts, nil)
		c.MustFailField(key, "expiresAt", `mutation($id: ID!, $e: Time!) { updateInstance(id: $id, input: {expiresAt: $e, name: "renamed"}) { id } }`,
			map[string]any{"id": later["id"], "e": early.Format(time.RFC3339)})
		d = c.MustDo(key, `query($id: ID!) { node(id: $id) { ... on Instance { name expiresAt } } }`, map[string]any{"id": later["id"]})
		if testenv.Str(d, "node.name") != "later" || testenv.Get(d, "node.expiresAt") != nil {
			t.Fatalf("rejected update changed the instance: %v", d)
		}
		if got := c.Counts(key); got.Instances != before.Instances+1 {
			t.Fatalf("rejected creates wrote instances: %d, want %d", got.Instances, before.Instances+1)
		}
	})
}

func TestConcurrentChangesKeepTheInvariants(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		key := c.NewOrg("acme")
		const n = 8
		ents := make([]string, n)
		for i := range ents {
			ents[i] = c.NewEntitlement(key, fmt.Sprintf("e-%d", i), "NUMBER", nil)
		}
		lic := c.NewLicense(key, "pro", "PAID", nil)

		// Requests run side by side; only t.Errorf is used off the test
		// goroutine.
		parallel := func(fn func(i int) testenv.Response) []testenv.Response {
			out := make([]testenv.Response, n)
			var wg sync.WaitGroup
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func() { defer wg.Done(); out[i] = fn(i) }()
			}
			wg.Wait()
			return out
		}

		// Everyone makes a new default license at once: all succeed, and
		// exactly one ends up default.
		for i, r := range parallel(func(i int) testenv.Response {
			return c.Do(key, qCreateLicense, map[string]any{"in": map[string]any{"name": "D", "slug": fmt.Sprintf("d-%d", i), "type": "PAID", "isDefault": true}})
		}) {
			if len(r.Errors) != 0 {
				t.Errorf("concurrent default create %d failed: %s", i, r.Raw)
			}
		}
		d := c.MustDo(key, `{ defaults: licenses(where: {isDefault: true}) { totalCount } all: licenses { totalCount } }`, nil)
		if testenv.Num(d, "defaults.totalCount") != 1 || testenv.Num(d, "all.totalCount") != n+1 {
			t.Fatalf("after concurrent default creates: %v", d)
		}

		// Concurrent link changes to one license: one version each, none
		// skipped or repeated.
		for i, r := range parallel(func(i int) testenv.Response {
			return c.Do(key, qSetLink, map[string]any{"in": map[string]any{"licenseID": lic, "entitlementID": ents[i], "value": num(float64(i))}})
		}) {
			if len(r.Errors) != 0 {
				t.Errorf("concurrent link %d failed: %s", i, r.Raw)
			}
		}
		d = c.MustDo(key, `query($id: ID!) { node(id: $id) { ... on License { version entitlements { id }
			versions(first: 100, orderBy: {field: VERSION}) { edges { node { version terms { entitlementSlug } } } } } } }`, map[string]any{"id": lic})
		if testenv.Num(d, "node.version") != n+1 || testenv.Len(d, "node.entitlements") != n || testenv.Len(d, "node.versions.edges") != n+1 {
			t.Fatalf("after %d concurrent links: version %v, %d links, %d snapshots", n,
				testenv.Get(d, "node.version"), testenv.Len(d, "node.entitlements"), testenv.Len(d, "node.versions.edges"))
		}
		for v := 0; v <= n; v++ {
			s := testenv.Get(d, fmt.Sprintf("node.versions.edges.%d.node", v))
			if testenv.Num(s, "version") != float64(v+1) || testenv.Len(s, "terms") != v {
				t.Fatalf("snapshot %d = %v, want version %d with %d terms", v, s, v+1, v)
			}
		}
	})
}
