// Package events is each organization's event log: one entry for every
// change, written in the transaction of the change by the one helper every
// service calls (Log.Append), chained by hashes so that an edited, removed
// or reordered entry is detected (Verify), and handed in the same
// transaction to the outbox that webhooks deliver from.
//
// The chain: an event's hash is the hex SHA-256 of its prevHash (the
// previous event's hash; 64 zeros for the first) followed by the canonical
// JSON (RFC 8785, see Canonical) of an object holding the event's other
// fields under their GraphQL names: id, seq, action, resourceType,
// resourceID, resourceSlug, actorType, actorID, actorName, before, after,
// licenseVersion, requestID, occurredAt (RFC 3339 in UTC, Go's
// RFC3339Nano: fractional seconds without trailing zeros, at most
// microseconds). Absent values are null. docs/audit.md shows how to verify
// an export with nothing but this paragraph.
package events

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/entitled/entitled/internal/platform/store"
	"github.com/entitled/entitled/internal/tenant"
)

// Genesis is the prevHash of an organization's first event.
var Genesis = strings.Repeat("0", 64)

// Actor types.
const (
	ActorAPIKey   = "API_KEY"
	ActorOperator = "OPERATOR"
	ActorSystem   = "SYSTEM"
)

// Change is what a service records: the action, the resource, and its
// fields before and after (nil: it did not exist). Before and After are
// any value encoding/json can write as an object (Snapshot turns an ent
// entity into one without its secrets).
type Change struct {
	// Org is the organization; "" means the caller's.
	Org            string
	Action         string
	ResourceType   string
	ResourceID     string
	ResourceSlug   string
	Before, After  any
	LicenseVersion *int
	// Actor overrides the caller (work done by the system on an
	// organization's behalf: threshold crossings, expiry notices).
	Actor *Actor
}

// Actor is who made a change.
type Actor struct {
	Type string
	ID   string
	Name string
}

// SystemActor is the actor of changes nobody requested.
var SystemActor = &Actor{Type: ActorSystem}

// Event is one stored entry of the log.
type Event struct {
	ID             string         `json:"id"`
	OrgID          string         `json:"-"`
	Seq            int64          `json:"seq"`
	Action         string         `json:"action"`
	ResourceType   string         `json:"resourceType"`
	ResourceID     string         `json:"resourceID"`
	ResourceSlug   *string        `json:"resourceSlug"`
	ActorType      string         `json:"actorType"`
	ActorID        *string        `json:"actorID"`
	ActorName      *string        `json:"actorName"`
	Before         map[string]any `json:"before"`
	After          map[string]any `json:"after"`
	LicenseVersion *int           `json:"licenseVersion"`
	RequestID      *string        `json:"requestID"`
	OccurredAt     time.Time      `json:"occurredAt"`
	PrevHash       string         `json:"prevHash"`
	Hash           string         `json:"hash"`
}

