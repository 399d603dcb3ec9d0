package apitest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/entitled/entitled/internal/app"
	"github.com/entitled/entitled/internal/testenv"
)

// auditFields are every field of an AuditEvent.
const auditFields = `id seq action resourceType resourceID resourceSlug actorType actorID actorName before after licenseVersion requestID occurredAt prevHash hash`

const auditQ = `query($after: Cursor, $w: AuditEventWhereInput) {
	auditEvents(first: 500, after: $after, orderBy: [{field: SEQ, direction: ASC}], where: $w) {
		totalCount pageInfo { hasNextPage endCursor } edges { node { ` + auditFields + ` } } } }`

// trail returns an organization's events in seq order (all pages).
func (c client) trail(key string, where map[string]any) []map[string]any {
	c.T.Helper()
	var out []map[string]any
	var after any
	for {
		d := c.MustDo(key, auditQ, map[string]any{"after": after, "w": where})
		for _, e := range testenv.Get(d, "auditEvents.edges").([]any) {
			out = append(out, e.(map[string]any)["node"].(map[string]any))
		}
		if testenv.Get(d, "auditEvents.pageInfo.hasNextPage") != true {
			return out
		}
		after = testenv.Str(d, "auditEvents.pageInfo.endCursor")
	}
}

func (c client) headSeq(key string) float64 {
	c.T.Helper()
	return testenv.Num(c.MustDo(key, `{ verifyAuditChain { headSeq } }`, nil), "verifyAuditChain.headSeq")
}

func (c client) verifyChain(key string) map[string]any {
	c.T.Helper()
	return c.MustDo(key, `{ verifyAuditChain { valid checked headSeq headHash firstBrokenSeq prunedSeq prunedHash } }`, nil)["verifyAuditChain"].(map[string]any)
}

// since returns the events after seq.
func (c client) since(key string, seq float64) []map[string]any {
	c.T.Helper()
	return c.trail(key, map[string]any{"seqGT": int64(seq)})
}

type actor struct{ typ, id, name string }

func (c client) keyActor(key string) actor {
	c.T.Helper()
	d := c.MustDo(key, `{ viewer { apiKey { id name } } }`, nil)
	return actor{"API_KEY", testenv.Str(d, "viewer.apiKey.id"), testenv.Str(d, "viewer.apiKey.name")}
}

var system = actor{typ: "SYSTEM"}

// change is what one mutation must record.
type change struct {
	action, resourceType, slug string
	by                         actor
	// before and after: nil must be null; otherwise each path must hold
	// the value (testenv.Get paths; "!" + path: absent or null).
	before, after map[string]any
	version       float64 // licenseVersion; 0: null
}

// expect runs a mutation and checks that it recorded exactly the given
// events (none: nothing), each as described.
func (c client) expect(key, doc string, vars map[string]any, want ...change) (map[string]any, []map[string]any) {
	c.T.Helper()
	seq := c.headSeq(key)
	d := c.MustDo(key, doc, vars)
	got := c.since(key, seq)
	if len(got) != len(want) {
		c.T.Fatalf("%.80s: %d events, want %d: %v", doc, len(got), len(want), got)
	}
	for i, w := range want {
		e := got[i]
		if testenv.Num(e, "seq") != seq+float64(i)+1 {
			c.T.Errorf("%s: seq %v after %v", w.action, e["seq"], seq)
		}
		if e["action"] != w.action || e["resourceType"] != w.resourceType {
			c.T.Errorf("event %v %v, want %s on %s", e["action"], e["resourceType"], w.action, w.resourceType)
		}
		if w.slug != "" && e["resourceSlug"] != w.slug {
			c.T.Errorf("%s: resourceSlug %v, want %s", w.action, e["resourceSlug"], w.slug)
		}
		if e["resourceID"] == "" || e["resourceID"] == nil {
			c.T.Errorf("%s: no resourceID", w.action)
		}
		if e["actorType"] != w.by.typ || (w.by.id == "" && e["actorID"] != nil) || (w.by.id != "" && e["actorID"] != w.by.id) ||
			(w.by.name == "" && e["actorName"] != nil) || (w.by.name != "" && e["actorName"] != w.by.name) {
			c.T.Errorf("%s: actor %v %v %v, want %+v", w.action, e["actorType"], e["actorID"], e["actorName"], w.by)
		}
		if w.version == 0 && e["licenseVersion"] != nil || w.version != 0 && testenv.Num(e, "licenseVersion") != w.version {
			c.T.Errorf("%s: licenseVersion %v, want %v", w.action, e["licenseVersion"], w.version)
		}
		for side, paths := range map[string]map[string]any{"before": w.before, "after": w.after} {
			obj := e[side]
			if paths == nil {
				if obj != nil {
					c.T.Errorf("%s: %s = %v, want null", w.action, side, obj)
				}
				continue
			}
			if obj == nil {
				c.T.Errorf("%s: %s is null", w.action, side)
				continue
			}
			for p, v := range paths {
				if absent, ok := strings.CutPrefix(p, "!"); ok {
					if got := testenv.Get(obj, absent); got != nil {
						c.T.Errorf("%s: %s.%s = %v, want it absent", w.action, side, absent, got)
					}
					continue
				}
				if got := testenv.Get(obj, p); fmt.Sprint(got) != fmt.Sprint(v) {
					c.T.Errorf("%s: %s.%s = %v, want %v", w.action, side, p, got, v)
				}
			}
		}
		// No secret ever appears (a key's public prefix, etk_ and six
		// characters, may).
		b, _ := json.Marshal(e)
		if bytes.Contains(b, []byte("secretHash")) || bytes.Contains(b, []byte("secret_hash")) || fullSecret.Match(b) {
			c.T.Errorf("%s: the event holds a secret: %s", w.action, b)
		}
	}
	return d, got
}

