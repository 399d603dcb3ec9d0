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
	"github.com/entitled/entitled/internal/events"
	"github.com/entitled/entitled/internal/platform/changefeed"
	"github.com/entitled/entitled/internal/platform/store"
	"github.com/entitled/entitled/internal/tenant"
	"github.com/entitled/entitled/internal/validate"
)

// TrialPeriod is how long a TRIAL instance without expiresAt runs.
const TrialPeriod = 30 * 24 * time.Hour

// Service creates, changes and deletes instances of the caller's organization.
type Service struct {
	db     *ent.Client
	now    func() time.Time
	feed   *changefeed.Feed
	events *events.Log
}

// New returns a fleet service; now is the clock, feed carries each change
// to every process's caches, log records each change in the
// organization's event log.
func New(db *store.DB, now func() time.Time, feed *changefeed.Feed, log *events.Log) *Service {
	return &Service{db: db.Client, now: now, feed: feed, events: log}
}

// record appends the event of an instance created (before nil), updated
// or deleted (after nil), as the last write of the transaction; an update
// that changed nothing records none.
func (s *Service) record(ctx context.Context, tx *ent.Tx, action string, before, after *ent.Instance) error {
	c := events.EntityChange(action, "INSTANCE", before, after, func(i *ent.Instance) (string, string) { return i.ID, i.Slug })
	if before != nil && after != nil && c.Noop() {
		return nil
	}
	_, err := s.events.Append(ctx, tx, c)
	return err
}

// tx runs fn in a transaction of the caller's organization and publishes
// the instance change fn returns inside it.
func (s *Service) tx(ctx context.Context, fn func(tx *ent.Tx) (*changefeed.Change, error)) error {
	return changefeed.InTx(ctx, s.feed, tenant.FromContext(ctx).OrgID, func(ctx context.Context, fn func(*ent.Tx) error) error {
		return store.WithTx(ctx, s.db, fn)
	}, fn)
}

// changed is the change of one instance (cached by slug elsewhere).
func changed(inst *ent.Instance) *changefeed.Change {
	return &changefeed.Change{Kind: changefeed.KindInstance, IDs: []string{inst.ID}, Slugs: []string{inst.Slug}}
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
	err := s.tx(ctx, func(tx *ent.Tx) (*changefeed.Change, error) {
		var lic *ent.License
		var err error
		if in.LicenseID == nil {
			lic, err = catalog.DefaultLicense(ctx, tx.Client())
			if err != nil {
				return nil, err
			}
			if lic == nil {
				return nil, apperr.Invalid("licenseID", "is required: the organization has no default license")
			}
			in.LicenseID = &lic.ID
		} else if lic, err = s.license(ctx, tx, *in.LicenseID); err != nil {
			return nil, err
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
			return nil, apperr.Invalid("expiresAt", "must be after startsAt")
		}
		if in.Metadata == nil {
			in.Metadata = map[string]any{}
		}
		inst, err := tx.Instance.Create().SetInput(in).Save(ctx)
		if err != nil {
			return nil, store.TranslateSlug(err, "instance", &in.Slug)
		}
		if err := s.record(ctx, tx, "instance.created", nil, inst); err != nil {
			return nil, err
		}
		out = inst
		return changed(inst), nil
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
	err := s.tx(ctx, func(tx *ent.Tx) (*changefeed.Change, error) {
		inst, err := tx.Instance.Get(ctx, id)
		if err != nil {
			return nil, store.Translate(err, "instance")
		}
		if err := validate.SameSlug(inst.Slug, in.Slug); err != nil {
			return nil, err
		}
		var lic *ent.License
		switch {
		case in.LicenseID != nil:
			if lic, err = s.license(ctx, tx, *in.LicenseID); err != nil {
				return nil, err
			}
		case !in.ClearLicense && inst.LicenseID != nil:
			if lic, err = tx.License.Get(ctx, *inst.LicenseID); err != nil {
				return nil, err
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
			return nil, apperr.Invalid("expiresAt", "must be after startsAt")
		}
		before := inst
		inst, err = tx.Instance.UpdateOne(inst).SetInput(in).Save(ctx)
		if err != nil {
			return nil, store.TranslateSlug(err, "instance", in.Slug)
		}
		if err := s.record(ctx, tx, "instance.updated", before, inst); err != nil {
			return nil, err
		}
		out = inst
		c := changed(inst)
		if before.Slug != inst.Slug {
			c.Slugs = append(c.Slugs, before.Slug)
		}
		return c, nil
	})
	return store.Unwrap(out, err)
}

// DeleteInstance deletes an instance.
func (s *Service) DeleteInstance(ctx context.Context, id string) (string, error) {
	err := s.tx(ctx, func(tx *ent.Tx) (*changefeed.Change, error) {
		inst, err := tx.Instance.Get(ctx, id)
		if err != nil {
			return nil, store.Translate(err, "instance")
		}
		if err := tx.Instance.DeleteOne(inst).Exec(ctx); err != nil {
			return nil, store.Translate(err, "instance")
		}
		if err := s.record(ctx, tx, "instance.deleted", inst, nil); err != nil {
			return nil, err
		}
		return changed(inst), nil
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
