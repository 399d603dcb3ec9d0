package apitest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/entitled/entitled/internal/testenv"
)

// The attacks on the central promise — an exact quota — and on identifiers,
// each shown to have the safe outcome, on SQLite and PostgreSQL.

func TestNumbersThatWouldBreakAQuotaAreRefused(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		for _, agg := range []string{"SUM", "COUNT", "AVERAGE", "MAX", "MIN", "LATEST"} {
			meterType := "RAW_EVENT"
			if agg != "SUM" && agg != "COUNT" {
				meterType = "CALCULATED_USAGE"
			}
			key := meter(t, c.Env, "n-"+strings.ToLower(agg), map[string]any{"meterType": meterType, "aggregationMethod": agg, "resetPeriod": "NONE"}, 10, nil)
			report(t, c.Env, key, 8, nil, "")
			before := ask(t, c.Env, key, "i", "m", 1)
			for _, bad := range []any{1e308, -1, -1e300, 1e16} {
				c.MustFailField(key, "value", reportQ, map[string]any{"in": map[string]any{"instance": "i", "entitlement": "m", "value": bad}})
				c.MustFailField(key, "amount", consumeQ, map[string]any{"in": map[string]any{"instance": "i", "entitlement": "m", "amount": bad}})
			}
			// Negative requested, on GraphQL and the OPA door.
			c.MustFailField(key, "requested", allowedQ, map[string]any{"i": "i", "e": "m", "r": -1e300})
			c.MustFailField(key, "requested", `query { decisions(instance: "i", entitlements: ["m"], requested: -5) { allowed } }`, nil)
			res := opaDoor(t, c, key, map[string]any{"instance": "i", "entitlement": "m", "requested": -1000})
			if res.status != http.StatusBadRequest || !strings.Contains(res.body, "requested") {
				t.Fatalf("%s: OPA door with negative requested: %d %s", agg, res.status, res.body)
			}
			after := ask(t, c.Env, key, "i", "m", 1)
			if after["usage"].(json.Number) != before["usage"].(json.Number) || after["allowed"] != before["allowed"] {
				t.Fatalf("%s: refused numbers changed the decision: %v → %v", agg, before, after)
			}
		}
		// A report before the instance started (year 0001) writes nothing.
		key := meter(t, c.Env, "early", nil, 10, nil)
		c.MustFailField(key, "timestamp", reportQ, map[string]any{"in": map[string]any{"instance": "i", "entitlement": "m", "value": 1, "timestamp": "0001-01-01T00:00:00Z", "idempotencyKey": "old"}})
		if v, n := currentUsage(t, c.Env, key); v != 0 || n != 0 {
			t.Fatalf("a refused report was counted: %v %v", v, n)
		}
		d := c.MustDo(key, `{ usageEvents { totalCount } }`, nil)
		if testenv.Num(d, "usageEvents.totalCount") != 0 {
			t.Fatalf("a refused report reached the ledger: %v", d)
		}
	})
}

func TestLinkNumbersAreBounded(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		key := c.NewOrg("acme")
		lic := c.NewLicense(key, "pro", "PAID", nil)
		e := c.NewEntitlement(key, "calls", "NUMBER", nil)
		set := func(value any, overage any) testenv.Response {
			in := map[string]any{"licenseID": lic, "entitlementID": e, "value": map[string]any{"type": "number", "value": value}}
			if overage != nil {
				in["overagePercent"] = overage
			}
			return c.Do(key, qSetLink, map[string]any{"in": in})
		}
		for _, tc := range []struct {
			value, overage any
			field          string
		}{
			{-1, 10, "overagePercent"},
			{1e30, nil, "value.value"},
			{100, 1001, "overagePercent"},
			{100, -1, "overagePercent"},
		} {
			c.wantError(set(tc.value, tc.overage), "BAD_USER_INPUT")
			r := set(tc.value, tc.overage)
			if r.Errors[0].Field() != tc.field {
				t.Errorf("value %v overage %v: field %q, want %q", tc.value, tc.overage, r.Errors[0].Field(), tc.field)
			}
		}
		d := c.MustDo(key, `query($id: ID!) { node(id: $id) { ... on License { version entitlements { id } } } }`, map[string]any{"id": lic})
		if testenv.Num(d, "node.version") != 1 || len(testenv.Get(d, "node.entitlements").([]any)) != 0 {
			t.Fatalf("refused links were written: %v", d)
		}
		// Unlimited without overage, and the largest limit, are fine.
		if r := set(-1, nil); len(r.Errors) > 0 {
			t.Fatal(r.Raw)
		}
		if r := set(1e15, 1000); len(r.Errors) > 0 {
			t.Fatal(r.Raw)
		}
	})
}

type opaResult struct {
	status int
	body   string
}

func opaDoor(t *testing.T, c client, key string, input map[string]any) opaResult {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"input": input})
	req, _ := http.NewRequest(http.MethodPost, c.Server.URL+"/v1/data/entitled/decision", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := c.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(res.Body)
	return opaResult{res.StatusCode, buf.String()}
}

