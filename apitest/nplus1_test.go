package apitest

import (
	"fmt"
	"testing"

	"github.com/entitled/entitled/internal/testenv"
)

// walkQuery walks every edge the console shows on a license list.
const walkQuery = `{ licenses(first: 100) { totalCount edges { node { slug version
	entitlements { value overagePercent entitlement { slug type } }
	instances { totalCount edges { node { slug license { slug } } } }
	versions { totalCount edges { node { version terms { entitlementSlug } } } } } } } }`

// Not parallel: it counts SQL statements (env.Queries). Verified keys are
// cached for one second, so on a machine slowed by other tests more key
// lookups would land inside the measured walks and move the count.
func TestEdgeWalksDoNotQueryPerRow(t *testing.T) {
	forEachStoreSerial(t, func(t *testing.T, c client) {
		key := c.NewOrg("acme")
		ents := []string{
			c.NewEntitlement(key, "calls", "NUMBER", nil),
			c.NewEntitlement(key, "sso", "BOOLEAN", nil),
			c.NewEntitlement(key, "theme", "CONFIG", nil),
		}
		values := []map[string]any{num(100), boolean(true), object(map[string]any{"c": "teal"})}
		made := 0
		grow := func(to int) {
			for ; made < to; made++ {
				lic := c.NewLicense(key, fmt.Sprintf("lic-%02d", made), "PAID", nil)
				for i, e := range ents {
					c.Link(key, lic, e, values[i])
				}
				c.NewInstance(key, fmt.Sprintf("ins-%02d-a", made), lic)
				c.NewInstance(key, fmt.Sprintf("ins-%02d-b", made), lic)
			}
		}
		// measure runs the walk and returns how many SQL statements it ran.
		// The first run warms the key cache; the least of two later runs
		// is kept, so a key-cache refresh is not counted as a query per row.
		measure := func(n int) int64 {
			c.MustDo(key, walkQuery, nil)
			best := int64(-1)
			for i := 0; i < 2; i++ {
				before := c.Queries.Load()
				d := c.MustDo(key, walkQuery, nil)
				delta := c.Queries.Load() - before
				if best < 0 || delta < best {
					best = delta
				}
				checkWalk(t, d, n)
			}
			return best
		}

		grow(5)
		small := measure(5)
		grow(20)
		large := measure(20)
		t.Logf("%s: %d statements for 5 licenses, %d for 20", c.Store, small, large)
		if small <= 0 {
			t.Fatalf("query counter saw %d statements; it is not counting", small)
		}
		if large > small+2 {
			t.Fatalf("walking 20 licenses ran %d statements, 5 ran %d: edges are loaded per row", large, small)
		}
	})
}

// checkWalk proves the walk returned every row it should (a query counter
// is only meaningful if the data is all there).
func checkWalk(t *testing.T, d map[string]any, n int) {
	t.Helper()
	if got := testenv.Len(d, "licenses.edges"); got != n || testenv.Num(d, "licenses.totalCount") != float64(n) {
		t.Fatalf("walk returned %d licenses, want %d", got, n)
	}
	for i := 0; i < n; i++ {
		l := testenv.Get(d, fmt.Sprintf("licenses.edges.%d.node", i))
		slug := testenv.Str(l, "slug")
		if testenv.Len(l, "entitlements") != 3 || testenv.Num(l, "version") != 4 {
			t.Fatalf("%s: %d links at version %v", slug, testenv.Len(l, "entitlements"), testenv.Get(l, "version"))
		}
		for j := 0; j < 3; j++ {
			if testenv.Str(l, fmt.Sprintf("entitlements.%d.entitlement.slug", j)) == "" || testenv.Get(l, fmt.Sprintf("entitlements.%d.value.type", j)) == nil {
				t.Fatalf("%s: link %d incomplete: %v", slug, j, testenv.Get(l, "entitlements"))
			}
		}
		if testenv.Num(l, "instances.totalCount") != 2 || testenv.Len(l, "instances.edges") != 2 ||
			testenv.Str(l, "instances.edges.1.node.license.slug") != slug {
			t.Fatalf("%s: instances %v", slug, testenv.Get(l, "instances"))
		}
		if testenv.Num(l, "versions.totalCount") != 4 || testenv.Len(l, "versions.edges") != 4 ||
			testenv.Len(l, "versions.edges.3.node.terms") != 3 {
			t.Fatalf("%s: versions %v", slug, testenv.Get(l, "versions"))
		}
	}
}

// Instance.usage reads the counters of a whole page in one statement: 5
// instances and 50 cost the same. Serial: it counts SQL statements.
func TestInstanceUsageIsBatched(t *testing.T) {
	forEachStoreSerial(t, func(t *testing.T, c client) {
		key := c.NewOrg("acme")
		lic := c.NewLicense(key, "pro", "PAID", map[string]any{"isDefault": true})
		calls := c.NewEntitlement(key, "calls", "NUMBER", map[string]any{"resetPeriod": "MONTH"})
		seats := c.NewEntitlement(key, "seats", "NUMBER", map[string]any{"meterType": "CALCULATED_USAGE", "resetPeriod": "NONE"})
		c.Link(key, lic, calls, num(100))
		c.Link(key, lic, seats, num(10))
		c.Link(key, lic, c.NewEntitlement(key, "sso", "BOOLEAN", nil), boolean(true))
		made := 0
		grow := func(to int) {
			for ; made < to; made++ {
				slug := fmt.Sprintf("ins-%02d", made)
				c.NewInstance(key, slug, "")
				c.MustDo(key, reportQ, map[string]any{"in": map[string]any{"instance": slug, "entitlement": "calls", "value": made + 1}})
			}
		}
		const q = `{ instances(first: 100) { edges { node { slug usage { entitlement { slug } value limit } } } } }`
		measure := func(n int) int64 {
			c.MustDo(key, q, nil)
			best := int64(-1)
			for range 2 {
				before := c.Queries.Load()
				d := c.MustDo(key, q, nil)
				delta := c.Queries.Load() - before
				if best < 0 || delta < best {
					best = delta
				}
				if got := testenv.Len(d, "instances.edges"); got != n {
					t.Fatalf("%d instances, want %d", got, n)
				}
				for i := range n {
					u := testenv.Get(d, fmt.Sprintf("instances.edges.%d.node.usage", i)).([]any)
					if len(u) != 2 {
						t.Fatalf("instance %d: usage of %d entitlements, want 2", i, len(u))
					}
					for _, x := range u {
						if testenv.Str(x, "entitlement.slug") == "calls" && testenv.Num(x, "value") != float64(i+1) {
							t.Fatalf("instance %d: calls usage %v, want %d", i, testenv.Get(x, "value"), i+1)
						}
					}
				}
			}
			return best
		}
		grow(5)
		small := measure(5)
		grow(50)
		large := measure(50)
		t.Logf("%s: Instance.usage: %d statements for 5 instances, %d for 50", c.Store, small, large)
		if large != small {
			t.Fatalf("usage of 50 instances ran %d statements, of 5 ran %d: it is read per row", large, small)
		}
	})
}
