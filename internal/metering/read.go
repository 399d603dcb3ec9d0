package metering

import (
	"context"
	"fmt"
	"github.com/entitled/entitled/ent/entitlement"
	"github.com/entitled/entitled/policy"
	"maps"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/entitled/entitled/ent"
	"github.com/entitled/entitled/ent/usagecounter"
	"github.com/entitled/entitled/internal/apperr"
	"github.com/entitled/entitled/internal/facts"
	"github.com/entitled/entitled/internal/platform/store"
	"github.com/entitled/entitled/internal/tenant"
)

// MaxHistory bounds usageHistory; DefaultHistory is what it returns when
// the periods are not given (or given as null).
const (
	MaxHistory     = 120
	DefaultHistory = 12
)

// InstanceRef is what usage needs of an instance: its ID and its
// license's.
type InstanceRef struct {
	ID        string
	LicenseID string
}

// batchKey marks the usage read for one request.
type batchKey struct{}

// usageBatch keeps, for one request, the usage already read by instance
// ID, so a page of instances costs one statement, not one per row.
type usageBatch struct {
	mu           sync.Mutex
	loaded       map[string][]*Usage
	entitlements map[string]*ent.Entitlement // by ID; nil until first asked
}

// WithUsageBatch gives a request its own batch of usage reads.
func WithUsageBatch(ctx context.Context) context.Context {
	return context.WithValue(ctx, batchKey{}, &usageBatch{loaded: map[string][]*Usage{}})
}

// ForInstance returns the current period's usage of every NUMBER
// entitlement the instance's license grants. siblings are the other
// instances of the same answer (a page): within a request (WithUsageBatch)
// their usage is read in the same statement and kept for their turn.
func (s *Service) ForInstance(ctx context.Context, inst InstanceRef, siblings []InstanceRef) ([]*Usage, error) {
	b, _ := ctx.Value(batchKey{}).(*usageBatch)
	if b == nil {
		got, err := s.forInstances(ctx, []InstanceRef{inst})
		if err != nil {
			return nil, err
		}
		return got[inst.ID], nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if u, ok := b.loaded[inst.ID]; ok {
		return u, nil
	}
	refs := []InstanceRef{inst}
	for _, r := range siblings {
		if _, ok := b.loaded[r.ID]; !ok && r.ID != inst.ID {
			refs = append(refs, r)
		}
	}
	got, err := s.forInstances(ctx, refs)
	if err != nil {
		return nil, err
	}
	maps.Copy(b.loaded, got)
	return got[inst.ID], nil
}

// EntitlementOf returns the entitlement a Usage is of. Within a request
// (WithUsageBatch) the organization's entitlements are read once, in one
// statement, whatever the number of rows asking.
func (s *Service) EntitlementOf(ctx context.Context, u *Usage) (*ent.Entitlement, error) {
	b, _ := ctx.Value(batchKey{}).(*usageBatch)
	if b == nil {
		return s.db.ReadClient.Entitlement.Get(ctx, u.EntitlementID)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.entitlements == nil {
		all, err := s.db.ReadClient.Entitlement.Query().All(ctx)
		if err != nil {
			return nil, fmt.Errorf("read entitlements: %w", err)
		}
		b.entitlements = make(map[string]*ent.Entitlement, len(all))
		for _, e := range all {
			b.entitlements[e.ID] = e
		}
	}
	if e := b.entitlements[u.EntitlementID]; e != nil {
		return e, nil
	}
	return nil, apperr.NotFoundf("entitlement %q not found", u.EntitlementSlug)
}

// maxBatchIDs bounds one statement's list of instance IDs.
const maxBatchIDs = 500

var selectInstanceCounters = schemaSQL(`SELECT {uc.instance_id}, {uc.entitlement_id}, {uc.period_start}, {uc.count}, {uc.sum}, {uc.min}, {uc.max}, {uc.latest}, {uc.latest_at}, {uc.reset_at} FROM {uc} WHERE {uc.organization_id} = `)

// forInstances reads the current usage of several instances: one
// statement per maxBatchIDs instances.
func (s *Service) forInstances(ctx context.Context, refs []InstanceRef) (map[string][]*Usage, error) {
	snap, err := s.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	type want struct {
		ref   InstanceRef
		t     target
		start time.Time
		end   time.Time
	}
	var wants []want
	starts := map[time.Time]bool{}
	out := make(map[string][]*Usage, len(refs))
	for _, r := range refs {
		out[r.ID] = []*Usage{}
		lf := snap.Licenses[r.LicenseID]
		if lf == nil {
			continue
		}
		for _, slug := range lf.Granted {
			e := snap.Entitlements[slug]
			if e == nil || e.Type != policy.EntitlementNumber {
				continue
			}
			start, end, err := Period(e.ResetPeriod, now)
			if err != nil {
				return nil, err
			}
			starts[start] = true
			wants = append(wants, want{r, target{orgID: snap.Org.ID, ent: e, grant: lf.Grants[e.ID]}, start, end})
		}
	}
	if len(wants) == 0 {
		return out, nil
	}
	type key struct {
		inst, ent string
		start     int64
	}
	counters := map[key]*Counter{}
	ids := make([]string, 0, len(refs))
	for _, r := range refs {
		ids = append(ids, r.ID)
	}
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), maxBatchIDs)]
		ids = ids[len(chunk):]
		var q strings.Builder
		args := []any{snap.Org.ID}
		q.WriteString(selectInstanceCounters)
		q.WriteString(s.placeholder(1))
		q.WriteString(schemaSQL(` AND {uc.instance_id} IN (`))
		for i, id := range chunk {
			if i > 0 {
				q.WriteByte(',')
			}
			args = append(args, id)
			q.WriteString(s.placeholder(len(args)))
		}
		q.WriteString(schemaSQL(`) AND {uc.period_start} IN (`))
		first := true
		for st := range starts {
			if !first {
				q.WriteByte(',')
			}
			first = false
			args = append(args, st.UTC())
			q.WriteString(s.placeholder(len(args)))
		}
		q.WriteByte(')')
		rows, err := s.db.Read.QueryContext(ctx, q.String(), args...)
		if err != nil {
			return nil, store.Translate(fmt.Errorf("read usage counters: %w", err), "usage counters")
		}
		for rows.Next() {
			var (
				k     key
				start time.Time
			)
			c, err := scanCounter(rows, &k.inst, &k.ent, &start)
			if err != nil {
				rows.Close()
				return nil, err
			}
			k.start = start.UTC().UnixNano()
			counters[k] = c
		}
		if err := rows.Close(); err != nil {
			return nil, store.Translate(fmt.Errorf("read usage counters: %w", err), "usage counters")
		}
	}
	for _, w := range wants {
		u := figures(w.t, counters[key{w.ref.ID, w.t.ent.ID, w.start.UTC().UnixNano()}], w.start, w.end)
		out[w.ref.ID] = append(out[w.ref.ID], &u)
	}
	return out, nil
}

