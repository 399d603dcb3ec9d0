package apitest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/entitled/entitled/internal/testenv"
)

// fixture is one organization with an entitlement of each type, a license
// linking them, and an instance on it.
type fixture struct {
	key                    string
	licID, calls, sso, cfg string
	flag                   string // BOOLEAN linked with false
	unlinked               string // NUMBER, not linked
}

func newFixture(t *testing.T, env *testenv.Env, org string) fixture {
	t.Helper()
	f := fixture{key: env.NewOrg(org)}
	mk := func(slug, typ string) string {
		d := env.MustDo(f.key, createEntitlement, map[string]any{"in": map[string]any{"name": slug, "slug": slug, "type": typ}})
		return testenv.Str(d, "createEntitlement.id")
	}
	f.calls, f.sso, f.cfg, f.flag, f.unlinked = mk("api-calls", "NUMBER"), mk("sso", "BOOLEAN"), mk("branding", "CONFIG"), mk("beta", "BOOLEAN"), mk("seats", "NUMBER")
	d := env.MustDo(f.key, createLicense, map[string]any{"in": map[string]any{"name": "Pro", "slug": "pro", "type": "PAID", "isDefault": true}})
	f.licID = testenv.Str(d, "createLicense.id")
	link := func(ent string, value map[string]any, overage any) {
		in := map[string]any{"licenseID": f.licID, "entitlementID": ent, "value": value}
		if overage != nil {
			in["overagePercent"] = overage
		}
		env.MustDo(f.key, setLink, map[string]any{"in": in})
	}
	link(f.calls, map[string]any{"type": "number", "value": 100}, 10)
	link(f.sso, map[string]any{"type": "boolean", "value": true}, nil)
	link(f.cfg, map[string]any{"type": "object", "value": map[string]any{"theme": "custom"}}, nil)
	link(f.flag, map[string]any{"type": "boolean", "value": false}, nil)
	env.MustDo(f.key, `mutation { createInstance(input: {name: "EU", slug: "eu-1"}) { id } }`, nil)
	return f
}

const allowedQ = `query($i: String!, $e: String!, $r: Float) { allowed(instance: $i, entitlement: $e, requested: $r) {
	allowed reason reasons instance entitlement value usage limit hardCap remaining licenseVersion policyVersion evaluatedAt } }`

func ask(t *testing.T, env *testenv.Env, key, inst, ent string, requested any) map[string]any {
	t.Helper()
	vars := map[string]any{"i": inst, "e": ent}
	if requested != nil {
		vars["r"] = requested
	}
	d := env.MustDo(key, allowedQ, vars)
	return d["allowed"].(map[string]any)
}

func wantReason(t *testing.T, d map[string]any, allowed bool, reason string) {
	t.Helper()
	if d["allowed"] != allowed || d["reason"] != reason {
		t.Fatalf("decision = allowed %v reason %v (reasons %v), want allowed %v reason %s", d["allowed"], d["reason"], d["reasons"], allowed, reason)
	}
}

