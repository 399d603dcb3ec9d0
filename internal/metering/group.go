package metering

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/entitled/entitled/ent/usageevent"
	"github.com/entitled/entitled/internal/apperr"
	"github.com/entitled/entitled/internal/platform/store"
	"github.com/entitled/entitled/policy"
)

// Group commit. Concurrent reportUsage and consumeUsage calls on one
// counter row (instance, entitlement, period) are committed together: the
// first call finding the row idle leads, and commits what has queued for
// the row by the time it starts (itself included, up to MaxGroup) in one
// transaction; calls arriving meanwhile queue, and the first of them
// leads the next transaction when this one ends. The window is therefore
// the previous commit's duration: an idle row commits a lone call at once,
// a hot one commits everything that arrived during the last commit. Rows
// of different counters commit independently, in parallel.
//
// In the transaction the row is locked once, the calls are folded into
// the counter in arrival order (a consume is decided against the cap on
// the counter as it stands after the calls before it, so the total never
// exceeds the cap), the counter is written once, the ledger rows in one
// multi-row INSERT, and one notification carries the new counter to the
// other processes. Each call is answered after the commit, with the
// counter as it stood after its own report. Validation happens before a
// call queues, so a bad report never joins a group.

// MaxGroup bounds the calls committed in one transaction.
const MaxGroup = 256

// groupTimeout bounds one group's transaction: it runs for several
// callers, so no single caller's context may cancel it.
const groupTimeout = 30 * time.Second

// opKind is what a member of a group asks.
type opKind uint8

const (
	opReport opKind = iota
	opConsume
)

// member is one call in a group.
type member struct {
	op         opKind
	t          target
	start, end time.Time
	ts         time.Time // the report's timestamp; a consume's now
	value      float64   // reported value, or amount consumed
	keyed      bool      // the caller gave an idempotency key
	key, hash  string
	id         string
	allowed    *policy.Decision // consume: the policy's decision before the cap

	// The outcome, set by the group's transaction.
	report   *ReportResult
	decision *policy.Decision
	fresh    bool    // recorded now (not a replay, not refused)
	after    float64 // the aggregate after it, for the ledger row
	record   string  // the ledger row's result (JSON)
	err      error   // this member's own failure

	lead chan struct{} // closed when it is to lead its row's next group
	done chan struct{} // closed when its outcome is set
}

func (m *member) rowKey() rowKey {
	return rowKey{m.t.inst.Instance.ID, m.t.ent.ID, m.start.UnixNano()}
}

func (m *member) clear() {
	m.report, m.decision, m.fresh, m.after, m.record, m.err = nil, nil, false, 0, "", nil
}

type rowKey struct {
	instanceID, entitlementID string
	start                     int64
}

// grouper queues calls per counter row and hands each group to commit.
type grouper struct {
	mu   sync.Mutex
	rows map[rowKey]*rowQueue
}

type rowQueue struct {
	pending []*member
	busy    bool // a leader is committing this row's previous group
}

// submit queues m on its row and returns once its outcome is set: by a
// group m leads (commit runs in the caller's goroutine) or one it joined.
// commit must set every member's outcome; submit closes their done.
func (g *grouper) submit(k rowKey, m *member, commit func([]*member)) {
	m.lead, m.done = make(chan struct{}), make(chan struct{})
	g.mu.Lock()
	if g.rows == nil {
		g.rows = map[rowKey]*rowQueue{}
	}
	q := g.rows[k]
	if q == nil {
		q = &rowQueue{}
		g.rows[k] = q
	}
	q.pending = append(q.pending, m)
	leader := !q.busy
	q.busy = true
	g.mu.Unlock()
	if !leader {
		select {
		case <-m.done:
			return
		case <-m.lead: // m is first in the queue: it leads the next group
		}
	}
	g.mu.Lock()
	n := min(len(q.pending), MaxGroup)
	batch := q.pending[:n:n]
	q.pending = q.pending[n:]
	g.mu.Unlock()
	commit(batch)
	for _, b := range batch {
		close(b.done)
	}
	g.mu.Lock()
	if len(q.pending) > 0 {
		close(q.pending[0].lead)
	} else {
		q.busy = false
		delete(g.rows, k)
	}
	g.mu.Unlock()
}