var fullSecret = regexp.MustCompile(`etk_[a-z2-7]{7,}`)

// none checks that a failed mutation recorded nothing.
func (c client) none(key, code, doc string, vars map[string]any) {
	c.T.Helper()
	seq := c.headSeq(key)
	c.MustFail(key, code, doc, vars)
	if got := c.since(key, seq); len(got) != 0 {
		c.T.Fatalf("a failed mutation (%s) recorded %v", code, got)
	}
}

// Every mutation of the catalogue (docs/audit.md) records exactly one event with its
// action, actor, before and after; no-ops, replays and failures record
// none; and an independent verifier recomputes the whole chain.
func TestEveryMutationRecordsOneEvent(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		root := c.NewOrg("acme")
		first := c.trail(root, nil)
		if len(first) != 1 || first[0]["action"] != "api_key.created" || first[0]["actorType"] != "OPERATOR" || testenv.Num(first[0], "seq") != 1 ||
			testenv.Str(first[0], "after.name") != "initial admin key" || first[0]["prevHash"] != strings.Repeat("0", 64) {
			t.Fatalf("createOrganization's first key: %v", first)
		}
		rootActor := c.keyActor(root)
		d, _ := c.expect(root, `mutation { createAPIKey(input: {name: "ci deploy", scopes: [ADMIN]}) { secret apiKey { id } } }`, nil,
			change{action: "api_key.created", resourceType: "API_KEY", by: rootActor, after: map[string]any{"name": "ci deploy", "scopes": "[ADMIN]", "revokedAt": nil, "!secretHash": nil}})
		key := testenv.Str(d, "createAPIKey.secret")
		by := c.keyActor(key)
		if by.name != "ci deploy" {
			t.Fatalf("actor %+v", by)
		}

		// Entitlements.
		d, _ = c.expect(key, createEntitlement, map[string]any{"in": map[string]any{"name": "API calls", "slug": "api-calls", "type": "NUMBER"}},
			change{action: "entitlement.created", resourceType: "ENTITLEMENT", slug: "api-calls", by: by, after: map[string]any{"slug": "api-calls", "type": "NUMBER", "aggregationMethod": "SUM"}})
		entID := testenv.Str(d, "createEntitlement.id")
		const updEnt = `mutation($id: ID!, $d: String) { updateEntitlement(id: $id, input: {description: $d}) { id } }`
		c.expect(key, updEnt, map[string]any{"id": entID, "d": "metered"},
			change{action: "entitlement.updated", resourceType: "ENTITLEMENT", slug: "api-calls", by: by, before: map[string]any{"description": ""}, after: map[string]any{"description": "metered"}})
		c.expect(key, updEnt, map[string]any{"id": entID, "d": "metered"}) // nothing changed
		d, _ = c.expect(key, createEntitlement, map[string]any{"in": map[string]any{"name": "SSO", "slug": "sso", "type": "BOOLEAN"}},
			change{action: "entitlement.created", resourceType: "ENTITLEMENT", slug: "sso", by: by, after: map[string]any{"type": "BOOLEAN"}})
		ssoID := testenv.Str(d, "createEntitlement.id")

		// Licenses and links.
		d, _ = c.expect(key, createLicense, map[string]any{"in": map[string]any{"name": "Gold", "slug": "gold", "type": "PAID"}},
			change{action: "license.created", resourceType: "LICENSE", slug: "gold", by: by, version: 1, after: map[string]any{"name": "Gold", "version": 1}})
		licID := testenv.Str(d, "createLicense.id")
		c.expect(key, `mutation($id: ID!) { updateLicense(id: $id, input: {name: "Gold 2"}) { id } }`, map[string]any{"id": licID},
			change{action: "license.updated", resourceType: "LICENSE", slug: "gold", by: by, version: 1, before: map[string]any{"name": "Gold"}, after: map[string]any{"name": "Gold 2"}})
		c.expect(key, `mutation($id: ID!) { updateLicense(id: $id, input: {type: TRIAL}) { id } }`, map[string]any{"id": licID},
			change{action: "license.updated", resourceType: "LICENSE", slug: "gold", by: by, version: 2, before: map[string]any{"type": "PAID", "version": 1}, after: map[string]any{"type": "TRIAL", "version": 2}})
		link := func(v float64) map[string]any {
			return map[string]any{"in": map[string]any{"licenseID": licID, "entitlementID": entID, "value": map[string]any{"type": "number", "value": v}}}
		}
		c.expect(key, setLink, link(100), change{action: "license_entitlement.set", resourceType: "LICENSE_ENTITLEMENT", slug: "gold/api-calls", by: by, version: 3,
			after: map[string]any{"value.value": 100, "licenseSlug": "gold", "entitlementSlug": "api-calls", "licenseID": licID}})
		c.expect(key, setLink, link(100)) // the same value: no new version, no event
		c.expect(key, setLink, link(200), change{action: "license_entitlement.set", resourceType: "LICENSE_ENTITLEMENT", slug: "gold/api-calls", by: by, version: 4,
			before: map[string]any{"value.value": 100}, after: map[string]any{"value.value": 200}})
		c.expect(key, setLink, map[string]any{"in": map[string]any{"licenseID": licID, "entitlementID": ssoID, "value": map[string]any{"type": "boolean", "value": true}}},
			change{action: "license_entitlement.set", resourceType: "LICENSE_ENTITLEMENT", slug: "gold/sso", by: by, version: 5, after: map[string]any{"value.value": true}})

		// Instances.
		d, _ = c.expect(key, `mutation($l: ID!) { createInstance(input: {name: "EU", slug: "eu-1", licenseID: $l, metadata: {tier: 1}}) { id } }`, map[string]any{"l": licID},
			change{action: "instance.created", resourceType: "INSTANCE", slug: "eu-1", by: by, after: map[string]any{"name": "EU", "licenseID": licID, "metadata.tier": 1}})
		instID := testenv.Str(d, "createInstance.id")
		c.expect(key, `mutation($id: ID!) { updateInstance(id: $id, input: {name: "EU 2"}) { id } }`, map[string]any{"id": instID},
			change{action: "instance.updated", resourceType: "INSTANCE", slug: "eu-1", by: by, before: map[string]any{"name": "EU"}, after: map[string]any{"name": "EU 2"}})
		c.expect(key, `mutation($id: ID!) { updateInstance(id: $id, input: {name: "EU 2", metadata: {tier: 1}}) { id } }`, map[string]any{"id": instID})

		// Usage: below the thresholds nothing; a crossing once, by the
		// system; a replay nothing; a reset by the caller.
		report := func(v float64, k string) map[string]any {
			return map[string]any{"in": map[string]any{"instance": "eu-1", "entitlement": "api-calls", "value": v, "idempotencyKey": k}}
		}
		c.expect(key, reportQ, report(100, "r1"))
		crossing := change{action: "usage.threshold_crossed", resourceType: "USAGE", slug: "eu-1", by: system, after: map[string]any{
			"threshold": "PERCENT_80", "usage": 170, "limit": 200, "instance.id": instID, "instance.slug": "eu-1",
			"entitlement.id": entID, "entitlement.slug": "api-calls", "period.start": "1970-01-01T00:00:00Z", "period.end": nil}}
		_, got := c.expect(key, reportQ, report(70, "r2"), crossing)
		if got[0]["requestID"] == nil {
			t.Errorf("the crossing names no request: %v", got[0])
		}
		c.expect(key, reportQ, report(70, "r2")) // replay
		c.expect(key, reportQ, report(10, "r3")) // 180: crossed before
		c.expect(key, consumeQ, map[string]any{"in": map[string]any{"instance": "eu-1", "entitlement": "api-calls", "amount": 1, "idempotencyKey": "c1"}})
		c.expect(key, resetQ, map[string]any{"in": map[string]any{"instance": "eu-1", "entitlement": "api-calls", "reason": "billing dispute"}},
			change{action: "usage.reset", resourceType: "USAGE", slug: "eu-1", by: by, before: map[string]any{"value": 181, "count": 4},
				after: map[string]any{"reason": "billing dispute", "value": 0, "entitlement.slug": "api-calls"}})

		// Policies.
		d, _ = c.expect(key, createPolicyQ, map[string]any{"in": map[string]any{"name": "eu-only", "module": "package entitled.custom\n", "active": true}},
			change{action: "policy.created", resourceType: "POLICY", slug: "eu-only", by: by, after: map[string]any{"name": "eu-only", "active": true, "version": 1}})
		polID := testenv.Str(d, "createPolicy.id")
		c.expect(key, `mutation($id: ID!) { updatePolicy(id: $id, input: {active: false}) { id } }`, map[string]any{"id": polID},
			change{action: "policy.updated", resourceType: "POLICY", slug: "eu-only", by: by, before: map[string]any{"active": true}, after: map[string]any{"active": false, "version": 2}})
		c.expect(key, `mutation($id: ID!) { deletePolicy(id: $id) }`, map[string]any{"id": polID},
			change{action: "policy.deleted", resourceType: "POLICY", slug: "eu-only", by: by, before: map[string]any{"name": "eu-only"}})

		// Failures record nothing: bad input, conflicts, forbidden, not found.
		reader := c.NewKey(key, "READ")
		c.none(key, "BAD_USER_INPUT", createLicense, map[string]any{"in": map[string]any{"name": "X", "slug": "Not A Slug", "type": "PAID"}})
		c.none(key, "CONFLICT", createLicense, map[string]any{"in": map[string]any{"name": "X", "slug": "gold", "type": "PAID"}})
		c.none(key, "CONFLICT", `mutation($id: ID!) { deleteEntitlement(id: $id) }`, map[string]any{"id": entID})
		c.none(key, "CONFLICT", `mutation($id: ID!) { deleteLicense(id: $id) }`, map[string]any{"id": licID})
		c.none(key, "CONFLICT", reportQ, report(99, "r1"))
		c.none(key, "BAD_USER_INPUT", createPolicyQ, map[string]any{"in": map[string]any{"name": "bad", "module": "package nope\n"}})
		c.none(key, "BAD_USER_INPUT", `mutation($id: ID!) { updateInstance(id: $id, input: {expiresAt: "1990-01-01T00:00:00Z"}) { id } }`, map[string]any{"id": instID})
		c.none(reader, "FORBIDDEN", createLicense, map[string]any{"in": map[string]any{"name": "X", "slug": "x", "type": "PAID"}})
		c.none(reader, "FORBIDDEN", resetQ, map[string]any{"in": map[string]any{"instance": "eu-1", "entitlement": "api-calls", "reason": "r"}})
		c.none(key, "NOT_FOUND", `mutation { deleteInstance(id: "ins_01JD0000000000000000000000") }`, nil)

		// Removing and deleting.
		c.expect(key, `mutation($l: ID!, $e: ID!) { removeLicenseEntitlement(licenseID: $l, entitlementID: $e) { id } }`, map[string]any{"l": licID, "e": entID},
			change{action: "license_entitlement.removed", resourceType: "LICENSE_ENTITLEMENT", slug: "gold/api-calls", by: by, version: 6, before: map[string]any{"value.value": 200}})
		c.expect(key, `mutation($id: ID!) { deleteInstance(id: $id) }`, map[string]any{"id": instID},
			change{action: "instance.deleted", resourceType: "INSTANCE", slug: "eu-1", by: by, before: map[string]any{"name": "EU 2"}})
		c.expect(key, `mutation($id: ID!) { deleteLicense(id: $id) }`, map[string]any{"id": licID},
			change{action: "license.deleted", resourceType: "LICENSE", slug: "gold", by: by, version: 6, before: map[string]any{"name": "Gold 2", "version": 6}})
		c.expect(key, `mutation($id: ID!) { deleteEntitlement(id: $id) }`, map[string]any{"id": entID},
			change{action: "entitlement.deleted", resourceType: "ENTITLEMENT", slug: "api-calls", by: by, before: map[string]any{"slug": "api-calls"}})

		// Keys: a revocation once.
		readerID := c.keyActor(reader).id
		_, got = c.expect(key, `mutation($id: ID!) { revokeAPIKey(id: $id) { id } }`, map[string]any{"id": readerID},
			change{action: "api_key.revoked", resourceType: "API_KEY", by: by, before: map[string]any{"revokedAt": nil, "name": "key READ"}, after: map[string]any{"name": "key READ"}})
		if testenv.Get(got[0], "after.revokedAt") == nil || got[0]["resourceID"] != readerID {
			t.Errorf("revocation event %v", got[0])
		}
		c.expect(key, `mutation($id: ID!) { revokeAPIKey(id: $id) { id } }`, map[string]any{"id": readerID})

		// Filters: by action, resource, actor; newest first by default.
		if n := len(c.trail(key, map[string]any{"resourceID": licID})); n != 4 {
			t.Errorf("license events: %d, want 4", n)
		}
		if n := len(c.trail(key, map[string]any{"actionHasPrefix": "license_entitlement."})); n != 4 {
			t.Errorf("link events: %d, want 4", n)
		}
		if n := len(c.trail(key, map[string]any{"actorID": rootActor.id})); n != 1 { // the key it made
			t.Errorf("events of the initial key: %d, want 1", n)
		}
		if n := len(c.trail(key, map[string]any{"actorType": "SYSTEM"})); n != 1 {
			t.Errorf("system events: %d, want 1", n)
		}
		newest := c.MustDo(key, `{ auditEvents(first: 2) { edges { node { seq } } } }`, nil)
		head := c.headSeq(key)
		if testenv.Num(newest, "auditEvents.edges.0.node.seq") != head || testenv.Num(newest, "auditEvents.edges.1.node.seq") != head-1 {
			t.Errorf("default order is not newest first: %v (head %v)", newest, head)
		}
		from := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
		if n := len(c.trail(key, map[string]any{"occurredAtGTE": from})); float64(n) != head {
			t.Errorf("events in the last hour: %d, want %v", n, head)
		}

		// The chain verifies, on the server and independently.
		v := c.verifyChain(key)
		if v["valid"] != true || testenv.Num(v, "checked") != head || v["firstBrokenSeq"] != nil {
			t.Fatalf("verifyAuditChain %v", v)
		}
		all := c.trail(key, nil)
		if float64(len(all)) != head {
			t.Fatalf("%d events, head %v", len(all), head)
		}
		if err := verifyExport(all, strings.Repeat("0", 64)); err != nil {
			t.Fatal(err)
		}
		if all[len(all)-1]["hash"] != v["headHash"] {
			t.Errorf("head hash %v, last event's %v", v["headHash"], all[len(all)-1]["hash"])
		}
	})
}

