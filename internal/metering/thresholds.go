package metering

import (
	"context"
	"fmt"
	"time"

	"github.com/entitled/entitled/ent/thresholdevent"
	"github.com/entitled/entitled/internal/events"
)

var insertThreshold = schemaSQL(`INSERT INTO {te}
	({te.id}, {te.organization_id}, {te.instance_id}, {te.entitlement_id}, {te.kind}, {te.period_start}, {te.usage}, "{te.limit}", {te.hard_cap}, {te.created_at})
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT ({te.organization_id}, {te.instance_id}, {te.entitlement_id}, {te.period_start}, {te.kind}) DO NOTHING`)

// thresholds records, once per period, that usage reached 80% of the
// limit, the limit itself, or passed the hard cap. The first record of
// each crossing is also a usage.threshold_crossed event (actor SYSTEM), in
// the same transaction; usage below every threshold costs no statement.
func (s *Service) thresholds(ctx context.Context, q exec, t target, start, end time.Time, value float64) error {
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
		r, err := q.ExecContext(ctx, s.rebind(insertThreshold),
			newID("te"), t.orgID, t.inst.Instance.ID, t.ent.ID, string(th.kind), start.UTC(), value, g.Number, g.HardCap, s.now().UTC())
		if err != nil {
			return fmt.Errorf("record threshold event: %w", err)
		}
		n, err := r.RowsAffected()
		if err != nil {
			return fmt.Errorf("record threshold event: %w", err)
		}
		if n == 0 {
			continue // crossed earlier in the period: recorded then
		}
		after := usageFacts(t, start, end)
		after["threshold"], after["usage"], after["limit"], after["hardCap"] = string(th.kind), value, g.Number, g.HardCap
		if _, err := s.events.Append(ctx, q, events.Change{Org: t.orgID, Action: "usage.threshold_crossed", ResourceType: "USAGE",
			ResourceID: t.inst.Instance.ID, ResourceSlug: t.inst.Instance.Slug, After: after, Actor: events.SystemActor}); err != nil {
			return err
		}
	}
	return nil
}

// usageFacts names what a usage event is about: the instance and the
// entitlement (ids and slugs) and the period (end null: it never ends).
func usageFacts(t target, start, end time.Time) map[string]any {
	period := map[string]any{"start": start.UTC().Format(time.RFC3339Nano), "end": nil}
	if !end.IsZero() {
		period["end"] = end.UTC().Format(time.RFC3339Nano)
	}
	return map[string]any{
		"instance":    map[string]any{"id": t.inst.Instance.ID, "slug": t.inst.Instance.Slug},
		"entitlement": map[string]any{"id": t.ent.ID, "slug": t.ent.Slug},
		"period":      period,
	}
}
