// Package factcache keeps, per organization, the facts a decision needs —
// the organization, its entitlements, its licenses with their grants, and
// its instances — in memory, loaded lazily from the store and dropped
// whole whenever anything of that organization changes (in this process,
// or in another one sharing the PostgreSQL database). A decision on a
// cached instance reads no SQL.
package facts

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/entitled/entitled/ent"
	"github.com/entitled/entitled/ent/instance"
	"github.com/entitled/entitled/internal/tenant"
	"github.com/entitled/entitled/policy"
)

// InstanceFacts is an instance with the ID of its license ("" for none).
type InstanceFacts struct {
	Instance  *policy.Instance
	LicenseID string
}

// LicenseFacts is a license with what it grants, by entitlement ID.
type LicenseFacts struct {
	License *policy.License
	Grants  map[string]*policy.Grant
	// Granted lists the granted entitlements' slugs, sorted.
	Granted []string
}

// Snapshot is one organization's facts at one moment. A snapshot is never
// changed after an invalidation replaced it, so loads that raced with a
// write cannot leave stale facts behind.
type Snapshot struct {
	Org *policy.Org
	// PolicyVersion is the organization's policy version: which compiled
	// policy set decides for it.
	PolicyVersion  int
	Entitlements   map[string]*policy.Entitlement // by slug
	EntitlementIDs map[string]*policy.Entitlement // by ID
	Licenses       map[string]*LicenseFacts       // by ID

	mu        sync.RWMutex
	instances map[string]*InstanceFacts // by slug; nil value: known missing
}

// Cache holds the snapshots.
type Cache struct {
	db *ent.Client

	mu    sync.RWMutex
	orgs  map[string]*orgSlot
	loads sync.Map // orgID → *sync.Mutex serialising snapshot loads
}

type orgSlot struct {
	snap *Snapshot
}

// New returns an empty cache reading from db.
func New(db *ent.Client) *Cache {
	return &Cache{db: db, orgs: map[string]*orgSlot{}}
}

// Invalidate drops an organization's facts.
func (c *Cache) Invalidate(orgID string) {
	c.mu.Lock()
	delete(c.orgs, orgID)
	c.mu.Unlock()
}

// InvalidateAll drops every organization's facts (after a lost change feed).
func (c *Cache) InvalidateAll() {
	c.mu.Lock()
	clear(c.orgs)
	c.mu.Unlock()
}

// Snapshot returns the organization's current snapshot, loading it when
// missing.
func (c *Cache) Snapshot(ctx context.Context, orgID string) (*Snapshot, error) {
	if snap := c.current(orgID); snap != nil {
		return snap, nil
	}
	// One load per organization at a time; others wait and reuse it.
	lk, _ := c.loads.LoadOrStore(orgID, &sync.Mutex{})
	mu := lk.(*sync.Mutex)
	mu.Lock()
	defer mu.Unlock()
	if snap := c.current(orgID); snap != nil {
		return snap, nil
	}
	// The slot is claimed before loading: an invalidation during the load
	// deletes it, and the load's result is then used once but not kept.
	slot := &orgSlot{}
	c.mu.Lock()
	c.orgs[orgID] = slot
	c.mu.Unlock()
	snap, err := c.load(ctx, orgID)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		if c.orgs[orgID] == slot {
			delete(c.orgs, orgID)
		}
		return nil, err
	}
	slot.snap = snap
	return snap, nil
}

func (c *Cache) current(orgID string) *Snapshot {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if slot := c.orgs[orgID]; slot != nil {
		return slot.snap
	}
	return nil
}