func TestLicenseVersionsNameTheirAuthor(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		root := c.NewOrg("acme")
		key := c.NewKey(root, "ADMIN")
		by := c.keyActor(key)
		licID := testenv.Str(c.MustDo(root, createLicense, map[string]any{"in": map[string]any{"name": "Gold", "slug": "gold", "type": "PAID"}}), "createLicense.id")
		c.MustDo(key, `mutation($id: ID!) { updateLicense(id: $id, input: {isActive: false}) { id } }`, map[string]any{"id": licID})
		d := c.MustDo(root, `query($id: ID!) { node(id: $id) { ... on License { versions(orderBy: {field: VERSION, direction: ASC}) { edges { node { version changedByType changedByID changedByName } } } } } }`, map[string]any{"id": licID})
		root0 := c.keyActor(root)
		for i, want := range []actor{root0, by} {
			n := testenv.Get(d, fmt.Sprintf("node.versions.edges.%d.node", i))
			if testenv.Str(n, "changedByType") != want.typ || testenv.Str(n, "changedByID") != want.id || testenv.Str(n, "changedByName") != want.name {
				t.Errorf("version %d: %v, want %+v", i+1, n, want)
			}
		}
	})
}

// 50 concurrent mutations in one organization take consecutive seqs, and
// the chain verifies.
func TestConcurrentMutationsChainGaplessly(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		key := c.NewOrg("acme")
		other := c.NewOrg("other")
		const n = 50
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				slug := fmt.Sprintf("e-%d", i)
				keys := []string{key}
				if i%5 == 0 {
					keys = append(keys, other)
				}
				for _, k := range keys {
					if r := c.Env.Do(k, createEntitlement, map[string]any{"in": map[string]any{"name": slug, "slug": slug, "type": "BOOLEAN"}}); len(r.Errors) > 0 {
						t.Errorf("create %s: %s", slug, r.Raw)
					}
				}
			}()
		}
		wg.Wait()
		all := c.trail(key, nil)
		if len(all) != n+1 {
			t.Fatalf("%d events, want %d (the first key's and the %d creations)", len(all), n+1, n)
		}
		created := 0
		for i, e := range all {
			if testenv.Num(e, "seq") != float64(i+1) {
				t.Fatalf("event %d has seq %v", i, e["seq"])
			}
			if e["action"] == "entitlement.created" {
				created++
			}
		}
		if created != n {
			t.Fatalf("%d creations recorded", created)
		}
		if v := c.verifyChain(key); v["valid"] != true || testenv.Num(v, "checked") != n+1 {
			t.Fatalf("verifyAuditChain %v", v)
		}
		if err := verifyExport(all, strings.Repeat("0", 64)); err != nil {
			t.Fatal(err)
		}
		if v := c.verifyChain(other); v["valid"] != true || testenv.Num(v, "headSeq") != 11 {
			t.Fatalf("the other organization's chain: %v", v)
		}
	})
}

