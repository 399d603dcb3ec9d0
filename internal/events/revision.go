package events

import (
	"context"
	"database/sql"
	"fmt"
)

// Queryer is what reads the log: a *sql.DB, a *sql.Tx or an *ent.Tx.
type Queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Head is the seq of the organization's latest event (0 before its
// first). Read in a transaction that appended, it is that event's seq.
func (l *Log) Head(ctx context.Context, q Queryer, org string) (int64, error) {
	head, _, err := l.heads(ctx, q, org)
	return head, err
}

func (l *Log) heads(ctx context.Context, q Queryer, org string) (head, pruned int64, err error) {
	rows, err := q.QueryContext(ctx, l.rebind(`SELECT seq, pruned_seq FROM audit_heads WHERE id = $1`), org)
	if err != nil {
		return 0, 0, fmt.Errorf("read the event log's head: %w", err)
	}
	defer rows.Close()
	if rows.Next() {
		if err := rows.Scan(&head, &pruned); err != nil {
			return 0, 0, fmt.Errorf("read the event log's head: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, 0, fmt.Errorf("read the event log's head: %w", err)
	}
	return head, pruned, rows.Close()
}

// Entry is an event's place and subject, without its fields.
type Entry struct {
	Seq          int64
	Action       string
	ResourceType string
	ResourceID   string
	ResourceSlug string
}

// Tail is what the organization's log holds after a seq.
type Tail struct {
	// Head is the latest event's seq when read; Complete is false when
	// events after the asked seq were pruned (retention) or more than the
	// limit asked for follow it.
	Head     int64
	Complete bool
	// Entries are the events after the asked seq up to Head, in order,
	// of the resource types asked for.
	Entries []Entry
}

// After reads the organization's events with a seq above after (up to
// the head read first) whose resource type is one of types, at most
// limit of them.
func (l *Log) After(ctx context.Context, q Queryer, org string, after int64, types []string, limit int) (Tail, error) {
	head, pruned, err := l.heads(ctx, q, org)
	if err != nil {
		return Tail{}, err
	}
	t := Tail{Head: head, Complete: after >= pruned && after <= head}
	if !t.Complete || after == head || len(types) == 0 {
		return t, nil
	}
	args := []any{org, after, head}
	in := ""
	for i, ty := range types {
		if i > 0 {
			in += ", "
		}
		args = append(args, ty)
		in += fmt.Sprintf("$%d", len(args))
	}
	args = append(args, limit+1)
	rows, err := q.QueryContext(ctx, l.rebind(`SELECT seq, action, resource_type, resource_id, resource_slug FROM audit_events
WHERE organization_id = $1 AND seq > $2 AND seq <= $3 AND resource_type IN (`+in+`) ORDER BY seq LIMIT $`+fmt.Sprint(len(args))), args...)
	if err != nil {
		return Tail{}, fmt.Errorf("read the event log after %d: %w", after, err)
	}
	defer rows.Close()
	for rows.Next() {
		var e Entry
		var slug sql.NullString
		if err := rows.Scan(&e.Seq, &e.Action, &e.ResourceType, &e.ResourceID, &slug); err != nil {
			return Tail{}, fmt.Errorf("read the event log after %d: %w", after, err)
		}
		e.ResourceSlug = slug.String
		t.Entries = append(t.Entries, e)
	}
	if err := rows.Err(); err != nil {
		return Tail{}, fmt.Errorf("read the event log after %d: %w", after, err)
	}
	if len(t.Entries) > limit {
		t.Entries, t.Complete = nil, false
	}
	return t, nil
}
