package metering

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/entitled/entitled/ent/usageevent"
	"github.com/entitled/entitled/internal/apperr"
	"github.com/entitled/entitled/internal/events"
	"github.com/entitled/entitled/internal/validate"
)

// MaxResetReason bounds the reason of a reset.
const MaxResetReason = 1000

// ResetInput starts an instance's usage of an entitlement afresh.
type ResetInput struct {
	Instance    string
	Entitlement string
	Reason      string
}

var resetCounter = schemaSQL(`UPDATE {uc} SET {uc.count} = 0, {uc.sum} = 0, {uc.min} = NULL, {uc.max} = NULL, {uc.latest} = NULL, {uc.latest_at} = NULL, {uc.reset_at} = $1, {uc.updated_at} = $1
WHERE {uc.organization_id} = $2 AND {uc.instance_id} = $3 AND {uc.entitlement_id} = $4 AND {uc.period_start} = $5`)

// Reset starts the pair's usage in the current period afresh from now:
// the counter is zeroed and remembers when, so reports dated before the
// reset no longer count in the period; the ledger keeps every report, and
// gains one RESET row with the reason and the usage before it.
func (s *Service) Reset(ctx context.Context, in ResetInput) (*Usage, error) {
	if in.Reason == "" {
		return nil, apperr.Invalid("reason", "must say why the usage is reset")
	}
	if err := validate.Text("reason", in.Reason, MaxResetReason); err != nil {
		return nil, err
	}
	_, t, err := s.resolve(ctx, in.Instance, in.Entitlement, "")
	if err != nil {
		return nil, err
	}
	// Microseconds, as PostgreSQL keeps it: the counter remembered here
	// and the one read back or heard from another process compare equal.
	now := s.now().UTC().Truncate(time.Microsecond)
	start, end, err := Period(t.ent.ResetPeriod, now)
	if err != nil {
		return nil, err
	}
	id := newID("ue")
	var out Usage
	err = tx(ctx, s, func(tx *sql.Tx) error {
		q := s.prepared(tx)
		c, err := s.lockCounter(ctx, q, t, start)
		if err != nil {
			return err
		}
		before := figures(t, c, start, end)
		if _, err := q.ExecContext(ctx, s.rebind(resetCounter), now, t.orgID, t.inst.Instance.ID, t.ent.ID, start.UTC()); err != nil {
			return fmt.Errorf("reset usage counter: %w", err)
		}
		record, err := json.Marshal(map[string]any{"reason": in.Reason, "before": map[string]any{"value": before.Value, "count": before.Count}})
		if err != nil {
			return err
		}
		if _, err := s.insertEvent(ctx, q, event{id: id, t: t, kind: string(usageevent.KindRESET), ts: now, start: start,
			key: id, hash: hashOf("reset", in.Instance, in.Entitlement, in.Reason), aggregate: 0, result: string(record)}); err != nil {
			return err
		}
		out = figures(t, &Counter{ResetAt: &now}, start, end)
		was, is := usageFacts(t, start, end), usageFacts(t, start, end)
		was["value"], was["count"] = before.Value, before.Count
		is["value"], is["count"], is["reason"], is["resetAt"] = out.Value, out.Count, in.Reason, now.Truncate(time.Microsecond).Format(time.RFC3339Nano)
		if _, err := s.events.Append(ctx, tx, events.Change{Action: "usage.reset", ResourceType: "USAGE",
			ResourceID: t.inst.Instance.ID, ResourceSlug: t.inst.Instance.Slug, Before: was, After: is}); err != nil {
			return err
		}
		return s.notify(ctx, q, []note{noteOf(t.inst.Instance.ID, t.ent.ID, start, &Counter{ResetAt: &now})})
	})
	if err != nil {
		return nil, err
	}
	s.remember(t.inst.Instance.ID, t.ent.ID, start, &Counter{ResetAt: &now})
	return &out, nil
}
