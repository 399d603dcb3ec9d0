// Package instance manages instances: the running copies of the vendor's
// software, each with the license it is entitled by.
package instance

import (
	"context"
	"time"

	"github.com/entitled/entitled/ent"
	"github.com/entitled/entitled/ent/license"
	"github.com/entitled/entitled/internal/apperr"
	"github.com/entitled/entitled/internal/catalog"
	"github.com/entitled/entitled/internal/platform/store"
	"github.com/entitled/entitled/internal/tenant"
	"github.com/entitled/entitled/internal/validate"
)

// TrialPeriod is how long a TRIAL instance without expiresAt runs.
const TrialPeriod = 30 * 24 * time.Hour

// Service creates, changes and deletes instances of the caller's organization.
type Service struct {
	db      *ent.Client
	now     func() time.Time
	changed func(orgID string)
}

// New returns a fleet service; now is the clock, changed (may be nil) is
// called after each committed change.
func New(db *store.DB, now func() time.Time, changed func(orgID string)) *Service {
	if changed == nil {
		changed = func(string) {}
	}
	return &Service{db: db.Client, now: now, changed: changed}
}

func (s *Service) tx(ctx context.Context, fn func(tx *ent.Tx) error) error {
	if err := store.WithTx(ctx, s.db, fn); err != nil {
		return err
	}
	s.changed(tenant.FromContext(ctx).OrgID)
	return nil
}

func checkFields(name, slug *string, metadata map[string]any, startsAt, expiresAt *time.Time) error {
	if err := validate.Names(name, slug); err != nil {
		return err
	}
	if err := validate.Time("startsAt", startsAt); err != nil {
		return err
	}
	if err := validate.Time("expiresAt", expiresAt); err != nil {
		return err
	}
	return validate.JSONObject("metadata", metadata)
}

// CreateInstance creates an instance. Without a licenseID it gets the
// organization's default license; a TRIAL license without expiresAt gives
// 30 days from startsAt.
func (s *Service) CreateInstance(ctx context.Context, in ent.CreateInstanceInput) (*ent.Instance, error) {
	if err := checkFields(&in.Name, &in.Slug, in.Metadata, in.StartsAt, in.ExpiresAt); err != nil {
		return nil, err
	}
	var out *ent.Instance
	err := s.tx(ctx, func(tx *ent.Tx) error {
		var lic *ent.License
		var err error
		if in.LicenseID == nil {
			lic, err = catalog.DefaultLicense(ctx, tx.Client())
			if err != nil {
				return err
			}
			if lic == nil {
				return apperr.Invalid("licenseID", "is required: the organization has no default license")
			}
			in.LicenseID = &lic.ID
		} else if lic, err = s.license(ctx, tx, *in.LicenseID); err != nil {
			return err
		}
		if in.StartsAt == nil {
			t := s.now().UTC()
			in.StartsAt = &t
		}
		in.StartsAt, in.ExpiresAt = storable(in.StartsAt), storable(in.ExpiresAt)
		if in.ExpiresAt == nil && lic.Type == license.TypeTRIAL {
			t := in.StartsAt.Add(TrialPeriod)
			in.ExpiresAt = &t
		}
		if in.ExpiresAt != nil && !in.ExpiresAt.After(*in.StartsAt) {
			return apperr.Invalid("expiresAt", "must be after startsAt")
		}
		if in.Metadata == nil {
			in.Metadata = map[string]any{}
		}
		inst, err := tx.Instance.Create().SetInput(in).Save(ctx)
		if err != nil {
			return store.TranslateSlug(err, "instance", &in.Slug)
		}
		out = inst
		return nil
	})
	return store.Unwrap(out, err)
}

// UpdateInstance changes an instance.
func (s *Service) UpdateInstance(ctx context.Context, id string, in ent.UpdateInstanceInput) (*ent.Instance, error) {
	if err := checkFields(in.Name, in.Slug, in.Metadata, in.StartsAt, in.ExpiresAt); err != nil {
		return nil, err
	}
	in.StartsAt, in.ExpiresAt = storable(in.StartsAt), storable(in.ExpiresAt)
	var out *ent.Instance
	err := s.tx(ctx, func(tx *ent.Tx) error {
		inst, err := tx.Instance.Get(ctx, id)
		if err != nil {
			return store.Translate(err, "instance")
		}
		if err := validate.SameSlug(inst.Slug, in.Slug); err != nil {
			return err
		}
		var lic *ent.License
		switch {
		case in.LicenseID != nil:
			if lic, err = s.license(ctx, tx, *in.LicenseID); err != nil {
				return err
			}
		case !in.ClearLicense && inst.LicenseID != nil:
			if lic, err = tx.License.Get(ctx, *inst.LicenseID); err != nil {
				return err
			}
		}
		startsAt := inst.StartsAt
		if in.StartsAt != nil {
			startsAt = *in.StartsAt
		}
		expiresAt := inst.ExpiresAt
		if in.ClearExpiresAt {
			expiresAt = nil
		}
		if in.ExpiresAt != nil {
			expiresAt = in.ExpiresAt
		}
		if expiresAt == nil && lic != nil && lic.Type == license.TypeTRIAL {
			t := startsAt.Add(TrialPeriod)
			in.ExpiresAt, in.ClearExpiresAt, expiresAt = &t, false, &t
		}
		if expiresAt != nil && !expiresAt.After(startsAt) {
			return apperr.Invalid("expiresAt", "must be after startsAt")
		}
		inst, err = tx.Instance.UpdateOne(inst).SetInput(in).Save(ctx)
		if err != nil {
			return store.TranslateSlug(err, "instance", in.Slug)
		}
		out = inst
		return nil
	})
	return store.Unwrap(out, err)
}

// DeleteInstance deletes an instance.
func (s *Service) DeleteInstance(ctx context.Context, id string) (string, error) {
	err := s.tx(ctx, func(tx *ent.Tx) error {
		return store.Translate(tx.Instance.DeleteOneID(id).Exec(ctx), "instance")
	})
	return id, err
}

// license loads a license of the caller's organization for an instance.
func (s *Service) license(ctx context.Context, tx *ent.Tx, id string) (*ent.License, error) {
	lic, err := tx.License.Get(ctx, id)
	if err != nil {
		e := store.Translate(err, "license")
		if ae, ok := apperr.As(e); ok {
			ae.Field = "licenseID"
		}
		return nil, e
	}
	return lic, nil
}

// storable truncates a time to the microseconds PostgreSQL keeps. Left to
// the database, it would round: an instance created "now" would start a
// fraction of a microsecond in the future.
func storable(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.UTC().Truncate(time.Microsecond)
	return &v
}