// exec runs SQL on the server's database, with $N placeholders.
func sqlExec(t *testing.T, env *testenv.Env, q string, args ...any) {
	t.Helper()
	if env.Store == "sqlite" {
		for i := len(args); i >= 1; i-- {
			q = strings.ReplaceAll(q, "$"+strconv.Itoa(i), "?"+strconv.Itoa(i))
		}
	}
	if _, err := env.App.DB.SQL.Exec(q, args...); err != nil {
		t.Fatal(err)
	}
}

func orgID(c client, key string) string {
	c.T.Helper()
	return testenv.Str(c.MustDo(key, `{ viewer { organization { id } } }`, nil), "viewer.organization.id")
}

// An event edited or removed through SQL breaks the chain at its seq;
// other organizations' chains are untouched.
func TestTamperingBreaksTheChain(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		orgs := map[string]string{}
		for _, slug := range []string{"edited", "deleted", "clean"} {
			key := c.NewOrg(slug)
			orgs[slug] = key
			for i := range 4 {
				c.MustDo(key, createEntitlement, map[string]any{"in": map[string]any{"name": "e", "slug": fmt.Sprintf("e-%d", i), "type": "BOOLEAN"}})
			}
			if v := c.verifyChain(key); v["valid"] != true || testenv.Num(v, "headSeq") != 5 {
				t.Fatalf("%s before: %v", slug, v)
			}
		}
		sqlExec(t, c.Env, `UPDATE audit_events SET after = '{"slug": "e-2", "type": "CONFIG"}' WHERE organization_id = $1 AND seq = 4`, orgID(c, orgs["edited"]))
		v := c.verifyChain(orgs["edited"])
		if v["valid"] != false || testenv.Num(v, "firstBrokenSeq") != 4 {
			t.Fatalf("after an edit: %v", v)
		}
		sqlExec(t, c.Env, `DELETE FROM audit_events WHERE organization_id = $1 AND seq = 3`, orgID(c, orgs["deleted"]))
		v = c.verifyChain(orgs["deleted"])
		if v["valid"] != false || testenv.Num(v, "firstBrokenSeq") != 3 {
			t.Fatalf("after a deletion: %v", v)
		}
		if v := c.verifyChain(orgs["clean"]); v["valid"] != true || v["firstBrokenSeq"] != nil {
			t.Fatalf("an untouched organization: %v", v)
		}
		// The independent verifier sees the same breaks.
		if err := verifyExport(c.trail(orgs["edited"], nil), strings.Repeat("0", 64)); err == nil || !strings.Contains(err.Error(), "seq 4") {
			t.Errorf("independent verifier on the edited chain: %v", err)
		}
		if err := verifyExport(c.trail(orgs["deleted"], nil), strings.Repeat("0", 64)); err == nil || !strings.Contains(err.Error(), "seq 4") {
			t.Errorf("independent verifier on the chain with a hole: %v", err)
		}
	})
}

