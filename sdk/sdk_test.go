package sdk_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/entitled/entitled/policy"
	"github.com/entitled/entitled/sdk"
	"github.com/entitled/entitled/sdk/licensefile"
	"github.com/entitled/entitled/sdk/sdktest"
)

// Every local decision equals the one licensefile makes from the same
// signed facts (the server's decision logic), with Source LOCAL.
func TestAllowedEachKind(t *testing.T) {
	s := env(t)
	c := newClient(t, fast(s, ""))
	armor, err := s.Snapshot("eu-prod-1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	f, err := licensefile.Parse([]byte(armor))
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := licensefile.ParseJWKS(s.JWKS())
	if err := f.Verify(jwks); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ent       string
		requested *float64
		allowed   bool
		reason    string
	}{
		{"api-calls", nil, true, policy.ReasonAllowed},
		{"api-calls", ptr(110.0), true, policy.ReasonAllowed},
		{"api-calls", ptr(111.0), false, policy.ReasonLimitExceeded},
		{"sso", nil, true, policy.ReasonAllowed},
		{"audit-log", nil, false, policy.ReasonFeatureDisabled},
		{"branding", nil, true, policy.ReasonAllowed},
		{"seats", nil, false, policy.ReasonNotEntitled},
		{"nope", nil, false, policy.ReasonEntitlementNotFound},
	} {
		var opts []sdk.AllowedOption
		if tc.requested != nil {
			opts = append(opts, sdk.Requested(*tc.requested))
		}
		d := allowed(t, c, "eu-prod-1", tc.ent, opts...)
		want, err := f.Decide(tc.ent, tc.requested, nil, d.EvaluatedAt)
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed != tc.allowed || d.Reason != tc.reason || d.Source != sdk.SourceLocal || d.Stale {
			t.Errorf("%s %v: got %v %s %s stale %v", tc.ent, tc.requested, d.Allowed, d.Reason, d.Source, d.Stale)
		}
		if d.Allowed != want.Allowed || d.Reason != want.Reason || !reflect.DeepEqual(d.Reasons, want.Reasons) ||
			!reflect.DeepEqual(d.Value, want.Value) || num(d.Limit) != num(want.Limit) || num(d.HardCap) != num(want.HardCap) ||
			num(d.Remaining) != num(want.Remaining) || num(d.Usage) != num(want.Usage) || *d.LicenseVersion != *want.LicenseVersion {
			t.Errorf("%s: local %+v, file %+v", tc.ent, d, want)
		}
	}
	d := allowed(t, c, "eu-prod-1", "branding")
	if d.Value["value"].(map[string]any)["logo"] != "acme.png" {
		t.Errorf("branding value %v", d.Value)
	}
	d = allowed(t, c, "nobody", "sso")
	if d.Allowed || d.Reason != policy.ReasonInstanceNotFound {
		t.Errorf("unknown instance: %+v", d)
	}
	if _, err := c.Decisions(context.Background(), "nobody"); !errors.Is(err, sdk.ErrUnknownInstance) {
		t.Errorf("Decisions of unknown instance: %v", err)
	}
	ds, err := c.Decisions(context.Background(), "eu-prod-1")
	if err != nil {
		t.Fatal(err)
	}
	var slugs []string
	for _, d := range ds {
		slugs = append(slugs, d.Entitlement)
	}
	if strings.Join(slugs, ",") != "api-calls,audit-log,branding,sso" {
		t.Errorf("Decisions: %v", slugs)
	}
	if _, err := c.Allowed(context.Background(), "eu-prod-1", "api-calls", sdk.Requested(-1)); !errors.Is(err, sdk.ErrInvalid) {
		t.Errorf("negative requested: %v", err)
	}
}

// Concurrent first calls for an instance fetch its snapshot once.
func TestFirstAllowedFetchesOnce(t *testing.T) {
	s := env(t)
	cfg := fast(s, "")
	cfg.UsageRefresh = -1
	c := newClient(t, cfg)
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if d := allowed(t, c, "eu-prod-1", "sso"); !d.Allowed {
				t.Error(d)
			}
		}()
	}
	wg.Wait()
	if n := s.SnapshotGets.Load(); n != 1 {
		t.Errorf("%d snapshot fetches, want 1", n)
	}
}

