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
	return []ent.Index{index.Fields("license_id", "version").Unique()}
}

// Annotations implements ent.Schema.
func (LicenseVersion) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection(), entgql.Skip(entgql.SkipWhereInput)}
}
