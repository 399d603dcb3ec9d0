package decision_test

import (
	"context"
	"github.com/entitled/entitled/policy"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/entitled/entitled/ent"
	"github.com/entitled/entitled/ent/entitlement"
	"github.com/entitled/entitled/ent/license"
	"github.com/entitled/entitled/internal/app"
	"github.com/entitled/entitled/internal/catalog"
	"github.com/entitled/entitled/internal/decision"
	"github.com/entitled/entitled/internal/platform/store"
	"github.com/entitled/entitled/internal/tenant"
)

// setup starts the real service on SQLite with one instance on a license
// granting a BOOLEAN and a NUMBER entitlement, and returns the checks
// service with a context acting for that organization.
func setup(tb testing.TB) (*decision.Service, context.Context, *atomic.Int64) {
	tb.Helper()
	ctx := context.Background()
	var queries atomic.Int64
	a, err := app.New(ctx, app.Config{
		DatabaseURL: "sqlite://" + tb.TempDir() + "/bench.db",
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		StoreOptions: []store.Option{store.WithQueryLog(func(context.Context, string) {
			queries.Add(1)
		})},
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { a.Close() })
	org, _, _, err := a.Auth.CreateOrganization(ctx, "Acme", "acme")
	if err != nil {
		tb.Fatal(err)
	}
	octx := tenant.OrgContext(ctx, org.ID)
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	sso, err := a.Catalog.CreateEntitlement(octx, ent.CreateEntitlementInput{Name: "SSO", Slug: "sso", Type: entitlement.TypeBOOLEAN})
	must(err)
	calls, err := a.Catalog.CreateEntitlement(octx, ent.CreateEntitlementInput{Name: "API calls", Slug: "api-calls", Type: entitlement.TypeNUMBER})
	must(err)
	yes := true
	lic, err := a.Catalog.CreateLicense(octx, ent.CreateLicenseInput{Name: "Pro", Slug: "pro", Type: license.TypePAID, IsDefault: &yes})
	must(err)
	_, err = a.Catalog.SetLicenseEntitlement(octx, catalog.SetLinkInput{LicenseID: lic.ID, EntitlementID: sso.ID, Value: map[string]any{"type": "boolean", "value": true}})
	must(err)
	overage := 10.0
	_, err = a.Catalog.SetLicenseEntitlement(octx, catalog.SetLinkInput{LicenseID: lic.ID, EntitlementID: calls.ID, Value: map[string]any{"type": "number", "value": 10000.0}, OveragePercent: &overage})
	must(err)
	_, err = a.Instances.CreateInstance(octx, ent.CreateInstanceInput{Name: "EU", Slug: "eu-prod-1", Metadata: map[string]any{"region": "eu"}})
	must(err)
	return a.Decisions, octx, &queries
}

// BenchmarkAllowed is the whole in-process decision path the API runs:
// snapshot and instance cache lookups, input building, evaluation of the
// prepared query, mapping. Compare with policy's BenchmarkRawOPA_*.
func BenchmarkAllowed(b *testing.B) {
	s, ctx, _ := setup(b)
	one := 1.0
	for _, ent := range []string{"sso", "api-calls"} {
		b.Run(ent, func(b *testing.B) {
			q := policy.Question{Instance: "eu-prod-1", Entitlement: ent, Requested: &one}
			if d, err := s.Allowed(ctx, q); err != nil || !d.Allowed {
				b.Fatal(err, d)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				d, err := s.Allowed(ctx, q)
				if err != nil || !d.Allowed {
					b.Fatal(err, d)
				}
			}
		})
	}
}

func TestAllowedReadsNoSQLOnceCached(t *testing.T) {
	s, ctx, queries := setup(t)
	q := policy.Question{Instance: "eu-prod-1", Entitlement: "sso"}
	if d, err := s.Allowed(ctx, q); err != nil || !d.Allowed || d.Reason != "ALLOWED" {
		t.Fatalf("first decision: %v %+v", err, d)
	}
	// Facts come from memory, and so does a NUMBER decision's usage once
	// the counter was read (the query log sees raw SQL too).
	q.Entitlement = "api-calls"
	if _, err := s.Allowed(ctx, q); err != nil {
		t.Fatal(err)
	}
	for e, want := range map[string]int64{"sso": 0, "missing": 0, "api-calls": 0} {
		q.Entitlement = e
		before := queries.Load()
		if _, err := s.Allowed(ctx, q); err != nil {
			t.Fatal(err)
		}
		if n := queries.Load() - before; n != want {
			t.Errorf("a cached %s decision ran %d SQL statements, want %d", e, n, want)
		}
	}
}
