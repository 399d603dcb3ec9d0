// Package changefeed tells every entitled process sharing a database what
// changed in an organization, so each drops exactly that from its caches.
//
// On PostgreSQL a change is published inside the transaction that makes
// it: the transaction bumps the organization's change counter (its
// organizations.updated_at, made strictly increasing under the row lock)
// and queues a NOTIFY that PostgreSQL delivers at commit, atomically with
// the change, or never. Every process LISTENs; a notification carries the
// organization, the kind of change, the ids (and slugs) changed, and the
// counter before and after, so a receiver that missed one notices the gap
// at the next and drops the organization whole. A process that lost its
// listener resyncs on reconnect by comparing the counters it applied with
// the database's, and a periodic backstop (one query) does the same, so a
// notification that never arrived costs at most one period. In one process
// (SQLite) a change is applied directly after its commit.
//
// The package imports no entitled package: callers pass a callback.
package changefeed

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lib/pq"
)

// Channel is the PostgreSQL notification channel.
const Channel = "entitled_changes"

// Defaults of Config.
const (
	// DefaultResync is how often the backstop compares change counters.
	DefaultResync = 30 * time.Second
	// DefaultStaleLimit is how long cached facts may be used while this
	// process may be missing changes (ENTITLED_STALE_LIMIT).
	DefaultStaleLimit = 5 * time.Minute
	// maxReconnect bounds the listener's reconnect backoff: the first
	// change after an outage of any length is heard within about this.
	minReconnect = 50 * time.Millisecond
	maxReconnect = 500 * time.Millisecond
	// retryResync is how soon a failed resync is tried again.
	retryResync = 200 * time.Millisecond
	// maxPayload keeps a notification under PostgreSQL's 8000-byte limit;
	// a change naming more ids than fit is sent without them (all of its
	// kind).
	maxPayload = 7000
)

// Kind is what a change is about.
type Kind string

// Kinds of change. A receiver drops the named instances or keys, and for
// the catalog and policies the organization's facts.
const (
	KindLicense     Kind = "license"
	KindEntitlement Kind = "entitlement"
	KindLink        Kind = "license_entitlement"
	KindInstance    Kind = "instance"
	KindPolicy      Kind = "policy"
	KindAPIKey      Kind = "api_key"
	// KindAll: anything of the organization may have changed (a gap in
	// the counters, a failed commit whose outcome is unknown).
	KindAll Kind = "all"
)

// Change is one committed change of an organization. It is also the
// notification's payload, as JSON.
type Change struct {
	Org  string `json:"org"`
	Kind Kind   `json:"kind"`
	// IDs are the changed objects' ids; Slugs their slugs (instances are
	// cached by slug). Both empty: every object of the kind.
	IDs   []string `json:"ids,omitempty"`
	Slugs []string `json:"slugs,omitempty"`
	// Prev and Stamp are the organization's change counter before and
	// after the change (microseconds of organizations.updated_at); 0 in a
	// single process.
	Prev  int64 `json:"prev,omitempty"`
	Stamp int64 `json:"stamp,omitempty"`
	// Rev is the organization's revision after the change, as
	// Config.Revision read it in the change's transaction (0 without it,
	// and for changes that do not come from one transaction: KindAll
	// after a gap, a resync or a failed commit).
	Rev int64 `json:"rev,omitempty"`
}

// Config configures a feed.
type Config struct {
	// DB and DSN are the PostgreSQL database (nil/"": a single process).
	DB  *sql.DB
	DSN string
	Log *slog.Logger
	// Apply receives every change to drop from the caches: this
	// process's own (after commit), other processes', and KindAll when
	// changes may have been missed. Calls are serialised.
	Apply func(Change)
	// Resync is the backstop period (0: DefaultResync).
	Resync time.Duration
	// StaleLimit bounds how long facts cached before the feed was lost may
	// be used (0: DefaultStaleLimit).
	StaleLimit time.Duration
	// Skip is a test hook: a change it returns true for is committed
	// without its notification, as if the notification were lost.
	Skip func(Change) bool
	Now  func() time.Time
	// Channels are further PostgreSQL channels heard on the feed's
	// connection (a process has one listener in its connection budget),
	// each with what hears it: a notification's payload, or "" after a
	// reconnect, when notifications may have been missed. Calls are
	// serialised with each other, not with Apply.
	Channels map[string]func(payload string)
	// Revision, when set, reads the organization's revision inside a
	// publishing transaction, as its last read (a number that grows with
	// every change, e.g. the event log's sequence); Publish puts it in
	// Change.Rev.
	Revision func(ctx context.Context, tx Tx, orgID string) (int64, error)
}

