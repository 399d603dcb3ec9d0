package metering

import (
	"context"
	"fmt"
	"github.com/entitled/entitled/ent/thresholdevent"
	"time"
)

var insertThreshold = schemaSQL(`INSERT INTO {te}
	({te.id}, {te.organization_id}, {te.instance_id}, {te.entitlement_id}, {te.kind}, {te.period_start}, {te.usage}, "{te.limit}", {te.hard_cap}, {te.created_at})
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT ({te.instance_id}, {te.entitlement_id}, {te.period_start}, {te.kind}) DO NOTHING`)

// thresholds records, once per period, that usage reached 80% of the
// limit, the limit itself, or passed the hard cap.
func (s *Service) thresholds(ctx context.Context, q exec, t target, start time.Time, value float64) error {
	g := t.grant
	if g == nil || g.Unlimited || g.Number <= 0 {
		return nil
	}
	for _, th := range []struct {
		kind    thresholdevent.Kind
		crossed bool
	}{
		{thresholdevent.KindPERCENT_80, value >= 0.8*g.Number},
		{thresholdevent.KindLIMIT_REACHED, value >= g.Number},
		{thresholdevent.KindHARD_CAP_EXCEEDED, value > g.HardCap},
	} {
		if !th.crossed {
			continue
		}
		if _, err := q.ExecContext(ctx, s.rebind(insertThreshold),
			newID("te"), t.orgID, t.inst.Instance.ID, t.ent.ID, string(th.kind), start.UTC(), value, g.Number, g.HardCap, s.now().UTC()); err != nil {
			return fmt.Errorf("record threshold event: %w", err)
		}
	}
	return nil
}