// Another organization never sees an organization's events.
func TestAuditTrailIsPerOrganization(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		a, b := c.NewOrg("alpha"), c.NewOrg("beta")
		licID := testenv.Str(c.MustDo(a, createLicense, map[string]any{"in": map[string]any{"name": "Gold", "slug": "gold", "type": "PAID"}}), "createLicense.id")
		evts := c.trail(a, nil)
		if len(evts) != 2 {
			t.Fatalf("alpha's events: %v", evts)
		}
		ownB := c.trail(b, nil)
		if len(ownB) != 1 || ownB[0]["id"] == evts[0]["id"] {
			t.Fatalf("beta sees %v", ownB)
		}
		if got := c.trail(b, map[string]any{"resourceID": licID}); len(got) != 0 {
			t.Fatalf("beta filters alpha's license: %v", got)
		}
		for _, e := range evts {
			r := c.Do(b, `query($id: ID!) { node(id: $id) { ... on AuditEvent { after } } }`, map[string]any{"id": e["id"]})
			if testenv.Get(r.Data, "node") != nil {
				t.Fatalf("beta reads alpha's event through node: %s", r.Raw)
			}
			r = c.Do(b, `query($id: ID!) { nodes(ids: [$id]) { ... on AuditEvent { after } } }`, map[string]any{"id": e["id"]})
			if testenv.Get(r.Data, "nodes.0") != nil {
				t.Fatalf("beta reads alpha's event through nodes: %s", r.Raw)
			}
		}
		if v := c.verifyChain(b); testenv.Num(v, "checked") != 1 || testenv.Num(v, "headSeq") != 1 {
			t.Fatalf("beta's verification counts alpha's events: %v", v)
		}
		// A CHECK key of alpha sees none of them.
		check := c.NewKey(a, "CHECK")
		c.MustFail(check, "FORBIDDEN", `{ auditEvents { totalCount } }`, nil)
		c.MustFail(check, "FORBIDDEN", `{ verifyAuditChain { valid } }`, nil)
	})
}

