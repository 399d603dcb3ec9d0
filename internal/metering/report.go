package metering

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/entitled/entitled/policy"
	"time"

	"github.com/entitled/entitled/internal/apperr"
	"github.com/entitled/entitled/internal/platform/metrics"
)

// ReportInput is one usage report: what already happened.
type ReportInput struct {
	Instance       string
	Entitlement    string
	Value          float64
	Timestamp      *time.Time // default: now
	IdempotencyKey *string
}

// ReportResult is what a report returns; a replay returns the first
// result again.
type ReportResult struct {
	Usage             Usage
	SoftLimitExceeded bool
	HardCapExceeded   bool
	Replayed          bool
}

// validate checks a report against its target and the clock. prefix names
// the item in a batch ("inputs[3].").
func (in *ReportInput) validate(t target, now time.Time, prefix string) (time.Time, error) {
	if err := policy.Quantity(in.Value); err != nil {
		return time.Time{}, apperr.Invalid(prefix+"value", "%s", err)
	}
	if err := checkKey(prefix+"idempotencyKey", in.IdempotencyKey); err != nil {
		return time.Time{}, err
	}
	ts := now
	if in.Timestamp != nil {
		ts = *in.Timestamp
		if ts.After(now.Add(FutureTolerance)) {
			return time.Time{}, apperr.Invalid(prefix+"timestamp", "is more than %s in the future", FutureTolerance)
		}
		if ts.Before(t.inst.Instance.StartsAt) {
			return time.Time{}, apperr.Invalid(prefix+"timestamp", "is before the instance's startsAt (%s)", t.inst.Instance.StartsAt.UTC().Format(time.RFC3339))
		}
	}
	return ts.UTC(), nil
}

func (in *ReportInput) hash() string {
	ts := ""
	if in.Timestamp != nil {
		ts = in.Timestamp.UTC().Format(time.RFC3339Nano)
	}
	return hashOf("report", in.Instance, in.Entitlement, fmtFloat(in.Value), ts)
}

// Report records one report. It never refuses a report for being over the
// limit; it flags it.
func (s *Service) Report(ctx context.Context, in ReportInput) (*ReportResult, error) {
	_, t, err := s.resolve(ctx, in.Instance, in.Entitlement, "")
	if err != nil {
		return nil, err
	}
	ts, err := in.validate(t, s.now(), "")
	if err != nil {
		return nil, err
	}
	start, end, err := Period(t.ent.ResetPeriod, ts)
	if err != nil {
		return nil, err
	}
	m := &member{op: opReport, t: t, start: start, end: end, ts: ts, value: in.Value, hash: in.hash(), id: newID("ue")}
	m.key = m.id
	if in.IdempotencyKey != nil {
		m.key, m.keyed = *in.IdempotencyKey, true
	}
	defer s.metrics.UsageWrite(metrics.UsageReport, time.Now())
	if err := s.submit(ctx, m); err != nil {
		return nil, err
	}
	if m.fresh {
		s.metrics.Reports(1)
	}
	return m.report, nil
}

func result(t target, c *Counter, start, end time.Time) *ReportResult {
	r := &ReportResult{Usage: figures(t, c, start, end)}
	if t.grant != nil && !t.grant.Unlimited {
		r.SoftLimitExceeded = r.Usage.Value > t.grant.Number
		r.HardCapExceeded = r.Usage.Value > t.grant.HardCap
	}
	return r
}

func fromRecord(t target, ev *ledgerRow) *ReportResult {
	r := &ReportResult{Replayed: true}
	m := ev.result
	r.Usage = Usage{EntitlementID: t.ent.ID, EntitlementSlug: t.ent.Slug, Value: ev.aggregate, PeriodStart: ev.periodStart}
	if n, ok := m["count"].(float64); ok {
		r.Usage.Count = int64(n)
	}
	if s, ok := m["periodEnd"].(string); ok {
		if e, err := time.Parse(time.RFC3339Nano, s); err == nil {
			r.Usage.PeriodEnd = &e
		}
	}
	r.SoftLimitExceeded, _ = m["softLimitExceeded"].(bool)
	r.HardCapExceeded, _ = m["hardCapExceeded"].(bool)
	r.Usage.setLimits(t.grant)
	return r
}

// scanCounter reads a counter's columns, after the columns of before (a
// batch read names the row's instance and entitlement first).
func scanCounter(rows interface{ Scan(...any) error }, before ...any) (*Counter, error) {
	var (
		c                 Counter
		mn, mx, latest    sql.NullFloat64
		latestAt, resetAt sql.NullTime
	)
	if err := rows.Scan(append(before, &c.Count, &c.Sum, &mn, &mx, &latest, &latestAt, &resetAt)...); err != nil {
		return nil, fmt.Errorf("read usage counter: %w", err)
	}
	if mn.Valid {
		c.Min = &mn.Float64
	}
	if mx.Valid {
		c.Max = &mx.Float64
	}
	if latest.Valid {
		c.Latest = &latest.Float64
	}
	if latestAt.Valid {
		c.LatestAt = &latestAt.Time
	}
	if resetAt.Valid {
		c.ResetAt = &resetAt.Time
	}
	return &c, nil
}

type event struct {
	id        string
	t         target
	kind      string
	value     float64
	ts, start time.Time
	key, hash string
	aggregate float64
	result    string // JSON
}

var insertEventSQL = insertEventsHead + "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)" + insertEventsTail

// insertEvent appends to the ledger. It reports false, writing nothing,
// when the idempotency key was used before.
func (s *Service) insertEvent(ctx context.Context, q exec, e event) (bool, error) {
	r, err := q.ExecContext(ctx, s.rebind(insertEventSQL),
		e.id, e.t.orgID, e.t.inst.Instance.ID, e.t.ent.ID, e.kind, e.value, e.ts.UTC(), e.start.UTC(),
		s.now().UTC(), e.key, e.hash, e.aggregate, e.result)
	if err != nil {
		return false, fmt.Errorf("append usage event: %w", err)
	}
	n, err := r.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("append usage event: %w", err)
	}
	return n == 1, nil
}