func TestDecisionReasonCodes(t *testing.T) {
	t.Parallel()
	testenv.ForEachStore(t, func(t *testing.T, env *testenv.Env) {
		f := newFixture(t, env, "acme")
		k := f.key

		d := ask(t, env, k, "eu-1", "api-calls", nil)
		wantReason(t, d, true, "ALLOWED")
		if testenv.Num(d, "limit") != 100 || testenv.Num(d, "hardCap") != 110 || testenv.Num(d, "usage") != 0 || testenv.Num(d, "remaining") != 110 {
			t.Fatalf("NUMBER figures wrong: %v", d)
		}
		if d["instance"] != "eu-1" || d["entitlement"] != "api-calls" || testenv.Num(d, "licenseVersion") != 5 {
			t.Fatalf("echoed facts wrong: %v", d)
		}
		// The soft limit is honoured: 110 fits the hard cap, 111 does not.
		wantReason(t, ask(t, env, k, "eu-1", "api-calls", 110), true, "ALLOWED")
		wantReason(t, ask(t, env, k, "eu-1", "api-calls", 111), false, "LIMIT_EXCEEDED")

		wantReason(t, ask(t, env, k, "eu-1", "sso", nil), true, "ALLOWED")
		wantReason(t, ask(t, env, k, "eu-1", "beta", nil), false, "FEATURE_DISABLED")
		cfg := ask(t, env, k, "eu-1", "branding", nil)
		wantReason(t, cfg, true, "ALLOWED")
		if testenv.Str(cfg, "value.value.theme") != "custom" {
			t.Fatalf("CONFIG value not returned: %v", cfg)
		}
		wantReason(t, ask(t, env, k, "eu-1", "seats", nil), false, "NOT_ENTITLED")
		wantReason(t, ask(t, env, k, "nope", "sso", nil), false, "INSTANCE_NOT_FOUND")
		wantReason(t, ask(t, env, k, "eu-1", "nope", nil), false, "ENTITLEMENT_NOT_FOUND")

		// Unlimited always passes.
		env.MustDo(k, setLink, map[string]any{"in": map[string]any{"licenseID": f.licID, "entitlementID": f.calls, "value": map[string]any{"type": "number", "value": -1}}})
		un := ask(t, env, k, "eu-1", "api-calls", 1e12)
		wantReason(t, un, true, "ALLOWED")
		if un["hardCap"] != nil || un["remaining"] != nil || testenv.Num(un, "limit") != -1 {
			t.Fatalf("unlimited figures wrong: %v", un)
		}

		// Instance timing relative to the server clock.
		now := time.Now().UTC()
		env.MustDo(k, `mutation($s: Time!) { createInstance(input: {name: "Later", slug: "later", startsAt: $s}) { id } }`,
			map[string]any{"s": now.Add(time.Hour).Format(time.RFC3339)})
		wantReason(t, ask(t, env, k, "later", "sso", nil), false, "LICENSE_NOT_STARTED")
		exp := now.Add(time.Hour).Truncate(time.Second)
		env.MustDo(k, `mutation($s: Time!, $e: Time!) { createInstance(input: {name: "Ends", slug: "ends", startsAt: $s, expiresAt: $e}) { id } }`,
			map[string]any{"s": now.Add(-time.Hour).Format(time.RFC3339), "e": exp.Format(time.RFC3339)})
		env.SetNow(exp.Add(-time.Second))
		wantReason(t, ask(t, env, k, "ends", "sso", nil), true, "ALLOWED")
		env.SetNow(exp)
		wantReason(t, ask(t, env, k, "ends", "sso", nil), false, "LICENSE_EXPIRED")
		env.SetNow(now)

		// An instance whose license was removed.
		env.MustDo(k, `mutation { createInstance(input: {name: "Bare", slug: "bare"}) { id } }`, nil)
		bare := testenv.Str(env.MustDo(k, `{ instances(where: {slug: "bare"}) { edges { node { id } } } }`, nil), "instances.edges.0.node.id")
		env.MustDo(k, `mutation($id: ID!) { updateInstance(id: $id, input: {clearLicense: true}) { id } }`, map[string]any{"id": bare})
		wantReason(t, ask(t, env, k, "bare", "sso", nil), false, "NO_LICENSE")

		// An inactive license grants nothing.
		env.MustDo(k, `mutation($id: ID!) { updateLicense(id: $id, input: {isActive: false}) { version } }`, map[string]any{"id": f.licID})
		wantReason(t, ask(t, env, k, "eu-1", "sso", nil), false, "LICENSE_INACTIVE")
	})
}

func TestDecisionsForAllTypes(t *testing.T) {
	t.Parallel()
	testenv.ForEachStore(t, func(t *testing.T, env *testenv.Env) {
		f := newFixture(t, env, "acme")
		d := env.MustDo(f.key, `{ decisions(instance: "eu-1") { entitlement allowed reason value } }`, nil)
		got := map[string]string{}
		for _, x := range d["decisions"].([]any) {
			m := x.(map[string]any)
			got[m["entitlement"].(string)] = m["reason"].(string)
		}
		want := map[string]string{"api-calls": "ALLOWED", "sso": "ALLOWED", "branding": "ALLOWED", "beta": "FEATURE_DISABLED"}
		if len(got) != len(want) {
			t.Fatalf("decisions = %v, want %v", got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("decisions[%s] = %s, want %s (all: %v)", k, got[k], v, got)
			}
		}
		d = env.MustDo(f.key, `{ decisions(instance: "eu-1", entitlements: ["seats", "sso"]) { entitlement reason } }`, nil)
		if testenv.Str(d, "decisions.0.reason") != "NOT_ENTITLED" || testenv.Str(d, "decisions.1.reason") != "ALLOWED" {
			t.Fatalf("listed decisions wrong: %v", d)
		}
	})
}

func TestDecisionsAcrossOrganizationsAndScopes(t *testing.T) {
	t.Parallel()
	testenv.ForEachStore(t, func(t *testing.T, env *testenv.Env) {
		a := newFixture(t, env, "acme")
		b := env.NewOrg("globex")
		// B asking about A's instance and entitlement finds neither.
		wantReason(t, ask(t, env, b, "eu-1", "sso", nil), false, "INSTANCE_NOT_FOUND")
		env.MustDo(b, `mutation { createLicense(input: {name: "B", slug: "b", type: PAID, isDefault: true}) { id } }`, nil)
		env.MustDo(b, `mutation { createInstance(input: {name: "B", slug: "b-1"}) { id } }`, nil)
		wantReason(t, ask(t, env, b, "b-1", "sso", nil), false, "ENTITLEMENT_NOT_FOUND")

		check := env.NewKey(a.key, "CHECK")
		wantReason(t, ask(t, env, check, "eu-1", "sso", nil), true, "ALLOWED")
		read := env.NewKey(a.key, "READ")
		env.MustFail(read, "FORBIDDEN", allowedQ, map[string]any{"i": "eu-1", "e": "sso"})
		env.MustFail(read, "FORBIDDEN", `{ decisions(instance: "eu-1") { reason } }`, nil)
	})
}

