package events

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/entitled/entitled/internal/tenant"
)

// Verification is the outcome of recomputing an organization's chain.
type Verification struct {
	Valid   bool
	Checked int
	HeadSeq int64
	// HeadHash is the last event's hash (Genesis: none).
	HeadHash string
	// FirstBrokenSeq is the first seq whose event was changed, removed
	// or moved; nil when valid.
	FirstBrokenSeq *int64
	// PrunedSeq and PrunedHash are the last event retention removed (0
	// and Genesis: none); checking starts after it.
	PrunedSeq  int64
	PrunedHash string
}

// verifyBatch is how many events one query of Verify reads.
const verifyBatch = 1000

// Verify recomputes the organization's chain from its first kept event:
// each event's seq must follow the previous one, its prevHash must be the
// previous hash and its hash must be what its fields give; the head must
// name the last event. db reads outside any transaction (the chain only
// grows, so a concurrent append is not a break).
func (l *Log) Verify(ctx context.Context, db *sql.DB, org string) (*Verification, error) {
	headSeq, headHash, prunedSeq, prunedHash, err := l.head(ctx, db, org)
	if err != nil {
		return nil, err
	}
	v := &Verification{Valid: true, HeadSeq: headSeq, HeadHash: headHash, PrunedSeq: prunedSeq, PrunedHash: prunedHash}
	seq, hash := prunedSeq, prunedHash
	broken := func(at int64) (*Verification, error) {
		v.Valid, v.FirstBrokenSeq = false, &at
		return v, nil
	}
	for {
		batch, err := l.page(ctx, db, org, seq, headSeq)
		if err != nil {
			return nil, err
		}
		for _, e := range batch {
			v.Checked++
			if e.Seq != seq+1 {
				return broken(seq + 1)
			}
			want, err := Hash(e)
			if err != nil || e.PrevHash != hash || e.Hash != want {
				return broken(e.Seq)
			}
			seq, hash = e.Seq, e.Hash
		}
		if len(batch) < verifyBatch {
			break
		}
	}
	if seq != headSeq || hash != headHash {
		return broken(seq + 1)
	}
	return v, nil
}

func (l *Log) head(ctx context.Context, db *sql.DB, org string) (seq int64, hash string, prunedSeq int64, prunedHash string, err error) {
	err = db.QueryRowContext(ctx, l.rebind(`SELECT seq, hash, pruned_seq, pruned_hash FROM audit_heads WHERE id = $1`), org).
		Scan(&seq, &hash, &prunedSeq, &prunedHash)
	if err == sql.ErrNoRows {
		return 0, Genesis, 0, Genesis, nil
	}
	if err != nil {
		return 0, "", 0, "", fmt.Errorf("read the event chain head: %w", err)
	}
	return seq, hash, prunedSeq, prunedHash, nil
}

// page reads the events after seq up to the head's, in order.
func (l *Log) page(ctx context.Context, db *sql.DB, org string, after, upTo int64) ([]*Event, error) {
	rows, err := db.QueryContext(ctx, l.rebind(`SELECT id, seq, action, resource_type, resource_id, resource_slug, actor_type, actor_id, actor_name, before, after, license_version, request_id, occurred_at, prev_hash, hash
FROM audit_events WHERE organization_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4`), org, after, upTo, verifyBatch)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	var out []*Event
	for rows.Next() {
		e := &Event{OrgID: org}
		var before, after sql.NullString
		var lv sql.NullInt64
		var at any
		if err := rows.Scan(&e.ID, &e.Seq, &e.Action, &e.ResourceType, &e.ResourceID, &e.ResourceSlug, &e.ActorType, &e.ActorID, &e.ActorName,
			&before, &after, &lv, &e.RequestID, &at, &e.PrevHash, &e.Hash); err != nil {
			return nil, fmt.Errorf("read events: %w", err)
		}
		if e.OccurredAt, err = scanTime(at); err != nil {
			return nil, err
		}
		if lv.Valid {
			n := int(lv.Int64)
			e.LicenseVersion = &n
		}
		// A stored object that no longer parses is a broken event, not
		// an error of the verification: its hash will not match.
		if before.Valid {
			_ = json.Unmarshal([]byte(before.String), &e.Before)
		}
		if after.Valid {
			_ = json.Unmarshal([]byte(after.String), &e.After)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// scanTime reads a timestamp column: a time.Time from PostgreSQL, and
// from SQLite a time.Time (the driver parses DATETIME columns) or the text
// the driver writes (Go's time.Time.String form).
func scanTime(v any) (time.Time, error) {
	switch t := v.(type) {
	case time.Time:
		return t.UTC(), nil
	case string:
		return parseSQLiteTime(t)
	case []byte:
		return parseSQLiteTime(string(t))
	}
	return time.Time{}, fmt.Errorf("read events: occurred_at is %T", v)
}

func parseSQLiteTime(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02 15:04:05.999999999 -0700 MST", "2006-01-02 15:04:05.999999999-07:00", time.RFC3339Nano, "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("read events: occurred_at %q", s)
}

// Auditor verifies the caller's chain (verifyAuditChain).
type Auditor struct {
	log *Log
	db  *sql.DB
}

// NewAuditor returns an auditor reading through db (on SQLite the read
// pool: verification only reads).
func NewAuditor(log *Log, db *sql.DB) *Auditor { return &Auditor{log: log, db: db} }

// Verify recomputes the chain of the caller's organization.
func (a *Auditor) Verify(ctx context.Context) (*Verification, error) {
	org := tenant.FromContext(ctx).OrgID
	if org == "" {
		return nil, tenant.ErrNoTenant
	}
	return a.log.Verify(ctx, a.db, org)
}
