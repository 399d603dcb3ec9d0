package webhooks

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"entgo.io/ent/dialect"

	"github.com/entitled/entitled/ent"
	"github.com/entitled/entitled/ent/schema/pulid"
	"github.com/entitled/entitled/internal/events"
	"github.com/entitled/entitled/internal/platform/store"
)

// body is a delivery's request body: the Standard Webhooks envelope.
type body struct {
	Type string `json:"type"`
	// Timestamp is when the event happened (RFC 3339), the same for
	// every attempt and replay; webhook-timestamp is the attempt's.
	Timestamp string `json:"timestamp"`
	Data      any    `json:"data"`
}

// eventBody is the body of an event's deliveries: data holds the
// AuditEvent's fields under their GraphQL names.
func eventBody(e *events.Event) (string, error) {
	data := *e
	data.OccurredAt = e.OccurredAt.UTC()
	return encode(body{Type: e.Action, Timestamp: data.OccurredAt.Format(time.RFC3339Nano), Data: &data})
}

func encode(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", fmt.Errorf("encode webhook body: %w", err)
	}
	return string(bytes.TrimSuffix(b.Bytes(), []byte("\n"))), nil
}

// fromStored is the event of a stored audit log row (replays send the
// body its deliveries had).
func fromStored(a *ent.AuditEvent) *events.Event {
	return &events.Event{
		ID: a.ID, OrgID: a.OrganizationID, Seq: a.Seq, Action: a.Action,
		ResourceType: a.ResourceType, ResourceID: a.ResourceID, ResourceSlug: a.ResourceSlug,
		ActorType: string(a.ActorType), ActorID: a.ActorID, ActorName: a.ActorName,
		Before: a.Before, After: a.After, LicenseVersion: a.LicenseVersion, RequestID: a.RequestID,
		OccurredAt: a.OccurredAt.UTC(), PrevHash: a.PrevHash, Hash: a.Hash,
	}
}

// Enqueue is the event log's outbox: inside the event's transaction it
// queues one delivery for every enabled endpoint of the event's
// organization whose filter matches, and arranges for the dispatchers to
// wake when the transaction commits.
func (s *Service) Enqueue(ctx context.Context, tx events.Tx, e *events.Event) error {
	ids, err := s.subscribers(ctx, tx, e.OrgID, e.Action)
	if err != nil || len(ids) == 0 {
		return err
	}
	payload, err := eventBody(e)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := s.insert(ctx, tx, delivery{org: e.OrgID, endpoint: id, eventID: e.ID, eventType: e.Action, payload: payload}); err != nil {
			return err
		}
	}
	return s.queued(ctx, tx)
}

// subscribers are the enabled endpoints of org whose filter takes action.
func (s *Service) subscribers(ctx context.Context, tx events.Tx, org, action string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, s.rebind(`SELECT id, event_types FROM webhook_endpoints WHERE organization_id = $1 AND enabled = $2`), org, true)
	if err != nil {
		return nil, fmt.Errorf("find webhook endpoints: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		var raw sql.NullString
		if err := rows.Scan(&id, &raw); err != nil {
			return nil, fmt.Errorf("read webhook endpoint: %w", err)
		}
		var types []string
		if raw.Valid && raw.String != "" && raw.String != "null" {
			if err := json.Unmarshal([]byte(raw.String), &types); err != nil {
				return nil, fmt.Errorf("webhook endpoint %s: event types: %w", id, err)
			}
		}
		if matches(types, action) {
			out = append(out, id)
		}
	}
	return out, rows.Err()
}

// delivery is a row to queue.
type delivery struct {
	org, endpoint, eventID, eventType, payload string
}

// insert queues one delivery, due now.
func (s *Service) insert(ctx context.Context, tx events.Tx, d delivery) error {
	now := s.cfg.Now().UTC()
	_, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO webhook_deliveries
	(id, created_at, updated_at, organization_id, endpoint_id, event_id, event_type, payload, status, attempts, next_attempt_at)
VALUES ($1, $2, $2, $3, $4, $5, $6, $7, 'PENDING', 0, $2)`),
		pulid.New("whd"), now, d.org, d.endpoint, d.eventID, d.eventType, d.payload)
	if err != nil {
		return fmt.Errorf("queue webhook delivery of %s: %w", d.eventID, err)
	}
	return nil
}

// queued wakes the dispatchers once tx commits: on PostgreSQL with a
// NOTIFY that the database delivers at commit to every process; on
// SQLite (one process) after commit, through the transaction's commit
// hook, or failing that by polling briskly for a while.
func (s *Service) queued(ctx context.Context, tx events.Tx) error {
	if s.db.Dialect == dialect.Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, '')`, Channel); err != nil {
			return fmt.Errorf("notify webhook dispatchers: %w", err)
		}
		return nil
	}
	etx, ok := tx.(*ent.Tx)
	if !ok {
		s.expect()
		return nil
	}
	etx.OnCommit(func(next ent.Committer) ent.Committer {
		return ent.CommitFunc(func(ctx context.Context, tx *ent.Tx) error {
			err := next.Commit(ctx, tx)
			if err == nil {
				s.kick()
			}
			return err
		})
	})
	return nil
}

// rebind adapts $N placeholders to SQLite's ?N.
func (s *Service) rebind(q string) string { return store.Rebind(s.db.Dialect, q) }
