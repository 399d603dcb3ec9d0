package apitest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	of "github.com/open-feature/go-sdk/openfeature"

	"github.com/entitled/entitled/internal/testenv"
	"github.com/entitled/entitled/internal/testenv/proxy"
	"github.com/entitled/entitled/sdk"
	entof "github.com/entitled/entitled/sdk/openfeature"
)

// The Go SDK (package sdk) against a real server on both stores.

// sdkStates adds to newSDKFixture an instance in every other license
// state: no license, an inactive license, not yet started, expired.
func sdkStates(c client, f sdkFixture) []string {
	c.T.Helper()
	old := c.NewLicense(f.admin, "old", "PAID", map[string]any{"isActive": false})
	c.Link(f.admin, old, f.sso, boolean(true))
	now := time.Now().UTC()
	for _, in := range []map[string]any{
		{"name": "None", "slug": "none-1", "licenseID": f.paid},
		{"name": "Inactive", "slug": "inactive-1", "licenseID": old},
		{"name": "Future", "slug": "future-1", "licenseID": f.paid, "startsAt": now.Add(48 * time.Hour).Format(time.RFC3339)},
		{"name": "Expired", "slug": "expired-1", "licenseID": f.paid, "startsAt": now.Add(-48 * time.Hour).Format(time.RFC3339),
			"expiresAt": now.Add(-time.Hour).Format(time.RFC3339)},
	} {
		id := testenv.Str(c.MustDo(f.admin, qCreateInstance, map[string]any{"in": in}), "createInstance.id")
		if in["slug"] == "none-1" {
			c.MustDo(f.admin, `mutation($id: ID!) { updateInstance(id: $id, input: {clearLicense: true}) { id } }`, map[string]any{"id": id})
		}
	}
	return []string{"eu-1", "us-1", "trial-1", "none-1", "inactive-1", "future-1", "expired-1"}
}

// sdkClient is a client of the server at url with short intervals.
func sdkClient(t *testing.T, url, key string, edit func(*sdk.Config)) *sdk.Client {
	t.Helper()
	cfg := sdk.Config{URL: url, APIKey: key, UsageRefresh: 200 * time.Millisecond, ReportInterval: 20 * time.Millisecond,
		RetryMin: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond, RequestTimeout: 5 * time.Second, CloseTimeout: -1}
	if edit != nil {
		edit(&cfg)
	}
	cl, err := sdk.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// sameAsServer compares a local decision with the server's allowed.
func sameAsServer(t *testing.T, d sdk.Decision, want map[string]any) bool {
	t.Helper()
	gotValue, _ := json.Marshal(d.Value)
	wantValue, _ := json.Marshal(want["value"])
	gotReasons, _ := json.Marshal(d.Reasons)
	wantReasons, _ := json.Marshal(want["reasons"])
	lv := any(nil)
	if d.LicenseVersion != nil {
		lv = float64(*d.LicenseVersion)
	}
	return d.Allowed == want["allowed"] && d.Reason == want["reason"] && string(gotReasons) == string(wantReasons) &&
		string(gotValue) == string(wantValue) && ptrNum(d.Usage) == jsonNum(want["usage"]) && ptrNum(d.Limit) == jsonNum(want["limit"]) &&
		ptrNum(d.HardCap) == jsonNum(want["hardCap"]) && ptrNum(d.Remaining) == jsonNum(want["remaining"]) &&
		lv == jsonNum(want["licenseVersion"]) && float64(d.PolicyVersion) == jsonNum(want["policyVersion"])
}

// Every local Allowed equals the server's allowed, for every entitlement
// type, a custom deny policy and instances in every license state.
func TestSDKAllowedEqualsTheServers(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		f := newSDKFixture(c)
		instances := sdkStates(c, f)
		cl := sdkClient(t, c.Server.URL, f.check, nil)
		ctx := context.Background()
		reasons := map[string]int{}
		for _, inst := range append(instances, "nobody") {
			for _, e := range []string{"api-calls", "sso", "beta", "branding", "unknown"} {
				for _, req := range []any{nil, 5.0, 95.0} {
					var opts []sdk.AllowedOption
					if req != nil {
						opts = append(opts, sdk.Requested(req.(float64)))
					}
					d, err := cl.Allowed(ctx, inst, e, opts...)
					if err != nil {
						t.Fatalf("%s × %s: %v", inst, e, err)
					}
					want := ask(t, c.Env, f.check, inst, e, req)
					if !sameAsServer(t, d, want) || d.Source != sdk.SourceLocal || d.Stale {
						t.Errorf("%s × %s (requested %v): local %+v, server %v", inst, e, req, d, want)
					}
					reasons[d.Reason]++
				}
			}
		}
		for _, r := range []string{"ALLOWED", "DENIED_BY_POLICY", "LIMIT_EXCEEDED", "NOT_ENTITLED", "FEATURE_DISABLED", "NO_LICENSE",
			"LICENSE_INACTIVE", "LICENSE_NOT_STARTED", "LICENSE_EXPIRED", "ENTITLEMENT_NOT_FOUND", "INSTANCE_NOT_FOUND"} {
			if reasons[r] == 0 {
				t.Errorf("the fixture never gave %s: %v", r, reasons)
			}
		}
	})
}

