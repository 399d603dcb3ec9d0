package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/entitled/entitled/ent/schema/pulid"
)

// Instance is one running copy of the vendor's software; it inherits the
// entitlements of its license.
type Instance struct{ ent.Schema }

// Mixin implements ent.Schema.
func (Instance) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("ins"), TenantMixin{}, TimeMixin{}}
}

// Fields implements ent.Schema.
func (Instance) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200).Annotations(entgql.OrderField("NAME")),
		slugField(),
		field.String("license_id").Optional().Nillable().Annotations(entgql.Skip()),
		field.Time("starts_at").Default(timeNow).Annotations(entgql.OrderField("STARTS_AT")),
		field.Time("expires_at").Optional().Nillable().Annotations(entgql.OrderField("EXPIRES_AT")),
		field.JSON("metadata", map[string]any{}).Optional(),
	}
}

// Edges implements ent.Schema.
func (Instance) Edges() []ent.Edge {
	return append([]ent.Edge{
		edge.From("license", License.Type).Ref("instances").Field("license_id").Unique(),
		edge.To("expiry_notices", ExpiryNotice.Type).
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.Skip(entgql.SkipAll)),
		edge.To("license_files", IssuedLicenseFile.Type).
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
	}, usageEdges(true)...)
}

// Indexes implements ent.Schema.
func (Instance) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("organization_id", "slug").Unique(),
		index.Fields("license_id"),
	}
}

// Annotations implements ent.Schema.
func (Instance) Annotations() []schema.Annotation {
	return connectionAnnotations(entgql.MutationCreate(), entgql.MutationUpdate())
}
