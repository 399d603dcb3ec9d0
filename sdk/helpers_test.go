package sdk_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/entitled/entitled/policy"
	"github.com/entitled/entitled/sdk"
	"github.com/entitled/entitled/sdk/licensefile"
	"github.com/entitled/entitled/sdk/sdktest"
)

func ptr[T any](v T) *T { return &v }

// fixture is an instance with a NUMBER (100 + 10 %), a BOOLEAN true and
// false, a CONFIG and a NUMBER not granted.
func fixture(t testing.TB, slug string) sdktest.Instance {
	t.Helper()
	return sdktest.Instance{
		Instance: &policy.Instance{ID: "i-" + slug, Slug: slug, Name: slug, Metadata: map[string]any{"region": "eu"},
			StartsAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		License: &policy.License{ID: "l1", Slug: "enterprise", Type: "PAID", Version: 3, IsActive: true},
		Entitlements: []licensefile.Granted{
			{Entitlement: &policy.Entitlement{ID: "e1", Slug: "api-calls", Type: "NUMBER", MeterType: "RAW_EVENT", AggregationMethod: "SUM", ResetPeriod: "NONE"},
				Grant: sdktest.Grant(t, map[string]any{"type": "number", "value": 100.0}, 10)},
			{Entitlement: &policy.Entitlement{ID: "e2", Slug: "sso", Type: "BOOLEAN"}, Grant: sdktest.Grant(t, map[string]any{"type": "boolean", "value": true}, 0)},
			{Entitlement: &policy.Entitlement{ID: "e3", Slug: "audit-log", Type: "BOOLEAN"}, Grant: sdktest.Grant(t, map[string]any{"type": "boolean", "value": false}, 0)},
			{Entitlement: &policy.Entitlement{ID: "e4", Slug: "branding", Type: "CONFIG"},
				Grant: sdktest.Grant(t, map[string]any{"type": "object", "value": map[string]any{"logo": "acme.png"}}, 0)},
			{Entitlement: &policy.Entitlement{ID: "e5", Slug: "seats", Type: "NUMBER", MeterType: "CALCULATED_USAGE", AggregationMethod: "MAX", ResetPeriod: "NONE"}},
		},
	}
}

// env is a fake server with the fixture instance eu-prod-1.
func env(t testing.TB) *sdktest.Server {
	t.Helper()
	s := sdktest.NewServer("acme")
	t.Cleanup(s.Close)
	s.Set(fixture(t, "eu-prod-1"))
	return s
}

// fast is the configuration tests use: short intervals.
func fast(s *sdktest.Server, cacheDir string) sdk.Config {
	return sdk.Config{URL: s.URL, APIKey: sdktest.APIKey, CacheDir: cacheDir, JWKS: s.JWKS(),
		UsageRefresh: 100 * time.Millisecond, ReportInterval: 20 * time.Millisecond,
		RetryMin: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond, RequestTimeout: 2 * time.Second,
		CloseTimeout: -1}
}

func newClient(t testing.TB, cfg sdk.Config) *sdk.Client {
	t.Helper()
	c, err := sdk.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func allowed(t testing.TB, c *sdk.Client, inst, ent string, opts ...sdk.AllowedOption) sdk.Decision {
	t.Helper()
	d, err := c.Allowed(context.Background(), inst, ent, opts...)
	if err != nil {
		t.Fatalf("Allowed(%s, %s): %v", inst, ent, err)
	}
	return d
}

// eventually polls cond until it holds, failing after a generous bound (a
// hang guard, not a speed assertion).
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func writeLicense(t testing.TB, s *sdktest.Server, slug string, ttl time.Duration) string {
	t.Helper()
	armor, err := s.Snapshot(slug, ttl)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "license.lic")
	if err := os.WriteFile(path, []byte(armor), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func num(p *float64) float64 {
	if p == nil {
		return -1
	}
	return *p
}
