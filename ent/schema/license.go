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

// License is the commercial and functional contract applied to instances.
type License struct{ ent.Schema }

// Mixin implements ent.Schema.
func (License) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("lic"), TenantMixin{}, TimeMixin{}}
}

// Fields implements ent.Schema.
func (License) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200).
			Annotations(entgql.OrderField("NAME")),
		slugField(),
		field.Enum("type").Values("COMMUNITY", "TRIAL", "DEVELOPMENT", "PAID").
			Annotations(entgql.OrderField("TYPE")),
		field.Int("version").Default(1).Positive().
			Comment("bumped by exactly one whenever the license's terms change").
			Annotations(entgql.OrderField("VERSION"), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		field.String("version_name").Optional().Nillable().MaxLen(100),
		field.Bool("is_active").Default(true),
		field.Bool("is_default").Default(false),
		field.String("description").Default("").MaxLen(10000),
	}
}

// Edges implements ent.Schema.
func (License) Edges() []ent.Edge {
	skipInputs := entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)
	return []ent.Edge{
		edge.To("entitlements", LicenseEntitlement.Type).
			Annotations(entsql.OnDelete(entsql.Cascade), skipInputs),
		edge.To("instances", Instance.Type).
			Annotations(entsql.OnDelete(entsql.Restrict), entgql.RelayConnection(), entgql.OrderField("INSTANCES_COUNT"), skipInputs),
		edge.To("versions", LicenseVersion.Type).
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.RelayConnection(), skipInputs),
	}
}

// Indexes implements ent.Schema.
func (License) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("organization_id", "slug").Unique(),
		// At most one default license per organization, held by the database.
		index.Fields("organization_id").Unique().
			Annotations(entsql.IndexWhere("is_default")).
			StorageKey("license_one_default_per_org"),
	}
}

// Annotations implements ent.Schema.
func (License) Annotations() []schema.Annotation {
	return connectionAnnotations(entgql.MutationCreate(), entgql.MutationUpdate())
}