// A change on the server reaches the client through the stream; an
// unchanged snapshot costs a 304.
func TestStreamChanges(t *testing.T) {
	s := env(t)
	cfg := fast(s, "")
	cfg.UsageRefresh = -1 // only the stream
	c := newClient(t, cfg)
	var mu sync.Mutex
	var events []sdk.Event
	c.OnChange(func(e sdk.Event) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	})
	if !allowed(t, c, "eu-prod-1", "sso").Allowed {
		t.Fatal("sso not allowed")
	}
	eventually(t, "stream connected", func() bool { return s.StreamConns.Load() > 0 && !c.Stale() })
	in := fixture(t, "eu-prod-1")
	in.Entitlements[1].Grant = sdktest.Grant(t, map[string]any{"type": "boolean", "value": false}, 0)
	s.Set(in)
	eventually(t, "sso refused", func() bool { return !allowed(t, c, "eu-prod-1", "sso").Allowed })
	mu.Lock()
	var got []string
	for _, e := range events {
		if e.Type == sdk.EventChanged {
			got = append(got, e.Entitlements...)
		}
	}
	mu.Unlock()
	if !reflect.DeepEqual(got, []string{"sso"}) {
		t.Errorf("changed entitlements %v, want [sso]", got)
	}
	// A license deactivation, then a policy activation.
	in.License.IsActive = false
	s.Set(in)
	eventually(t, "license inactive", func() bool {
		return allowed(t, c, "eu-prod-1", "branding").Reason == policy.ReasonLicenseInactive
	})
	in.License = &policy.License{ID: "l1", Slug: "enterprise", Type: "PAID", Version: 4, IsActive: true}
	s.Set(in)
	s.SetPolicies(&licensefile.Policies{Version: 7, Modules: map[string]string{"deny.rego": `package entitled.custom

deny contains "no branding in the EU" if {
	input.instance.metadata.region == "eu"
	input.entitlement.slug == "branding"
}
`}})
	eventually(t, "policy deny", func() bool {
		d := allowed(t, c, "eu-prod-1", "branding")
		return d.Reason == policy.ReasonDeniedByPolicy && d.PolicyVersion == 7
	})
	// A deleted instance is INSTANCE_NOT_FOUND.
	s.Set(fixture(t, "eu-prod-9"))
	allowed(t, c, "eu-prod-9", "sso")
	s.Delete("eu-prod-9")
	eventually(t, "instance deleted", func() bool {
		return allowed(t, c, "eu-prod-9", "sso").Reason == policy.ReasonInstanceNotFound
	})
	// An event that changes nothing costs a 304.
	before := s.NotModified.Load()
	s.Change("entitlement", "")
	eventually(t, "304", func() bool { return s.NotModified.Load() > before })
}

