package catalog

import (
	"context"
	"fmt"
	"strings"

	"entgo.io/ent/dialect"

	"github.com/entitled/entitled/ent"
	"github.com/entitled/entitled/ent/instance"
	"github.com/entitled/entitled/ent/license"
	"github.com/entitled/entitled/ent/organization"
	"github.com/entitled/entitled/internal/apperr"
	"github.com/entitled/entitled/internal/events"
	"github.com/entitled/entitled/internal/platform/changefeed"
	"github.com/entitled/entitled/internal/platform/store"
	"github.com/entitled/entitled/internal/tenant"
	"github.com/entitled/entitled/internal/validate"
)

func validateLicense(name, slug *string, versionName, description *string) error {
	if err := validate.Names(name, slug); err != nil {
		return err
	}
	if err := validate.OptionalText("versionName", versionName, 100); err != nil {
		return err
	}
	return validate.OptionalText("description", description, validate.MaxDescription)
}

// CreateLicense creates a license at version 1 with its first snapshot.
func (s *Service) CreateLicense(ctx context.Context, in ent.CreateLicenseInput) (*ent.License, error) {
	if err := validateLicense(&in.Name, &in.Slug, in.VersionName, in.Description); err != nil {
		return nil, err
	}
	var out *ent.License
	err := s.tx(ctx, func(tx *ent.Tx) (*changefeed.Change, error) {
		if in.IsDefault != nil && *in.IsDefault {
			if err := s.clearDefault(ctx, tx); err != nil {
				return nil, err
			}
		}
		l, err := tx.License.Create().SetInput(in).Save(ctx)
		if err != nil {
			return nil, store.TranslateSlug(err, "license", &in.Slug)
		}
		if err := snapshot(ctx, tx, l, "created"); err != nil {
			return nil, err
		}
		if err := s.record(ctx, tx, licenseChange("license.created", nil, l)); err != nil {
			return nil, err
		}
		out = l
		return changed(changefeed.KindLicense, l.ID), nil
	})
	return unwrap(out, err)
}

// UpdateLicense changes a license. Changing its type or active flag bumps
// the version; names, slugs, descriptions and the default flag do not.
func (s *Service) UpdateLicense(ctx context.Context, id string, in ent.UpdateLicenseInput) (*ent.License, error) {
	if err := validateLicense(in.Name, in.Slug, in.VersionName, in.Description); err != nil {
		return nil, err
	}
	var out *ent.License
	err := s.tx(ctx, func(tx *ent.Tx) (*changefeed.Change, error) {
		l, err := s.lockLicense(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		if err := validate.SameSlug(l.Slug, in.Slug); err != nil {
			return nil, err
		}
		var changes []string
		if in.Type != nil && *in.Type != l.Type {
			changes = append(changes, fmt.Sprintf("type %s → %s", l.Type, *in.Type))
		}
		if in.IsActive != nil && *in.IsActive != l.IsActive {
			if *in.IsActive {
				changes = append(changes, "activated")
			} else {
				changes = append(changes, "deactivated")
			}
		}
		if in.IsDefault != nil && *in.IsDefault && !l.IsDefault {
			if err := s.clearDefault(ctx, tx); err != nil {
				return nil, err
			}
		}
		before := l
		upd := tx.License.UpdateOne(l).SetInput(in)
		if len(changes) > 0 {
			upd.AddVersion(1)
		}
		l, err = upd.Save(ctx)
		if err != nil {
			return nil, store.TranslateSlug(err, "license", in.Slug)
		}
		if len(changes) > 0 {
			if err := snapshot(ctx, tx, l, strings.Join(changes, "; ")); err != nil {
				return nil, err
			}
		}
		if c := licenseChange("license.updated", before, l); !c.Noop() {
			if err := s.record(ctx, tx, c); err != nil {
				return nil, err
			}
		}
		out = l
		return changed(changefeed.KindLicense, l.ID), nil
	})
	return unwrap(out, err)
}

// DeleteLicense deletes a license no instance uses, with its links and
// snapshots.
func (s *Service) DeleteLicense(ctx context.Context, id string) (string, error) {
	err := s.tx(ctx, func(tx *ent.Tx) (*changefeed.Change, error) {
		l, err := s.lockLicense(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		n, err := tx.Instance.Query().Where(instance.LicenseID(l.ID)).Count(ctx)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			return nil, apperr.Conflictf("license %q is used by %d instance(s); move them to another license first", l.Slug, n)
		}
		if err := tx.License.DeleteOne(l).Exec(ctx); err != nil {
			return nil, store.Translate(err, "license")
		}
		if err := s.record(ctx, tx, licenseChange("license.deleted", l, nil)); err != nil {
			return nil, err
		}
		return changed(changefeed.KindLicense, l.ID), nil
	})
	return id, err
}

// licenseChange is the event of a license created (before nil), updated
// or deleted (after nil), at the version it has after the change.
func licenseChange(action string, before, after *ent.License) events.Change {
	c := events.EntityChange(action, "LICENSE", before, after, func(l *ent.License) (string, string) { return l.ID, l.Slug })
	l := after
	if l == nil {
		l = before
	}
	c.LicenseVersion = &l.Version
	return c
}

// clearDefault drops the default flag from the organization's licenses.
// On PostgreSQL it first locks the organization's row, so concurrent
// "make this the default" requests queue up and each clears the one before
// instead of colliding on the one-default index (SQLite transactions
// already hold the write lock).
func (s *Service) clearDefault(ctx context.Context, tx *ent.Tx) error {
	if s.dialect == dialect.Postgres {
		_, err := tx.Organization.Query().
			Where(organization.ID(tenant.FromContext(ctx).OrgID)).
			ForUpdate().
			Only(ctx)
		if err != nil {
			return store.Translate(err, "organization")
		}
	}
	_, err := tx.License.Update().Where(license.IsDefault(true)).SetIsDefault(false).Save(ctx)
	return err
}

// DefaultLicense returns the organization's default license, or nil.
func DefaultLicense(ctx context.Context, c *ent.Client) (*ent.License, error) {
	l, err := c.License.Query().Where(license.IsDefault(true)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return l, err
}