func TestDecisionCacheInvalidation(t *testing.T) {
	t.Parallel()
	testenv.ForEachStore(t, func(t *testing.T, env *testenv.Env) {
		f := newFixture(t, env, "acme")
		k := f.key
		wantReason(t, ask(t, env, k, "eu-1", "beta", nil), false, "FEATURE_DISABLED")
		env.MustDo(k, setLink, map[string]any{"in": map[string]any{"licenseID": f.licID, "entitlementID": f.flag, "value": map[string]any{"type": "boolean", "value": true}}})
		wantReason(t, ask(t, env, k, "eu-1", "beta", nil), true, "ALLOWED")

		// A new license for the instance.
		d := env.MustDo(k, createLicense, map[string]any{"in": map[string]any{"name": "Free", "slug": "free", "type": "COMMUNITY"}})
		free := testenv.Str(d, "createLicense.id")
		inst := testenv.Str(env.MustDo(k, `{ instances(where: {slug: "eu-1"}) { edges { node { id } } } }`, nil), "instances.edges.0.node.id")
		env.MustDo(k, `mutation($id: ID!, $l: ID!) { updateInstance(id: $id, input: {licenseID: $l}) { id } }`, map[string]any{"id": inst, "l": free})
		wantReason(t, ask(t, env, k, "eu-1", "beta", nil), false, "NOT_ENTITLED")

		// Deactivating that license.
		env.MustDo(k, `mutation($id: ID!) { updateLicense(id: $id, input: {isActive: false}) { id } }`, map[string]any{"id": free})
		wantReason(t, ask(t, env, k, "eu-1", "beta", nil), false, "LICENSE_INACTIVE")

		// Deleting the instance.
		env.MustDo(k, `mutation($id: ID!) { deleteInstance(id: $id) }`, map[string]any{"id": inst})
		wantReason(t, ask(t, env, k, "eu-1", "beta", nil), false, "INSTANCE_NOT_FOUND")
		// And creating it again.
		env.MustDo(k, `mutation { createInstance(input: {name: "EU", slug: "eu-1"}) { id } }`, nil)
		wantReason(t, ask(t, env, k, "eu-1", "beta", nil), true, "ALLOWED")
	})
}

func TestOPACompatibleDoor(t *testing.T) {
	t.Parallel()
	testenv.ForEachStore(t, func(t *testing.T, env *testenv.Env) {
		f := newFixture(t, env, "acme")
		post := func(key, body string) (int, map[string]any) {
			req, _ := http.NewRequest(http.MethodPost, env.Server.URL+"/v1/data/entitled/decision", bytes.NewBufferString(body))
			if key != "" {
				req.Header.Set("Authorization", "Bearer "+key)
			}
			res, err := env.Server.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var out map[string]any
			if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
				t.Fatalf("response not JSON: %v", err)
			}
			return res.StatusCode, out
		}
		status, out := post(f.key, `{"input": {"instance": "eu-1", "entitlement": "api-calls", "requested": 111}}`)
		if status != 200 || testenv.Str(out, "result.reason") != "LIMIT_EXCEEDED" || testenv.Num(out, "result.hardCap") != 110 {
			t.Fatalf("door answered %d %v", status, out)
		}
		status, out = post(f.key, `{"input": {"instance": "eu-1", "entitlement": "branding"}}`)
		if status != 200 || testenv.Str(out, "result.value.value.theme") != "custom" {
			t.Fatalf("door answered %d %v", status, out)
		}
		for _, body := range []string{``, `{`, `{"input": 5}`, `{"input": {"instance": "eu-1"}}`, `[1]`} {
			status, out = post(f.key, body)
			if status != 400 || out["code"] != "invalid_parameter" || out["message"] == "" {
				t.Fatalf("malformed body %q answered %d %v", body, status, out)
			}
		}
		if status, out = post("", `{"input": {"instance": "eu-1", "entitlement": "sso"}}`); status != 401 || out["code"] != "unauthorized" {
			t.Fatalf("no credential answered %d %v", status, out)
		}
		read := env.NewKey(f.key, "READ")
		if status, out = post(read, `{"input": {"instance": "eu-1", "entitlement": "sso"}}`); status != 403 {
			t.Fatalf("read key answered %d %v", status, out)
		}
	})
}
