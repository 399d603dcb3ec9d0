package apitest

import (
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/entitled/entitled/internal/platform/changefeed"
	"github.com/entitled/entitled/internal/testenv"
	"github.com/entitled/entitled/internal/testenv/proxy"
)

// propagation is the bound every replica must meet: a change made through
// one process is answered by every other within it.
const propagation = time.Second

// within polls check on every env until it holds for all, and returns how
// long the slowest took; it fails the test past limit.
func within(t *testing.T, limit time.Duration, what string, envs []*testenv.Env, check func(env *testenv.Env) bool) time.Duration {
	t.Helper()
	start := time.Now()
	var worst atomic.Int64
	var wg sync.WaitGroup
	failed := make([]bool, len(envs))
	for i, env := range envs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !check(env) {
				if time.Since(start) > limit+2*time.Second {
					failed[i] = true
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
			d := int64(time.Since(start))
			for {
				cur := worst.Load()
				if d <= cur || worst.CompareAndSwap(cur, d) {
					break
				}
			}
		}()
	}
	wg.Wait()
	got := time.Duration(worst.Load())
	for i, f := range failed {
		if f {
			t.Fatalf("%s: replica %d still answers the old way after %s", what, i+1, time.Since(start).Round(time.Millisecond))
		}
	}
	if got > limit {
		t.Fatalf("%s reached every replica after %s, more than %s", what, got.Round(time.Millisecond), limit)
	}
	return got
}

// decision asks without failing the test on an error (a replica may be
// between answers); nil when it did not answer.
func decision(env *testenv.Env, key, inst, ent string) map[string]any {
	r := env.Do(key, allowedStaleQ, map[string]any{"i": inst, "e": ent})
	if r.Status != http.StatusOK || len(r.Errors) > 0 {
		return nil
	}
	d, _ := r.Data["allowed"].(map[string]any)
	return d
}

const allowedStaleQ = `query($i: String!, $e: String!) { allowed(instance: $i, entitlement: $e) { allowed reason usage value stale } }`

func answers(key, inst, ent string, allowed bool, reason string) func(env *testenv.Env) bool {
	return func(env *testenv.Env) bool {
		d := decision(env, key, inst, ent)
		return d != nil && d["allowed"] == allowed && d["reason"] == reason
	}
}

