package apitest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/entitled/entitled/internal/testenv"
)

const createPolicyQ = `mutation($in: CreatePolicyInput!) { createPolicy(input: $in) { id name version active lastTestResult } }`
const updatePolicyQ = `mutation($id: ID!, $in: UpdatePolicyInput!) { updatePolicy(id: $id, input: $in) { id version active } }`

const allowedCtxQ = `query($i: String!, $e: String!, $r: Float, $c: Map) { allowed(instance: $i, entitlement: $e, requested: $r, context: $c) {
	allowed reason reasons policyVersion } }`

// policyOrg is an organization with instances that the worked examples of
// docs/policies.md act on.
func policyOrg(t *testing.T, env *testenv.Env, slug string, now time.Time) string {
	t.Helper()
	key := env.NewOrg(slug)
	mk := func(s, typ string) string {
		return testenv.Str(env.MustDo(key, createEntitlement, map[string]any{"in": map[string]any{"name": s, "slug": s, "type": typ}}), "createEntitlement.id")
	}
	calls, sso, seats := mk("api-calls", "NUMBER"), mk("sso", "BOOLEAN"), mk("seats", "CONFIG")
	lic := testenv.Str(env.MustDo(key, createLicense, map[string]any{"in": map[string]any{"name": "Pro", "slug": "pro", "type": "PAID", "isDefault": true}}), "createLicense.id")
	for ent, v := range map[string]map[string]any{
		calls: {"type": "number", "value": 10},
		sso:   {"type": "boolean", "value": true},
		seats: {"type": "object", "value": map[string]any{"maxUsers": 50}},
	} {
		env.MustDo(key, setLink, map[string]any{"in": map[string]any{"licenseID": lic, "entitlementID": ent, "value": v}})
	}
	ins := `mutation($in: CreateInstanceInput!) { createInstance(input: $in) { id } }`
	env.MustDo(key, ins, map[string]any{"in": map[string]any{"name": "EU", "slug": "eu-1", "metadata": map[string]any{"region": "eu"}}})
	env.MustDo(key, ins, map[string]any{"in": map[string]any{"name": "APAC", "slug": "apac-1", "metadata": map[string]any{"region": "apac"}}})
	env.MustDo(key, ins, map[string]any{"in": map[string]any{"name": "Late", "slug": "late", "metadata": map[string]any{"region": "eu"},
		"startsAt": now.Add(-10 * 24 * time.Hour).Format(time.RFC3339), "expiresAt": now.Add(-3 * 24 * time.Hour).Format(time.RFC3339)}})
	return key
}

func decide(t *testing.T, env *testenv.Env, key, inst, ent string, requested any, ctx map[string]any) map[string]any {
	t.Helper()
	vars := map[string]any{"i": inst, "e": ent}
	if requested != nil {
		vars["r"] = requested
	}
	if ctx != nil {
		vars["c"] = ctx
	}
	return env.MustDo(key, allowedCtxQ, vars)["allowed"].(map[string]any)
}

func readExample(t *testing.T, name string) (module, tests string) {
	t.Helper()
	m, err := os.ReadFile(filepath.Join("..", "policy", "examples", name+".rego"))
	if err != nil {
		t.Fatal(err)
	}
	tt, err := os.ReadFile(filepath.Join("..", "policy", "examples", name+"_test.rego"))
	if err != nil {
		t.Fatal(err)
	}
	return string(m), string(tt)
}

func nextWeekday(from time.Time, d time.Weekday) time.Time {
	t := time.Date(from.Year(), from.Month(), from.Day(), 12, 0, 0, 0, time.UTC).AddDate(0, 0, 1)
	for t.Weekday() != d {
		t = t.AddDate(0, 0, 1)
	}
	return t
}