// Changes through the API reach the client within 1 s: a grant
// (setLicenseEntitlement), a license deactivation, a policy activation
// and an instance's license change. The worst of 20 trials is printed.
func TestSDKChangesReachTheClient(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		f := newSDKFixture(c)
		cl := sdkClient(t, c.Server.URL, f.check, func(cfg *sdk.Config) { cfg.UsageRefresh = -1 }) // the stream alone
		ctx := context.Background()
		trial := testenv.Str(c.MustDo(f.admin, `{ licenses(where: {slug: "trial"}) { edges { node { id } } } }`, nil), "licenses.edges.0.node.id")
		eu := testenv.Str(c.MustDo(f.admin, `{ instances(where: {slug: "eu-1"}) { edges { node { id } } } }`, nil), "instances.edges.0.node.id")
		pol := c.MustDo(f.admin, createPolicyQ, map[string]any{"in": map[string]any{"name": "no-eu-beta", "active": false, "module": `package entitled.custom

deny contains "no beta in the EU" if {
	input.entitlement.slug == "api-calls"
	input.instance.metadata.region == "eu"
}
`}})
		polID := testenv.Str(pol, "createPolicy.id")
		decide := func(inst, e string) sdk.Decision {
			d, err := cl.Allowed(ctx, inst, e)
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
		decide("eu-1", "sso")
		deadline := time.Now().Add(10 * time.Second)
		for cl.Stale() && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		type change struct {
			name string
			do   func(round int)
			seen func(round int) bool
		}
		changes := []change{
			{"setLicenseEntitlement", func(r int) { c.Link(f.admin, f.paid, f.sso, boolean(r%2 == 1)) },
				func(r int) bool { return decide("eu-1", "sso").Allowed == (r%2 == 1) }},
			{"license deactivation", func(r int) {
				c.MustDo(f.admin, `mutation($id: ID!, $a: Boolean!) { updateLicense(id: $id, input: {isActive: $a}) { id } }`, map[string]any{"id": trial, "a": r%2 == 1})
			}, func(r int) bool { return (decide("trial-1", "api-calls").Reason == "LICENSE_INACTIVE") == (r%2 == 0) }},
			{"policy activation", func(r int) {
				c.MustDo(f.admin, `mutation($id: ID!, $a: Boolean!) { updatePolicy(id: $id, input: {active: $a}) { id } }`, map[string]any{"id": polID, "a": r%2 == 0})
			}, func(r int) bool { return (decide("eu-1", "api-calls").Reason == "DENIED_BY_POLICY") == (r%2 == 0) }},
			{"instance license change", func(r int) {
				lic := trial
				if r%2 == 1 {
					lic = f.paid
				}
				c.MustDo(f.admin, `mutation($id: ID!, $l: ID!) { updateInstance(id: $id, input: {licenseID: $l}) { id } }`, map[string]any{"id": eu, "l": lic})
			}, func(r int) bool { return (decide("eu-1", "sso").Reason == "NOT_ENTITLED") == (r%2 == 0) }},
		}
		for _, ch := range changes {
			var worst time.Duration
			for round := range 20 {
				ch.do(round)
				start := time.Now()
				for !ch.seen(round) {
					if time.Since(start) > 10*time.Second {
						t.Fatalf("%s (round %d) did not reach the client", ch.name, round)
					}
					time.Sleep(time.Millisecond)
				}
				worst = max(worst, time.Since(start))
			}
			t.Logf("%s: %s reached the client within %s (worst of 20)", c.Store, ch.name, worst.Round(time.Millisecond))
			if worst > time.Second {
				t.Errorf("%s: worst propagation %s, over the 1 s of the acceptance", ch.name, worst)
			}
			// Leave the fixture as it was for the next change.
			ch.do(1)
		}
	})
}

