package metering

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"entgo.io/ent/dialect"
)

// Channel is the PostgreSQL notification channel of counter updates,
// heard on the change feed's connection. Every usage transaction (a
// group of reports and consumes, a batch, a reset) sends one notification
// at commit, carrying the counters it left: other processes' decisions
// read usage from memory, and this is how they learn of reports made
// elsewhere. A group of hundreds of reports costs one notification, not
// hundreds.
const Channel = "entitled_usage"

// note is one counter as a notification carries it.
type note struct {
	Instance    string   `json:"i"`
	Entitlement string   `json:"e"`
	Start       int64    `json:"p"` // period start, unix nanos
	Count       int64    `json:"n"`
	Sum         float64  `json:"s"`
	Min         *float64 `json:"mn,omitempty"`
	Max         *float64 `json:"mx,omitempty"`
	Latest      *float64 `json:"l,omitempty"`
	LatestAt    *int64   `json:"la,omitempty"` // unix nanos
	ResetAt     *int64   `json:"r,omitempty"`  // unix nanos
}

func noteOf(instanceID, entitlementID string, start time.Time, c *Counter) note {
	n := note{Instance: instanceID, Entitlement: entitlementID, Start: start.UnixNano(),
		Count: c.Count, Sum: c.Sum, Min: c.Min, Max: c.Max, Latest: c.Latest}
	if c.LatestAt != nil {
		v := c.LatestAt.UnixNano()
		n.LatestAt = &v
	}
	if c.ResetAt != nil {
		v := c.ResetAt.UnixNano()
		n.ResetAt = &v
	}
	return n
}

func (n *note) counter() *Counter {
	c := &Counter{Count: n.Count, Sum: n.Sum, Min: n.Min, Max: n.Max, Latest: n.Latest}
	if n.LatestAt != nil {
		t := time.Unix(0, *n.LatestAt).UTC()
		c.LatestAt = &t
	}
	if n.ResetAt != nil {
		t := time.Unix(0, *n.ResetAt).UTC()
		c.ResetAt = &t
	}
	return c
}

// maxNotePayload keeps a notification under PostgreSQL's 8000-byte limit.
const maxNotePayload = 7000

const notifySQL = `SELECT pg_notify($1, $2)`

// notify queues, in a usage transaction, the notification of the counters
// it leaves (PostgreSQL delivers it at commit, or never). Counters that do
// not fit one notification go in several. Nothing on SQLite: one process.
func (s *Service) notify(ctx context.Context, q exec, notes []note) error {
	if s.dialect != dialect.Postgres || len(notes) == 0 {
		return nil
	}
	send := func(b []byte) error {
		rows, err := q.QueryContext(ctx, notifySQL, Channel, string(b))
		if err != nil {
			return fmt.Errorf("notify usage: %w", err)
		}
		return rows.Close()
	}
	var b []byte
	b = append(b, '[')
	for i := range notes {
		one, err := json.Marshal(&notes[i])
		if err != nil {
			return fmt.Errorf("encode usage notification: %w", err)
		}
		if len(b) > 1 && len(b)+len(one)+1 > maxNotePayload {
			if err := send(append(b, ']')); err != nil {
				return err
			}
			b = append(b[:0], '[')
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, one...)
	}
	return send(append(b, ']'))
}

// Hear is the handler of Channel: it keeps the counters another process
// committed (or this one: remembering is idempotent). An empty payload
// follows a reconnect of the feed's listener, when notifications may have
// been missed: every counter kept is dropped, and decisions read them
// again.
func (s *Service) Hear(payload string) {
	if payload == "" {
		s.lastMu.Lock()
		s.last.Purge()
		s.lastMu.Unlock()
		return
	}
	var notes []note
	if err := json.NewDecoder(strings.NewReader(payload)).Decode(&notes); err != nil {
		slog.Warn("metering: malformed usage notification ignored", "err", err)
		return
	}
	for i := range notes {
		n := &notes[i]
		s.remember(n.Instance, n.Entitlement, time.Unix(0, n.Start).UTC(), n.counter())
	}
}