func (c *Cache) load(ctx context.Context, orgID string) (*Snapshot, error) {
	ctx = tenant.OrgContext(ctx, orgID)
	org, err := c.db.Organization.Get(ctx, orgID)
	if err != nil {
		return nil, fmt.Errorf("load organization %s: %w", orgID, err)
	}
	s := &Snapshot{
		Org:            &policy.Org{ID: org.ID, Slug: org.Slug},
		PolicyVersion:  org.PolicyVersion,
		Entitlements:   map[string]*policy.Entitlement{},
		EntitlementIDs: map[string]*policy.Entitlement{},
		Licenses:       map[string]*LicenseFacts{},
		instances:      map[string]*InstanceFacts{},
	}
	ents, err := c.db.Entitlement.Query().All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load entitlements: %w", err)
	}
	for _, e := range ents {
		de := &policy.Entitlement{ID: e.ID, Slug: e.Slug, Type: string(e.Type)}
		if e.MeterType != nil {
			de.MeterType = string(*e.MeterType)
		}
		if e.AggregationMethod != nil {
			de.AggregationMethod = string(*e.AggregationMethod)
		}
		if e.ResetPeriod != nil {
			de.ResetPeriod = string(*e.ResetPeriod)
		}
		de.Term() // build once, before the snapshot is shared
		s.Entitlements[e.Slug] = de
		s.EntitlementIDs[e.ID] = de
	}
	lics, err := c.db.License.Query().WithEntitlements().All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load licenses: %w", err)
	}
	for _, l := range lics {
		lf := &LicenseFacts{
			License: &policy.License{ID: l.ID, Slug: l.Slug, Type: string(l.Type), Version: l.Version, IsActive: l.IsActive},
			Grants:  map[string]*policy.Grant{},
		}
		if l.VersionName != nil {
			lf.License.VersionName = *l.VersionName
		}
		lf.License.Term()
		for _, link := range l.Edges.Entitlements {
			overage := 0.0
			if link.OveragePercent != nil {
				overage = *link.OveragePercent
			}
			g, err := policy.NewGrant(link.Value, overage)
			if err != nil {
				return nil, fmt.Errorf("license %s grant %s: %w", l.Slug, link.EntitlementID, err)
			}
			lf.Grants[link.EntitlementID] = g
			if e := s.EntitlementIDs[link.EntitlementID]; e != nil {
				lf.Granted = append(lf.Granted, e.Slug)
			}
		}
		sort.Strings(lf.Granted)
		s.Licenses[l.ID] = lf
	}
	return s, nil
}

// Instance returns the instance with the given slug, or nil when the
// organization has none. Misses are remembered until the next change.
func (c *Cache) Instance(ctx context.Context, s *Snapshot, slug string) (*InstanceFacts, error) {
	s.mu.RLock()
	f, ok := s.instances[slug]
	s.mu.RUnlock()
	if ok {
		return f, nil
	}
	inst, err := c.db.Instance.Query().
		Where(instance.Slug(slug)).
		Only(tenant.OrgContext(ctx, s.Org.ID))
	switch {
	case ent.IsNotFound(err):
		f = nil
	case err != nil:
		return nil, fmt.Errorf("load instance %q: %w", slug, err)
	default:
		di := &policy.Instance{ID: inst.ID, Slug: inst.Slug, Name: inst.Name, Metadata: inst.Metadata, StartsAt: inst.StartsAt, ExpiresAt: inst.ExpiresAt}
		di.Term()
		f = &InstanceFacts{Instance: di}
		if inst.LicenseID != nil {
			f.LicenseID = *inst.LicenseID
		}
	}
	s.mu.Lock()
	if len(s.instances) < maxInstancesPerOrg {
		s.instances[slug] = f
	}
	s.mu.Unlock()
	return f, nil
}

// maxInstancesPerOrg bounds memory per organization; past it, further
// instances are read from the store each time.
const maxInstancesPerOrg = 1_000_000

// Instances lists the organization's instances in slug order, after the
// given slug, at most limit of them; more reports whether others follow.
func (c *Cache) Instances(ctx context.Context, s *Snapshot, after string, limit int) (_ []*InstanceFacts, more bool, _ error) {
	q := c.db.Instance.Query().Order(ent.Asc(instance.FieldSlug)).Limit(limit + 1)
	if after != "" {
		q = q.Where(instance.SlugGT(after))
	}
	rows, err := q.All(tenant.OrgContext(ctx, s.Org.ID))
	if err != nil {
		return nil, false, fmt.Errorf("list instances: %w", err)
	}
	if len(rows) > limit {
		rows, more = rows[:limit], true
	}
	out := make([]*InstanceFacts, 0, len(rows))
	for _, inst := range rows {
		f, err := c.Instance(ctx, s, inst.Slug)
		if err != nil {
			return nil, false, err
		}
		if f != nil {
			out = append(out, f)
		}
	}
	return out, more, nil
}