// History returns the last n periods of one instance and entitlement,
// newest first, including the current one; periods without reports are 0.
func (s *Service) History(ctx context.Context, instanceSlug, entitlementSlug string, periods *int) ([]*Usage, error) {
	n := DefaultHistory
	if periods != nil {
		n = *periods
	}
	if n <= 0 || n > MaxHistory {
		return nil, apperr.Invalid("periods", "must be between 1 and %d", MaxHistory)
	}
	_, t, err := s.resolve(ctx, instanceSlug, entitlementSlug, "")
	if err != nil {
		return nil, err
	}
	if t.ent.ResetPeriod == "" || t.ent.ResetPeriod == string(entitlement.ResetPeriodNONE) {
		n = 1
	}
	start, _, err := Period(t.ent.ResetPeriod, s.now())
	if err != nil {
		return nil, err
	}
	starts := []time.Time{start}
	for len(starts) < n {
		starts = append(starts, Previous(t.ent.ResetPeriod, starts[len(starts)-1]))
	}
	rows, err := s.db.ReadClient.UsageCounter.Query().
		Where(usagecounter.InstanceID(t.inst.Instance.ID), usagecounter.EntitlementID(t.ent.ID),
			usagecounter.PeriodStartGTE(starts[len(starts)-1])).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read usage history: %w", err)
	}
	byStart := map[int64]*ent.UsageCounter{}
	for _, r := range rows {
		byStart[r.PeriodStart.UTC().UnixNano()] = r
	}
	out := make([]*Usage, 0, n)
	for _, st := range starts {
		var c *Counter
		if r := byStart[st.UnixNano()]; r != nil {
			c = &Counter{Count: r.Count, Sum: r.Sum, Min: r.Min, Max: r.Max, Latest: r.Latest, LatestAt: r.LatestAt, ResetAt: r.ResetAt}
		}
		_, end, _ := Period(t.ent.ResetPeriod, st)
		u := figures(t, c, st, end)
		out = append(out, &u)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].PeriodStart.After(out[j].PeriodStart) })
	return out, nil
}

func (s *Service) snapshot(ctx context.Context) (*facts.Snapshot, error) {
	orgID := tenant.FromContext(ctx).OrgID
	if orgID == "" {
		return nil, apperr.Forbiddenf("usage needs an organization's API key")
	}
	return s.cache.Snapshot(ctx, orgID)
}