func TestPolicyExamplesChangeDecisionsAsDocumented(t *testing.T) {
	t.Parallel()
	testenv.ForEachStore(t, func(t *testing.T, env *testenv.Env) {
		now := time.Now().UTC()
		env.SetNow(now)
		key := policyOrg(t, env, "acme", now)
		// Before any policy: the default rules.
		wantReason(t, decide(t, env, key, "late", "sso", nil, nil), false, "LICENSE_EXPIRED")
		wantReason(t, decide(t, env, key, "apac-1", "sso", nil, nil), true, "ALLOWED")
		wantReason(t, decide(t, env, key, "eu-1", "seats", nil, map[string]any{"seats": 51}), true, "ALLOWED")
		env.MustDo(key, reportQ, map[string]any{"in": map[string]any{"instance": "eu-1", "entitlement": "api-calls", "value": 10}})
		wantReason(t, decide(t, env, key, "eu-1", "api-calls", 2, nil), false, "LIMIT_EXCEEDED")

		for _, name := range []string{"grace_period", "region", "weekend_burst", "seat_cap"} {
			mod, tests := readExample(t, name)
			d := env.MustDo(key, createPolicyQ, map[string]any{"in": map[string]any{"name": name, "module": mod, "tests": tests, "active": true, "requireTests": true}})
			if testenv.Num(d, "createPolicy.lastTestResult.failed") != 0 || testenv.Num(d, "createPolicy.lastTestResult.passed") == 0 {
				t.Fatalf("%s: tests %v", name, testenv.Get(d, "createPolicy.lastTestResult"))
			}
		}

		// 1. Grace period: an expired PAID license keeps working for 14 days.
		g := decide(t, env, key, "late", "sso", nil, nil)
		wantReason(t, g, true, "GRANTED_BY_POLICY")
		if testenv.Num(g, "policyVersion") != 4 {
			t.Fatalf("policyVersion = %v, want 4 after four policies", g["policyVersion"])
		}
		env.SetNow(now.Add(12 * 24 * time.Hour)) // 15 days after expiry
		wantReason(t, decide(t, env, key, "late", "sso", nil, nil), false, "LICENSE_EXPIRED")
		env.SetNow(now)

		// 2. Region restriction.
		r := decide(t, env, key, "apac-1", "sso", nil, nil)
		wantReason(t, r, false, "DENIED_BY_POLICY")
		if !strings.Contains(strings.Join(toStrings(r["reasons"]), " "), "apac") {
			t.Fatalf("deny message does not name the region: %v", r["reasons"])
		}
		wantReason(t, decide(t, env, key, "eu-1", "sso", nil, nil), true, "ALLOWED")

		// 4. CONFIG-driven cap.
		wantReason(t, decide(t, env, key, "eu-1", "seats", nil, map[string]any{"seats": 51}), false, "DENIED_BY_POLICY")
		wantReason(t, decide(t, env, key, "eu-1", "seats", nil, map[string]any{"seats": 50}), true, "ALLOWED")

		// 3. Weekend burst: +20% over the hard cap on Saturdays and Sundays.
		env.SetNow(nextWeekday(now, time.Saturday))
		wantReason(t, decide(t, env, key, "eu-1", "api-calls", 2, nil), true, "GRANTED_BY_POLICY")
		wantReason(t, decide(t, env, key, "eu-1", "api-calls", 3, nil), false, "LIMIT_EXCEEDED")
		env.SetNow(nextWeekday(now, time.Wednesday))
		wantReason(t, decide(t, env, key, "eu-1", "api-calls", 2, nil), false, "LIMIT_EXCEEDED")
	})
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

const denyAndGrant = `package entitled.custom.both

deny contains "denied by both" if input.instance.slug == "eu-1"

grant contains "granted by both" if input.instance.slug == "eu-1"
`

func TestPolicyPrecedenceAndInvalidation(t *testing.T) {
	t.Parallel()
	testenv.ForEachStore(t, func(t *testing.T, env *testenv.Env) {
		now := time.Now().UTC()
		key := policyOrg(t, env, "acme", now)
		// Inactive: no effect.
		d := env.MustDo(key, createPolicyQ, map[string]any{"in": map[string]any{"name": "both", "module": denyAndGrant}})
		id := testenv.Str(d, "createPolicy.id")
		if got := env.MustDo(key, `query($id: ID!) { node(id: $id) { ... on OrgPolicy { name version } } }`, map[string]any{"id": id}); testenv.Str(got, "node.name") != "both" {
			t.Fatalf("node(id) of a policy: %v", got)
		}
		wantReason(t, decide(t, env, key, "eu-1", "sso", nil, nil), true, "ALLOWED")
		// Activated: deny wins over grant, on the very next decision.
		env.MustDo(key, updatePolicyQ, map[string]any{"id": id, "in": map[string]any{"active": true}})
		dd := decide(t, env, key, "eu-1", "sso", nil, nil)
		wantReason(t, dd, false, "DENIED_BY_POLICY")
		if strings.Join(toStrings(dd["reasons"]), "|") != "denied by both" {
			t.Fatalf("reasons %v, want the deny message only", dd["reasons"])
		}
		// Updated to grant only: a refusal becomes a grant.
		env.MustDo(key, updatePolicyQ, map[string]any{"id": id, "in": map[string]any{"module": `package entitled.custom.both

grant contains "grace" if input.instance.slug == "late"
`}})
		wantReason(t, decide(t, env, key, "eu-1", "sso", nil, nil), true, "ALLOWED")
		wantReason(t, decide(t, env, key, "late", "sso", nil, nil), true, "GRANTED_BY_POLICY")
		// Never for unknown instances or entitlements.
		env.MustDo(key, updatePolicyQ, map[string]any{"id": id, "in": map[string]any{"module": `package entitled.custom.both

grant contains "always" if true
`}})
		wantReason(t, decide(t, env, key, "nope", "sso", nil, nil), false, "INSTANCE_NOT_FOUND")
		wantReason(t, decide(t, env, key, "eu-1", "nope", nil, nil), false, "ENTITLEMENT_NOT_FOUND")
		// Deactivated, then deleted: back to the default rules.
		env.MustDo(key, updatePolicyQ, map[string]any{"id": id, "in": map[string]any{"active": false}})
		wantReason(t, decide(t, env, key, "late", "sso", nil, nil), false, "LICENSE_EXPIRED")
		env.MustDo(key, updatePolicyQ, map[string]any{"id": id, "in": map[string]any{"active": true}})
		wantReason(t, decide(t, env, key, "late", "sso", nil, nil), true, "GRANTED_BY_POLICY")
		// Every change bumped the version and kept the source it replaced.
		v := env.MustDo(key, `query($id: ID!) { node(id: $id) { ... on OrgPolicy { version revisions { version module } } } }`, map[string]any{"id": id})
		if testenv.Num(v, "node.version") != 6 || testenv.Len(v, "node.revisions") != 6 || !strings.Contains(testenv.Str(v, "node.revisions.0.module"), "denied by both") {
			t.Fatalf("versions and revisions: %v", v)
		}
		env.MustDo(key, `mutation($id: ID!) { deletePolicy(id: $id) }`, map[string]any{"id": id})
		wantReason(t, decide(t, env, key, "late", "sso", nil, nil), false, "LICENSE_EXPIRED")
		n := testenv.Num(env.MustDo(key, `{ policies { totalCount } }`, nil), "policies.totalCount")
		if n != 0 {
			t.Fatalf("%v policies after delete", n)
		}
	})
}

func TestPolicyValidationOnSave(t *testing.T) {
	t.Parallel()
	testenv.ForEachStore(t, func(t *testing.T, env *testenv.Env) {
		key := env.NewOrg("acme")
		reject := func(name, module, code string) map[string]any {
			t.Helper()
			e := env.MustFail(key, "BAD_USER_INPUT", createPolicyQ, map[string]any{"in": map[string]any{"name": name, "module": module}})
			if e.Field() != "module" {
				t.Fatalf("%s: field %q", name, e.Field())
			}
			errs, _ := e.Extensions["errors"].([]any)
			if len(errs) == 0 {
				t.Fatalf("%s: no errors list: %v", name, e.Extensions)
			}
			first := errs[0].(map[string]any)
			if code != "" && first["code"] != code {
				t.Fatalf("%s: code %v, want %s (%v)", name, first["code"], code, first)
			}
			return first
		}
		syntax := reject("syntax", "package entitled.custom.x\n\ndeny contains msg if {\n\tmsg := \n}\n", "rego_parse_error")
		if testenv.Num(syntax, "row") != 4 && testenv.Num(syntax, "row") != 5 {
			t.Fatalf("syntax error at row %v, want 4 or 5: %v", syntax["row"], syntax)
		}
		typ := reject("types", "package entitled.custom.x\n\ndeny contains msg if {\n\tmsg := 1 + \"a\"\n}\n", "rego_type_error")
		if testenv.Num(typ, "row") != 4 || testenv.Num(typ, "col") == 0 {
			t.Fatalf("type error position %v", typ)
		}
		for _, call := range []string{
			`http.send({"method": "get", "url": "http://127.0.0.1"})`,
			`net.lookup_ip_addr("example.com")`,
			`net.cidr_expand("10.0.0.0/30")`,
			`opa.runtime()`,
			`rego.parse_module("x", "package x")`,
			`rand.intn("x", 10)`,
			`uuid.rfc4122("x")`,
			`time.now_ns()`,
		} {
			b := reject("builtin", "package entitled.custom.x\n\ndeny contains msg if {\n\tx := "+call+"\n\tmsg := sprintf(\"%v\", [x])\n}\n", "entitled_builtin_error")
			if testenv.Num(b, "row") != 4 {
				t.Fatalf("%s: reported at row %v", call, b["row"])
			}
		}
		reject("namespace", "package entitled.decision\n\nallowed := true\n", "entitled_package_error")
		reject("data", "package entitled.custom.x\n\ndeny contains \"x\" if data.system.config\n", "entitled_data_error")
		big := "package entitled.custom.big\n\n# " + strings.Repeat("x", 70<<10) + "\nallow := true\n"
		reject("big", big, "entitled_limit_error")
		if n := testenv.Num(env.MustDo(key, `{ policies { totalCount } }`, nil), "policies.totalCount"); n != 0 {
			t.Fatalf("rejected policies were saved: %v", n)
		}
	})
}

func TestPoliciesNeverSeeAnotherOrganization(t *testing.T) {
	t.Parallel()
	testenv.ForEachStore(t, func(t *testing.T, env *testenv.Env) {
		now := time.Now().UTC()
		a := policyOrg(t, env, "acme", now)
		b := policyOrg(t, env, "globex", now)
		env.MustDo(a, createPolicyQ, map[string]any{"in": map[string]any{"name": "secret", "active": true,
			"module": "package entitled.custom.acme_secret\n\ntoken := \"s3cr3t\"\n\ndeny contains \"acme only\" if input.instance.slug == \"apac-1\"\n"}})
		// B's module reads A's package: it is not compiled into B's query, so
		// it reads nothing and denies nothing.
		env.MustDo(b, createPolicyQ, map[string]any{"in": map[string]any{"name": "peek", "active": true,
			"module": "package entitled.custom.peek\n\ndeny contains msg if {\n\tmsg := data.entitled.custom.acme_secret.token\n}\n"}})
		wantReason(t, decide(t, env, b, "eu-1", "sso", nil, nil), true, "ALLOWED")
		wantReason(t, decide(t, env, b, "apac-1", "sso", nil, nil), true, "ALLOWED")
		wantReason(t, decide(t, env, a, "apac-1", "sso", nil, nil), false, "DENIED_BY_POLICY")
		// Neither sees the other's policies.
		if n := testenv.Num(env.MustDo(b, `{ policies { totalCount edges { node { name } } } }`, nil), "policies.totalCount"); n != 1 {
			t.Fatalf("B sees %v policies, want its own 1", n)
		}
		id := testenv.Str(env.MustDo(a, `{ policies { edges { node { id } } } }`, nil), "policies.edges.0.node.id")
		env.MustFail(b, "NOT_FOUND", updatePolicyQ, map[string]any{"id": id, "in": map[string]any{"active": false}})
		env.MustFail(b, "NOT_FOUND", `mutation($id: ID!) { deletePolicy(id: $id) }`, map[string]any{"id": id})
		wantReason(t, decide(t, env, a, "apac-1", "sso", nil, nil), false, "DENIED_BY_POLICY")
	})
}

const expensive = `package entitled.custom.slow

deny contains msg if {
	n := count([x | some i in numbers.range(1, 3000); some j in numbers.range(1, 3000); x := i * j])
	n < 0
	msg := "never"
}
`

func TestTestAndPreviewPolicy(t *testing.T) {
	t.Parallel()
	testenv.ForEachStore(t, func(t *testing.T, env *testenv.Env) {
		now := time.Now().UTC()
		key := policyOrg(t, env, "acme", now)
		mod := "package entitled.custom.t\n\ndeny contains \"no apac\" if input.instance.metadata.region == \"apac\"\n\n" +
			"test_denies_apac if count(deny) == 1 with input as {\"instance\": {\"metadata\": {\"region\": \"apac\"}}}\n\n" +
			"test_wrong if count(deny) == 1 with input as {\"instance\": {\"metadata\": {\"region\": \"eu\"}}}\n"
		d := env.MustDo(key, `query($m: String!) { testPolicy(module: $m) { name passed } }`, map[string]any{"m": mod})
		got := map[string]bool{}
		for _, r := range d["testPolicy"].([]any) {
			m := r.(map[string]any)
			got[m["name"].(string)] = m["passed"].(bool)
		}
		if len(got) != 2 || !got["data.entitled.custom.t.test_denies_apac"] || got["data.entitled.custom.t.test_wrong"] {
			t.Fatalf("testPolicy = %v", got)
		}
		// requireTests refuses the failing module.
		env.MustFail(key, "BAD_USER_INPUT", createPolicyQ, map[string]any{"in": map[string]any{"name": "t", "module": mod, "requireTests": true}})

		// Preview: exactly apac-1's decisions flip, for every entitlement.
		p := env.MustDo(key, `query($m: String!) { previewPolicy(module: $m) { evaluated hasNextPage changes { instance entitlement before { reason } after { reason } } } }`,
			map[string]any{"m": "package entitled.custom.t\n\ndeny contains \"no apac\" if input.instance.metadata.region == \"apac\"\n"})
		pv := p["previewPolicy"].(map[string]any)
		if testenv.Num(pv, "evaluated") != 9 || pv["hasNextPage"] != false {
			t.Fatalf("evaluated %v (want 3 instances x 3 entitlements)", pv)
		}
		changes := pv["changes"].([]any)
		if len(changes) != 3 {
			t.Fatalf("changes %v, want apac-1 x 3 entitlements", changes)
		}
		for _, c := range changes {
			m := c.(map[string]any)
			if m["instance"] != "apac-1" || testenv.Str(m, "after.reason") != "DENIED_BY_POLICY" || testenv.Str(m, "before.reason") != "ALLOWED" {
				t.Fatalf("unexpected change %v", m)
			}
		}
		// Nothing was activated by previewing.
		wantReason(t, decide(t, env, key, "apac-1", "sso", nil, nil), true, "ALLOWED")
		// evaluatePolicy on real facts.
		e := env.MustDo(key, `query($m: String!) { evaluatePolicy(instance: "apac-1", entitlement: "sso", module: $m) { reason } }`,
			map[string]any{"m": "package entitled.custom.t\n\ndeny contains \"no apac\" if input.instance.metadata.region == \"apac\"\n"})
		if testenv.Str(e, "evaluatePolicy.reason") != "DENIED_BY_POLICY" {
			t.Fatalf("evaluatePolicy %v", e)
		}
		// explain shows the firing rule with its location.
		env.MustDo(key, createPolicyQ, map[string]any{"in": map[string]any{"name": "t", "active": true,
			"module": "package entitled.custom.t\n\ndeny contains \"no apac\" if input.instance.metadata.region == \"apac\"\n"}})
		x := env.MustDo(key, `{ explainDecision(instance: "apac-1", entitlement: "sso") { reason explanation { rule kind file row message } } }`, nil)
		found := false
		for _, s := range testenv.Get(x, "explainDecision.explanation").([]any) {
			m := s.(map[string]any)
			if m["kind"] == "deny" && m["file"] == "t.rego" && testenv.Num(m, "row") == 3 && m["message"] == "no apac" {
				found = true
			}
		}
		if !found {
			t.Fatalf("explanation lacks the deny rule: %v", x)
		}
	})
}
