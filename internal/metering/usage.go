// Package metering meters NUMBER entitlements per instance: an append-only
// ledger of accepted reports and, in the same transaction, per-period
// counters that hold what every aggregation needs. Reports are counted
// exactly once (idempotency keys), never dropped (reportUsage records
// overage), and consumeUsage never lets the total pass the hard cap, under
// any concurrency.
//
// Writes are group-committed (group.go): concurrent reports and consumes
// of one counter row share one transaction, decided in arrival order
// under the row's lock, each answered after that commit.
//
// Decisions read usage from memory (Current): each process keeps the
// counters of the pairs it has decided or written, updated after each of
// its own commits, so within a process a decision counts every
// acknowledged report. Other processes' commits arrive through the change
// feed's connection, on Channel: every usage transaction sends one
// notification at commit with the counters it left (a group of reports
// costs one, not one per report), typically heard within milliseconds.
// While the feed's listener is down decisions read the row, as they do
// for a pair's first decision in a period; after a reconnect the kept
// counters are dropped and read again.
package metering

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"github.com/entitled/entitled/ent/entitlement"
	"strconv"
	"sync"
	"time"

	"entgo.io/ent/dialect"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/entitled/entitled/ent/schema/pulid"
	"github.com/entitled/entitled/internal/apperr"
	"github.com/entitled/entitled/internal/events"
	"github.com/entitled/entitled/internal/facts"
	"github.com/entitled/entitled/internal/platform/metrics"
	"github.com/entitled/entitled/internal/platform/store"
	"github.com/entitled/entitled/internal/tenant"
	"github.com/entitled/entitled/internal/validate"
	"github.com/entitled/entitled/policy"
)

// FutureTolerance is how far ahead of the server clock a report may be.
const FutureTolerance = 5 * time.Minute

// MaxBatch bounds reportUsageBatch.
const MaxBatch = 5000

// Service records and reads usage for the caller's organization.
type Service struct {
	db      *store.DB
	cache   *facts.Cache
	now     func() time.Time
	dialect string
	// events records resets and threshold crossings in the organization's
	// event log, in the usage transaction.
	events *events.Log

	// stmts holds the fixed statements, prepared once at start (query
	// text → *sql.Stmt): decisions and reports should not have SQL parsed
	// on every call.
	stmts sync.Map

	metrics *metrics.Registry

	// last holds the usage last known of each (instance, entitlement,
	// period) this process has seen: what decisions read while this
	// process hears every other's commits (fresh), and fall back to while
	// the database does not answer. lastMu orders its updates, so a
	// counter is never replaced by an older one.
	last   *lru.Cache[usageKey, lastUsage]
	lastMu sync.Mutex
	fresh  Freshness

	// group commits concurrent reports and consumes of one counter row
	// together (group.go).
	group grouper
}

// Freshness says since when this process may be missing other processes'
// commits (zero: it misses none; always zero in a single process): the
// change feed.
type Freshness interface {
	StaleSince() time.Time
}

// heard reports whether the counters kept in memory include every
// commit: this process's own are kept after each commit, other
// processes' arrive on Channel while the feed is live.
func (s *Service) heard() bool { return s.fresh == nil || s.fresh.StaleSince().IsZero() }

// MaxLastKnown bounds the usage figures remembered for fail-static
// decisions.
const MaxLastKnown = 100_000

type usageKey struct {
	instanceID, entitlementID string
	start                     int64 // unix nanos of the period start
}

type lastUsage struct {
	c  Counter
	at time.Time // when it was read or written
}

// remember keeps a counter just read or written, unless a newer one is
// known: between resets a counter only grows (more reports, never fewer),
// and a later reset starts a newer one.
func (s *Service) remember(instanceID, entitlementID string, start time.Time, c *Counter) {
	k := usageKey{instanceID, entitlementID, start.UnixNano()}
	v := lastUsage{at: s.now()}
	if c != nil {
		v.c = *c
	}
	s.lastMu.Lock()
	defer s.lastMu.Unlock()
	if cur, ok := s.last.Peek(k); ok && newer(&cur.c, &v.c) {
		v.c = cur.c
	}
	s.last.Add(k, v)
}