// submit runs m in its row's next group.
func (s *Service) submit(ctx context.Context, m *member) error {
	s.group.submit(m.rowKey(), m, func(batch []*member) {
		gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), groupTimeout)
		defer cancel()
		s.commitGroup(gctx, batch)
	})
	return m.err
}

// commitGroup commits a group. When the group's transaction fails before
// its commit, each member is tried again on its own, so one member's
// trouble (a foreign key gone, say) does not fail the others; a failed
// commit's outcome is unknown, so then each member fails with the error:
// nothing is acknowledged that may not have been committed, nor run twice.
func (s *Service) commitGroup(ctx context.Context, batch []*member) {
	err := s.runGroup(ctx, batch)
	if err == nil {
		return
	}
	if len(batch) == 1 || store.IsCommitFailure(err) {
		for _, m := range batch {
			m.clear()
			m.err = err
		}
		return
	}
	for _, m := range batch {
		m.clear()
		if err := s.runGroup(ctx, []*member{m}); err != nil {
			m.clear()
			m.err = err
		}
	}
}

// errKeyRace aborts a transaction whose ledger INSERT met an idempotency
// key committed meanwhile by another transaction: run again, it finds the
// key and replays it.
var errKeyRace = errors.New("an idempotency key was committed concurrently")

// keyRaceAttempts bounds how often a transaction is run again after
// errKeyRace.
const keyRaceAttempts = 5

// runGroup runs one group's transaction; members' own refusals (a key
// reused with another body) are their err, not the group's.
func (s *Service) runGroup(ctx context.Context, batch []*member) error {
	t0 := batch[0].t
	start := batch[0].start
	var keys []string
	for _, m := range batch {
		if m.keyed {
			keys = append(keys, m.key)
		}
	}
	for attempt := 1; ; attempt++ {
		var final *Counter
		err := tx(ctx, s, func(tx *sql.Tx) error {
			final = nil
			q := s.prepared(tx)
			known, err := s.ledgerRows(ctx, q, t0.orgID, keys)
			if err != nil {
				return err
			}
			c, err := s.lockCounter(ctx, q, t0, start)
			if err != nil {
				return err
			}
			var fresh []*member
			first := map[string]*member{}
			for _, m := range batch {
				m.clear()
				if m.keyed {
					if ev := known[m.key]; ev != nil {
						m.replay(ev)
						continue
					}
					if f := first[m.key]; f != nil && (f.fresh || f.op == opReport) {
						m.replayOf(f)
						continue
					}
					first[m.key] = m
				}
				if m.fold(c) {
					fresh = append(fresh, m)
				}
			}
			if len(fresh) == 0 {
				return nil // nothing recorded: the transaction only made sure the row exists
			}
			if err := s.storeCounter(ctx, q, t0, start, c); err != nil {
				return err
			}
			last := fresh[len(fresh)-1]
			if err := s.thresholds(ctx, q, t0, start, last.end, c.Value(t0.method())); err != nil {
				return err
			}
			if err := s.insertMembers(ctx, q, fresh); err != nil {
				return err
			}
			if err := s.notify(ctx, q, []note{noteOf(t0.inst.Instance.ID, t0.ent.ID, start, c)}); err != nil {
				return err
			}
			final = c
			return nil
		})
		if errors.Is(err, errKeyRace) && attempt < keyRaceAttempts {
			continue
		}
		if err != nil {
			return err
		}
		if final != nil {
			// Before any member is answered: a decision asked after the
			// answer sees the report.
			s.remember(t0.inst.Instance.ID, t0.ent.ID, start, final)
		}
		return nil
	}
}

