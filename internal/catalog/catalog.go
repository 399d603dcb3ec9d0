// Package catalog is where licenses, entitlements and the links between
// them are defined and changed. It owns the license version rules: every
// change to a license's terms bumps its version by exactly one and stores an
// immutable snapshot, in the same transaction as the change.
package catalog

import (
	"context"

	"entgo.io/ent/dialect"

	"github.com/entitled/entitled/ent"
	"github.com/entitled/entitled/ent/license"
	"github.com/entitled/entitled/internal/events"
	"github.com/entitled/entitled/internal/platform/changefeed"
	"github.com/entitled/entitled/internal/platform/store"
	"github.com/entitled/entitled/internal/tenant"
)

// Service changes the catalog of one organization at a time (the caller's).
type Service struct {
	db      *ent.Client
	dialect string
	// feed carries each change to every process's caches, published in
	// the transaction that makes it.
	feed *changefeed.Feed
	// events records each change in the organization's event log, in the
	// transaction that makes it.
	events *events.Log
}

// New returns a catalog service.
func New(db *store.DB, feed *changefeed.Feed, log *events.Log) *Service {
	return &Service{db: db.Client, dialect: db.Dialect, feed: feed, events: log}
}

// record appends a change to the organization's event log, as the last
// write of the transaction.
func (s *Service) record(ctx context.Context, tx *ent.Tx, c events.Change) error {
	_, err := s.events.Append(ctx, tx, c)
	return err
}

// tx runs fn in a transaction of the caller's organization and publishes
// the change fn returns (nil: nothing changed) inside it.
func (s *Service) tx(ctx context.Context, fn func(tx *ent.Tx) (*changefeed.Change, error)) error {
	return changefeed.InTx(ctx, s.feed, tenant.FromContext(ctx).OrgID, func(ctx context.Context, fn func(*ent.Tx) error) error {
		return store.WithTx(ctx, s.db, fn)
	}, fn)
}

// changed names what a transaction changed.
func changed(kind changefeed.Kind, ids ...string) *changefeed.Change {
	return &changefeed.Change{Kind: kind, IDs: ids}
}

// lockLicense reads a license inside tx, holding its row lock on PostgreSQL
// (SQLite transactions already hold the database write lock), so that
// concurrent changes to one license's terms serialise and versions never
// skip or repeat.
func (s *Service) lockLicense(ctx context.Context, tx *ent.Tx, id string) (*ent.License, error) {
	q := tx.License.Query().Where(license.ID(id))
	if s.dialect == dialect.Postgres {
		q = q.ForUpdate()
	}
	l, err := q.Only(ctx)
	if err != nil {
		return nil, store.Translate(err, "license")
	}
	return l, nil
}

// unwrap detaches an entity from its committed transaction so its edges
// can still be read (GraphQL resolves them after the mutation returns).
func unwrap[T interface{ Unwrap() T }](v T, err error) (T, error) {
	return store.Unwrap(v, err)
}