// newer reports whether counter a is strictly newer than b.
func newer(a, b *Counter) bool {
	switch {
	case a.ResetAt == nil && b.ResetAt != nil:
		return false
	case a.ResetAt != nil && (b.ResetAt == nil || a.ResetAt.After(*b.ResetAt)):
		return true
	case a.ResetAt != nil && b.ResetAt.After(*a.ResetAt):
		return false
	}
	return a.Count > b.Count
}

// prepared runs the fixed statements of a transaction as prepared
// statements: with lib/pq an unprepared query with arguments costs an
// extra round trip to PostgreSQL, and metering runs several per report.
func (s *Service) prepared(tx *sql.Tx) exec { return preparedTx{s, tx} }

type preparedTx struct {
	s  *Service
	tx *sql.Tx
}

// stmt returns the transaction's copy of a statement prepared at start, or
// nil for others. It never takes another connection from the pool: a
// transaction that waited for one while holding a row lock could deadlock
// the pool.
func (p preparedTx) stmt(ctx context.Context, query string) *sql.Stmt {
	if st, ok := p.s.stmts.Load(query); ok {
		return p.tx.StmtContext(ctx, st.(*sql.Stmt))
	}
	return nil
}

func (p preparedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := p.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return p.tx.ExecContext(ctx, query, args...)
}

func (p preparedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := p.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return p.tx.QueryContext(ctx, query, args...)
}

// prepareAll prepares the fixed statements once, at start, when the pool
// is idle. A statement that fails to prepare runs unprepared.
func (s *Service) prepareAll(ctx context.Context) {
	lock := selectCounter
	if s.dialect == dialect.Postgres {
		lock += " FOR UPDATE"
	}
	for _, q := range []string{insertEventSQL, ensureCounter, selectCounter, lock, setCounter, insertThreshold, notifySQL, selectLedgerRowsByKey} {
		q = s.rebind(q)
		if st, err := s.db.SQL.PrepareContext(ctx, q); err == nil {
			s.stmts.Store(q, st)
		}
	}
	// Decisions read counters through the read pool (on SQLite its own,
	// so they never wait behind writers).
	if st, err := s.db.Read.PrepareContext(ctx, s.rebind(selectCounter)); err == nil {
		s.stmts.Store(readCounterKey, st)
	}
}

// readCounterKey holds selectCounter prepared on the read pool.
const readCounterKey = "read: selectCounter"

// New returns the usage service; log records resets and threshold
// crossings; fresh (the change feed) says whether the counters kept in
// memory are current.
func New(db *store.DB, cache *facts.Cache, m *metrics.Registry, now func() time.Time, log *events.Log, fresh Freshness) *Service {
	last, err := lru.New[usageKey, lastUsage](MaxLastKnown)
	if err != nil {
		panic(err) // only for a size <= 0
	}
	s := &Service{db: db, cache: cache, metrics: m, now: now, dialect: db.Dialect, events: log, last: last, fresh: fresh}
	s.prepareAll(context.Background())
	return s
}

// Usage is one period's figures for an instance and entitlement.
type Usage struct {
	EntitlementID   string
	EntitlementSlug string
	Value           float64
	Count           int64
	PeriodStart     time.Time
	PeriodEnd       *time.Time // nil: the period never ends (NONE)
	Limit           *float64   // the grant; -1 unlimited; nil when not granted
	HardCap         *float64   // nil when unlimited or not granted
	Remaining       *float64   // max(0, hardCap - value); nil when unlimited
}

// target is a resolved (instance, entitlement) pair that may be metered.
type target struct {
	orgID string
	inst  *facts.InstanceFacts
	ent   *policy.Entitlement
	grant *policy.Grant
}