// syncBuffer is a log destination the server writes to concurrently.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range bytes.Split(s.b.Bytes(), []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(l, &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// A request's id is echoed, is the requestID of the events it recorded and
// the request_id of its log line.
func TestRequestIDTiesAnEventToItsLogLine(t *testing.T) {
	t.Parallel()
	for _, backend := range testenv.Stores {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			var logs syncBuffer
			env := testenv.New(t, backend, testenv.Configure(func(cfg *app.Config) {
				cfg.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
			}))
			c := client{env, t}
			key := c.NewOrg("acme")
			post := func(id, doc string) testenv.Response {
				body, _ := json.Marshal(map[string]any{"query": doc})
				req, _ := http.NewRequest(http.MethodPost, env.Server.URL+"/graphql", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+key)
				if id != "" {
					req.Header.Set("X-Request-ID", id)
				}
				res, err := env.Server.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				return testenv.Response{Status: res.StatusCode, Header: res.Header}
			}
			r := post("deploy-42:step.1", `mutation { createEntitlement(input: {name: "SSO", slug: "sso", type: BOOLEAN}) { id } }`)
			if got := r.Header.Get("X-Request-ID"); got != "deploy-42:step.1" {
				t.Fatalf("X-Request-ID answered %q", got)
			}
			r2 := post("not plain!", `mutation { createEntitlement(input: {name: "Beta", slug: "beta", type: BOOLEAN}) { id } }`)
			made := r2.Header.Get("X-Request-ID")
			if len(made) != 26 {
				t.Fatalf("a caller's id that is not plain is replaced by a ULID, got %q", made)
			}
			evts := c.trail(key, map[string]any{"action": "entitlement.created"})
			if len(evts) != 2 || evts[0]["requestID"] != "deploy-42:step.1" || evts[1]["requestID"] != made {
				t.Fatalf("events' request ids: %v", evts)
			}
			found := map[string]bool{}
			for _, l := range logs.lines() {
				if l["msg"] == "graphql mutation" {
					found[fmt.Sprint(l["request_id"])] = fmt.Sprint(l["fields"]) == "[createEntitlement]"
				}
			}
			if !found["deploy-42:step.1"] || !found[made] {
				t.Fatalf("log lines of the mutations: %v", logs.lines())
			}
			// A failed request gets its line too.
			post("bad-1", `{ nope }`)
			req, _ := http.NewRequest(http.MethodPost, env.Server.URL+"/graphql", strings.NewReader(`{"query":"{ viewer { scopes } }"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer etk_wrong")
			req.Header.Set("X-Request-ID", "unauth-1")
			res, err := env.Server.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			logged := map[string]string{}
			for _, l := range logs.lines() {
				if id, ok := l["request_id"].(string); ok {
					logged[id] = fmt.Sprint(l["msg"])
				}
			}
			if logged["bad-1"] != "graphql request failed" || logged["unauth-1"] != "request failed" {
				t.Fatalf("failed requests' lines: %v", logged)
			}
		})
	}
}

// instance.expiring events come 30, 7 and 1 days before expiresAt, once
// each, from the scheduler (actor SYSTEM), by the server's clock.
func TestExpiryEvents(t *testing.T) {
	t.Parallel()
	for _, backend := range testenv.Stores {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			env := testenv.New(t, backend, testenv.Configure(func(cfg *app.Config) { cfg.ScheduleInterval = 10 * time.Millisecond }))
			start := time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)
			env.SetNow(start)
			c := client{env, t}
			key := c.NewOrg("acme")
			licID := testenv.Str(c.MustDo(key, createLicense, map[string]any{"in": map[string]any{"name": "Gold", "slug": "gold", "type": "PAID"}}), "createLicense.id")
			expires := start.Add(10 * 24 * time.Hour)
			c.MustDo(key, `mutation($l: ID!, $x: Time) { createInstance(input: {name: "EU", slug: "eu-1", licenseID: $l, expiresAt: $x}) { id } }`,
				map[string]any{"l": licID, "x": expires.Format(time.RFC3339)})
			c.MustDo(key, `mutation($l: ID!, $x: Time) { createInstance(input: {name: "US", slug: "us-1", licenseID: $l, expiresAt: $x}) { id } }`,
				map[string]any{"l": licID, "x": start.Add(90 * 24 * time.Hour).Format(time.RFC3339)})
			expiring := func(n int) []map[string]any {
				t.Helper()
				deadline := time.Now().Add(30 * time.Second)
				for {
					got := c.trail(key, map[string]any{"action": "instance.expiring"})
					if len(got) >= n || time.Now().After(deadline) {
						return got
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			got := expiring(1)
			if len(got) != 1 {
				t.Fatalf("no expiry event: %v", got)
			}
			e := got[0]
			// Ten days left: the 30-day notice.
			if e["actorType"] != "SYSTEM" || e["resourceType"] != "INSTANCE" || e["resourceSlug"] != "eu-1" || testenv.Num(e, "after.days") != 30 ||
				testenv.Str(e, "after.expiresAt") != expires.Format(time.RFC3339Nano) || testenv.Str(e, "after.instance.slug") != "eu-1" || e["before"] != nil {
				t.Fatalf("expiry event %v", e)
			}
			// 20 hours left: the 1-day notice (the 7-day one's time passed
			// unseen, and it is not sent late).
			env.SetNow(expires.Add(-20 * time.Hour))
			got = expiring(2)
			if len(got) != 2 || testenv.Num(got[1], "after.days") != 1 {
				t.Fatalf("the 1-day event: %v", got)
			}
			// More passes add nothing; the chain holds.
			time.Sleep(100 * time.Millisecond)
			if got := c.trail(key, map[string]any{"action": "instance.expiring"}); len(got) != 2 {
				t.Fatalf("notices repeated: %v", got)
			}
			if v := c.verifyChain(key); v["valid"] != true {
				t.Fatalf("verifyAuditChain %v", v)
			}
			// A new expiry date gets its own notices: 5 days 20 hours left,
			// the 7-day one.
			c.MustDo(key, `mutation($id: ID!, $x: Time) { updateInstance(id: $id, input: {expiresAt: $x}) { id } }`,
				map[string]any{"id": testenv.Str(got[0], "resourceID"), "x": expires.Add(5 * 24 * time.Hour).Format(time.RFC3339)})
			got = expiring(3)
			if len(got) != 3 || testenv.Num(got[2], "after.days") != 7 {
				t.Fatalf("after a new expiresAt: %v", got)
			}
		})
	}
}

// With ENTITLED_AUDIT_RETENTION, old events are pruned and the chain
// verifies from the first kept one, on the server and independently.
func TestRetentionPrunesAndStaysVerifiable(t *testing.T) {
	t.Parallel()
	for _, backend := range testenv.Stores {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			env := testenv.New(t, backend, testenv.Configure(func(cfg *app.Config) {
				cfg.ScheduleInterval = 10 * time.Millisecond
				cfg.AuditRetention = 30 * 24 * time.Hour
			}))
			start := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
			env.SetNow(start)
			c := client{env, t}
			key := c.NewOrg("acme")
			for i := range 3 {
				c.MustDo(key, createEntitlement, map[string]any{"in": map[string]any{"name": "e", "slug": fmt.Sprintf("old-%d", i), "type": "BOOLEAN"}})
			}
			env.SetNow(start.Add(20 * 24 * time.Hour))
			for i := range 2 {
				c.MustDo(key, createEntitlement, map[string]any{"in": map[string]any{"name": "e", "slug": fmt.Sprintf("new-%d", i), "type": "BOOLEAN"}})
			}
			env.SetNow(start.Add(40 * 24 * time.Hour)) // the first four events (seq 1..4) are older than 30 days
			deadline := time.Now().Add(30 * time.Second)
			var v map[string]any
			for {
				v = c.verifyChain(key)
				if testenv.Num(v, "prunedSeq") > 0 || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if v["valid"] != true || testenv.Num(v, "prunedSeq") != 4 || testenv.Num(v, "checked") != 2 || testenv.Num(v, "headSeq") != 6 {
				t.Fatalf("after pruning: %v", v)
			}
			kept := c.trail(key, nil)
			if len(kept) != 2 || testenv.Num(kept[0], "seq") != 5 || kept[0]["prevHash"] != v["prunedHash"] {
				t.Fatalf("kept %v", kept)
			}
			if err := verifyExport(kept, v["prunedHash"].(string)); err != nil {
				t.Fatal(err)
			}
			// The log goes on from its head.
			c.MustDo(key, createEntitlement, map[string]any{"in": map[string]any{"name": "e", "slug": "later", "type": "BOOLEAN"}})
			if v := c.verifyChain(key); v["valid"] != true || testenv.Num(v, "headSeq") != 7 {
				t.Fatalf("after a new event: %v", v)
			}
		})
	}
}

// verifyExport checks a GraphQL export of consecutive events the way a
// third party would, with nothing of the server: each hash is the hex
// SHA-256 of the previous hash followed by the RFC 8785 canonical JSON of
// the event's other fields (docs/audit.md). prev is the hash before the
// first event (64 zeros, or the pruned head's).
func verifyExport(evts []map[string]any, prev string) error {
	fields := strings.Fields(auditFields)
	var seq float64
	for i, e := range evts {
		s := number(e["seq"])
		if i > 0 && s != seq+1 {
			return fmt.Errorf("seq %v follows %v", s, seq)
		}
		if e["prevHash"] != prev {
			return fmt.Errorf("seq %v: prevHash %v, want %s", s, e["prevHash"], prev)
		}
		obj := map[string]any{}
		for _, f := range fields {
			if f != "prevHash" && f != "hash" {
				obj[f] = e[f]
			}
		}
		var b strings.Builder
		if err := jcs(&b, obj); err != nil {
			return err
		}
		sum := sha256.Sum256([]byte(prev + b.String()))
		if got := hex.EncodeToString(sum[:]); got != e["hash"] {
			return fmt.Errorf("seq %v: hash %v, recomputed %s over %s", s, e["hash"], got, b.String())
		}
		prev, seq = e["hash"].(string), s
	}
	return nil
}

func number(v any) float64 {
	switch n := v.(type) {
	case json.Number:
		f, _ := n.Float64()
		return f
	case float64:
		return n
	}
	return math.NaN()
}

// jcs writes v in the JSON Canonicalization Scheme (RFC 8785), written
// from the RFC for this test.
func jcs(b *strings.Builder, v any) error {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case json.Number, float64:
		s, err := esNumber(number(x))
		if err != nil {
			return err
		}
		b.WriteString(s)
	case string:
		b.WriteByte('"')
		for _, r := range x {
			switch {
			case r == '"':
				b.WriteString(`\"`)
			case r == '\\':
				b.WriteString(`\\`)
			case r == '\b':
				b.WriteString(`\b`)
			case r == '\f':
				b.WriteString(`\f`)
			case r == '\n':
				b.WriteString(`\n`)
			case r == '\r':
				b.WriteString(`\r`)
			case r == '\t':
				b.WriteString(`\t`)
			case r < 0x20:
				fmt.Fprintf(b, `\u%04x`, r)
			default:
				b.WriteRune(r)
			}
		}
		b.WriteByte('"')
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := jcs(b, e); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			a, c := utf16.Encode([]rune(keys[i])), utf16.Encode([]rune(keys[j]))
			for k := 0; k < len(a) && k < len(c); k++ {
				if a[k] != c[k] {
					return a[k] < c[k]
				}
			}
			return len(a) < len(c)
		})
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := jcs(b, k); err != nil {
				return err
			}
			b.WriteByte(':')
			if err := jcs(b, x[k]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	default:
		return fmt.Errorf("jcs: %T", v)
	}
	return nil
}