// Three servers on one database: every kind of change made through one is
// answered by the two others within a second, 20 trials of 20 — catalog
// links, instances, a new policy (and its removal), revoked keys.
func TestEveryReplicaAgreesWithinASecond(t *testing.T) {
	a := testenv.New(t, "postgres")
	b, c := a.Peer(), a.Peer()
	peers := []*testenv.Env{b, c}
	f := newFixture(t, a, "acme")
	free := testenv.Str(a.MustDo(f.key, createLicense, map[string]any{"in": map[string]any{"name": "Free", "slug": "free", "type": "COMMUNITY"}}), "createLicense.id")
	inst := testenv.Str(a.MustDo(f.key, `mutation { createInstance(input: {name: "EU 2", slug: "eu-2"}) { id } }`, nil), "createInstance.id")
	var worst time.Duration
	var policyID string
	for trial := 0; trial < 20; trial++ {
		var what string
		var check func(*testenv.Env) bool
		switch trial % 4 {
		case 0: // a link's value
			on := trial%8 == 0
			within(t, 5*time.Second, "warm", peers, answers(f.key, "eu-1", "beta", !on, map[bool]string{true: "ALLOWED", false: "FEATURE_DISABLED"}[!on]))
			a.MustDo(f.key, setLink, map[string]any{"in": map[string]any{"licenseID": f.licID, "entitlementID": f.flag, "value": map[string]any{"type": "boolean", "value": on}}})
			what, check = "a link change", answers(f.key, "eu-1", "beta", on, map[bool]string{true: "ALLOWED", false: "FEATURE_DISABLED"}[on])
		case 1: // an instance moved to another license
			lic, allowed, reason := free, false, "NOT_ENTITLED"
			if trial%8 == 5 {
				lic, allowed, reason = f.licID, true, "ALLOWED"
			}
			within(t, 5*time.Second, "warm", peers, answers(f.key, "eu-2", "sso", !allowed, map[bool]string{true: "ALLOWED", false: "NOT_ENTITLED"}[!allowed]))
			a.MustDo(f.key, `mutation($id: ID!, $l: ID!) { updateInstance(id: $id, input: {licenseID: $l}) { id } }`, map[string]any{"id": inst, "l": lic})
			what, check = "an instance change", answers(f.key, "eu-2", "sso", allowed, reason)
		case 2: // a new policy, then its removal
			within(t, 5*time.Second, "warm", peers, answers(f.key, "eu-1", "branding", policyID == "", map[bool]string{true: "ALLOWED", false: "DENIED_BY_POLICY"}[policyID == ""]))
			if policyID == "" {
				d := a.MustDo(f.key, createPolicyQ, map[string]any{"in": map[string]any{"name": fmt.Sprintf("p%d", trial), "active": true,
					"module": fmt.Sprintf("package entitled.custom.p%d\n\ndeny contains \"no branding\" if input.entitlement.slug == \"branding\"\n", trial)}})
				policyID = testenv.Str(d, "createPolicy.id")
				what, check = "a new policy", answers(f.key, "eu-1", "branding", false, "DENIED_BY_POLICY")
			} else {
				a.MustDo(f.key, `mutation($id: ID!) { deletePolicy(id: $id) }`, map[string]any{"id": policyID})
				policyID = ""
				what, check = "a removed policy", answers(f.key, "eu-1", "branding", true, "ALLOWED")
			}
		case 3: // a revoked key
			secret := a.NewKey(f.key, "CHECK")
			within(t, 5*time.Second, "warm", peers, func(env *testenv.Env) bool { return decision(env, secret, "eu-1", "sso") != nil })
			id := keyID(t, a, f.key, secret)
			a.MustDo(f.key, `mutation($id: ID!) { revokeAPIKey(id: $id) { revoked } }`, map[string]any{"id": id})
			what, check = "a revoked key", func(env *testenv.Env) bool {
				return env.Do(secret, allowedStaleQ, map[string]any{"i": "eu-1", "e": "sso"}).Status == http.StatusUnauthorized
			}
		}
		d := within(t, propagation, what, peers, check)
		t.Logf("trial %2d: %-18s reached both other replicas after %s", trial+1, what, d.Round(time.Millisecond))
		worst = max(worst, d)
	}
	t.Logf("worst propagation over 20 trials: %s", worst.Round(time.Millisecond))
}

// keyID finds the id of the key whose secret starts with its prefix.
func keyID(t *testing.T, env *testenv.Env, admin, secret string) string {
	t.Helper()
	d := env.MustDo(admin, `{ apiKeys { id prefix } }`, nil)
	for _, k := range d["apiKeys"].([]any) {
		k := k.(map[string]any)
		if strings.HasPrefix(secret, k["prefix"].(string)) {
			return k["id"].(string)
		}
	}
	t.Fatalf("no key with the prefix of %s", secret[:10])
	return ""
}