func TestSlugsNeverChange(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		key := c.NewOrg("acme")
		lic := c.NewLicense(key, "pro", "PAID", map[string]any{"isDefault": true})
		e := c.NewEntitlement(key, "sso", "BOOLEAN", nil)
		inst := c.NewInstance(key, "eu-1", "")
		for _, m := range []struct{ doc, id, slug string }{
			{`mutation($id: ID!) { updateLicense(id: $id, input: {slug: "other", name: "N"}) { id } }`, lic, "pro"},
			{`mutation($id: ID!) { updateEntitlement(id: $id, input: {slug: "other", name: "N"}) { id } }`, e, "sso"},
			{`mutation($id: ID!) { updateInstance(id: $id, input: {slug: "other", name: "N"}) { id } }`, inst, "eu-1"},
		} {
			c.MustFailField(key, "slug", m.doc, map[string]any{"id": m.id})
			d := c.MustDo(key, `query($id: ID!) { node(id: $id) { ... on License { slug name } ... on Entitlement { slug name } ... on Instance { slug name } } }`, map[string]any{"id": m.id})
			if testenv.Str(d, "node.slug") != m.slug || testenv.Str(d, "node.name") == "N" {
				t.Fatalf("a refused slug change wrote: %v", d)
			}
		}
	})
}

func TestMeteringChangesBumpEveryLinkingLicense(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		key := c.NewOrg("acme")
		calls := c.NewEntitlement(key, "calls", "NUMBER", map[string]any{"resetPeriod": "MONTH"})
		a := c.NewLicense(key, "a", "PAID", nil)
		b := c.NewLicense(key, "b", "PAID", nil)
		untouched := c.NewLicense(key, "c", "PAID", nil)
		c.Link(key, a, calls, num(100))
		c.Link(key, b, calls, num(200))
		version := func(id string) float64 {
			return testenv.Num(c.MustDo(key, `query($id: ID!) { node(id: $id) { ... on License { version } } }`, map[string]any{"id": id}), "node.version")
		}
		va, vb, vc := version(a), version(b), version(untouched)
		// A rename is no term change.
		c.MustDo(key, `mutation($id: ID!) { updateEntitlement(id: $id, input: {name: "Calls"}) { id } }`, map[string]any{"id": calls})
		if version(a) != va || version(b) != vb {
			t.Fatal("a rename bumped license versions")
		}
		c.MustDo(key, `mutation($id: ID!) { updateEntitlement(id: $id, input: {resetPeriod: DAY, aggregationMethod: MAX}) { id } }`, map[string]any{"id": calls})
		if version(a) != va+1 || version(b) != vb+1 || version(untouched) != vc {
			t.Fatalf("versions after a metering change: a %v→%v b %v→%v c %v→%v", va, version(a), vb, version(b), vc, version(untouched))
		}
		d := c.MustDo(key, `query($id: ID!) { node(id: $id) { ... on License { versions(first: 1, orderBy: {direction: DESC, field: VERSION}) { edges { node { version change terms { entitlementSlug resetPeriod aggregationMethod } } } } } } }`, map[string]any{"id": a})
		v := testenv.Get(d, "node.versions.edges.0.node").(map[string]any)
		if testenv.Str(v, "terms.0.resetPeriod") != "DAY" || testenv.Str(v, "terms.0.aggregationMethod") != "MAX" || !strings.Contains(testenv.Str(v, "change"), "metering") {
			t.Fatalf("the new version's snapshot: %v", v)
		}
	})
}