// esNumber is ECMAScript's Number::toString (ECMA-262 §6.1.6.1.20), which
// RFC 8785 prescribes: the shortest digits that round-trip, in decimal
// notation from 1e-6 up to 1e21 and exponent notation outside.
func esNumber(f float64) (string, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "", fmt.Errorf("jcs: %v is not a JSON number", f)
	}
	if f == 0 {
		return "0", nil
	}
	sign := ""
	if f < 0 {
		sign, f = "-", -f
	}
	// Shortest digits and exponent: d.ddde±x, so the value is
	// 0.dddd × 10^n with n = x+1.
	e := strconv.FormatFloat(f, 'e', -1, 64)
	mant, exp, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	x, _ := strconv.Atoi(exp)
	n, k := x+1, len(digits)
	switch {
	case k <= n && n <= 21:
		return sign + digits + strings.Repeat("0", n-k), nil
	case 0 < n && n <= 21:
		return sign + digits[:n] + "." + digits[n:], nil
	case -6 < n && n <= 0:
		return sign + "0." + strings.Repeat("0", -n) + digits, nil
	}
	es := "+"
	if n-1 < 0 {
		es = "-"
	}
	m := digits[:1]
	if k > 1 {
		m += "." + digits[1:]
	}
	return sign + m + "e" + es + strconv.Itoa(abs(n-1)), nil
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// The test's own canonical form against RFC 8785's examples, so that
// agreeing with the server means something.
func TestIndependentCanonicalForm(t *testing.T) {
	for in, want := range map[string]string{
		`{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001], "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/", "literals": [null, true, false]}`: `{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`,
		`[-0, 1e21, 1e-7, 123456789012345680000, 0.1, 1e-6, -5e-324, 1.7976931348623157e308]`:                                                                                            `[0,1e+21,1e-7,123456789012345680000,0.1,0.000001,-5e-324,1.7976931348623157e+308]`,
		`{"\u20ac": 1, "\r": 2, "\ufb33": 3, "1": 4, "\ud83d\ude00": 5, "\u0080": 6, "\u00f6": 7}`:                                                                                       "{\"\\r\":2,\"1\":4,\"\u0080\":6,\"\u00f6\":7,\"\u20ac\":1,\"\U0001F600\":5,\"\ufb33\":3}",
	} {
		dec := json.NewDecoder(strings.NewReader(in))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := jcs(&b, v); err != nil {
			t.Fatal(err)
		}
		if b.String() != want {
			t.Errorf("jcs(%s)\n got %s\nwant %s", in, b.String(), want)
		}
	}
}