// A notification lost on purpose (the test hook commits the change without
// it) is caught by the other replica's backstop within its period; the
// next notification that arrives shows the gap and is caught at once.
func TestLostNotificationCaughtByBackstop(t *testing.T) {
	var skip atomic.Bool
	const period = time.Second
	a := testenv.New(t, "postgres", testenv.SkipNotify(func(changefeed.Change) bool { return skip.Load() }))
	b := a.Peer(testenv.ResyncInterval(period))
	f := newFixture(t, a, "acme")
	peers := []*testenv.Env{b}
	within(t, 5*time.Second, "warm", peers, answers(f.key, "eu-1", "beta", false, "FEATURE_DISABLED"))

	skip.Store(true)
	a.MustDo(f.key, setLink, map[string]any{"in": map[string]any{"licenseID": f.licID, "entitlementID": f.flag, "value": map[string]any{"type": "boolean", "value": true}}})
	skip.Store(false)
	wantReason(t, ask(t, a, f.key, "eu-1", "beta", nil), true, "ALLOWED") // its own process applies it after commit
	d := within(t, period+300*time.Millisecond, "a change whose notification was lost", peers, answers(f.key, "eu-1", "beta", true, "ALLOWED"))
	t.Logf("the backstop (period %s) caught the lost notification after %s", period, d.Round(time.Millisecond))

	// A lost instance change, then a notified link change: the second
	// one's counter shows the gap, so both are seen at once.
	b2 := a.Peer(testenv.ResyncInterval(time.Hour))
	within(t, 5*time.Second, "warm", []*testenv.Env{b2}, answers(f.key, "eu-1", "sso", true, "ALLOWED"))
	free := testenv.Str(a.MustDo(f.key, createLicense, map[string]any{"in": map[string]any{"name": "Free", "slug": "free", "type": "COMMUNITY"}}), "createLicense.id")
	inst := testenv.Str(a.MustDo(f.key, `{ instances { edges { node { id } } } }`, nil), "instances.edges.0.node.id")
	within(t, 5*time.Second, "warm", []*testenv.Env{b2}, answers(f.key, "eu-1", "sso", true, "ALLOWED"))
	skip.Store(true)
	a.MustDo(f.key, `mutation($id: ID!, $l: ID!) { updateInstance(id: $id, input: {licenseID: $l}) { id } }`, map[string]any{"id": inst, "l": free})
	skip.Store(false)
	time.Sleep(100 * time.Millisecond)
	if d := decision(b2, f.key, "eu-1", "sso"); d == nil || d["reason"] != "ALLOWED" {
		t.Fatalf("without the notification or a backstop, the replica should still answer the old way; got %v", d)
	}
	a.MustDo(f.key, setLink, map[string]any{"in": map[string]any{"licenseID": f.licID, "entitlementID": f.flag, "value": map[string]any{"type": "boolean", "value": false}}})
	within(t, propagation, "the change after a lost one", []*testenv.Env{b2}, answers(f.key, "eu-1", "sso", false, "NOT_ENTITLED"))
}

