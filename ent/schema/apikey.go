package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/entitled/entitled/ent/schema/pulid"
	"github.com/entitled/entitled/internal/tenant"
)

// APIKey is a bearer credential of one organization. Only a hash of the
// secret is stored; the secret is shown once, at creation.
type APIKey struct{ ent.Schema }

// Mixin implements ent.Schema.
func (APIKey) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("key"), TenantMixin{}, TimeMixin{}}
}

// Fields implements ent.Schema.
func (APIKey) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200),
		field.String("prefix").Immutable().NotEmpty().
			Comment("first characters of the secret, so people can tell keys apart"),
		field.String("secret_hash").Immutable().Sensitive().NotEmpty(),
		field.JSON("scopes", []tenant.Scope{}).
			Annotations(entgql.Type("[APIKeyScope!]")),
		field.Time("expires_at").Optional().Nillable().Immutable(),
		field.Time("revoked_at").Optional().Nillable(),
		field.Time("last_used_at").Optional().Nillable().
			Comment("when the key last authenticated a request, to the minute (written at most once a minute per process)"),
	}
}

// Indexes implements ent.Schema.
func (APIKey) Indexes() []ent.Index {
	return []ent.Index{
		// Unique within the organization (a distributed database enforces
		// uniqueness only with the distribution column); secrets are random,
		// so no two organizations' hashes meet either.
		index.Fields("organization_id", "secret_hash").Unique(),
		// Authentication finds a key by its hash before it knows the
		// organization.
		index.Fields("secret_hash"),
	}
}

// Annotations implements ent.Schema.
func (APIKey) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.Type("APIKey"),
		entgql.Skip(entgql.SkipWhereInput, entgql.SkipOrderField),
	}
}
