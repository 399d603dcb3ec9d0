package decision_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"testing"

	"github.com/entitled/entitled/ent"
	"github.com/entitled/entitled/ent/entitlement"
	"github.com/entitled/entitled/ent/license"
	"github.com/entitled/entitled/internal/app"
	"github.com/entitled/entitled/internal/catalog"
	"github.com/entitled/entitled/internal/tenant"
	"github.com/entitled/entitled/policy"
)

// BenchmarkFactsMemory measures what one process holds in memory per
// organization and per instance once decisions have loaded their facts:
// 10,000 instances as 10 organizations × 1,000 and as 100 × 100 (each
// organization with 20 entitlements, BOOLEAN, NUMBER and CONFIG in turn,
// granted by one default license; instances with a little metadata), on
// SQLite. It reports the growth of the live heap (after a collection)
// from before to after one decision per instance, per instance (the
// organizations' snapshots included) and in total; the two shapes tell
// an organization's share from an instance's. Each op is one decision per
// instance over the warm cache. Bounded: run it with -benchtime 1x
// (seeding takes seconds):
//
//	go test -run '^$' -bench BenchmarkFactsMemory -benchtime 1x ./internal/decision/
func BenchmarkFactsMemory(b *testing.B) {
	for _, shape := range []struct{ orgs, perOrg int }{{10, 1000}, {100, 100}} {
		b.Run(fmt.Sprintf("%dx%d", shape.orgs, shape.perOrg), func(b *testing.B) {
			factsMemory(b, shape.orgs, shape.perOrg)
		})
	}
}

func factsMemory(b *testing.B, orgs, perOrg int) {
	const ents = 20
	ctx := context.Background()
	a, err := app.New(ctx, app.Config{
		DatabaseURL: "sqlite://" + b.TempDir() + "/memory.db",
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	must := func(err error) {
		b.Helper()
		if err != nil {
			b.Fatal(err)
		}
	}
	octxs := make([]context.Context, orgs)
	for o := range orgs {
		org, _, _, err := a.Auth.CreateOrganization(ctx, fmt.Sprintf("Org %d", o), fmt.Sprintf("org-%d", o))
		must(err)
		octx := tenant.OrgContext(ctx, org.ID)
		octxs[o] = octx
		yes := true
		lic, err := a.Catalog.CreateLicense(octx, ent.CreateLicenseInput{Name: "Pro", Slug: "pro", Type: license.TypePAID, IsDefault: &yes})
		must(err)
		for e := range ents {
			typ, value := entitlement.TypeBOOLEAN, map[string]any{"type": "boolean", "value": true}
			switch e % 3 {
			case 1:
				typ, value = entitlement.TypeNUMBER, map[string]any{"type": "number", "value": 1000.0}
			case 2:
				typ, value = entitlement.TypeCONFIG, map[string]any{"type": "object", "value": map[string]any{"theme": "dark"}}
			}
			en, err := a.Catalog.CreateEntitlement(octx, ent.CreateEntitlementInput{Name: fmt.Sprintf("E%d", e), Slug: fmt.Sprintf("e%d", e), Type: typ})
			must(err)
			_, err = a.Catalog.SetLicenseEntitlement(octx, catalog.SetLinkInput{LicenseID: lic.ID, EntitlementID: en.ID, Value: value})
			must(err)
		}
		// Instances straight through ent, in bulk: the cache reads them
		// as the API would have written them.
		for start := 0; start < perOrg; start += 500 {
			var bulk []*ent.InstanceCreate
			for i := start; i < start+500; i++ {
				bulk = append(bulk, a.DB.Client.Instance.Create().SetName(fmt.Sprintf("Instance %d", i)).
					SetSlug(fmt.Sprintf("inst-%05d", i)).SetLicenseID(lic.ID).
					SetMetadata(map[string]any{"region": "eu", "tier": "gold", "seats": 25}))
			}
			_, err := a.DB.Client.Instance.CreateBulk(bulk...).Save(octx)
			must(err)
		}
	}
	decideAll := func() {
		for _, octx := range octxs {
			for i := range perOrg {
				d, err := a.Decisions.Allowed(octx, policy.Question{Instance: fmt.Sprintf("inst-%05d", i), Entitlement: "e0"})
				if err != nil || !d.Allowed {
					b.Fatal(err, d)
				}
			}
		}
	}
	live := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := live()
	decideAll()
	after := live()
	cachedOrgs, cachedInstances := a.Facts.Sizes()
	if cachedOrgs != orgs || cachedInstances != orgs*perOrg {
		b.Fatalf("cache holds %d organizations and %d instances, want %d and %d", cachedOrgs, cachedInstances, orgs, orgs*perOrg)
	}
	b.ResetTimer()
	for b.Loop() {
		decideAll()
	}
	b.StopTimer()
	grown := float64(after) - float64(before)
	b.ReportMetric(grown/float64(orgs*perOrg), "B/instance")
	b.ReportMetric(grown/(1<<20), "MiB-total")
	b.ReportMetric(float64(after)/(1<<20), "MiB-heap")
}
