package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/entitled/entitled/ent/schema/pulid"
	"github.com/entitled/entitled/internal/catalog/terms"
)

// LicenseVersion is the immutable snapshot of a license's terms at one
// version: what it granted then.
type LicenseVersion struct{ ent.Schema }

// Mixin implements ent.Schema.
func (LicenseVersion) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("lv"), TenantMixin{}}
}

// Fields implements ent.Schema.
func (LicenseVersion) Fields() []ent.Field {
	return []ent.Field{
		field.String("license_id").Immutable().Annotations(entgql.Skip()),
		field.Int("version").Immutable().Positive().Annotations(entgql.OrderField("VERSION")),
		field.String("license_type").Immutable().Annotations(entgql.Skip()),
		field.Bool("is_active").Immutable(),
		field.JSON("terms", []terms.Term{}).Immutable().Annotations(entgql.Skip()),
		field.String("change").Immutable().Default("").
			Comment("what changed from the previous version, for people"),
		field.Time("created_at").Immutable().Default(timeNow).Annotations(entgql.OrderField("CREATED_AT")),
		// Who made the version (the actor of its event in the trail);
		// null on versions made before authors were recorded.
		field.Enum("changed_by_type").Values("API_KEY", "OPERATOR", "SYSTEM").Immutable().Optional().Nillable().
			Comment("who made this version: an API key, the operator, or the system; null before authors were recorded"),
		field.String("changed_by_id").Immutable().Optional().Nillable().
			Comment("the API key that made this version, if one did"),
		field.String("changed_by_name").Immutable().Optional().Nillable().
			Comment("that API key's name when it made this version"),
	}
}

// Edges implements ent.Schema.
func (LicenseVersion) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("license", License.Type).Ref("versions").
			Field("license_id").Unique().Required().Immutable(),
	}
}

// Indexes implements ent.Schema.
func (LicenseVersion) Indexes() []ent.Index {
	return []ent.Index{index.Fields("organization_id", "license_id", "version").Unique()}
}

// Annotations implements ent.Schema.
func (LicenseVersion) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection(), entgql.Skip(entgql.SkipWhereInput)}
}