// Feed publishes and delivers changes.
type Feed struct {
	cfg Config

	// mu serialises Apply calls and guards applied: for each organization
	// this process caches, the counter up to which it applied every
	// change.
	mu      sync.Mutex
	applied map[string]int64

	// down is when this process stopped hearing changes (unix nanos; 0
	// while it hears them).
	down atomic.Int64
	// connected is whether the listener holds a connection.
	connected atomic.Bool
}

// New returns a feed.
func New(cfg Config) *Feed {
	if cfg.Resync <= 0 {
		cfg.Resync = DefaultResync
	}
	if cfg.StaleLimit <= 0 {
		cfg.StaleLimit = DefaultStaleLimit
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Apply == nil {
		cfg.Apply = func(Change) {}
	}
	return &Feed{cfg: cfg, applied: map[string]int64{}}
}

// StaleSince is when this process stopped hearing changes: caches may
// miss those made since. Zero while the feed is live (and always in a
// single process).
func (f *Feed) StaleSince() time.Time {
	if n := f.down.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// StaleLimit is how long cached state may be used past StaleSince (or
// past the moment a fallback value was last read); after it, decisions
// fail closed.
func (f *Feed) StaleLimit() time.Duration { return f.cfg.StaleLimit }

func (f *Feed) markDown() {
	f.down.CompareAndSwap(0, f.cfg.Now().UnixNano())
}

// Tx is what a publishing transaction offers: *sql.Tx and *ent.Tx both
// have it.
type Tx interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Pending is a change being made in a transaction.
type Pending struct {
	f         *Feed
	tx        Tx
	org       string
	prev      time.Time
	change    *Change
	published bool
}

const lockOrg = `SELECT updated_at FROM organizations WHERE id = $1 FOR UPDATE`

// bumpOrg makes the counter strictly increasing whatever the clocks do:
// the row is locked, so concurrent changes of one organization take
// successive values in commit order.
const bumpOrg = `UPDATE organizations SET updated_at = GREATEST(clock_timestamp(), $2::timestamptz + interval '1 microsecond', updated_at + interval '1 microsecond')
WHERE id = $1 RETURNING updated_at`

// Begin starts publishing a change of an organization in tx. Call it
// first in the transaction: on PostgreSQL it locks the organization's row
// until commit (so one organization's changes serialise, always taking
// that lock first) and reads its change counter.
func (f *Feed) Begin(ctx context.Context, tx Tx, orgID string) (*Pending, error) {
	p := &Pending{f: f, tx: tx, org: orgID}
	if f.cfg.DB == nil || orgID == "" {
		return p, nil
	}
	rows, err := tx.QueryContext(ctx, lockOrg, orgID)
	if err != nil {
		return nil, fmt.Errorf("lock organization's change counter: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("lock organization's change counter: %w", err)
		}
		return p, nil // no such organization: nothing to publish
	}
	if err := rows.Scan(&p.prev); err != nil {
		return nil, fmt.Errorf("read organization's change counter: %w", err)
	}
	return p, rows.Close()
}

// Publish records what the transaction changed, as its last statement: on
// PostgreSQL it bumps the counter and queues the notification, which
// PostgreSQL delivers when the transaction commits and drops if it rolls
// back. A second call in one transaction widens the change.
func (p *Pending) Publish(ctx context.Context, c Change) error {
	c.Org = p.org
	if p.change != nil {
		if p.change.Kind != c.Kind {
			c = Change{Org: p.org, Kind: KindAll}
		} else {
			c.IDs = append(p.change.IDs, c.IDs...)
			c.Slugs = append(p.change.Slugs, c.Slugs...)
		}
	}
	if rev := p.f.cfg.Revision; rev != nil && p.org != "" {
		n, err := rev(ctx, p.tx, p.org)
		if err != nil {
			return fmt.Errorf("read organization's revision: %w", err)
		}
		c.Rev = n
	}
	p.change = &c
	if p.f.cfg.DB == nil || p.prev.IsZero() {
		return nil
	}
	rows, err := p.tx.QueryContext(ctx, bumpOrg, p.org, p.prev)
	if err != nil {
		return fmt.Errorf("bump organization's change counter: %w", err)
	}
	var stamp time.Time
	if rows.Next() {
		err = rows.Scan(&stamp)
	} else if err = rows.Err(); err == nil {
		err = errors.New("organization row missing")
	}
	rows.Close()
	if err != nil {
		return fmt.Errorf("bump organization's change counter: %w", err)
	}
	c.Prev, c.Stamp = p.prev.UnixMicro(), stamp.UnixMicro()
	p.change = &c
	p.published = true
	if skip := p.f.cfg.Skip; skip != nil && skip(c) {
		return nil
	}
	if _, err := p.tx.ExecContext(ctx, "SELECT pg_notify($1, $2)", Channel, encode(c)); err != nil {
		return fmt.Errorf("notify change: %w", err)
	}
	return nil
}

// Done applies the change in this process once its transaction ended
// with err. After a failed commit the outcome is unknown, so the
// organization is dropped whole.
func (p *Pending) Done(err error) {
	if p == nil || p.change == nil {
		return
	}
	if err != nil {
		if p.published {
			p.f.deliver(Change{Org: p.org, Kind: KindAll})
		}
		return
	}
	p.f.deliver(*p.change)
}

// InTx runs fn in a transaction opened by withTx and publishes the change
// fn returns (nil: nothing changed) in that transaction; after it ends,
// the change is applied in this process.
func InTx[T Tx](ctx context.Context, f *Feed, orgID string, withTx func(context.Context, func(T) error) error, fn func(T) (*Change, error)) error {
	var p *Pending
	err := withTx(ctx, func(tx T) error {
		var err error
		if p, err = f.Begin(ctx, tx, orgID); err != nil {
			return err
		}
		c, err := fn(tx)
		if err != nil || c == nil {
			p = nil
			return err
		}
		return p.Publish(ctx, *c)
	})
	p.Done(err)
	return err
}

// encode is a notification's payload: the change as JSON, without its ids
// when they do not fit.
func encode(c Change) string {
	b, _ := json.Marshal(c)
	if len(b) > maxPayload {
		c.IDs, c.Slugs = nil, nil
		b, _ = json.Marshal(c)
	}
	return string(b)
}

func decode(payload string) (Change, bool) {
	var c Change
	if err := json.Unmarshal([]byte(payload), &c); err != nil || c.Org == "" {
		return Change{}, false
	}
	if c.Kind == "" {
		c.Kind = KindAll
	}
	return c, true
}

// deliver applies a change unless it was applied already. A change whose
// Prev is newer than what this process applied follows one it missed: the
// organization is dropped whole.
func (f *Feed) deliver(c Change) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c.Stamp == 0 { // single process, or no counter to compare
		f.cfg.Apply(c)
		return
	}
	cur, known := f.applied[c.Org]
	switch {
	case !known:
		// Nothing of the organization is cached (or its first load has
		// not told its counter yet; Observe then lowers it again).
		f.applied[c.Org] = c.Stamp
		f.cfg.Apply(c)
	case cur >= c.Stamp:
		// Applied already (this process's own change, heard back).
	case cur == c.Prev:
		f.applied[c.Org] = c.Stamp
		f.cfg.Apply(c)
	default:
		f.cfg.Log.Info("changefeed: missed a change; dropping the organization's cached state", "organization", c.Org)
		f.applied[c.Org] = c.Stamp
		f.cfg.Apply(Change{Org: c.Org, Kind: KindAll})
	}
}

// Observe tells the feed that something of the organization was cached
// from data read at or after the given counter (read before the data).
// The feed keeps the oldest such counter, so a resync that finds the
// database's counter newer drops the organization.
func (f *Feed) Observe(orgID string, stamp time.Time) {
	if f.cfg.DB == nil || orgID == "" || stamp.IsZero() {
		return
	}
	s := stamp.UnixMicro()
	f.mu.Lock()
	if cur, ok := f.applied[orgID]; !ok || s < cur {
		f.applied[orgID] = s
	}
	f.mu.Unlock()
}

// Resync compares the counters of every organization this process caches
// with the database's and drops those that changed unheard. It is the
// backstop, run every Config.Resync and after each reconnect.
func (f *Feed) Resync(ctx context.Context) error {
	if f.cfg.DB == nil {
		return nil
	}
	f.mu.Lock()
	ids := make([]string, 0, len(f.applied))
	for id := range f.applied {
		ids = append(ids, id)
	}
	f.mu.Unlock()
	if len(ids) > 0 {
		current, err := f.counters(ctx, ids)
		if err != nil {
			return err
		}
		f.mu.Lock()
		for _, id := range ids {
			stamp, ok := current[id]
			cur, known := f.applied[id]
			switch {
			case !known:
			case !ok: // the organization is gone
				delete(f.applied, id)
				f.cfg.Apply(Change{Org: id, Kind: KindAll})
			case stamp > cur:
				f.cfg.Log.Info("changefeed: resync found an unheard change; dropping the organization's cached state", "organization", id)
				f.applied[id] = stamp
				f.cfg.Apply(Change{Org: id, Kind: KindAll})
			}
		}
		f.mu.Unlock()
	}
	return nil
}

func (f *Feed) counters(ctx context.Context, ids []string) (map[string]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rows, err := f.cfg.DB.QueryContext(ctx, `SELECT id, updated_at FROM organizations WHERE id = ANY($1)`, pq.Array(ids))
	if err != nil {
		return nil, fmt.Errorf("read change counters: %w", err)
	}
	defer rows.Close()
	out := make(map[string]int64, len(ids))
	for rows.Next() {
		var id string
		var at time.Time
		if err := rows.Scan(&id, &at); err != nil {
			return nil, fmt.Errorf("read change counters: %w", err)
		}
		out[id] = at.UnixMicro()
	}
	return out, rows.Err()
}

// Listen delivers other processes' changes until ctx ends, and runs the
// backstop. It is a no-op without PostgreSQL. It returns once listening.
func (f *Feed) Listen(ctx context.Context) error {
	if f.cfg.DSN == "" {
		return nil
	}
	l := pq.NewListener(f.cfg.DSN, minReconnect, maxReconnect, func(ev pq.ListenerEventType, err error) {
		switch ev {
		case pq.ListenerEventDisconnected, pq.ListenerEventConnectionAttemptFailed:
			// Changes made from now on may be missed until the resync
			// after the reconnect; the caches stay (fail static).
			f.connected.Store(false)
			f.markDown()
		case pq.ListenerEventConnected, pq.ListenerEventReconnected:
			f.connected.Store(true)
		}
		if err != nil {
			f.cfg.Log.Warn("changefeed: listener", "event", ev.String(), "err", err)
		}
	})
	if err := l.Listen(Channel); err != nil {
		l.Close()
		return err
	}
	for ch := range f.cfg.Channels {
		if err := l.Listen(ch); err != nil {
			l.Close()
			return err
		}
	}
	f.connected.Store(true)
	// Listening before anything is cached: nothing can have been missed,
	// whatever failed attempts came first.
	f.down.Store(0)
	go f.loop(ctx, l)
	go f.ping(ctx, l)
	return nil
}

func (f *Feed) loop(ctx context.Context, l *pq.Listener) {
	defer l.Close()
	backstop := time.NewTicker(f.cfg.Resync)
	defer backstop.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	resync := func() {
		if err := f.Resync(ctx); err != nil {
			if ctx.Err() == nil {
				f.cfg.Log.Warn("changefeed: resync failed; retrying", "err", err)
				f.markDown()
				retry.Reset(retryResync)
			}
			return
		}
		if !f.connected.Load() {
			return // the reconnect's own resync clears it
		}
		if since := f.down.Swap(0); since != 0 {
			f.cfg.Log.Info("changefeed: caught up", "stale_for", time.Since(time.Unix(0, since)).Round(time.Millisecond).String())
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case n, ok := <-l.Notify:
			switch {
			case !ok:
				return
			case n == nil: // reconnected: catch up on what was missed
				for _, hear := range f.cfg.Channels {
					hear("")
				}
				resync()
			case n.Channel != Channel:
				if hear := f.cfg.Channels[n.Channel]; hear != nil {
					hear(n.Extra)
				}
			default:
				if c, ok := decode(n.Extra); ok {
					f.deliver(c)
				} else if n.Extra != "" {
					f.cfg.Log.Warn("changefeed: malformed notification ignored", "payload", n.Extra)
				}
			}
		case <-retry.C:
			resync()
		case <-backstop.C:
			resync()
		}
	}
}

// ping notices a dead listener connection the kernel has not reported.
func (f *Feed) ping(ctx context.Context, l *pq.Listener) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = l.Ping()
		}
	}
}
