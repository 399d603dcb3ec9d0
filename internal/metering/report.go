package metering

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/entitled/entitled/ent/usageevent"
	"github.com/entitled/entitled/policy"
	"strings"
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
	hash := in.hash()
	id := newID("ue")
	key := id
	if in.IdempotencyKey != nil {
		key = *in.IdempotencyKey
	}
	var res *ReportResult
	var after *Counter
	defer s.metrics.UsageWrite(metrics.UsageReport, time.Now())
	err = tx(ctx, s, func(tx *sql.Tx) error {
		q := s.prepared(tx)
		c, err := s.addToCounter(ctx, q, t, start, delta{count: 1, sum: in.Value, min: in.Value, max: in.Value, latest: in.Value, latestAt: ts})
		if err != nil {
			return err
		}
		after = c
		res = result(t, c, start, end)
		inserted, err := s.insertEvent(ctx, q, event{id: id, t: t, kind: string(usageevent.KindREPORT), value: in.Value, ts: ts, start: start, key: key, hash: hash, aggregate: res.Usage.Value, result: res.recordJSON()})
		if err != nil {
			return err
		}
		if !inserted {
			return errReplay
		}
		return s.thresholds(ctx, q, t, start, end, res.Usage.Value)
	})
	if errors.Is(err, errReplay) {
		return s.replayReport(ctx, t, key, hash, "idempotencyKey")
	}
	if err != nil {
		return nil, err
	}
	s.remember(t.inst.Instance.ID, t.ent.ID, start, after)
	s.metrics.Reports(1)
	return res, nil
}

func result(t target, c *Counter, start, end time.Time) *ReportResult {
	r := &ReportResult{Usage: figures(t, c, start, end)}
	if t.grant != nil && !t.grant.Unlimited {
		r.SoftLimitExceeded = r.Usage.Value > t.grant.Number
		r.HardCapExceeded = r.Usage.Value > t.grant.HardCap
	}
	return r
}

// replayReport answers a report whose key was used before: the first
// result when the body is the same, CONFLICT otherwise.
func (s *Service) replayReport(ctx context.Context, t target, key, hash, field string) (*ReportResult, error) {
	ev, err := s.ledgerRow(ctx, t.orgID, key)
	if err != nil {
		return nil, err
	}
	if ev == nil {
		return nil, fmt.Errorf("replayed usage event %q not found", key)
	}
	if ev.hash != hash {
		return nil, &apperr.Error{Code: apperr.Conflict, Field: field, Message: fmt.Sprintf("idempotency key %q was already used with a different request", key)}
	}
	return fromRecord(t, ev), nil
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

// delta is a fold of one or more reports into a counter.
type delta struct {
	count         int64
	sum, min, max float64
	latest        float64
	latestAt      time.Time
}

var upsertCounter = schemaSQL(strings.NewReplacer("{before reset}", "{uc}.{uc.reset_at} IS NOT NULL AND excluded.{uc.latest_at} < {uc}.{uc.reset_at}").Replace(`INSERT INTO {uc}
	({uc.id}, {uc.organization_id}, {uc.instance_id}, {uc.entitlement_id}, {uc.period_start}, {uc.count}, {uc.sum}, {uc.min}, {uc.max}, {uc.latest}, {uc.latest_at}, {uc.updated_at})
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT ({uc.organization_id}, {uc.instance_id}, {uc.entitlement_id}, {uc.period_start}) DO UPDATE SET
	{uc.count} = CASE WHEN {before reset} THEN {uc}.{uc.count} ELSE {uc}.{uc.count} + excluded.{uc.count} END,
	{uc.sum} = CASE WHEN {before reset} THEN {uc}.{uc.sum} ELSE {uc}.{uc.sum} + excluded.{uc.sum} END,
	{uc.min} = CASE WHEN {before reset} THEN {uc}.{uc.min} WHEN {uc}.{uc.min} IS NULL OR excluded.{uc.min} < {uc}.{uc.min} THEN excluded.{uc.min} ELSE {uc}.{uc.min} END,
	{uc.max} = CASE WHEN {before reset} THEN {uc}.{uc.max} WHEN {uc}.{uc.max} IS NULL OR excluded.{uc.max} > {uc}.{uc.max} THEN excluded.{uc.max} ELSE {uc}.{uc.max} END,
	{uc.latest} = CASE WHEN {before reset} THEN {uc}.{uc.latest} WHEN {uc}.{uc.latest_at} IS NULL OR excluded.{uc.latest_at} >= {uc}.{uc.latest_at} THEN excluded.{uc.latest} ELSE {uc}.{uc.latest} END,
	{uc.latest_at} = CASE WHEN {before reset} THEN {uc}.{uc.latest_at} WHEN {uc}.{uc.latest_at} IS NULL OR excluded.{uc.latest_at} >= {uc}.{uc.latest_at} THEN excluded.{uc.latest_at} ELSE {uc}.{uc.latest_at} END,
	{uc.updated_at} = excluded.{uc.updated_at}
RETURNING {uc.count}, {uc.sum}, {uc.min}, {uc.max}, {uc.latest}, {uc.latest_at}, {uc.reset_at}`))

// addToCounter folds d into the period's counter in one statement and
// returns the counter after it; the row stays locked until commit.
func (s *Service) addToCounter(ctx context.Context, q exec, t target, start time.Time, d delta) (*Counter, error) {
	rows, err := q.QueryContext(ctx, s.rebind(upsertCounter),
		newID("uc"), t.orgID, t.inst.Instance.ID, t.ent.ID, start.UTC(),
		d.count, d.sum, d.min, d.max, d.latest, d.latestAt.UTC(), s.now().UTC())
	if err != nil {
		return nil, fmt.Errorf("update usage counter: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("update usage counter: %w", err)
		}
		return nil, fmt.Errorf("update usage counter: no row returned")
	}
	c, err := scanCounter(rows)
	if err != nil {
		return nil, err
	}
	return c, rows.Close()
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
