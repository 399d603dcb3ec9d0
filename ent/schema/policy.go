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

// OrgPolicy is an organization's custom Rego module. (ent reserves the
// name Policy; the API's mutations are still createPolicy and friends.) Active modules are
// compiled with the default policy into the organization's decision query.
type OrgPolicy struct{ ent.Schema }

// Mixin implements ent.Schema.
func (OrgPolicy) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("pol"), TenantMixin{}, TimeMixin{}}
}

// Fields implements ent.Schema.
func (OrgPolicy) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200).Annotations(entgql.OrderField("NAME")),
		field.Text("module").NotEmpty().Comment("the Rego source"),
		field.Text("tests").Optional().Default("").Comment("a companion Rego test module"),
		field.Int("version").Default(1).Positive().
			Annotations(entgql.OrderField("VERSION"), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		field.Bool("active").Default(false),
		field.JSON("last_test_result", map[string]any{}).Optional().
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
	}
}

// Edges implements ent.Schema.
func (OrgPolicy) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("revisions", PolicyRevision.Type).
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
	}
}

// Indexes implements ent.Schema.
func (OrgPolicy) Indexes() []ent.Index {
	return []ent.Index{index.Fields("organization_id", "name").Unique()}
}

// Annotations implements ent.Schema.
func (OrgPolicy) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.QueryField("policies"),
		entgql.RelayConnection(),
	}
}

// PolicyRevision keeps the source of every earlier version of a policy.
type PolicyRevision struct{ ent.Schema }

// Mixin implements ent.Schema.
func (PolicyRevision) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("pr"), TenantMixin{}}
}

// Fields implements ent.Schema.
func (PolicyRevision) Fields() []ent.Field {
	return []ent.Field{
		field.String("policy_id").Immutable().Annotations(entgql.Skip()),
		field.Int("version").Immutable(),
		field.Text("module").Immutable(),
		field.Bool("active").Immutable(),
		field.Time("created_at").Immutable().Default(timeNow),
	}
}

// Edges implements ent.Schema.
func (PolicyRevision) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("policy", OrgPolicy.Type).Ref("revisions").Field("policy_id").Unique().Required().Immutable(),
	}
}

// Indexes implements ent.Schema.
func (PolicyRevision) Indexes() []ent.Index {
	return []ent.Index{index.Fields("organization_id", "policy_id", "version").Unique()}
}