func TestErrorsSayWhatHappened(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		f := newFixture(t, c.Env, "acme")
		// Explicit nulls take the defaults.
		d := c.MustDo(f.key, `{ usageHistory(instance: "eu-1", entitlement: "api-calls", periods: null) { value } }`, nil)
		if len(d["usageHistory"].([]any)) != 1 { // the meter never resets: one period
			t.Fatalf("usageHistory(periods: null): %v", d)
		}
		c.MustDo(f.key, `{ previewPolicy(module: "package entitled.custom\n", first: null) { evaluated } }`, nil)
		// NUL bytes are bad input naming the field, on every store.
		c.MustFailField(f.key, "name", qCreateLicense, map[string]any{"in": map[string]any{"name": "a\x00b", "slug": "nul", "type": "PAID"}})
		c.MustFailField(f.key, "metadata", qCreateInstance, map[string]any{"in": map[string]any{"name": "n", "slug": "nul", "metadata": map[string]any{"k": "a\x00"}}})
		c.MustFailField(f.key, "slug", qCreateInstance, map[string]any{"in": map[string]any{"name": "n", "slug": "a\x00"}})
		c.MustFailField(f.key, "idempotencyKey", reportQ, map[string]any{"in": map[string]any{"instance": "eu-1", "entitlement": "api-calls", "value": 1, "idempotencyKey": "k\x00"}})
		// nodes answers null for what is missing, as node does.
		r := c.Do(f.key, `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": []string{f.licID, "lic_01JDXXXXXXXXXXXXXXXXXXXXXX"}})
		nodes, _ := r.Data["nodes"].([]any)
		if len(nodes) != 2 || nodes[1] != nil || testenv.Str(nodes[0], "id") != f.licID || len(r.Errors) != 1 || r.Errors[0].Code() != "NOT_FOUND" {
			t.Fatalf("nodes with a missing id: %s", r.Raw)
		}
		r = c.Do(f.key, `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": []string{"lic_01JDXXXXXXXXXXXXXXXXXXXXXX"}})
		if nodes, _ := r.Data["nodes"].([]any); len(nodes) != 1 || nodes[0] != nil || len(r.Errors) != 1 || r.Errors[0].Code() != "NOT_FOUND" {
			t.Fatalf("nodes with one missing id: %s", r.Raw)
		}
		// Error text arrives as written.
		raw := c.Raw(f.key, "application/json", doc(`query { usageHistory(instance: "eu-1", entitlement: "api-calls", periods: 1000) { value } }`, nil)).Raw
		if strings.Contains(raw, `\u003e`) || strings.Contains(raw, `\u003c`) || strings.Contains(raw, `\u0026`) {
			t.Fatalf("error text is HTML-escaped: %s", raw)
		}
		// decisions for an unknown instance.
		d = c.MustDo(f.key, `{ decisions(instance: "ghost", entitlements: ["sso", "api-calls"]) { entitlement reason } }`, nil)
		for _, x := range d["decisions"].([]any) {
			if testenv.Str(x, "reason") != "INSTANCE_NOT_FOUND" {
				t.Fatalf("decisions for an unknown instance: %v", d)
			}
		}
		c.MustFail(f.key, "NOT_FOUND", `{ decisions(instance: "ghost") { entitlement } }`, nil)
	})
}

func TestTimesOutsideTheCalendarAreRefused(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		key := c.NewOrg("acme")
		c.NewLicense(key, "pro", "PAID", map[string]any{"isDefault": true})
		c.MustFailField(key, "startsAt", qCreateInstance, map[string]any{"in": map[string]any{"name": "n", "slug": "old", "startsAt": "0001-01-01T00:00:00Z"}})
		ok := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
		c.MustDo(key, qCreateInstance, map[string]any{"in": map[string]any{"name": "n", "slug": "fine", "startsAt": ok}})
	})
}

const resetQ = `mutation($in: ResetUsageInput!) { resetUsage(input: $in) { value count remaining } }`

func TestResetUsageStartsAfreshAndKeepsTheLedger(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		key := meter(t, c.Env, "reset", map[string]any{"resetPeriod": "NONE"}, 100, nil)
		c.Env.SetNow(time.Now().UTC().Add(time.Minute)) // reports are after the instance's start
		report(t, c.Env, key, 90, nil, "a")
		report(t, c.Env, key, 20, nil, "b")
		wantReason(t, ask(t, c.Env, key, "i", "m", 1), false, "LIMIT_EXCEEDED")

		in := map[string]any{"instance": "i", "entitlement": "m", "reason": "billing dispute #42"}
		for _, scope := range []string{"READ", "CHECK"} {
			c.MustFail(c.NewKey(key, scope), "FORBIDDEN", resetQ, map[string]any{"in": in})
		}
		c.MustFailField(key, "reason", resetQ, map[string]any{"in": map[string]any{"instance": "i", "entitlement": "m", "reason": ""}})
		resetAt := time.Now().UTC().Add(2 * time.Minute)
		c.Env.SetNow(resetAt)
		d := c.MustDo(key, resetQ, map[string]any{"in": in})
		if testenv.Num(d, "resetUsage.value") != 0 || testenv.Num(d, "resetUsage.remaining") != 100 {
			t.Fatalf("after reset: %v", d)
		}
		dec := ask(t, c.Env, key, "i", "m", 1)
		wantReason(t, dec, true, "ALLOWED")
		if dec["usage"].(json.Number) != "0" {
			t.Fatalf("decision usage after reset: %v", dec)
		}
		// A late report dated before the reset is kept, not counted.
		late := resetAt.Add(-30 * time.Second)
		report(t, c.Env, key, 50, &late, "late")
		if v, n := currentUsage(t, c.Env, key); v != 0 || n != 0 {
			t.Fatalf("a report dated before the reset counted: %v %v", v, n)
		}
		// New reports count from zero.
		report(t, c.Env, key, 7, nil, "c")
		if v, _ := currentUsage(t, c.Env, key); v != 7 {
			t.Fatalf("usage after reset and a report: %v", v)
		}
		// The ledger keeps everything, with the reset and its reason.
		d = c.MustDo(key, `{ usageEvents(first: 10, orderBy: {field: RECORDED_AT}) { edges { node { kind value } } } }`, nil)
		var kinds []string
		for _, e := range testenv.Get(d, "usageEvents.edges").([]any) {
			kinds = append(kinds, testenv.Str(e, "node.kind"))
		}
		if strings.Join(kinds, ",") != "REPORT,REPORT,RESET,REPORT,REPORT" {
			t.Fatalf("ledger after reset: %v", kinds)
		}
	})
}
