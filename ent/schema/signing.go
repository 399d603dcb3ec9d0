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

// SigningKey is one of an organization's Ed25519 keys for license files.
// The private half is stored sealed under the master key (AES-256-GCM) and
// never leaves the server; retired keys no longer sign but stay in the
// organization's JWKS so the files they signed keep verifying.
type SigningKey struct{ ent.Schema }

// Mixin implements ent.Schema.
func (SigningKey) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("sgk"), TenantMixin{}}
}

// Fields implements ent.Schema.
func (SigningKey) Fields() []ent.Field {
	hidden := entgql.Skip(entgql.SkipAll)
	return []ent.Field{
		field.String("kid").Immutable().NotEmpty().
			Comment("RFC 7638 thumbprint of the public JWK"),
		field.String("algorithm").Immutable().Default("EdDSA"),
		field.String("public_key").Immutable().NotEmpty().
			Comment("the JWK's x: unpadded base64url of the 32-byte public key"),
		field.String("sealed_private_key").Immutable().Sensitive().NotEmpty().
			Comment("the seed sealed under the master key").
			Annotations(hidden),
		field.Enum("status").Values("CURRENT", "RETIRED").Default("CURRENT"),
		field.Time("created_at").Immutable().Default(timeNow),
		field.Time("retired_at").Optional().Nillable(),
	}
}

// Indexes implements ent.Schema.
func (SigningKey) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("organization_id", "kid").Unique(),
		index.Fields("organization_id", "status"),
	}
}

// Annotations implements ent.Schema.
func (SigningKey) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipWhereInput, entgql.SkipOrderField)}
}

// IssuedLicenseFile records a license file signed for an instance: when,
// by whom, with which key and until when. The certificate is kept (it is
// signed public data, not a secret) so an unchanged instance gets the same
// file back; facts_sha256 names the facts it signed, iat and exp aside.
type IssuedLicenseFile struct{ ent.Schema }

// Mixin implements ent.Schema.
func (IssuedLicenseFile) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("lcf"), TenantMixin{}}
}

// Fields implements ent.Schema.
func (IssuedLicenseFile) Fields() []ent.Field {
	hidden := entgql.Skip(entgql.SkipAll)
	return []ent.Field{
		field.String("instance_id").Immutable().Annotations(entgql.Skip()),
		field.String("kid").Immutable().NotEmpty(),
		field.Time("issued_at").Immutable(),
		field.Time("expires_at").Immutable(),
		field.String("issued_by_id").Immutable().Optional().Nillable().Annotations(entgql.Type("ID")),
		field.String("issued_by_name").Immutable().Optional().Nillable(),
		field.Bool("include_policies").Immutable().Default(false),
		field.Text("certificate").Immutable().NotEmpty(),
		field.String("sha256").Immutable().NotEmpty().Comment("hex SHA-256 of the certificate"),
		field.String("facts_sha256").Immutable().NotEmpty().Annotations(hidden),
	}
}

// Edges implements ent.Schema.
func (IssuedLicenseFile) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("instance", Instance.Type).Ref("license_files").Field("instance_id").
			Unique().Required().Immutable(),
	}
}

// Indexes implements ent.Schema.
func (IssuedLicenseFile) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("instance_id", "issued_at"),
	}
}

// Annotations implements ent.Schema.
func (IssuedLicenseFile) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipWhereInput, entgql.SkipOrderField)}
}