// fold applies m to the locked counter c; it reports whether m is
// recorded (a consume over the cap is refused and records nothing).
func (m *member) fold(c *Counter) bool {
	t := m.t
	switch m.op {
	case opReport:
		c.Add(m.value, m.ts)
		m.report = result(t, c, m.start, m.end)
		m.after = m.report.Usage.Value
		m.record = m.report.recordJSON()
	case opConsume:
		before := c.Value(t.method())
		next := *c // Add replaces the pointers it changes: a shallow copy is safe
		next.Add(m.value, m.ts)
		after := next.Value(t.method())
		res := *m.allowed
		if !t.grant.Unlimited && after > t.grant.HardCap {
			res.Allowed = false
			res.Reason = policy.ReasonLimitExceeded
			res.Reasons = []string{fmt.Sprintf("usage %s + requested %s exceeds hard cap %s", fmtFloat(before), fmtFloat(m.value), fmtFloat(t.grant.HardCap))}
			setFigures(&res, t, before)
			m.decision = &res
			return false
		}
		*c = next
		setFigures(&res, t, after)
		record, err := json.Marshal(&res)
		if err != nil { // a Decision always encodes
			m.err = fmt.Errorf("encode decision: %w", err)
			return false
		}
		m.decision, m.after, m.record = &res, after, string(record)
	}
	m.fresh = true
	return true
}

// replay answers m from the ledger row of its key.
func (m *member) replay(ev *ledgerRow) {
	switch {
	case ev.hash != m.hash || (m.op == opConsume && ev.kind != string(usageevent.KindCONSUME)):
		m.err = keyConflict(m.key, "was already used with a different request")
	case m.op == opReport:
		m.report = fromRecord(m.t, ev)
	default:
		m.decision, m.err = decisionOf(ev)
	}
}

// replayOf answers m as the earlier member f of its group with the same
// key.
func (m *member) replayOf(f *member) {
	switch {
	case f.hash != m.hash:
		m.err = keyConflict(m.key, "is used concurrently with a different request")
	case m.op == opReport:
		r := *f.report
		r.Replayed = true
		m.report = &r
	default:
		d := *f.decision
		m.decision = &d
	}
}

func keyConflict(key, what string) error {
	return &apperr.Error{Code: apperr.Conflict, Field: "idempotencyKey", Message: fmt.Sprintf("idempotency key %q %s", key, what)}
}

// insertMembers appends the group's ledger rows: one multi-row INSERT per
// maxRowsPerInsert. A key met in the ledger (committed meanwhile by
// another transaction) aborts with errKeyRace.
func (s *Service) insertMembers(ctx context.Context, q exec, fresh []*member) error {
	now := s.now().UTC()
	for len(fresh) > 0 {
		n := min(len(fresh), maxRowsPerInsert)
		chunk := fresh[:n]
		fresh = fresh[n:]
		query := insertEventSQL
		if n > 1 {
			var b strings.Builder
			b.WriteString(insertEventsHead)
			for i := range chunk {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteByte('(')
				for j := range eventColumns {
					if j > 0 {
						b.WriteByte(',')
					}
					b.WriteString(s.placeholder(i*len(eventColumns) + j + 1))
				}
				b.WriteByte(')')
			}
			b.WriteString(insertEventsTail)
			query = b.String()
		} else {
			query = s.rebind(query)
		}
		args := make([]any, 0, n*len(eventColumns))
		for _, m := range chunk {
			kind := usageevent.KindREPORT
			if m.op == opConsume {
				kind = usageevent.KindCONSUME
			}
			args = append(args, m.id, m.t.orgID, m.t.inst.Instance.ID, m.t.ent.ID, string(kind), m.value, m.ts.UTC(), m.start.UTC(),
				now, m.key, m.hash, m.after, m.record)
		}
		r, err := q.ExecContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("append usage events: %w", err)
		}
		got, err := r.RowsAffected()
		if err != nil {
			return fmt.Errorf("append usage events: %w", err)
		}
		if got != int64(n) {
			return errKeyRace
		}
	}
	return nil
}

// maxRowsPerInsert bounds one INSERT's rows (13 parameters each).
const maxRowsPerInsert = 400