// Outage: the server is killed; Allowed goes on from the snapshot, Stale;
// reports made meanwhile are counted exactly once after it returns; a new
// client process with the same CacheDir decides during the outage; past
// the snapshot's exp the license file decides, past the file's
// LICENSE_FILE_EXPIRED.
func TestSDKOutage(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		f := newSDKFixture(c)
		ctx := context.Background()
		euID := testenv.Str(c.MustDo(f.admin, `{ instances(where: {slug: "eu-1"}) { edges { node { id } } } }`, nil), "instances.edges.0.node.id")
		cert := testenv.Str(c.MustDo(f.admin, issueQ, map[string]any{"in": map[string]any{"instanceID": euID, "includePolicies": true, "ttl": "72h"}}), "issueLicenseFile.certificate")
		licPath := filepath.Join(t.TempDir(), "license.lic")
		if err := os.WriteFile(licPath, []byte(cert), 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, jwks := c.get("", "/v1/orgs/acme/jwks.json", nil)
		p, err := proxy.Start(c.Server.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		url := "http://" + p.Addr()
		dir := t.TempDir()
		var mu sync.Mutex
		var skew time.Duration
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return time.Now().Add(skew) }
		cl := sdkClient(t, url, f.check, func(cfg *sdk.Config) { cfg.CacheDir, cfg.LicenseFile, cfg.JWKS, cfg.Now = dir, licPath, jwks, clock })
		before := ask(t, c.Env, f.check, "eu-1", "api-calls", nil)
		if d, err := cl.Allowed(ctx, "eu-1", "sso"); err != nil || !d.Allowed || d.Stale {
			t.Fatalf("before the outage: %+v %v", d, err)
		}
		if _, err := cl.Allowed(ctx, "eu-1", "api-calls"); err != nil {
			t.Fatal(err)
		}

		p.Cut()
		deadline := time.Now().Add(10 * time.Second)
		var d sdk.Decision
		for {
			d, _ = cl.Allowed(ctx, "eu-1", "sso")
			if d.Stale || time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if !d.Stale || !d.Allowed || d.Source != sdk.SourceLocal {
			t.Fatalf("during the outage: %+v", d)
		}
		const reports = 25
		for i := range reports {
			if err := cl.Report(ctx, "eu-1", "api-calls", 2, sdk.IdempotencyKey(fmt.Sprintf("outage-%d", i))); err != nil {
				t.Fatal(err)
			}
		}
		fctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		if err := cl.Flush(fctx); err == nil {
			t.Error("Flush succeeded with the server down")
		}
		cancel()
		// A new process with the same CacheDir decides during the outage
		// (and sends nothing twice: the first client's journal is its
		// own until it closes).
		if err := cl.Close(); err != nil {
			t.Fatal(err)
		}
		cl2 := sdkClient(t, url, f.check, func(cfg *sdk.Config) { cfg.CacheDir, cfg.LicenseFile, cfg.JWKS, cfg.Now = dir, licPath, jwks, clock })
		d, err = cl2.Allowed(ctx, "eu-1", "sso")
		if err != nil || !d.Allowed || !d.Stale || d.Source != sdk.SourceLocal {
			t.Fatalf("restarted during the outage: %+v %v", d, err)
		}
		if d, _ := cl2.Allowed(ctx, "eu-1", "api-calls"); ptrNum(d.Usage) != jsonNum(before["usage"]).(float64)+2*reports {
			t.Errorf("usage during the outage %v, want the snapshot's %v + %d", ptrNum(d.Usage), before["usage"], 2*reports)
		}
		// Past the snapshot's exp (24 h): the license file; past the
		// file's (72 h): LICENSE_FILE_EXPIRED.
		mu.Lock()
		skew = 30 * time.Hour
		mu.Unlock()
		if d, _ := cl2.Allowed(ctx, "eu-1", "sso"); !d.Allowed || d.Source != sdk.SourceOffline {
			t.Errorf("past the snapshot's exp: %+v", d)
		}
		mu.Lock()
		skew = 80 * time.Hour
		mu.Unlock()
		if d, _ := cl2.Allowed(ctx, "eu-1", "sso"); d.Allowed || d.Reason != "LICENSE_FILE_EXPIRED" {
			t.Errorf("past the license file's exp: %+v", d)
		}
		mu.Lock()
		skew = 0
		mu.Unlock()

		// The server is back: every report counted once.
		if err := p.Restore(); err != nil {
			t.Fatal(err)
		}
		fctx, cancel = context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := cl2.Flush(fctx); err != nil {
			t.Fatal(err)
		}
		after := ask(t, c.Env, f.check, "eu-1", "api-calls", nil)
		if got, want := jsonNum(after["usage"]), jsonNum(before["usage"]).(float64)+2*reports; got != want {
			t.Errorf("usage after the outage %v, want %v (each report once)", got, want)
		}
		// Sending the journal's reports again (a crash after the server took
		// them) counts nothing: their idempotency keys.
		deadline = time.Now().Add(10 * time.Second)
		for {
			d, _ = cl2.Allowed(ctx, "eu-1", "api-calls")
			if (!d.Stale && ptrNum(d.Usage) == jsonNum(after["usage"])) || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if d.Stale || !sameAsServer(t, d, after) {
			t.Errorf("after the outage: local %+v, server %v", d, after)
		}
	})
}

// The same report sent twice (a crash between the server taking it and
// the journal forgetting it) counts once.
func TestSDKReportsExactlyOnce(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		f := newSDKFixture(c)
		ctx := context.Background()
		before := jsonNum(ask(t, c.Env, f.check, "eu-1", "api-calls", nil)["usage"]).(float64)
		for range 2 {
			cl := sdkClient(t, c.Server.URL, f.check, nil)
			for i := range 10 {
				if err := cl.Report(ctx, "eu-1", "api-calls", 1, sdk.IdempotencyKey("outage-"+string(rune('a'+i)))); err != nil {
					t.Fatal(err)
				}
			}
			if err := cl.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if got := jsonNum(ask(t, c.Env, f.check, "eu-1", "api-calls", nil)["usage"]); got != before+10 {
			t.Errorf("usage %v, want %v", got, before+10)
		}
		// Consume is the server's exact check.
		cl := sdkClient(t, c.Server.URL, f.check, nil)
		r, err := cl.Consume(ctx, "eu-1", "api-calls", 1000)
		if err != nil || r.Allowed || r.Reason != "LIMIT_EXCEEDED" {
			t.Errorf("consume over the cap: %+v %v", r, err)
		}
		r, err = cl.Consume(ctx, "eu-1", "api-calls", 5, sdk.IdempotencyKey("c1"))
		if err != nil || !r.Allowed || r.Source != sdk.SourceServer {
			t.Errorf("consume: %+v %v", r, err)
		}
		if _, err := cl.Consume(ctx, "eu-1", "sso", 1); !errors.Is(err, sdk.ErrRejected) {
			t.Errorf("consume of a BOOLEAN: %v", err)
		}
	})
}