// Tx is the transaction a change is made in: an *ent.Tx (ent's
// sql/execquery feature) or a *sql.Tx.
type Tx interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Outbox receives every appended event inside its transaction (webhooks
// queue their deliveries there, so a delivery exists exactly when its
// event committed).
type Outbox func(ctx context.Context, tx Tx, e *Event) error

// Log appends events.
type Log struct {
	dialect string
	now     func() time.Time
	outbox  Outbox
}

// New returns a log writing through the store's dialect; outbox may be
// nil.
func New(dialect string, now func() time.Time, outbox Outbox) *Log {
	if now == nil {
		now = time.Now
	}
	return &Log{dialect: dialect, now: now, outbox: outbox}
}

// Append records one change as the next event of its organization's log,
// in tx. It locks the organization's chain head until tx ends: call it
// last in a transaction, after the change's own row locks, so that lock
// order is always rows then head.
func (l *Log) Append(ctx context.Context, tx Tx, c Change) (*Event, error) {
	e, err := l.event(ctx, c)
	if err != nil {
		return nil, err
	}
	seq, prev, err := l.advance(ctx, tx, e.OrgID)
	if err != nil {
		return nil, err
	}
	e.Seq, e.PrevHash = seq, prev
	if e.Hash, err = Hash(e); err != nil {
		return nil, err
	}
	before, after, err := jsonOrNull(e.Before), jsonOrNull(e.After), error(nil)
	if _, err = tx.ExecContext(ctx, l.rebind(`INSERT INTO audit_events
	(id, organization_id, seq, action, resource_type, resource_id, resource_slug, actor_type, actor_id, actor_name, before, after, license_version, request_id, occurred_at, prev_hash, hash)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`),
		e.ID, e.OrgID, e.Seq, e.Action, e.ResourceType, e.ResourceID, e.ResourceSlug, e.ActorType, e.ActorID, e.ActorName,
		before, after, e.LicenseVersion, e.RequestID, e.OccurredAt, e.PrevHash, e.Hash); err != nil {
		return nil, fmt.Errorf("append event %s: %w", e.Action, err)
	}
	if _, err := tx.ExecContext(ctx, l.rebind(`UPDATE audit_heads SET hash = $2 WHERE id = $1`), e.OrgID, e.Hash); err != nil {
		return nil, fmt.Errorf("advance the event chain: %w", err)
	}
	if l.outbox != nil {
		if err := l.outbox(ctx, tx, e); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// event fills in everything of an event but its place in the chain.
func (l *Log) event(ctx context.Context, c Change) (*Event, error) {
	v := tenant.FromContext(ctx)
	e := &Event{
		ID:             NewID(),
		OrgID:          c.Org,
		Action:         c.Action,
		ResourceType:   c.ResourceType,
		ResourceID:     c.ResourceID,
		ResourceSlug:   nonEmpty(c.ResourceSlug),
		LicenseVersion: c.LicenseVersion,
		RequestID:      nonEmpty(tenant.RequestID(ctx)),
		OccurredAt:     l.now().UTC().Truncate(time.Microsecond),
	}
	if e.OrgID == "" {
		e.OrgID = v.OrgID
	}
	if e.OrgID == "" {
		return nil, tenant.ErrNoTenant
	}
	if !validAction.MatchString(c.Action) || c.ResourceType == "" || c.ResourceID == "" {
		return nil, fmt.Errorf("events: malformed change %q on %s %q", c.Action, c.ResourceType, c.ResourceID)
	}
	a := c.Actor
	if a == nil {
		a = ActorOf(ctx)
	}
	e.ActorType, e.ActorID, e.ActorName = a.Type, nonEmpty(a.ID), nonEmpty(a.Name)
	var err error
	if e.Before, err = object(c.Before); err != nil {
		return nil, fmt.Errorf("events: %s before: %w", c.Action, err)
	}
	if e.After, err = object(c.After); err != nil {
		return nil, fmt.Errorf("events: %s after: %w", c.Action, err)
	}
	return e, nil
}

// ActorOf is who a context's changes are made by: its API key, the
// operator, or (nobody asked: bootstrap, schedules) the system.
func ActorOf(ctx context.Context) *Actor {
	v := tenant.FromContext(ctx)
	switch {
	case v.KeyID != "":
		return &Actor{Type: ActorAPIKey, ID: v.KeyID, Name: v.KeyName}
	case v.Operator:
		return &Actor{Type: ActorOperator}
	}
	return SystemActor
}

var validAction = regexp.MustCompile(`^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$`)

// advance takes the organization's next seq and the current head hash,
// holding the head's row lock (PostgreSQL; a SQLite transaction holds the
// database's write lock already).
func (l *Log) advance(ctx context.Context, tx Tx, org string) (int64, string, error) {
	for range 2 {
		seq, hash, ok, err := l.bump(ctx, tx, org)
		if err != nil || ok {
			return seq, hash, err
		}
		// The organization's first event: make its head. Two first
		// events at once both get here; ON CONFLICT makes one wait for
		// the other's head, and its bump then finds it.
		if _, err := tx.ExecContext(ctx, l.rebind(`INSERT INTO audit_heads (id, seq, hash, pruned_seq, pruned_hash) VALUES ($1, 0, $2, 0, $2) ON CONFLICT (id) DO NOTHING`), org, Genesis); err != nil {
			return 0, "", fmt.Errorf("start the event chain: %w", err)
		}
	}
	return 0, "", errors.New("events: the chain head vanished")
}

func (l *Log) bump(ctx context.Context, tx Tx, org string) (int64, string, bool, error) {
	rows, err := tx.QueryContext(ctx, l.rebind(`UPDATE audit_heads SET seq = seq + 1 WHERE id = $1 RETURNING seq, hash`), org)
	if err != nil {
		return 0, "", false, fmt.Errorf("lock the event chain: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		return 0, "", false, rows.Err()
	}
	var seq int64
	var hash string
	if err := rows.Scan(&seq, &hash); err != nil {
		return 0, "", false, err
	}
	return seq, hash, true, rows.Close()
}

// Hash is an event's hash, from its prevHash and its other fields (the
// package comment says exactly how).
func Hash(e *Event) (string, error) {
	fields := map[string]any{
		"id": e.ID, "seq": float64(e.Seq), "action": e.Action,
		"resourceType": e.ResourceType, "resourceID": e.ResourceID, "resourceSlug": strOrNil(e.ResourceSlug),
		"actorType": e.ActorType, "actorID": strOrNil(e.ActorID), "actorName": strOrNil(e.ActorName),
		"before": objOrNil(e.Before), "after": objOrNil(e.After),
		"licenseVersion": nil, "requestID": strOrNil(e.RequestID),
		"occurredAt": e.OccurredAt.UTC().Format(time.RFC3339Nano),
	}
	if e.LicenseVersion != nil {
		fields["licenseVersion"] = float64(*e.LicenseVersion)
	}
	body, err := Canonical(fields)
	if err != nil {
		return "", fmt.Errorf("hash event %d: %w", e.Seq, err)
	}
	h := sha256.New()
	h.Write([]byte(e.PrevHash))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// object turns v into the JSON object it encodes as (nil stays nil).
func object(v any) (map[string]any, error) {
	if v == nil {
		return nil, nil
	}
	if m, ok := v.(map[string]any); ok && m == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	return m, nil
}

func jsonOrNull(m map[string]any) any {
	if m == nil {
		return nil
	}
	b, _ := json.Marshal(m) // decoded from JSON by object: encodes again
	return string(b)
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func strOrNil(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

func objOrNil(m map[string]any) any {
	if m == nil {
		return nil
	}
	return m
}

// rebind adapts $N placeholders to SQLite's ?N.
func (l *Log) rebind(q string) string { return store.Rebind(l.dialect, q) }
