package events

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"entgo.io/ent/dialect"

	"github.com/entitled/entitled/ent/schema/pulid"
	"github.com/entitled/entitled/internal/platform/store"
)

// ExpiryLeads are the lead times, in days, of instance.expiring events,
// tightest first: an instance gets one event when it comes within 30 days
// of its expiresAt, one within 7 and one within 1, each once (an instance
// that is already within 7 days when it is first seen gets the 7-day
// event, and never a 30-day one).
var ExpiryLeads = []int{1, 7, 30}

// DefaultScheduleInterval is how often the scheduler runs a pass.
const DefaultScheduleInterval = time.Minute

// scheduleBatch bounds the instances, and the events of one organization,
// one pass handles; the next pass goes on.
const scheduleBatch = 500

// schedulerLock is the PostgreSQL advisory lock of the scheduler's work
// ("entsched" in ASCII): one replica at a time does it.
const schedulerLock = 0x656e747363686564

// ScheduleConfig tunes the scheduler.
type ScheduleConfig struct {
	// Interval between passes (0: DefaultScheduleInterval).
	Interval time.Duration
	// Retention is how long events are kept (ENTITLED_AUDIT_RETENTION);
	// 0 keeps them forever.
	Retention time.Duration
	Logger    *slog.Logger
}

// Scheduler does the log's work nobody requests: instance.expiring events
// (actor SYSTEM) and retention. Each unit of work (one notice, one
// organization's prune) is a short transaction that first takes
// schedulerLock with pg_try_advisory_xact_lock, so one replica at a time
// works and the others leave it the pass; the work is idempotent anyway
// (a notice is unique per instance, expiry date and lead time; a prune
// locks the organization's chain head), which is all SQLite needs.
type Scheduler struct {
	db      *sql.DB
	dialect string
	log     *Log
	now     func() time.Time
	cfg     ScheduleConfig

	mu   sync.Mutex
	stop context.CancelFunc
	done chan struct{}
}

// NewScheduler returns a scheduler writing through db (the write pool)
// into log; now is the clock.
func NewScheduler(db *sql.DB, dialect string, log *Log, now func() time.Time, cfg ScheduleConfig) *Scheduler {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultScheduleInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if now == nil {
		now = time.Now
	}
	return &Scheduler{db: db, dialect: dialect, log: log, now: now, cfg: cfg}
}

// Start runs a pass every interval, the first one interval after the
// start, until Stop.
func (s *Scheduler) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stop != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stop, s.done = cancel, make(chan struct{})
	go func() {
		defer close(s.done)
		t := time.NewTicker(s.cfg.Interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := s.RunOnce(ctx); err != nil && ctx.Err() == nil {
					s.cfg.Logger.Warn("event scheduler: pass failed; the next one retries", "err", err)
				}
			}
		}
	}()
}

