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

// WebhookEndpoint is a URL that receives the organization's events,
// signed with its secret (Standard Webhooks). The secret is never exposed
// after creation or rotation; during a rotation the previous one signs
// beside it until previous_secret_expires_at.
type WebhookEndpoint struct{ ent.Schema }

// Mixin implements ent.Schema.
func (WebhookEndpoint) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("whe"), TenantMixin{}, TimeMixin{}}
}

// Fields implements ent.Schema.
func (WebhookEndpoint) Fields() []ent.Field {
	hidden := entgql.Skip(entgql.SkipAll)
	state := entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput, entgql.SkipWhereInput)
	return []ent.Field{
		field.String("url").NotEmpty().MaxLen(2048).Annotations(entgql.OrderField("URL")),
		field.String("description").Optional().Nillable().MaxLen(1000),
		field.Strings("event_types").Optional().
			Comment("actions or prefixes (license.*); empty: every event").
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
		field.Bool("enabled").Default(true),
		field.String("disabled_reason").Optional().Nillable().Annotations(state),
		field.String("secret").Sensitive().NotEmpty().Annotations(hidden),
		field.String("previous_secret").Sensitive().Optional().Nillable().Annotations(hidden),
		field.Time("previous_secret_expires_at").Optional().Nillable().Annotations(hidden),
		field.Time("last_success_at").Optional().Nillable().Annotations(state),
		field.Time("last_failure_at").Optional().Nillable().Annotations(state),
		field.Int("consecutive_failures").Default(0).Annotations(state),
	}
}

// Edges implements ent.Schema.
func (WebhookEndpoint) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("deliveries", WebhookDelivery.Type).
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.Skip(entgql.SkipAll)),
	}
}

// Annotations implements ent.Schema.
func (WebhookEndpoint) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.QueryField(),
		entgql.RelayConnection(),
		entgql.Mutations(entgql.MutationCreate(), entgql.MutationUpdate()),
	}
}

// WebhookDelivery is one event queued for one endpoint (the outbox row,
// written in the event's transaction) and the outcome of its latest
// attempt. The dispatcher claims a due delivery with a lease, so several
// replicas never send the same attempt twice.
type WebhookDelivery struct{ ent.Schema }

// Mixin implements ent.Schema.
func (WebhookDelivery) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("whd"), TenantMixin{}, TimeMixin{}}
}

// Fields implements ent.Schema.
func (WebhookDelivery) Fields() []ent.Field {
	hidden := entgql.Skip(entgql.SkipAll)
	noWhere := entgql.Skip(entgql.SkipWhereInput)
	return []ent.Field{
		field.String("endpoint_id").Immutable().Annotations(entgql.Skip()),
		field.String("event_id").Immutable().NotEmpty().
			Comment("the webhook-id header: the audit event's id, the same for every retry and replay").
			Annotations(entgql.Type("ID")),
		field.String("event_type").Immutable().NotEmpty(),
		field.Text("payload").Immutable().Comment("the request body, as sent").Annotations(noWhere),
		field.Enum("status").Values("PENDING", "SUCCEEDED", "FAILED", "GAVE_UP").Default("PENDING"),
		field.Int("attempts").Default(0).Annotations(noWhere),
		field.Int("response_status").Optional().Nillable().Annotations(noWhere),
		field.String("response_body").Optional().Nillable().Comment("the start of the last answer's body, bounded").Annotations(noWhere),
		field.String("last_error").Optional().Nillable().Annotations(noWhere),
		field.String("error_kind").Optional().Nillable().Comment("TIMEOUT, CONNECTION, DNS, TLS, BLOCKED, HTTP_STATUS").Annotations(noWhere),
		field.Int("duration_ms").Optional().Nillable().Annotations(noWhere),
		field.Time("next_attempt_at").Optional().Nillable().Annotations(noWhere),
		field.Time("delivered_at").Optional().Nillable().Annotations(noWhere),
		field.Time("lease_until").Optional().Nillable().Annotations(hidden),
		field.String("lease_owner").Optional().Nillable().Annotations(hidden),
	}
}

// Edges implements ent.Schema.
func (WebhookDelivery) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("endpoint", WebhookEndpoint.Type).Ref("deliveries").Field("endpoint_id").
			Unique().Required().Immutable().
			Annotations(entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
	}
}

// Indexes implements ent.Schema.
func (WebhookDelivery) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("status", "next_attempt_at"),
		index.Fields("endpoint_id", "created_at"),
		index.Fields("organization_id", "event_id"),
	}
}

// Annotations implements ent.Schema.
func (WebhookDelivery) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection()}
}