// A consumeUsage that crosses 80 % records exactly one crossing; the next
// threshold its own; a refused consume none.
func TestConsumeCrossingsRecordOneEventEach(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		f := newFixture(t, c.Env, "acme") // api-calls: 100, 10 % overage
		consume := func(n float64) map[string]any {
			return map[string]any{"in": map[string]any{"instance": "eu-1", "entitlement": "api-calls", "amount": n}}
		}
		crossed := func(kind string, usage float64) change {
			return change{action: "usage.threshold_crossed", resourceType: "USAGE", slug: "eu-1", by: system,
				after: map[string]any{"threshold": kind, "usage": usage, "limit": 100, "hardCap": 110, "entitlement.slug": "api-calls"}}
		}
		c.expect(f.key, consumeQ, consume(50))
		c.expect(f.key, consumeQ, consume(35), crossed("PERCENT_80", 85))
		c.expect(f.key, consumeQ, consume(5))
		c.expect(f.key, consumeQ, consume(15), crossed("LIMIT_REACHED", 105))
		d, _ := c.expect(f.key, consumeQ, consume(10)) // past the hard cap: refused, nothing recorded
		if testenv.Get(d, "consumeUsage.allowed") != false {
			t.Fatalf("consume past the cap: %v", d)
		}
		c.expect(f.key, reportQ, map[string]any{"in": map[string]any{"instance": "eu-1", "entitlement": "api-calls", "value": 10}},
			crossed("HARD_CAP_EXCEEDED", 115))
	})
}