// Stop ends the passes and waits for the one running.
func (s *Scheduler) Stop() {
	if s == nil {
		return
	}
	s.mu.Lock()
	stop, done := s.stop, s.done
	s.stop = nil
	s.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

// errBusy ends a pass that another replica is doing.
var errBusy = errors.New("another replica holds the scheduler lock")

// RunOnce runs one pass: expiry notices, then retention.
func (s *Scheduler) RunOnce(ctx context.Context) error {
	now := s.now().UTC()
	err := s.expiries(ctx, now)
	if err == nil && s.cfg.Retention > 0 {
		err = s.prune(ctx, now.Add(-s.cfg.Retention))
	}
	if errors.Is(err, errBusy) {
		return nil
	}
	return err
}

// unit runs one unit of work in its own transaction, under the
// scheduler's lock on PostgreSQL.
func (s *Scheduler) unit(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return store.WithSQLTx(ctx, s.db, func(tx *sql.Tx) error {
		if s.dialect == dialect.Postgres {
			var got bool
			if err := tx.QueryRowContext(ctx, "SELECT pg_try_advisory_xact_lock($1)", int64(schedulerLock)).Scan(&got); err != nil {
				return fmt.Errorf("take the scheduler lock: %w", err)
			}
			if !got {
				return errBusy
			}
		}
		return fn(tx)
	})
}

type expiring struct {
	id, org, slug, name string
	expiresAt           time.Time
}

// expiries records the instance.expiring events due at now.
func (s *Scheduler) expiries(ctx context.Context, now time.Time) error {
	due, err := s.dueExpiries(ctx, now)
	if err != nil {
		return err
	}
	for _, inst := range due {
		if err := s.unit(ctx, func(tx *sql.Tx) error { return s.notify(ctx, tx, inst, now) }); err != nil {
			return err
		}
	}
	return nil
}

// lead is the tightest lead time an expiry at is within, from now (0:
// none).
func lead(at, now time.Time) int {
	for _, days := range ExpiryLeads {
		if !at.After(now.Add(time.Duration(days) * 24 * time.Hour)) {
			return days
		}
	}
	return 0
}

// dueExpiries lists the instances that expire within the widest lead time
// of now and have had no notice this close (or closer) to their expiry
// date: one query, so that an expiry changed during a pass is seen once,
// as it is or as it was. Every organization's: the scheduler works for all
// of them.
func (s *Scheduler) dueExpiries(ctx context.Context, now time.Time) ([]expiring, error) {
	// The tightest lead each row is within, as SQL: CASE WHEN
	// i.expires_at <= $3 THEN 1 WHEN i.expires_at <= $4 THEN 7 ELSE 30 END.
	args := []any{now, now.Add(time.Duration(ExpiryLeads[len(ExpiryLeads)-1]) * 24 * time.Hour)}
	var within strings.Builder
	within.WriteString("CASE")
	for i, days := range ExpiryLeads[:len(ExpiryLeads)-1] {
		fmt.Fprintf(&within, " WHEN i.expires_at <= $%d THEN %d", i+3, days)
		args = append(args, now.Add(time.Duration(days)*24*time.Hour))
	}
	fmt.Fprintf(&within, " ELSE %d END", ExpiryLeads[len(ExpiryLeads)-1])
	args = append(args, scheduleBatch)
	rows, err := s.db.QueryContext(ctx, s.log.rebind(`SELECT i.id, i.organization_id, i.slug, i.name, i.expires_at FROM instances i
WHERE i.expires_at IS NOT NULL AND i.expires_at > $1 AND i.expires_at <= $2
AND NOT EXISTS (SELECT 1 FROM expiry_notices n WHERE n.organization_id = i.organization_id AND n.instance_id = i.id AND n.expires_at = i.expires_at AND n.days <= `+within.String()+`)
ORDER BY i.expires_at LIMIT $`+strconv.Itoa(len(args))), args...)
	if err != nil {
		return nil, fmt.Errorf("find expiring instances: %w", err)
	}
	defer rows.Close()
	var out []expiring
	for rows.Next() {
		var e expiring
		var at any
		if err := rows.Scan(&e.id, &e.org, &e.slug, &e.name, &at); err != nil {
			return nil, fmt.Errorf("find expiring instances: %w", err)
		}
		if e.expiresAt, err = scanTime(at); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// notify records the notice due for one instance and its event, unless
// another replica or an earlier pass did, or the instance's expiry changed
// since it was listed. The instance row is read first (shared lock on
// PostgreSQL, so its expiry holds until the event commits), then the
// chain head: rows, then head, as every writer does.
func (s *Scheduler) notify(ctx context.Context, tx *sql.Tx, inst expiring, now time.Time) error {
	q := `SELECT expires_at FROM instances WHERE organization_id = $1 AND id = $2`
	if s.dialect == dialect.Postgres {
		q += " FOR SHARE"
	}
	var at any
	switch err := tx.QueryRowContext(ctx, s.log.rebind(q), inst.org, inst.id).Scan(&at); {
	case errors.Is(err, sql.ErrNoRows):
		return nil // deleted since
	case err != nil:
		return fmt.Errorf("read expiring instance: %w", err)
	}
	if t, err := scanTime(at); err != nil || !t.Equal(inst.expiresAt) {
		return err // a new expiry: the next pass sees it
	}
	days := lead(inst.expiresAt, now)
	if days == 0 {
		return nil
	}
	var sent int
	if err := tx.QueryRowContext(ctx, s.log.rebind(`SELECT COUNT(*) FROM expiry_notices WHERE organization_id = $1 AND instance_id = $2 AND expires_at = $3 AND days <= $4`),
		inst.org, inst.id, inst.expiresAt, days).Scan(&sent); err != nil {
		return fmt.Errorf("read expiry notices: %w", err)
	}
	if sent > 0 {
		return nil
	}
	r, err := tx.ExecContext(ctx, s.log.rebind(`INSERT INTO expiry_notices (id, organization_id, instance_id, expires_at, days, created_at)
VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (organization_id, instance_id, expires_at, days) DO NOTHING`),
		pulid.New("exn"), inst.org, inst.id, inst.expiresAt, days, now)
	if err != nil {
		return fmt.Errorf("record expiry notice: %w", err)
	}
	if n, err := r.RowsAffected(); err != nil || n == 0 {
		return err
	}
	_, err = s.log.Append(ctx, tx, Change{
		Org: inst.org, Action: "instance.expiring", ResourceType: "INSTANCE", ResourceID: inst.id, ResourceSlug: inst.slug,
		After: map[string]any{
			"instance":  map[string]any{"id": inst.id, "slug": inst.slug, "name": inst.name},
			"expiresAt": inst.expiresAt.UTC().Format(time.RFC3339Nano),
			"days":      days,
		},
		Actor: SystemActor,
	})
	return err
}

// prune deletes every organization's events older than cutoff, oldest
// first, recording the last one deleted as the chain's pruned head, from
// which verification starts.
func (s *Scheduler) prune(ctx context.Context, cutoff time.Time) error {
	orgs, err := s.column(ctx, `SELECT id FROM audit_heads WHERE seq > pruned_seq ORDER BY id`)
	if err != nil {
		return fmt.Errorf("list event chains: %w", err)
	}
	for _, org := range orgs {
		for {
			n, err := s.pruneOrg(ctx, org, cutoff)
			if err != nil {
				return err
			}
			if n > 0 {
				s.cfg.Logger.Info("audit retention: pruned events", "organization_id", org, "events", n, "before", cutoff.Format(time.RFC3339))
			}
			if n < scheduleBatch {
				break
			}
		}
	}
	return nil
}

// pruneOrg prunes at most scheduleBatch of an organization's events older
// than cutoff; it returns how many.
func (s *Scheduler) pruneOrg(ctx context.Context, org string, cutoff time.Time) (int64, error) {
	var pruned int64
	err := s.unit(ctx, func(tx *sql.Tx) error {
		lock := `SELECT pruned_seq FROM audit_heads WHERE id = $1`
		if s.dialect == dialect.Postgres {
			lock += " FOR UPDATE"
		}
		var from int64
		if err := tx.QueryRowContext(ctx, s.log.rebind(lock), org).Scan(&from); err != nil {
			return fmt.Errorf("lock the event chain: %w", err)
		}
		// The last event to go: the newest older than the cutoff, within
		// the batch. Events go in seq order, so what is kept is a chain.
		var last sql.NullInt64
		if err := tx.QueryRowContext(ctx, s.log.rebind(`SELECT MAX(seq) FROM audit_events WHERE organization_id = $1 AND occurred_at < $2 AND seq <= $3`),
			org, cutoff, from+scheduleBatch).Scan(&last); err != nil {
			return fmt.Errorf("find events to prune: %w", err)
		}
		if !last.Valid || last.Int64 <= from {
			return nil
		}
		var hash string
		if err := tx.QueryRowContext(ctx, s.log.rebind(`SELECT hash FROM audit_events WHERE organization_id = $1 AND seq = $2`), org, last.Int64).Scan(&hash); err != nil {
			return fmt.Errorf("read the last pruned event: %w", err)
		}
		r, err := tx.ExecContext(ctx, s.log.rebind(`DELETE FROM audit_events WHERE organization_id = $1 AND seq <= $2`), org, last.Int64)
		if err != nil {
			return fmt.Errorf("prune events: %w", err)
		}
		if pruned, err = r.RowsAffected(); err != nil {
			return fmt.Errorf("prune events: %w", err)
		}
		if _, err := tx.ExecContext(ctx, s.log.rebind(`UPDATE audit_heads SET pruned_seq = $2, pruned_hash = $3 WHERE id = $1`), org, last.Int64, hash); err != nil {
			return fmt.Errorf("record the pruned head: %w", err)
		}
		return nil
	})
	return pruned, err
}

func (s *Scheduler) column(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, s.log.rebind(q), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// ParseRetention reads ENTITLED_AUDIT_RETENTION: a Go duration ("2160h")
// or a number of days ("90d"); "" keeps events forever.
func ParseRetention(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, nil
	}
	var d time.Duration
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days <= 0 || days > 1_000_000 {
			return 0, fmt.Errorf("ENTITLED_AUDIT_RETENTION must be a positive duration such as 2160h or a number of days such as 90d, got %q", v)
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(v); err != nil || d <= 0 {
			return 0, fmt.Errorf("ENTITLED_AUDIT_RETENTION must be a positive duration such as 2160h or a number of days such as 90d, got %q", v)
		}
	}
	return d, nil
}