// Reports count locally at once, are sent in batches and counted once by
// the server; after a refetch the usage is the server's, not doubled.
func TestReportUsage(t *testing.T) {
	s := env(t)
	c := newClient(t, fast(s, ""))
	ctx := context.Background()
	allowed(t, c, "eu-prod-1", "api-calls")
	for range 10 {
		if err := c.Report(ctx, "eu-prod-1", "api-calls", 3); err != nil {
			t.Fatal(err)
		}
	}
	if d := allowed(t, c, "eu-prod-1", "api-calls"); num(d.Usage) < 30 {
		t.Errorf("local usage %v, want ≥ 30 at once", num(d.Usage))
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if u := s.Usage("eu-prod-1", "api-calls"); u.Current != 30 || u.Count != 10 {
		t.Errorf("server usage %+v, want 30 in 10 reports", u)
	}
	// Refreshed in the background, never counted twice.
	eventually(t, "usage settles at 30", func() bool { return num(allowed(t, c, "eu-prod-1", "api-calls").Usage) == 30 })
	// Another client's usage arrives with the refresh.
	other := newClient(t, fast(s, ""))
	if err := other.Report(ctx, "eu-prod-1", "api-calls", 50); err != nil {
		t.Fatal(err)
	}
	if err := other.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "other client's usage", func() bool { return num(allowed(t, c, "eu-prod-1", "api-calls").Usage) == 80 })
	d := allowed(t, c, "eu-prod-1", "api-calls", sdk.Requested(31))
	if d.Allowed || d.Reason != policy.ReasonLimitExceeded || num(d.Remaining) != 30 {
		t.Errorf("over the cap: %+v", d)
	}
	// Consume is the server's: exact.
	r, err := c.Consume(ctx, "eu-prod-1", "api-calls", 30)
	if err != nil || !r.Allowed || r.Source != sdk.SourceServer || num(r.Remaining) != 0 {
		t.Fatalf("consume 30: %+v %v", r, err)
	}
	r, err = c.Consume(ctx, "eu-prod-1", "api-calls", 1)
	if err != nil || r.Allowed || r.Reason != policy.ReasonLimitExceeded {
		t.Fatalf("consume over the cap: %+v %v", r, err)
	}
	if d := allowed(t, c, "eu-prod-1", "api-calls"); d.Allowed {
		t.Errorf("after consuming the cap: %+v", d)
	}
	// Bad input is refused at once.
	if err := c.Report(ctx, "eu-prod-1", "api-calls", -1); !errors.Is(err, sdk.ErrInvalid) {
		t.Errorf("negative report: %v", err)
	}
}

