// Package facts keeps, per organization, what decisions and metering read
// on every call — the organization, its entitlements, its licenses with
// their grants, and its instances — in memory, loaded lazily from the
// store. The change feed says what changed (in this process, or in another
// one sharing the PostgreSQL database): a changed instance is dropped
// alone, a change to the catalog or the policies replaces the
// organization's snapshot. A question about a cached instance reads no SQL.
//
// Fail static: a replaced snapshot is kept as a fallback, and while the
// database does not answer, a decision whose reload fails falls back to it
// (Lookup says since when it is stale).
//
// It is a room of its own, not part of package decision, because metering
// resolves every report through the same facts and must not depend on the
// decision service.
package facts

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/entitled/entitled/ent"
	"github.com/entitled/entitled/ent/instance"
	"github.com/entitled/entitled/internal/platform/changefeed"
	"github.com/entitled/entitled/internal/platform/store"
	"github.com/entitled/entitled/internal/tenant"
	"github.com/entitled/entitled/internal/validate"
	"github.com/entitled/entitled/policy"
)

// Bounds of the cache. Found instances are bounded by what the
// organization created; misses are what callers make up, so they are
// bounded process-wide and per organization.
const (
	// MaxMisses bounds the remembered unknown instance slugs, all
	// organizations together (each at most validate.MaxSlug bytes).
	MaxMisses = 100_000
	// MaxMissesPerOrg bounds one organization's share of them; past it,
	// further unknown slugs are looked up each time.
	MaxMissesPerOrg = 10_000
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

	// stamp is the organization's change counter, read before the rest.
	stamp time.Time
	// replaced is when a change replaced this snapshot (unix nanos; 0
	// while it is current).
	replaced atomic.Int64

	gen    atomic.Uint64 // distinguishes this snapshot's misses from older ones'
	misses atomic.Int64

	mu        sync.RWMutex
	instances map[string]*InstanceFacts // by slug
	// instGen counts instance invalidations: a lookup that began before
	// one does not cache what it read.
	instGen uint64
}

// Replaced is when a change replaced this snapshot; zero while it is the
// organization's current one.
func (s *Snapshot) Replaced() time.Time {
	if n := s.replaced.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// Grant returns what the instance's license grants for the entitlement,
// with the license; nil parts when there is none.
func (s *Snapshot) Grant(inst *InstanceFacts, e *policy.Entitlement) (*LicenseFacts, *policy.Grant) {
	if inst == nil {
		return nil, nil
	}
	lf := s.Licenses[inst.LicenseID]
	if lf == nil || e == nil {
		return lf, nil
	}
	return lf, lf.Grants[e.ID]
}

// missKey names an unknown slug within one snapshot: a new snapshot
// starts with no misses, and the old ones age out of the LRU.
type missKey struct {
	gen  uint64
	slug string
}

// fallbackWait bounds a reload when a fallback could answer instead: a
// database that does not answer is not waited on for long.
const fallbackWait = 2 * time.Second

// Cache holds the snapshots.
type Cache struct {
	db     *ent.Client
	health *store.Health
	// observe tells the change feed which change counter a load read.
	observe func(orgID string, stamp time.Time)
	now     func() time.Time

	gens   atomic.Uint64
	misses *lru.Cache[missKey, struct{}]

	mu    sync.RWMutex
	orgs  map[string]*orgSlot
	loads sync.Map // orgID → *sync.Mutex serialising snapshot loads
	// fallback holds each organization's last replaced snapshot, used
	// only while reloading fails because the database does not answer.
	fallback map[string]*Snapshot
}

type orgSlot struct {
	snap *Snapshot
}

// New returns an empty cache reading from db. observe (may be nil) is
// told the change counter each snapshot was loaded at.
func New(db *store.DB, now func() time.Time, observe func(orgID string, stamp time.Time)) *Cache {
	misses, err := lru.New[missKey, struct{}](MaxMisses)
	if err != nil {
		panic(err) // only for a size <= 0
	}
	if observe == nil {
		observe = func(string, time.Time) {}
	}
	return &Cache{db: db.ReadClient, health: db.Health, now: now, observe: observe, orgs: map[string]*orgSlot{}, misses: misses, fallback: map[string]*Snapshot{}}
}

// Apply drops what a change made stale: the named instances, or the
// organization's snapshot for anything else that facts hold.
func (c *Cache) Apply(ch changefeed.Change) {
	switch ch.Kind {
	case changefeed.KindAPIKey:
		return // keys are not facts
	case changefeed.KindInstance:
		if snap := c.current(ch.Org); snap != nil {
			snap.dropInstances(c, ch.Slugs)
			return
		}
	}
	c.Invalidate(ch.Org)
}

// Invalidate replaces an organization's facts: the next question loads
// them again (the old snapshot stays as the fallback).
func (c *Cache) Invalidate(orgID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	slot := c.orgs[orgID]
	if slot == nil {
		return
	}
	if slot.snap != nil {
		slot.snap.replaced.CompareAndSwap(0, c.now().UnixNano())
		c.fallback[orgID] = slot.snap
	}
	delete(c.orgs, orgID)
}

// dropInstances forgets instances by slug (all of them when slugs is
// empty) and the unknown slugs remembered, so created ones are found.
func (s *Snapshot) dropInstances(c *Cache, slugs []string) {
	s.mu.Lock()
	s.instGen++
	if len(slugs) == 0 {
		clear(s.instances)
	}
	for _, slug := range slugs {
		delete(s.instances, slug)
	}
	s.gen.Store(c.gens.Add(1))
	s.misses.Store(0)
	s.mu.Unlock()
}

// Sizes returns how many organizations' snapshots the cache holds and how
// many instances they hold together (the /metrics gauges). It takes each
// lock only to read a map's length.
func (c *Cache) Sizes() (orgs, instances int) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, slot := range c.orgs {
		if s := slot.snap; s != nil {
			orgs++
			s.mu.RLock()
			instances += len(s.instances)
			s.mu.RUnlock()
		}
	}
	return orgs, instances
}

