package catalog

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/entitled/entitled/ent"
	"github.com/entitled/entitled/ent/entitlement"
	"github.com/entitled/entitled/ent/licenseentitlement"
	"github.com/entitled/entitled/internal/apperr"
	"github.com/entitled/entitled/internal/events"
	"github.com/entitled/entitled/internal/platform/changefeed"
	"github.com/entitled/entitled/internal/platform/store"
	"github.com/entitled/entitled/internal/validate"
)

// metering is the NUMBER-only part of an entitlement.
type metering struct {
	meter  *entitlement.MeterType
	agg    *entitlement.AggregationMethod
	period *entitlement.ResetPeriod
}

// check enforces that only NUMBER entitlements carry metering fields and
// fills NUMBER defaults: RAW_EVENT with SUM, CALCULATED_USAGE with LATEST,
// reset period NONE.
func (m *metering) check(typ entitlement.Type) error {
	if typ != entitlement.TypeNUMBER {
		for field, set := range map[string]bool{"meterType": m.meter != nil, "aggregationMethod": m.agg != nil, "resetPeriod": m.period != nil} {
			if set {
				return apperr.Invalid(field, "is only allowed on NUMBER entitlements, not %s", typ)
			}
		}
		return nil
	}
	if m.meter == nil {
		v := entitlement.MeterTypeRAW_EVENT
		m.meter = &v
	}
	if m.agg == nil {
		v := entitlement.AggregationMethodSUM
		if *m.meter == entitlement.MeterTypeCALCULATED_USAGE {
			v = entitlement.AggregationMethodLATEST
		}
		m.agg = &v
	}
	if m.period == nil {
		v := entitlement.ResetPeriodNONE
		m.period = &v
	}
	return nil
}

func validateEntitlement(name, slug, description *string) error {
	if err := validate.Names(name, slug); err != nil {
		return err
	}
	return validate.OptionalText("description", description, validate.MaxDescription)
}

// CreateEntitlement creates an entitlement; its type is fixed for life.
func (s *Service) CreateEntitlement(ctx context.Context, in ent.CreateEntitlementInput) (*ent.Entitlement, error) {
	if err := validateEntitlement(&in.Name, &in.Slug, in.Description); err != nil {
		return nil, err
	}
	m := metering{in.MeterType, in.AggregationMethod, in.ResetPeriod}
	if err := m.check(in.Type); err != nil {
		return nil, err
	}
	in.MeterType, in.AggregationMethod, in.ResetPeriod = m.meter, m.agg, m.period
	var out *ent.Entitlement
	err := s.tx(ctx, func(tx *ent.Tx) (*changefeed.Change, error) {
		e, err := tx.Entitlement.Create().SetInput(in).Save(ctx)
		if err != nil {
			return nil, store.TranslateSlug(err, "entitlement", &in.Slug)
		}
		if err := s.record(ctx, tx, entitlementChange("entitlement.created", nil, e)); err != nil {
			return nil, err
		}
		out = e
		return changed(changefeed.KindEntitlement, e.ID), nil
	})
	return unwrap(out, err)
}

