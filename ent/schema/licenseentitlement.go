package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/entitled/entitled/ent/schema/pulid"
)

// LicenseEntitlement links a license to an entitlement with the value it
// grants: {"type":"number","value":1000} and its kin.
type LicenseEntitlement struct{ ent.Schema }

// Mixin implements ent.Schema.
func (LicenseEntitlement) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("le"), TenantMixin{}, TimeMixin{}}
}

// Fields implements ent.Schema.
func (LicenseEntitlement) Fields() []ent.Field {
	return []ent.Field{
		field.String("license_id").Immutable().Annotations(entgql.Skip()),
		field.String("entitlement_id").Immutable().Annotations(entgql.Skip()),
		field.JSON("value", map[string]any{}),
		field.Float("overage_percent").Optional().Nillable().Min(0),
	}
}

// Edges implements ent.Schema.
func (LicenseEntitlement) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("license", License.Type).Ref("entitlements").
			Field("license_id").Unique().Required().Immutable(),
		edge.From("entitlement", Entitlement.Type).Ref("grants").
			Field("entitlement_id").Unique().Required().Immutable(),
	}
}

// Indexes implements ent.Schema.
func (LicenseEntitlement) Indexes() []ent.Index {
	return []ent.Index{index.Fields("organization_id", "license_id", "entitlement_id").Unique()}
}

// Annotations implements ent.Schema.
func (LicenseEntitlement) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipWhereInput, entgql.SkipOrderField)}
}
