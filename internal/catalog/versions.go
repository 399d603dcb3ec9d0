package catalog

import (
	"context"
	"sort"

	"github.com/entitled/entitled/ent"
	"github.com/entitled/entitled/ent/licenseentitlement"
	"github.com/entitled/entitled/ent/licenseversion"
	"github.com/entitled/entitled/internal/catalog/terms"
	"github.com/entitled/entitled/internal/events"
)

// snapshot stores the license's current terms as the snapshot of its
// current version, with who made it (the caller: the same actor as the
// change's event). Callers hold the license row lock and have already set
// the new version.
func snapshot(ctx context.Context, tx *ent.Tx, l *ent.License, change string) error {
	links, err := tx.LicenseEntitlement.Query().
		Where(licenseentitlement.LicenseID(l.ID)).
		WithEntitlement().
		All(ctx)
	if err != nil {
		return err
	}
	ts := make([]terms.Term, 0, len(links))
	for _, le := range links {
		e := le.Edges.Entitlement
		ts = append(ts, terms.Term{
			EntitlementID:     e.ID,
			EntitlementSlug:   e.Slug,
			EntitlementType:   string(e.Type),
			Value:             le.Value,
			OveragePercent:    le.OveragePercent,
			MeterType:         optString(e.MeterType),
			AggregationMethod: optString(e.AggregationMethod),
			ResetPeriod:       optString(e.ResetPeriod),
		})
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].EntitlementSlug < ts[j].EntitlementSlug })
	by := events.ActorOf(ctx)
	return tx.LicenseVersion.Create().
		SetChangedByType(licenseversion.ChangedByType(by.Type)).
		SetNillableChangedByID(nonEmpty(by.ID)).
		SetNillableChangedByName(nonEmpty(by.Name)).
		SetOrganizationID(l.OrganizationID).
		SetLicenseID(l.ID).
		SetVersion(l.Version).
		SetLicenseType(string(l.Type)).
		SetIsActive(l.IsActive).
		SetTerms(ts).
		SetChange(change).
		Exec(ctx)
}

func optString[T ~string](v *T) *string {
	if v == nil {
		return nil
	}
	s := string(*v)
	return &s
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