// UpdateEntitlement changes an entitlement's names and metering.
func (s *Service) UpdateEntitlement(ctx context.Context, id string, in ent.UpdateEntitlementInput) (*ent.Entitlement, error) {
	if err := validateEntitlement(in.Name, in.Slug, in.Description); err != nil {
		return nil, err
	}
	var out *ent.Entitlement
	err := s.tx(ctx, func(tx *ent.Tx) (*changefeed.Change, error) {
		e, err := tx.Entitlement.Get(ctx, id)
		if err != nil {
			return nil, store.Translate(err, "entitlement")
		}
		if err := validate.SameSlug(e.Slug, in.Slug); err != nil {
			return nil, err
		}
		before := e
		if e.Type != entitlement.TypeNUMBER {
			m := metering{in.MeterType, in.AggregationMethod, in.ResetPeriod}
			if err := m.check(e.Type); err != nil {
				return nil, err
			}
		} else {
			for field, cleared := range map[string]bool{"clearMeterType": in.ClearMeterType, "clearAggregationMethod": in.ClearAggregationMethod, "clearResetPeriod": in.ClearResetPeriod} {
				if cleared {
					return nil, apperr.Invalid(field, "NUMBER entitlements always have a meter type, aggregation method and reset period; set another value instead")
				}
			}
		}
		e, err = tx.Entitlement.UpdateOne(e).SetInput(in).Save(ctx)
		if err != nil {
			return nil, store.TranslateSlug(err, "entitlement", in.Slug)
		}
		if change := meteringChange(before, e); change != "" {
			if err := s.bumpLinking(ctx, tx, e.ID, change); err != nil {
				return nil, err
			}
		}
		if c := entitlementChange("entitlement.updated", before, e); !c.Noop() {
			if err := s.record(ctx, tx, c); err != nil {
				return nil, err
			}
		}
		out = e
		return changed(changefeed.KindEntitlement, e.ID), nil
	})
	return unwrap(out, err)
}

// meteringChange describes how a NUMBER entitlement's metering changed
// ("" when it did not): a change of what every linking license grants.
func meteringChange(before, after *ent.Entitlement) string {
	var parts []string
	for _, f := range []struct {
		name string
		a, b string
	}{
		{"meter type", enumString(before.MeterType), enumString(after.MeterType)},
		{"aggregation", enumString(before.AggregationMethod), enumString(after.AggregationMethod)},
		{"reset period", enumString(before.ResetPeriod), enumString(after.ResetPeriod)},
	} {
		if f.a != f.b {
			parts = append(parts, fmt.Sprintf("%s %s → %s", f.name, f.a, f.b))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return after.Slug + " metering: " + strings.Join(parts, ", ")
}

func enumString[T ~string](v *T) string {
	if v == nil {
		return "none"
	}
	return string(*v)
}

// bumpLinking bumps, with a snapshot, the version of every license that
// links the entitlement, each under its row lock, in the caller's
// transaction.
func (s *Service) bumpLinking(ctx context.Context, tx *ent.Tx, entitlementID, change string) error {
	ids, err := tx.LicenseEntitlement.Query().
		Where(licenseentitlement.EntitlementID(entitlementID)).
		Select(licenseentitlement.FieldLicenseID).
		Strings(ctx)
	if err != nil {
		return fmt.Errorf("find licenses linking %s: %w", entitlementID, err)
	}
	sort.Strings(ids) // one lock order for every writer
	for _, id := range ids {
		l, err := s.lockLicense(ctx, tx, id)
		if err != nil {
			return err
		}
		if _, err := bump(ctx, tx, l, change); err != nil {
			return err
		}
	}
	return nil
}

// DeleteEntitlement deletes an entitlement no license links.
func (s *Service) DeleteEntitlement(ctx context.Context, id string) (string, error) {
	err := s.tx(ctx, func(tx *ent.Tx) (*changefeed.Change, error) {
		e, err := tx.Entitlement.Get(ctx, id)
		if err != nil {
			return nil, store.Translate(err, "entitlement")
		}
		n, err := tx.LicenseEntitlement.Query().Where(licenseentitlement.EntitlementID(e.ID)).Count(ctx)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			return nil, apperr.Conflictf("entitlement %q is linked to %d license(s); remove the links first", e.Slug, n)
		}
		if err := tx.Entitlement.DeleteOne(e).Exec(ctx); err != nil {
			return nil, store.Translate(err, "entitlement")
		}
		if err := s.record(ctx, tx, entitlementChange("entitlement.deleted", e, nil)); err != nil {
			return nil, err
		}
		return changed(changefeed.KindEntitlement, e.ID), nil
	})
	return id, err
}

// entitlementChange is the event of an entitlement created (before nil),
// updated or deleted (after nil).
func entitlementChange(action string, before, after *ent.Entitlement) events.Change {
	return events.EntityChange(action, "ENTITLEMENT", before, after, func(e *ent.Entitlement) (string, string) { return e.ID, e.Slug })
}
