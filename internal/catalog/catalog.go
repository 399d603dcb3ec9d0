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
	"github.com/entitled/entitled/internal/platform/store"
	"github.com/entitled/entitled/internal/tenant"
)

// Service changes the catalog of one organization at a time (the caller's).
type Service struct {
	db      *ent.Client
	dialect string
	// changed is called after a commit that changed what an organization
	// grants, so caches can drop what they hold.
	changed func(orgID string)
}

// New returns a catalog service. changed may be nil.
func New(db *store.DB, changed func(orgID string)) *Service {
	if changed == nil {
		changed = func(string) {}
	}
	return &Service{db: db.Client, dialect: db.Dialect, changed: changed}
}

func (s *Service) tx(ctx context.Context, fn func(tx *ent.Tx) error) error {
	if err := store.WithTx(ctx, s.db, fn); err != nil {
		return err
	}
	s.changed(tenant.FromContext(ctx).OrgID)
	return nil
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
