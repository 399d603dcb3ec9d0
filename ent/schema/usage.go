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

// UsageEvent is one accepted usage report: the append-only ledger. It is
// never updated; the counter row of its period changes in the same
// transaction.
type UsageEvent struct{ ent.Schema }

// Mixin implements ent.Schema.
func (UsageEvent) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("ue"), TenantMixin{}}
}

// Fields implements ent.Schema.
func (UsageEvent) Fields() []ent.Field {
	return []ent.Field{
		field.String("instance_id").Immutable().Annotations(entgql.Skip()),
		field.String("entitlement_id").Immutable().Annotations(entgql.Skip()),
		field.Enum("kind").Values("REPORT", "CONSUME", "RESET").Immutable().
			Comment("RESET marks resetUsage: value 0, the reason and the usage before it in result"),
		field.Float("value").Immutable(),
		field.Time("timestamp").Immutable().Annotations(entgql.OrderField("TIMESTAMP")),
		field.Time("period_start").Immutable(),
		field.Time("recorded_at").Immutable().Default(timeNow).Annotations(entgql.OrderField("RECORDED_AT")),
		field.String("idempotency_key").Immutable().NotEmpty().MaxLen(255).
			Comment("the caller's key, or the event ID when none was given"),
		field.String("request_hash").Immutable().Sensitive().Annotations(entgql.Skip()),
		field.Float("aggregate").Immutable().
			Comment("the period's aggregated usage right after this report"),
		field.JSON("result", map[string]any{}).Immutable().Optional().Annotations(entgql.Skip()),
	}
}

// Edges implements ent.Schema.
func (UsageEvent) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("instance", Instance.Type).Ref("usage_events").Field("instance_id").Unique().Required().Immutable(),
		edge.From("entitlement", Entitlement.Type).Ref("usage_events").Field("entitlement_id").Unique().Required().Immutable(),
	}
}

// Indexes implements ent.Schema.
func (UsageEvent) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("organization_id", "idempotency_key").Unique(),
		index.Fields("instance_id", "entitlement_id", "timestamp"),
	}
}

// Annotations implements ent.Schema.
func (UsageEvent) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.QueryField("usageEvents"),
		entgql.RelayConnection(),
	}
}

// UsageCounter holds what every aggregation needs for one instance,
// entitlement and period, so a decision reads one row.
type UsageCounter struct{ ent.Schema }

// Mixin implements ent.Schema.
func (UsageCounter) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("uc"), TenantMixin{}}
}

// Fields implements ent.Schema.
func (UsageCounter) Fields() []ent.Field {
	return []ent.Field{
		field.String("instance_id").Immutable(),
		field.String("entitlement_id").Immutable(),
		field.Time("period_start").Immutable(),
		field.Int64("count").Default(0),
		field.Float("sum").Default(0),
		field.Float("min").Optional().Nillable(),
		field.Float("max").Optional().Nillable(),
		field.Float("latest").Optional().Nillable(),
		field.Time("latest_at").Optional().Nillable(),
		field.Time("reset_at").Optional().Nillable().
			Comment("set by resetUsage: reports dated before it do not count in this period"),
		field.Time("updated_at").Default(timeNow),
	}
}

// Edges implements ent.Schema.
func (UsageCounter) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("instance", Instance.Type).Ref("usage_counters").Field("instance_id").Unique().Required().Immutable(),
		edge.From("entitlement", Entitlement.Type).Ref("usage_counters").Field("entitlement_id").Unique().Required().Immutable(),
	}
}

// Indexes implements ent.Schema.
func (UsageCounter) Indexes() []ent.Index {
	return []ent.Index{index.Fields("organization_id", "instance_id", "entitlement_id", "period_start").Unique().
		StorageKey("usagecounter_org_instance_entitlement_period")}
}

// Annotations implements ent.Schema.
func (UsageCounter) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// ThresholdEvent records that an instance's usage crossed 80% of its
// limit, reached it, or passed the hard cap: one per crossing per period.
type ThresholdEvent struct{ ent.Schema }

// Mixin implements ent.Schema.
func (ThresholdEvent) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("te"), TenantMixin{}}
}

// Fields implements ent.Schema.
func (ThresholdEvent) Fields() []ent.Field {
	return []ent.Field{
		field.String("instance_id").Immutable().Annotations(entgql.Skip()),
		field.String("entitlement_id").Immutable().Annotations(entgql.Skip()),
		field.Enum("kind").Values("PERCENT_80", "LIMIT_REACHED", "HARD_CAP_EXCEEDED").Immutable(),
		field.Time("period_start").Immutable(),
		field.Float("usage").Immutable(),
		field.Float("limit").Immutable(),
		field.Float("hard_cap").Immutable(),
		field.Time("created_at").Immutable().Default(timeNow).Annotations(entgql.OrderField("CREATED_AT")),
	}
}

// Edges implements ent.Schema.
func (ThresholdEvent) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("instance", Instance.Type).Ref("threshold_events").Field("instance_id").Unique().Required().Immutable(),
		edge.From("entitlement", Entitlement.Type).Ref("threshold_events").Field("entitlement_id").Unique().Required().Immutable(),
	}
}

// Indexes implements ent.Schema.
func (ThresholdEvent) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("organization_id", "instance_id", "entitlement_id", "period_start", "kind").Unique().
			StorageKey("thresholdevent_org_instance_entitlement_period_kind"),
		index.Fields("organization_id", "created_at"),
	}
}

// Annotations implements ent.Schema.
func (ThresholdEvent) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.QueryField("thresholdEvents"),
		entgql.RelayConnection(),
	}
}

// usageEdges are the usage edges of instances and entitlements. Usage rows
// go when their instance goes.
func usageEdges(cascade bool) []ent.Edge {
	del := entsql.OnDelete(entsql.Cascade)
	if !cascade {
		del = entsql.OnDelete(entsql.Restrict)
	}
	skip := entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)
	return []ent.Edge{
		edge.To("usage_events", UsageEvent.Type).Annotations(del, entgql.RelayConnection(), skip),
		edge.To("usage_counters", UsageCounter.Type).Annotations(del, entgql.Skip(entgql.SkipAll)),
		edge.To("threshold_events", ThresholdEvent.Type).Annotations(del, entgql.RelayConnection(), skip),
	}
}
