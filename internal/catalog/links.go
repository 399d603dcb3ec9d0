package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"github.com/entitled/entitled/ent"
	"github.com/entitled/entitled/ent/licenseentitlement"
	"github.com/entitled/entitled/internal/apperr"
	"github.com/entitled/entitled/internal/events"
	"github.com/entitled/entitled/internal/platform/changefeed"
	"github.com/entitled/entitled/internal/platform/store"
	"github.com/entitled/entitled/internal/validate"
	"github.com/entitled/entitled/policy"
)

// SetLinkInput creates or replaces the link between a license and an
// entitlement.
type SetLinkInput struct {
	LicenseID      string
	EntitlementID  string
	Value          map[string]any
	OveragePercent *float64
}

// SetLicenseEntitlement creates or replaces a link. A link whose value and
// overage do not change is returned as it is, without a new version.
func (s *Service) SetLicenseEntitlement(ctx context.Context, in SetLinkInput) (*ent.LicenseEntitlement, error) {
	var out *ent.LicenseEntitlement
	err := s.tx(ctx, func(tx *ent.Tx) (*changefeed.Change, error) {
		l, err := s.lockLicense(ctx, tx, in.LicenseID)
		if err != nil {
			return nil, withField(err, "licenseID")
		}
		e, err := tx.Entitlement.Get(ctx, in.EntitlementID)
		if err != nil {
			return nil, withField(store.Translate(err, "entitlement"), "entitlementID")
		}
		if obj, ok := in.Value["value"].(map[string]any); ok {
			if err := validate.JSONObject("value.value", obj); err != nil {
				return nil, err
			}
		}
		value, err := policy.NormalizeGrant(string(e.Type), in.Value, in.OveragePercent)
		if err != nil {
			var fe *policy.FieldError
			if errors.As(err, &fe) {
				return nil, apperr.Invalid(fe.Field, "%s", fe.Message)
			}
			return nil, err
		}
		existing, err := tx.LicenseEntitlement.Query().
			Where(licenseentitlement.LicenseID(l.ID), licenseentitlement.EntitlementID(e.ID)).
			Only(ctx)
		var change string
		var previous *ent.LicenseEntitlement // nil: a new link
		switch {
		case ent.IsNotFound(err):
			existing, err = tx.LicenseEntitlement.Create().
				SetLicenseID(l.ID).SetEntitlementID(e.ID).
				SetValue(value).SetNillableOveragePercent(in.OveragePercent).
				Save(ctx)
			if err != nil {
				return nil, store.Translate(err, "license entitlement")
			}
			change = fmt.Sprintf("added %s = %s", e.Slug, describeValue(value, in.OveragePercent))
		case err != nil:
			return nil, err
		case reflect.DeepEqual(existing.Value, value) && equalPtr(existing.OveragePercent, in.OveragePercent):
			out = existing
			return nil, nil
		default:
			previous = existing
			before := describeValue(existing.Value, existing.OveragePercent)
			upd := tx.LicenseEntitlement.UpdateOne(existing).SetValue(value)
			if in.OveragePercent != nil {
				upd.SetOveragePercent(*in.OveragePercent)
			} else {
				upd.ClearOveragePercent()
			}
			existing, err = upd.Save(ctx)
			if err != nil {
				return nil, store.Translate(err, "license entitlement")
			}
			change = fmt.Sprintf("changed %s: %s → %s", e.Slug, before, describeValue(value, in.OveragePercent))
		}
		if l, err = bump(ctx, tx, l, change); err != nil {
			return nil, err
		}
		c := linkChange("license_entitlement.set", l, e, existing)
		c.After = linkSnapshot(l, e, existing)
		if previous != nil {
			c.Before = linkSnapshot(l, e, previous)
		}
		if err := s.record(ctx, tx, c); err != nil {
			return nil, err
		}
		out = existing
		return changed(changefeed.KindLink, existing.ID), nil
	})
	return unwrap(out, err)
}

// RemoveLicenseEntitlement removes a link and bumps the license version.
func (s *Service) RemoveLicenseEntitlement(ctx context.Context, licenseID, entitlementID string) (*ent.License, error) {
	var out *ent.License
	err := s.tx(ctx, func(tx *ent.Tx) (*changefeed.Change, error) {
		l, err := s.lockLicense(ctx, tx, licenseID)
		if err != nil {
			return nil, withField(err, "licenseID")
		}
		link, err := tx.LicenseEntitlement.Query().
			Where(licenseentitlement.LicenseID(l.ID), licenseentitlement.EntitlementID(entitlementID)).
			WithEntitlement().
			Only(ctx)
		if err != nil {
			return nil, withField(store.Translate(err, "license entitlement"), "entitlementID")
		}
		if err := tx.LicenseEntitlement.DeleteOne(link).Exec(ctx); err != nil {
			return nil, store.Translate(err, "license entitlement")
		}
		if out, err = bump(ctx, tx, l, "removed "+link.Edges.Entitlement.Slug); err != nil {
			return nil, err
		}
		c := linkChange("license_entitlement.removed", out, link.Edges.Entitlement, link)
		c.Before = linkSnapshot(out, link.Edges.Entitlement, link)
		if err := s.record(ctx, tx, c); err != nil {
			return nil, err
		}
		return changed(changefeed.KindLink, link.ID), nil
	})
	return unwrap(out, err)
}

// bump raises the license version by one and snapshots the new terms;
// it returns the license at its new version.
func bump(ctx context.Context, tx *ent.Tx, l *ent.License, change string) (*ent.License, error) {
	l, err := tx.License.UpdateOne(l).AddVersion(1).Save(ctx)
	if err != nil {
		return nil, store.Translate(err, "license")
	}
	return l, snapshot(ctx, tx, l, change)
}

// linkChange is the event of a link set or removed, with the license's
// new version (the caller fills in before and after). The resource's slug
// names both ends ("gold/api-calls").
func linkChange(action string, l *ent.License, e *ent.Entitlement, link *ent.LicenseEntitlement) events.Change {
	return events.Change{Action: action, ResourceType: "LICENSE_ENTITLEMENT", ResourceID: link.ID,
		ResourceSlug: l.Slug + "/" + e.Slug, LicenseVersion: &l.Version}
}

// linkSnapshot is a link's fields with the slugs of both ends, so the
// trail reads without looking them up.
func linkSnapshot(l *ent.License, e *ent.Entitlement, link *ent.LicenseEntitlement) map[string]any {
	m := events.Snapshot(link)
	m["licenseSlug"], m["entitlementSlug"] = l.Slug, e.Slug
	return m
}

func withField(err error, field string) error {
	if e, ok := apperr.As(err); ok && e.Field == "" {
		c := *e
		c.Field = field
		return &c
	}
	return err
}

func equalPtr(a, b *float64) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func describeValue(v map[string]any, overage *float64) string {
	b, _ := json.Marshal(v["value"])
	s := string(b)
	if n, ok := v["value"].(float64); ok && n == policy.Unlimited {
		s = "unlimited"
	}
	if overage != nil {
		s += fmt.Sprintf(" (+%g%% overage)", *overage)
	}
	return s
}