// One replica loses its database for 10 s (a proxy between it and
// PostgreSQL is cut, as a restart would): cached BOOLEAN, CONFIG and
// NUMBER decisions keep answering, marked stale; writes answer
// UNAVAILABLE (503, Retry-After); /readyz is 503; an organization it never
// loaded is UNAVAILABLE. When the database returns, the change made during
// the outage and the first change after it are answered within a second,
// and writes work again, without a restart.
func TestOutageFailsStaticAndRecovers(t *testing.T) {
	a := testenv.New(t, "postgres")
	p, viaProxy, err := proxy.ForURL(a.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	b := a.Peer(testenv.DatabaseURL(viaProxy))
	f := newFixture(t, a, "acme")
	check := a.NewKey(f.key, "CHECK")
	other := a.NewOrg("other") // b never loads it
	usage := func(env *testenv.Env, key, idem string) testenv.Response {
		return env.Do(key, `mutation($in: ReportUsageInput!) { reportUsage(input: $in) { usage { value count } replayed } }`,
			map[string]any{"in": map[string]any{"instance": "eu-1", "entitlement": "api-calls", "value": 5, "idempotencyKey": idem}})
	}
	if r := usage(b, check, "r1"); r.Status != http.StatusOK || len(r.Errors) > 0 {
		t.Fatalf("report before the outage: %s", r.Raw)
	}
	for _, e := range []string{"sso", "branding", "api-calls"} {
		if d := decision(b, check, "eu-1", e); d == nil || d["stale"] != false {
			t.Fatalf("warm %s: %v", e, d)
		}
	}

	// A change through the replica itself just before the outage: it
	// replaces the replica's snapshot, whose reload then fails, so the
	// replaced one answers (fail static).
	b.MustDo(f.key, createEntitlement, map[string]any{"in": map[string]any{"name": "extra", "slug": "extra", "type": "BOOLEAN"}})
	p.Cut()
	cut := time.Now()
	within(t, 2*time.Second, "the replica noticing the outage", []*testenv.Env{b}, func(env *testenv.Env) bool {
		d := decision(env, check, "eu-1", "sso")
		return d != nil && d["stale"] == true
	})
	for e, want := range map[string]string{"sso": "ALLOWED", "branding": "ALLOWED", "api-calls": "ALLOWED"} {
		d := decision(b, check, "eu-1", e)
		if d == nil || d["reason"] != want || d["stale"] != true {
			t.Fatalf("%s during the outage: %v, want %s and stale", e, d, want)
		}
		if e == "api-calls" && testenv.Num(d, "usage") != 5 {
			t.Fatalf("NUMBER during the outage: usage %v, want the last known 5", d["usage"])
		}
		if e == "branding" && testenv.Str(d, "value.value.theme") != "custom" {
			t.Fatalf("CONFIG during the outage: value %v", d["value"])
		}
	}
	unavailable := func(what string, r testenv.Response) {
		t.Helper()
		if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" || len(r.Errors) == 0 || r.Errors[0].Code() != "UNAVAILABLE" {
			t.Fatalf("%s during the outage: status %d, Retry-After %q: %s", what, r.Status, r.Header.Get("Retry-After"), r.Raw)
		}
	}
	unavailable("reportUsage", usage(b, check, "r2"))
	unavailable("createInstance", b.Do(f.key, `mutation { createInstance(input: {name: "X", slug: "x"}) { id } }`, nil))
	unavailable("an organization never loaded", b.Do(other, `{ allowed(instance: "i", entitlement: "e") { allowed } }`, nil))
	if st := status(t, b.Server.URL+"/readyz"); st != http.StatusServiceUnavailable {
		t.Fatalf("/readyz during the outage: %d, want 503", st)
	}
	opa := opaDecision(t, b, check, "eu-1", "sso")
	if !strings.Contains(opa, `"allowed":true`) || !strings.Contains(opa, `"stale":true`) {
		t.Fatalf("OPA door during the outage: %s", opa)
	}
	// A change the replica cannot hear about.
	a.MustDo(f.key, setLink, map[string]any{"in": map[string]any{"licenseID": f.licID, "entitlementID": f.flag, "value": map[string]any{"type": "boolean", "value": true}}})
	failures := 0
	for time.Since(cut) < 10*time.Second {
		if d := decision(b, check, "eu-1", "sso"); d == nil || d["allowed"] != true {
			failures++
		}
		time.Sleep(100 * time.Millisecond)
	}
	if failures > 0 {
		t.Fatalf("%d cached BOOLEAN decisions failed during the outage", failures)
	}

	if err := p.Restore(); err != nil {
		t.Fatal(err)
	}
	restored := time.Now()
	// The first change after the outage.
	a.MustDo(f.key, setLink, map[string]any{"in": map[string]any{"licenseID": f.licID, "entitlementID": f.sso, "value": map[string]any{"type": "boolean", "value": false}}})
	d := within(t, propagation, "the first change after a 10 s outage", []*testenv.Env{b}, func(env *testenv.Env) bool {
		sso, beta := decision(env, check, "eu-1", "sso"), decision(env, check, "eu-1", "beta")
		return sso != nil && beta != nil && sso["reason"] == "FEATURE_DISABLED" && beta["reason"] == "ALLOWED" && sso["stale"] == false
	})
	t.Logf("after a 10 s outage, the first change reached the replica %s after it was made", d.Round(time.Millisecond))
	within(t, time.Since(restored)+propagation, "writes after the outage", []*testenv.Env{b}, func(env *testenv.Env) bool {
		r := usage(env, check, "r2")
		return r.Status == http.StatusOK && len(r.Errors) == 0
	})
	within(t, time.Since(restored)+propagation, "/readyz after the outage", []*testenv.Env{b}, func(env *testenv.Env) bool {
		return status(t, env.Server.URL+"/readyz") == http.StatusOK
	})
	within(t, time.Since(restored)+propagation, "an organization never loaded, after the outage", []*testenv.Env{b}, func(env *testenv.Env) bool {
		r := env.Do(other, `{ allowed(instance: "i", entitlement: "e") { reason } }`, nil)
		return r.Status == http.StatusOK && len(r.Errors) == 0
	})
	if d := decision(b, check, "eu-1", "api-calls"); d == nil || testenv.Num(d, "usage") != 10 {
		t.Fatalf("usage after the outage: %v, want 10 (each report counted once)", d)
	}
	t.Logf("everything answered again %s after the database returned", time.Since(restored).Round(time.Millisecond))
}

