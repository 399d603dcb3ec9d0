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

// Entitlement is a usage right or quota; it grants nothing until a license
// links it with a value.
type Entitlement struct{ ent.Schema }

// Mixin implements ent.Schema.
func (Entitlement) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("ent"), TenantMixin{}, TimeMixin{}}
}

// Fields implements ent.Schema.
func (Entitlement) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200).Annotations(entgql.OrderField("NAME")),
		slugField(),
		field.String("description").Default("").MaxLen(10000),
		field.Enum("type").Values("BOOLEAN", "NUMBER", "CONFIG").Immutable().
			Annotations(entgql.OrderField("TYPE")),
		field.Enum("meter_type").Values("CALCULATED_USAGE", "RAW_EVENT").Optional().Nillable(),
		field.Enum("aggregation_method").Values("SUM", "COUNT", "AVERAGE", "MAX", "MIN", "LATEST").Optional().Nillable(),
		field.Enum("reset_period").Values("NONE", "HOUR", "DAY", "WEEK", "MONTH", "YEAR").Optional().Nillable(),
	}
}

// Edges implements ent.Schema.
func (Entitlement) Edges() []ent.Edge {
	return []ent.Edge{
		// The links that grant this entitlement. An entitlement still linked
		// to a license cannot be deleted.
		edge.To("grants", LicenseEntitlement.Type).
			Annotations(entsql.OnDelete(entsql.Restrict), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		// Usage keeps an entitlement alive: its ledger must stay readable.
		edge.To("usage_events", UsageEvent.Type).Annotations(entsql.OnDelete(entsql.Restrict), entgql.Skip(entgql.SkipAll)),
		edge.To("usage_counters", UsageCounter.Type).Annotations(entsql.OnDelete(entsql.Restrict), entgql.Skip(entgql.SkipAll)),
		edge.To("threshold_events", ThresholdEvent.Type).Annotations(entsql.OnDelete(entsql.Restrict), entgql.Skip(entgql.SkipAll)),
	}
}

// Indexes implements ent.Schema.
func (Entitlement) Indexes() []ent.Index {
	return []ent.Index{index.Fields("organization_id", "slug").Unique()}
}

// Annotations implements ent.Schema.
func (Entitlement) Annotations() []schema.Annotation {
	return connectionAnnotations(entgql.MutationCreate(), entgql.MutationUpdate())
}