// OpenFeature: the provider answers as the server would; an unknown flag
// is FLAG_NOT_FOUND; Track reaches the server's usage.
func TestSDKOpenFeature(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		f := newSDKFixture(c)
		cl := sdkClient(t, c.Server.URL, f.check, nil)
		domain := t.Name()
		if err := of.SetNamedProviderAndWait(domain, entof.NewProvider(cl)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = of.SetNamedProviderAndWait(domain, of.NoopProvider{}) })
		oc := of.NewClient(domain)
		ctx := context.Background()
		ec := of.NewEvaluationContext("eu-1", nil)
		sso := ask(t, c.Env, f.check, "eu-1", "sso", nil)
		if b, err := oc.BooleanValue(ctx, "sso", false, ec); err != nil || b != sso["allowed"] {
			t.Errorf("sso: %v %v, server %v", b, err, sso["allowed"])
		}
		brand := ask(t, c.Env, f.check, "eu-1", "branding", nil)
		o, err := oc.ObjectValue(ctx, "branding", nil, ec)
		gotJSON, _ := json.Marshal(o)
		wantJSON, _ := json.Marshal(brand["value"].(map[string]any)["value"])
		if err != nil || string(gotJSON) != string(wantJSON) {
			t.Errorf("branding: %s %v, server %s", gotJSON, err, wantJSON)
		}
		calls := ask(t, c.Env, f.check, "eu-1", "api-calls", nil)
		if v, err := oc.FloatValue(ctx, "api-calls", -1, ec); err != nil || v != jsonNum(calls["remaining"]) {
			t.Errorf("api-calls: %v %v, server remaining %v", v, err, calls["remaining"])
		}
		if d, err := oc.BooleanValueDetails(ctx, "nope", false, ec); err == nil || d.ErrorCode != of.FlagNotFoundCode {
			t.Errorf("unknown flag: %+v %v", d, err)
		}
		oc.Track(ctx, "api-calls", ec, of.NewTrackingEventDetails(7))
		if err := cl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if got := jsonNum(ask(t, c.Env, f.check, "eu-1", "api-calls", nil)["usage"]); got != jsonNum(calls["usage"]).(float64)+7 {
			t.Errorf("usage after Track %v, want %v + 7", got, calls["usage"])
		}
	})
}

