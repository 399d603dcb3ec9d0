package metering

import (
	"context"
	"fmt"
	"time"
)

const insertThreshold = `INSERT INTO threshold_events
	(id, organization_id, instance_id, entitlement_id, kind, period_start, usage, "limit", hard_cap, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (instance_id, entitlement_id, period_start, kind) DO NOTHING`

// thresholds records, once per period, that usage reached 80% of the
// limit, the limit itself, or passed the hard cap.
func (s *Service) thresholds(ctx context.Context, q exec, t target, start time.Time, value float64) error {
	g := t.grant
	if g == nil || g.Unlimited || g.Number <= 0 {
		return nil
	}
	for _, th := range []struct {
		kind    string
		crossed bool
	}{
		{"PERCENT_80", value >= 0.8*g.Number},
		{"LIMIT_REACHED", value >= g.Number},
		{"HARD_CAP_EXCEEDED", value > g.HardCap},
	} {
		if !th.crossed {
			continue
		}
		if _, err := q.ExecContext(ctx, s.rebind(insertThreshold),
			newID("te"), t.orgID, t.inst.Instance.ID, t.ent.ID, th.kind, start.UTC(), value, g.Number, g.HardCap, s.now().UTC()); err != nil {
			return fmt.Errorf("record threshold event: %w", err)
		}
	}
	return nil
}