func (t target) method() string {
	if t.ent.AggregationMethod == "" {
		return string(entitlement.AggregationMethodSUM)
	}
	return t.ent.AggregationMethod
}

// resolve finds what a report names, from the organization's cached facts.
func (s *Service) resolve(ctx context.Context, instanceSlug, entitlementSlug, prefix string) (*facts.Snapshot, target, error) {
	v := tenant.FromContext(ctx)
	if v.OrgID == "" {
		return nil, target{}, apperr.Forbiddenf("usage needs an organization's API key")
	}
	snap, err := s.cache.Snapshot(ctx, v.OrgID)
	if err != nil {
		return nil, target{}, err
	}
	inst, err := s.cache.Instance(ctx, snap, instanceSlug)
	if err != nil {
		return nil, target{}, err
	}
	if inst == nil {
		return nil, target{}, &apperr.Error{Code: apperr.NotFound, Field: prefix + "instance", Message: fmt.Sprintf("instance %q not found", instanceSlug)}
	}
	e := snap.Entitlements[entitlementSlug]
	if e == nil {
		return nil, target{}, &apperr.Error{Code: apperr.NotFound, Field: prefix + "entitlement", Message: fmt.Sprintf("entitlement %q not found", entitlementSlug)}
	}
	if e.Type != policy.EntitlementNumber {
		return nil, target{}, apperr.Invalid(prefix+"entitlement", "%q is a %s entitlement; only NUMBER entitlements are metered", entitlementSlug, e.Type)
	}
	lf, g := snap.Grant(inst, e)
	if lf == nil {
		return nil, target{}, apperr.Invalid(prefix+"instance", "instance %q has no license, so it is granted nothing to meter", instanceSlug)
	}
	if g == nil {
		return nil, target{}, apperr.Invalid(prefix+"entitlement", "license %q of instance %q does not grant %q", lf.License.Slug, instanceSlug, entitlementSlug)
	}
	return snap, target{orgID: v.OrgID, inst: inst, ent: e, grant: g}, nil
}

// figures turns a counter into the API's Usage.
func figures(t target, c *Counter, start time.Time, end time.Time) Usage {
	u := Usage{
		EntitlementID:   t.ent.ID,
		EntitlementSlug: t.ent.Slug,
		Value:           c.Value(t.method()),
		PeriodStart:     start,
	}
	if c != nil {
		u.Count = c.Count
	}
	if !end.IsZero() {
		e := end
		u.PeriodEnd = &e
	}
	u.setLimits(t.grant)
	return u
}

// setLimits fills the grant's figures: limit, and for limited grants the
// hard cap and what remains of it.
func (u *Usage) setLimits(g *policy.Grant) {
	if g == nil {
		return
	}
	limit := g.Number
	u.Limit = &limit
	if g.Limited() {
		hc, rem := g.HardCap, g.Remaining(u.Value)
		u.HardCap, u.Remaining = &hc, &rem
	}
}

func hashOf(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// checkKey validates an idempotency key.
func checkKey(field string, key *string) error {
	if key == nil {
		return nil
	}
	if *key == "" || len(*key) > 255 {
		return apperr.Invalid(field, "must be 1 to 255 characters")
	}
	return validate.Clean(field, *key)
}

// rebind adapts $N placeholders to the store's dialect.
func (s *Service) rebind(q string) string { return store.Rebind(s.dialect, q) }

// exec is what a transaction offers for raw SQL.
type exec interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func newID(prefix string) string { return pulid.New(prefix) }

// tx runs fn in one database transaction. Metering writes raw SQL (one
// upsert per counter, COPY for ledger rows), so it uses database/sql
// directly rather than ent.
func tx(ctx context.Context, s *Service, fn func(tx *sql.Tx) error) error {
	return store.WithSQLTx(ctx, s.db.SQL, fn)
}
