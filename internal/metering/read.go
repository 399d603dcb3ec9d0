package metering

import (
	"context"
	"fmt"
	"github.com/entitled/entitled/ent/entitlement"
	"github.com/entitled/entitled/policy"
	"sort"
	"time"

	"github.com/entitled/entitled/ent"
	"github.com/entitled/entitled/ent/usagecounter"
	"github.com/entitled/entitled/internal/apperr"
	"github.com/entitled/entitled/internal/facts"
	"github.com/entitled/entitled/internal/tenant"
)

// MaxHistory bounds usageHistory.
const MaxHistory = 120

// ForInstance returns the current period's usage of every NUMBER
// entitlement the instance's license grants, by entitlement slug.
func (s *Service) ForInstance(ctx context.Context, instanceSlug string) ([]*Usage, error) {
	snap, err := s.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	inst, err := s.cache.Instance(ctx, snap, instanceSlug)
	if err != nil || inst == nil {
		return []*Usage{}, err
	}
	lf := snap.Licenses[inst.LicenseID]
	if lf == nil {
		return []*Usage{}, nil
	}
	now := s.now()
	out := []*Usage{}
	for _, slug := range lf.Granted {
		e := snap.Entitlements[slug]
		if e == nil || e.Type != policy.EntitlementNumber {
			continue
		}
		t := target{orgID: snap.Org.ID, inst: inst, ent: e, grant: lf.Grants[e.ID]}
		start, end, err := Period(e.ResetPeriod, now)
		if err != nil {
			return nil, err
		}
		c, err := s.readCounter(ctx, s.db.Read, t.orgID, inst.Instance.ID, e.ID, start)
		if err != nil {
			return nil, err
		}
		u := figures(t, c, start, end)
		out = append(out, &u)
	}
	return out, nil
}

// History returns the last n periods of one instance and entitlement,
// newest first, including the current one; periods without reports are 0.
func (s *Service) History(ctx context.Context, instanceSlug, entitlementSlug string, n int) ([]*Usage, error) {
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
			c = &Counter{Count: r.Count, Sum: r.Sum, Min: r.Min, Max: r.Max, Latest: r.Latest, LatestAt: r.LatestAt}
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