// Past ENTITLED_STALE_LIMIT without the database, decisions fail closed
// (UNAVAILABLE), and come back when it returns.
func TestStaleLimitFailsClosed(t *testing.T) {
	const limit = 1500 * time.Millisecond
	a := testenv.New(t, "postgres")
	p, viaProxy, err := proxy.ForURL(a.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	b := a.Peer(testenv.DatabaseURL(viaProxy), testenv.StaleLimit(limit))
	f := newFixture(t, a, "acme")
	wantReason(t, ask(t, b, f.key, "eu-1", "sso", nil), true, "ALLOWED")
	p.Cut()
	within(t, 2*time.Second, "stale answers", []*testenv.Env{b}, func(env *testenv.Env) bool {
		d := decision(env, f.key, "eu-1", "sso")
		return d != nil && d["stale"] == true
	})
	time.Sleep(limit)
	r := b.Do(f.key, allowedStaleQ, map[string]any{"i": "eu-1", "e": "sso"})
	if r.Status != http.StatusServiceUnavailable || len(r.Errors) == 0 || r.Errors[0].Code() != "UNAVAILABLE" {
		t.Fatalf("past the stale limit: status %d %s, want 503 UNAVAILABLE", r.Status, r.Raw)
	}
	if err := p.Restore(); err != nil {
		t.Fatal(err)
	}
	within(t, propagation, "decisions after the database returned", []*testenv.Env{b}, func(env *testenv.Env) bool {
		d := decision(env, f.key, "eu-1", "sso")
		return d != nil && d["allowed"] == true && d["stale"] == false
	})
}

// Every connection of the database terminated (pg_terminate_backend, as an
// operator or a failover does): both replicas reconnect, and a change made
// right after is answered by the other within a second.
func TestTerminatedConnectionsRecover(t *testing.T) {
	a := testenv.New(t, "postgres")
	b := a.Peer()
	f := newFixture(t, a, "acme")
	within(t, 5*time.Second, "warm", []*testenv.Env{b}, answers(f.key, "eu-1", "beta", false, "FEATURE_DISABLED"))
	admin, err := sql.Open("postgres", a.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for round := 0; round < 3; round++ {
		var n int
		if err := admin.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		on := round%2 == 0
		a.MustDo(f.key, setLink, map[string]any{"in": map[string]any{"licenseID": f.licID, "entitlementID": f.flag, "value": map[string]any{"type": "boolean", "value": on}}})
		want := map[bool]string{true: "ALLOWED", false: "FEATURE_DISABLED"}[on]
		d := within(t, propagation, "a change right after the connections were terminated", []*testenv.Env{b}, answers(f.key, "eu-1", "beta", on, want))
		t.Logf("round %d: terminated %d connections; the next change reached the other replica after %s", round+1, n, d.Round(time.Millisecond))
	}
}

func status(t *testing.T, url string) int {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

func opaDecision(t *testing.T, env *testenv.Env, key, inst, ent string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, env.Server.URL+"/v1/data/entitled/decision", strings.NewReader(fmt.Sprintf(`{"input": {"instance": %q, "entitlement": %q}}`, inst, ent)))
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return fmt.Sprintf("%d %s", res.StatusCode, b)
}
