package metering

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"time"

	"entgo.io/ent/dialect"

	"github.com/entitled/entitled/internal/platform/store"
	"github.com/entitled/entitled/policy"
)

var ensureCounter = schemaSQL(`INSERT INTO {uc}
	({uc.id}, {uc.organization_id}, {uc.instance_id}, {uc.entitlement_id}, {uc.period_start}, {uc.count}, {uc.sum}, {uc.updated_at})
VALUES ($1, $2, $3, $4, $5, 0, 0, $6)
ON CONFLICT ({uc.organization_id}, {uc.instance_id}, {uc.entitlement_id}, {uc.period_start}) DO NOTHING`)

var selectCounter = schemaSQL(`SELECT {uc.count}, {uc.sum}, {uc.min}, {uc.max}, {uc.latest}, {uc.latest_at}, {uc.reset_at} FROM {uc}
WHERE {uc.organization_id} = $1 AND {uc.instance_id} = $2 AND {uc.entitlement_id} = $3 AND {uc.period_start} = $4`)

var setCounter = schemaSQL(`UPDATE {uc} SET {uc.count} = $1, {uc.sum} = $2, {uc.min} = $3, {uc.max} = $4, {uc.latest} = $5, {uc.latest_at} = $6, {uc.updated_at} = $7
WHERE {uc.organization_id} = $8 AND {uc.instance_id} = $9 AND {uc.entitlement_id} = $10 AND {uc.period_start} = $11`)

// lockCounter makes sure the period's counter row exists and returns it
// locked for the rest of the transaction (PostgreSQL row lock; SQLite
// transactions hold the database write lock already).
func (s *Service) lockCounter(ctx context.Context, q exec, t target, start time.Time) (*Counter, error) {
	if _, err := q.ExecContext(ctx, s.rebind(ensureCounter), newID("uc"), t.orgID, t.inst.Instance.ID, t.ent.ID, start.UTC(), s.now().UTC()); err != nil {
		return nil, fmt.Errorf("create usage counter: %w", err)
	}
	stmt := selectCounter
	if s.dialect == dialect.Postgres {
		stmt += " FOR UPDATE"
	}
	rows, err := q.QueryContext(ctx, s.rebind(stmt), t.orgID, t.inst.Instance.ID, t.ent.ID, start.UTC())
	if err != nil {
		return nil, fmt.Errorf("lock usage counter: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		return nil, fmt.Errorf("lock usage counter: row missing: %w", rows.Err())
	}
	c, err := scanCounter(rows)
	if err != nil {
		return nil, err
	}
	return c, rows.Close()
}

// storeCounter writes a counter folded in Go back to its (locked) row.
func (s *Service) storeCounter(ctx context.Context, q exec, t target, start time.Time, c *Counter) error {
	var latestAt any
	if c.LatestAt != nil {
		latestAt = c.LatestAt.UTC()
	}
	_, err := q.ExecContext(ctx, s.rebind(setCounter), c.Count, c.Sum, nullable(c.Min), nullable(c.Max), nullable(c.Latest), latestAt,
		s.now().UTC(), t.orgID, t.inst.Instance.ID, t.ent.ID, start.UTC())
	if err != nil {
		return fmt.Errorf("update usage counter: %w", err)
	}
	return nil
}

func nullable(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

// readCounter reads a counter without locking; nil when there is none.
func (s *Service) readCounter(ctx context.Context, q exec, orgID, instanceID, entitlementID string, start time.Time) (*Counter, error) {
	rows, err := q.QueryContext(ctx, s.rebind(selectCounter), orgID, instanceID, entitlementID, start.UTC())
	if err != nil {
		return nil, store.Translate(fmt.Errorf("read usage counter: %w", err), "usage counter")
	}
	defer rows.Close()
	if !rows.Next() {
		return nil, rows.Err()
	}
	c, err := scanCounter(rows)
	if err != nil {
		return nil, err
	}
	return c, rows.Close()
}

// Current is the usage fact of a decision: the current period's counter of
// one instance and entitlement. A counter this process has seen is read
// from memory, no SQL: it holds every commit of this process (kept after
// each) and of the others (heard on Channel) while the change feed is
// live. The first decision on a pair in a period, and every decision while
// the feed is down, reads the row; while the database does not answer
// that read returns the usage last known to this process with the time it
// was known: stale is zero for current figures. Without one it fails with
// UNAVAILABLE. The period is the one now falls in, so at a period's first
// instant the counter is the new period's.
func (s *Service) Current(ctx context.Context, orgID, instanceID string, e *policy.Entitlement, now time.Time) (u *policy.Usage, stale time.Time, err error) {
	start, end, err := Period(e.ResetPeriod, now)
	if err != nil {
		return nil, time.Time{}, err
	}
	var q exec = s.db.Read
	if st, ok := s.stmts.Load(readCounterKey); ok {
		q = stmtExec{st.(*sql.Stmt)}
	}
	last, known := s.last.Get(usageKey{instanceID, e.ID, start.UnixNano()})
	var c *Counter
	switch {
	case known && s.heard():
		c = &last.c // memory: the hot path
		return usageOf(c, e.AggregationMethod, start, end), time.Time{}, nil
	case known && s.db.Health.Failing():
		// The database just failed: do not wait on it again.
		err = store.Translate(errDatabaseFailing, "usage counter")
	case known:
		// Something to fall back on: a database that does not answer is
		// not waited on for long.
		rctx, cancel := context.WithTimeout(ctx, fallbackWait)
		c, err = s.readCounter(rctx, q, orgID, instanceID, e.ID, start)
		cancel()
		s.db.Health.Observe(err)
	default:
		c, err = s.readCounter(ctx, q, orgID, instanceID, e.ID, start)
		s.db.Health.Observe(err)
	}
	switch {
	case err == nil:
		s.remember(instanceID, e.ID, start, c)
	case store.IsUnavailable(err) && known:
		c, stale = &last.c, last.at
	default:
		return nil, time.Time{}, err
	}
	return usageOf(c, e.AggregationMethod, start, end), stale, nil
}

// usageOf is a counter as a decision's usage fact.
func usageOf(c *Counter, method string, start, end time.Time) *policy.Usage {
	u := &policy.Usage{Current: c.Value(method)}
	if c != nil {
		u.Count = c.Count
	}
	if !end.IsZero() {
		u.PeriodStart, u.PeriodEnd = start, end
	}
	return u
}

// fallbackWait bounds a usage read when the last known usage could answer
// instead.
const fallbackWait = 2 * time.Second

// errDatabaseFailing stands for a read skipped because the database just
// failed.
var errDatabaseFailing = fmt.Errorf("the database just failed: %w", driver.ErrBadConn)

var _ exec = (*sql.DB)(nil)

// stmtExec runs a prepared statement where an exec is expected; the query
// text it is given is the statement's own.
type stmtExec struct{ stmt *sql.Stmt }

func (p stmtExec) ExecContext(ctx context.Context, _ string, args ...any) (sql.Result, error) {
	return p.stmt.ExecContext(ctx, args...)
}

func (p stmtExec) QueryContext(ctx context.Context, _ string, args ...any) (*sql.Rows, error) {
	return p.stmt.QueryContext(ctx, args...)
}
