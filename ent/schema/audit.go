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

// AuditEvent is one entry of an organization's event log: a change, who
// made it, the resource's fields before and after, chained to the previous
// entry by its hash. Rows are written by internal/events in the
// transaction of the change and never updated.
type AuditEvent struct{ ent.Schema }

// Mixin implements ent.Schema.
func (AuditEvent) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("evt"), TenantMixin{}}
}

// Fields implements ent.Schema.
func (AuditEvent) Fields() []ent.Field {
	noWhere := entgql.Skip(entgql.SkipWhereInput)
	return []ent.Field{
		field.Int64("seq").Immutable().Positive().Annotations(entgql.OrderField("SEQ")),
		field.String("action").Immutable().NotEmpty().MaxLen(64),
		field.String("resource_type").Immutable().NotEmpty().MaxLen(64),
		field.String("resource_id").Immutable().NotEmpty().MaxLen(64).
			Annotations(entgql.Type("ID")),
		field.String("resource_slug").Immutable().Optional().Nillable().MaxLen(200),
		field.Enum("actor_type").Values("API_KEY", "OPERATOR", "SYSTEM").Immutable(),
		field.String("actor_id").Immutable().Optional().Nillable().MaxLen(64),
		field.String("actor_name").Immutable().Optional().Nillable().MaxLen(200).Annotations(noWhere),
		field.JSON("before", map[string]any{}).Immutable().Optional().Annotations(entgql.Type("Map")),
		field.JSON("after", map[string]any{}).Immutable().Optional().Annotations(entgql.Type("Map")),
		field.Int("license_version").Immutable().Optional().Nillable().Annotations(noWhere),
		field.String("request_id").Immutable().Optional().Nillable().MaxLen(128),
		field.Time("occurred_at").Immutable().Annotations(entgql.OrderField("OCCURRED_AT")),
		field.String("prev_hash").Immutable().NotEmpty().Annotations(noWhere),
		field.String("hash").Immutable().NotEmpty().Annotations(noWhere),
	}
}

// Indexes implements ent.Schema.
func (AuditEvent) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("organization_id", "seq").Unique(),
		index.Fields("organization_id", "occurred_at"),
		index.Fields("organization_id", "resource_id"),
		index.Fields("organization_id", "action"),
	}
}

// Annotations implements ent.Schema.
func (AuditEvent) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.MultiOrder(),
	}
}

// AuditHead is the head of one organization's chain: the last event's seq
// and hash (every append locks this row, so one organization's changes
// serialise on it and different organizations never wait on each other),
// and where retention pruned the chain, the last pruned event's seq and
// hash, from which verification starts.
type AuditHead struct{ ent.Schema }

// Fields implements ent.Schema.
func (AuditHead) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").Immutable().NotEmpty().Comment("the organization's id"),
		field.Int64("seq").Default(0),
		field.String("hash"),
		field.Int64("pruned_seq").Default(0),
		field.String("pruned_hash"),
	}
}

// Annotations implements ent.Schema.
func (AuditHead) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// ExpiryNotice records that an instance.expiring event was sent for one
// instance, one expiry date and one lead time (30, 7 or 1 days), so the
// scheduler sends each once; a new expiry date gets new notices.
type ExpiryNotice struct{ ent.Schema }

// Mixin implements ent.Schema.
func (ExpiryNotice) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("exn"), TenantMixin{}}
}

// Fields implements ent.Schema.
func (ExpiryNotice) Fields() []ent.Field {
	return []ent.Field{
		field.String("instance_id").Immutable(),
		field.Time("expires_at").Immutable(),
		field.Int("days").Immutable(),
		field.Time("created_at").Immutable().Default(timeNow),
	}
}

// Edges implements ent.Schema.
func (ExpiryNotice) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("instance", Instance.Type).Ref("expiry_notices").Field("instance_id").Unique().Required().Immutable(),
	}
}

// Indexes implements ent.Schema.
func (ExpiryNotice) Indexes() []ent.Index {
	return []ent.Index{index.Fields("organization_id", "instance_id", "expires_at", "days").Unique()}
}

// Annotations implements ent.Schema.
func (ExpiryNotice) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