// With two servers on one PostgreSQL, a change through one reaches a
// client of the other within 1 s (worst of 20 printed).
func TestSDKChangeAcrossReplicas(t *testing.T) {
	t.Parallel()
	a := testenv.New(t, "postgres")
	b := a.Peer()
	c := client{a, t}
	f := newSDKFixture(c)
	cl := sdkClient(t, b.Server.URL, f.check, func(cfg *sdk.Config) { cfg.UsageRefresh = -1 })
	ctx := context.Background()
	decide := func() bool {
		d, err := cl.Allowed(ctx, "eu-1", "sso")
		if err != nil {
			t.Fatal(err)
		}
		return d.Allowed
	}
	decide()
	deadline := time.Now().Add(10 * time.Second)
	for cl.Stale() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	var worst time.Duration
	for round := range 20 {
		want := round%2 == 1
		c.Link(f.admin, f.paid, f.sso, boolean(want))
		start := time.Now()
		for decide() != want {
			if time.Since(start) > 10*time.Second {
				t.Fatalf("round %d: the change through the first server did not reach the second's client", round)
			}
			time.Sleep(time.Millisecond)
		}
		worst = max(worst, time.Since(start))
	}
	t.Logf("a change through one server reached a client of the other within %s (worst of 20)", worst.Round(time.Millisecond))
	if worst > time.Second {
		t.Errorf("worst propagation %s, over the 1 s of the acceptance", worst)
	}
}