// Snapshot returns the organization's current snapshot, loading it when
// missing. Writes resolve their targets with it: it never falls back.
func (c *Cache) Snapshot(ctx context.Context, orgID string) (*Snapshot, error) {
	if snap := c.current(orgID); snap != nil {
		return snap, nil
	}
	return c.load(ctx, orgID)
}

// Lookup is Snapshot for decisions: while the database does not answer it
// returns the last replaced snapshot, if there is one, and says since when
// it is stale (zero for the current one).
func (c *Cache) Lookup(ctx context.Context, orgID string) (*Snapshot, time.Time, error) {
	if snap := c.current(orgID); snap != nil {
		return snap, time.Time{}, nil
	}
	c.mu.RLock()
	fb := c.fallback[orgID]
	c.mu.RUnlock()
	if fb != nil {
		if c.health.Failing() {
			return fb, fb.Replaced(), nil // the database just failed: do not wait on it again
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, fallbackWait)
		defer cancel()
	}
	snap, err := c.load(ctx, orgID)
	if err != nil {
		if fb != nil && store.IsUnavailable(err) {
			return fb, fb.Replaced(), nil
		}
		return nil, time.Time{}, err
	}
	return snap, time.Time{}, nil
}

// load loads the organization's snapshot, once for concurrent callers.
func (c *Cache) load(ctx context.Context, orgID string) (*Snapshot, error) {
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
	snap, err := c.read(ctx, orgID)
	c.mu.Lock()
	kept := c.orgs[orgID] == slot
	if err != nil {
		if kept {
			delete(c.orgs, orgID)
		}
		c.mu.Unlock()
		return nil, err
	}
	if kept {
		slot.snap = snap
		delete(c.fallback, orgID)
	}
	c.mu.Unlock()
	if kept {
		c.observe(orgID, snap.stamp)
	}
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

// read reads an organization's snapshot: the organization (with its change
// counter) first, then what it holds, so the data is at least as new as
// the counter.
func (c *Cache) read(ctx context.Context, orgID string) (*Snapshot, error) {
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
		stamp:          org.UpdatedAt,
		instances:      map[string]*InstanceFacts{},
	}
	s.gen.Store(c.gens.Add(1))
	ents, err := c.db.Entitlement.Query().All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load entitlements: %w", err)
	}
	for _, e := range ents {
		de := Entitlement(e)
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
			g, err := policy.NewGrant(link.Value, link.OveragePercent)
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

// Entitlement is the input.entitlement of a stored entitlement.
func Entitlement(e *ent.Entitlement) *policy.Entitlement {
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
	return de
}

// Instance returns the instance with the given slug, or nil when the
// organization has none. A malformed slug is answered nil without a
// query; unknown well-formed slugs are remembered until the next change,
// within MaxMisses and MaxMissesPerOrg.
func (c *Cache) Instance(ctx context.Context, s *Snapshot, slug string) (*InstanceFacts, error) {
	if !validate.IsSlug(slug) {
		return nil, nil
	}
	s.mu.RLock()
	f, ok := s.instances[slug]
	gen := s.instGen
	s.mu.RUnlock()
	if ok {
		return f, nil
	}
	miss := missKey{s.gen.Load(), slug}
	if c.misses.Contains(miss) {
		return nil, nil
	}
	inst, err := c.db.Instance.Query().
		Where(instance.Slug(slug)).
		Only(tenant.OrgContext(ctx, s.Org.ID))
	switch {
	case ent.IsNotFound(err):
		if s.misses.Add(1) <= MaxMissesPerOrg {
			c.misses.Add(miss, struct{}{})
		}
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("load instance %q: %w", slug, err)
	}
	return s.keep(inst, gen), nil
}

// keep caches a loaded instance (the first one kept wins, so every caller
// shares one term), unless an invalidation came after the lookup began
// (gen): then it is used once and not kept.
func (s *Snapshot) keep(inst *ent.Instance, gen uint64) *InstanceFacts {
	di := &policy.Instance{ID: inst.ID, Slug: inst.Slug, Name: inst.Name, Metadata: inst.Metadata, StartsAt: inst.StartsAt, ExpiresAt: inst.ExpiresAt}
	f := &InstanceFacts{Instance: di}
	if inst.LicenseID != nil {
		f.LicenseID = *inst.LicenseID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.instances[inst.Slug]; ok {
		return cur
	}
	di.Term()
	if s.instGen == gen {
		s.instances[inst.Slug] = f
	}
	return f
}

// Instances lists the organization's instances in slug order, after the
// given slug, at most limit of them; more reports whether others follow.
func (c *Cache) Instances(ctx context.Context, s *Snapshot, after string, limit int) (_ []*InstanceFacts, more bool, _ error) {
	s.mu.RLock()
	gen := s.instGen
	s.mu.RUnlock()
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
	out := make([]*InstanceFacts, len(rows))
	for i, inst := range rows {
		out[i] = s.keep(inst, gen)
	}
	return out, more, nil
}