// Retryable failures are retried (and counted once); a report the server
// refuses for good is dropped without holding up the others.
func TestReportRetryAndDrop(t *testing.T) {
	s := env(t)
	c := newClient(t, fast(s, ""))
	ctx := context.Background()
	s.FailGraphQL(3)
	for i := range 5 {
		if err := c.Report(ctx, "eu-prod-1", "api-calls", 1, sdk.IdempotencyKey("k"+string(rune('a'+i)))); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Report(ctx, "eu-prod-1", "sso", 1); err != nil { // refused by the server: BOOLEAN
		t.Fatal(err)
	}
	if err := c.Report(ctx, "eu-prod-1", "api-calls", 1, sdk.IdempotencyKey("ka")); err != nil { // a duplicate
		t.Fatal(err)
	}
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	if u := s.Usage("eu-prod-1", "api-calls"); u.Current != 5 {
		t.Errorf("server usage %v, want 5", u.Current)
	}
	if n := s.Replays.Load(); n != 1 {
		t.Errorf("%d replays, want 1", n)
	}
}

// Outage: decisions go on from the snapshot, Stale; reports made during it
// are counted exactly once when the server is back.
func TestOutage(t *testing.T) {
	s := env(t)
	c := newClient(t, fast(s, t.TempDir()))
	ctx := context.Background()
	if d := allowed(t, c, "eu-prod-1", "sso"); d.Stale {
		t.Fatal("stale before the outage")
	}
	eventually(t, "stream connected", func() bool { return s.StreamConns.Load() > 0 })
	s.SetDown(true)
	eventually(t, "stale", func() bool { return allowed(t, c, "eu-prod-1", "sso").Stale })
	d := allowed(t, c, "eu-prod-1", "sso")
	if !d.Allowed || d.Source != sdk.SourceLocal {
		t.Errorf("during the outage: %+v", d)
	}
	for range 20 {
		if err := c.Report(ctx, "eu-prod-1", "api-calls", 1); err != nil {
			t.Fatal(err)
		}
	}
	fctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	err := c.Flush(fctx)
	cancel()
	if err == nil {
		t.Fatal("Flush succeeded during the outage")
	}
	if d := allowed(t, c, "eu-prod-1", "api-calls"); num(d.Usage) != 20 {
		t.Errorf("local usage during the outage %v, want 20", num(d.Usage))
	}
	s.SetDown(false)
	fctx, cancel = context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	if u := s.Usage("eu-prod-1", "api-calls"); u.Current != 20 || u.Count != 20 {
		t.Errorf("server usage %+v, want 20 reports", u)
	}
	eventually(t, "fresh again", func() bool { return !allowed(t, c, "eu-prod-1", "sso").Stale })
	if n := s.StreamConns.Load(); n < 2 {
		t.Errorf("%d stream connections, want a reconnect after the outage", n)
	}
	// A change made after the reconnect reaches the client.
	in := fixture(t, "eu-prod-1")
	in.Entitlements[1].Grant = sdktest.Grant(t, map[string]any{"type": "boolean", "value": false}, 0)
	s.Set(in)
	eventually(t, "a change after the reconnect", func() bool { return !allowed(t, c, "eu-prod-1", "sso").Allowed })
	eventually(t, "usage settles", func() bool { return num(allowed(t, c, "eu-prod-1", "api-calls").Usage) == 20 })
}

// A process restarted during an outage decides from CacheDir's snapshot
// (verified again) and sends the reports its predecessor left, once.
func TestCacheDirRestart(t *testing.T) {
	s := env(t)
	dir := t.TempDir()
	ctx := context.Background()
	c1, err := sdk.New(ctx, fast(s, dir))
	if err != nil {
		t.Fatal(err)
	}
	allowed(t, c1, "eu-prod-1", "sso")
	s.SetDown(true)
	for range 7 {
		if err := c1.Report(ctx, "eu-prod-1", "api-calls", 2); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Millisecond)
	if err := c1.Report(ctx, "eu-prod-1", "api-calls", 0, sdk.IdempotencyKey("dated"), sdk.At(at)); err != nil {
		t.Fatal(err)
	}
	if err := c1.Close(); err != nil {
		t.Fatal(err)
	}
	c2 := newClient(t, fast(s, dir))
	d := allowed(t, c2, "eu-prod-1", "sso")
	if !d.Allowed || !d.Stale || d.Source != sdk.SourceLocal {
		t.Errorf("restarted during the outage: %+v", d)
	}
	if d := allowed(t, c2, "eu-prod-1", "api-calls"); num(d.Usage) != 14 {
		t.Errorf("usage with the journal's reports %v, want 14", num(d.Usage))
	}
	// A tampered cache is not trusted.
	c3dir := t.TempDir()
	tamper, _ := os.ReadFile(dir + "/snapshot-eu-prod-1.json")
	_ = os.WriteFile(c3dir+"/snapshot-eu-prod-1.json", []byte(strings.Replace(string(tamper), "A", "B", 1)), 0o600)
	c3 := newClient(t, fast(s, c3dir))
	if _, err := c3.Allowed(ctx, "eu-prod-1", "sso"); !errors.Is(err, sdk.ErrUnavailable) {
		t.Errorf("tampered cache: %v", err)
	}
	s.SetDown(false)
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c2.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	if u := s.Usage("eu-prod-1", "api-calls"); u.Current != 14 || u.Count != 8 {
		t.Errorf("server usage %+v, want 14 in 8 reports", u)
	}
	if got, ok := s.ReportedAt("dated"); !ok || !got.Equal(at) {
		t.Errorf("the report's timestamp on the server %v, want the original %v", got, at)
	}
}

// Past the snapshot's exp with no server: the license file (OFFLINE),
// past the license file's: LICENSE_FILE_EXPIRED.
func TestExpiryFallback(t *testing.T) {
	s := env(t)
	s.TTL = time.Hour
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	cfg := fast(s, "")
	cfg.Now = clock
	cfg.LicenseFile = writeLicense(t, s, "eu-prod-1", 3*time.Hour)
	c := newClient(t, cfg)
	allowed(t, c, "eu-prod-1", "sso")
	s.SetDown(true)
	advance(2 * time.Hour)
	d := allowed(t, c, "eu-prod-1", "sso")
	if !d.Allowed || d.Source != sdk.SourceOffline {
		t.Errorf("past the snapshot's exp: %+v", d)
	}
	advance(2 * time.Hour)
	d = allowed(t, c, "eu-prod-1", "sso")
	if d.Allowed || d.Reason != policy.ReasonLicenseFileExpired || d.Source != sdk.SourceOffline {
		t.Errorf("past the license file's exp: %+v", d)
	}
	// Without a license file: the expired snapshot refuses.
	cfg = fast(s, "")
	s.SetDown(false)
	cfg.Now = clock
	c2 := newClient(t, cfg)
	allowed(t, c2, "eu-prod-1", "sso")
	s.SetDown(true)
	advance(2 * time.Hour)
	if d := allowed(t, c2, "eu-prod-1", "sso"); d.Reason != policy.ReasonLicenseFileExpired || d.Source != sdk.SourceLocal {
		t.Errorf("expired snapshot: %+v", d)
	}
}

// Offline only: decisions from the license file.
func TestOfflineOnly(t *testing.T) {
	s := env(t)
	c := newClient(t, sdk.Config{LicenseFile: writeLicense(t, s, "eu-prod-1", time.Hour), JWKS: s.JWKS()})
	d := allowed(t, c, "eu-prod-1", "api-calls")
	if !d.Allowed || d.Source != sdk.SourceOffline || d.Stale {
		t.Errorf("offline: %+v", d)
	}
	if _, err := c.Allowed(context.Background(), "other", "sso"); !errors.Is(err, sdk.ErrUnknownInstance) {
		t.Errorf("another instance offline: %v", err)
	}
	if err := c.Report(context.Background(), "eu-prod-1", "api-calls", 1); !errors.Is(err, sdk.ErrNoServer) {
		t.Errorf("Report offline: %v", err)
	}
	if _, err := sdk.New(context.Background(), sdk.Config{LicenseFile: "x"}); !errors.Is(err, sdk.ErrInvalid) {
		t.Errorf("no JWKS offline: %v", err)
	}
}

// Without Config.JWKS the keys come from the server, and are fetched
// again once for a kid they do not have (a rotation).
func TestJWKSFetched(t *testing.T) {
	s := env(t)
	cfg := fast(s, "")
	cfg.JWKS = nil
	cfg.UsageRefresh = -1
	c := newClient(t, cfg)
	allowed(t, c, "eu-prod-1", "sso")
	if n := s.JWKSGets.Load(); n != 1 {
		t.Errorf("%d JWKS fetches, want 1", n)
	}
	s.RotateKey()
	s.Set(fixture(t, "eu-prod-2"))
	allowed(t, c, "eu-prod-2", "sso")
	if n := s.JWKSGets.Load(); n != 2 {
		t.Errorf("%d JWKS fetches after rotation, want 2", n)
	}
	// Keys the client was given are the only ones trusted.
	other := sdktest.NewServer("acme")
	t.Cleanup(other.Close)
	other.Set(fixture(t, "eu-prod-1"))
	cfg = fast(other, "")
	cfg.JWKS = s.JWKS()
	c2 := newClient(t, cfg)
	if _, err := c2.Allowed(context.Background(), "eu-prod-1", "sso"); !errors.Is(err, licensefile.ErrSignature) && !errors.Is(err, licensefile.ErrUnknownKey) {
		t.Errorf("snapshot signed by an untrusted key: %v", err)
	}
}

// 200 goroutines × 1,000 Allowed, with reports and changes going on
// (run with -race).
func TestConcurrentAllowed(t *testing.T) {
	s := env(t)
	c := newClient(t, fast(s, t.TempDir()))
	ctx := context.Background()
	allowed(t, c, "eu-prod-1", "sso")
	goroutines, calls := 200, 1000
	if testing.Short() {
		calls = 50
	}
	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Add(1)
	go func() {
		defer bg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			_ = c.Report(ctx, "eu-prod-1", "api-calls", 0)
			if i%10 == 0 {
				s.Change("entitlement", "")
			}
		}
	}()
	var wg sync.WaitGroup
	ents := []string{"sso", "api-calls", "branding", "audit-log"}
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				e := ents[(g+i)%len(ents)]
				opts := []sdk.AllowedOption{sdk.Requested(1)}
				if i%50 == 0 { // evaluated, never remembered
					opts = append(opts, sdk.Context(map[string]any{"n": i}))
				}
				d, err := c.Allowed(ctx, "eu-prod-1", e, opts...)
				if err != nil || d.Allowed != (e != "audit-log") {
					t.Errorf("%s: %+v %v", e, d, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	bg.Wait()
}

// Close leaves no goroutine of the client behind.
func TestCloseLeavesNoGoroutine(t *testing.T) {
	s := env(t)
	ignore := goleak.IgnoreCurrent()
	c, err := sdk.New(context.Background(), fast(s, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	allowed(t, c, "eu-prod-1", "sso")
	if err := c.Report(context.Background(), "eu-prod-1", "api-calls", 1); err != nil {
		t.Fatal(err)
	}
	eventually(t, "stream connected", func() bool { return s.StreamConns.Load() > 0 })
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Allowed(context.Background(), "eu-prod-1", "sso"); !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
	s.CloseClientConnections()
	goleak.VerifyNone(t, ignore,
		// The fake's own handler goroutines end with their connections.
		goleak.IgnoreTopFunction("net/http.(*conn).serve"),
		goleak.IgnoreAnyFunction("net/http/httptest.(*Server).goServe.func1"))
}

// The SDK's packages (sdk, sdk/licensefile, sdk/openfeature, sdk/sdktest,
// the example) are for vendors' software: they depend on nothing of the
// server (ent, gqlgen, database drivers, internal/ packages); of this
// repository only on policy and each other.
func TestDependencies(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "./...").Output()
	if err != nil {
		t.Fatal(err)
	}
	forbidden := []string{"entgo.io/", "ariga.io/", "github.com/99designs/gqlgen",
		"github.com/lib/pq", "github.com/jackc/", "modernc.org/sqlite", "github.com/mattn/go-sqlite3",
		"github.com/spf13/cobra", "github.com/prometheus/client_golang"}
	own := "github.com/entitled/entitled/"
	n := 0
	for _, p := range strings.Fields(string(out)) {
		n++
		for _, f := range forbidden {
			if strings.HasPrefix(p, f) {
				t.Errorf("depends on %s", p)
			}
		}
		if strings.HasPrefix(p, own) && p != own+"policy" && !strings.HasPrefix(p, own+"sdk") {
			t.Errorf("depends on %s (only policy and sdk/... may be used from this repository)", p)
		}
		if strings.HasPrefix(p, own) && strings.Contains(p, "/internal/") {
			t.Errorf("depends on an internal package: %s", p)
		}
	}
	if n < 3 {
		t.Fatalf("go list found only %d packages: %s", n, out)
	}
}

// Decisions are remembered only while evaluating again would give the
// same: they change at the instance's expiry, and a custom module that
// reads the clock is evaluated every time.
func TestRememberedDecisionsFollowTheClock(t *testing.T) {
	s := env(t)
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	in := fixture(t, "eu-prod-1")
	in.Instance.ExpiresAt = ptr(now.Add(time.Hour).UTC())
	s.Set(in)
	cfg := fast(s, "")
	cfg.Now = clock
	c := newClient(t, cfg)
	if d := allowed(t, c, "eu-prod-1", "sso"); !d.Allowed {
		t.Fatalf("before expiry: %+v", d)
	}
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	if d := allowed(t, c, "eu-prod-1", "sso"); d.Allowed || d.Reason != policy.ReasonLicenseExpired {
		t.Errorf("after the instance's expiry: %+v", d)
	}
	for src, free := range map[string]bool{
		"package entitled.custom\n\ndeny contains \"x\" if input.instance.metadata.region == \"us\"\n": true,
		"package entitled.custom\n\ndeny contains \"x\" if input.now > \"2027\"\n":                     false,
		"package entitled.custom\n\ndeny contains \"x\" if input[\"n\"] == 1\n":                        false,
		"package entitled.custom\n\ndeny contains \"x\" if data.entitled.base.allowed\n":               true,
		"package entitled.custom\n\ndeny contains \"x\" if count(input) > 9\n":                         false,
	} {
		if got := sdk.ClockFree(src); got != free {
			t.Errorf("clockFree(%q) = %v, want %v", src, got, free)
		}
	}
}
