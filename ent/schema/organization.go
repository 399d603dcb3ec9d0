package schema

import (
	"context"
	"errors"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"

	"github.com/entitled/entitled/ent/intercept"
	"github.com/entitled/entitled/ent/schema/pulid"
	"github.com/entitled/entitled/internal/tenant"
)

// Organization is the tenant: every other row belongs to exactly one.
type Organization struct{ ent.Schema }

// Mixin implements ent.Schema.
func (Organization) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("org"), TimeMixin{}}
}

// Fields implements ent.Schema.
func (Organization) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200),
		field.String("slug").NotEmpty().MaxLen(64).Unique(),
		field.Int("policy_version").Default(0).NonNegative().
			Comment("bumped by every change to the organization's policies; decisions report it").
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
	}
}

// Interceptors confine reads to the caller's own organization.
func (Organization) Interceptors() []ent.Interceptor {
	return []ent.Interceptor{
		intercept.TraverseFunc(func(ctx context.Context, q intercept.Query) error {
			return confine(ctx, q, "id")
		}),
	}
}

// Hooks allow only trusted internal code to write organizations.
func (Organization) Hooks() []ent.Hook {
	return []ent.Hook{
		func(next ent.Mutator) ent.Mutator {
			return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
				if !tenant.FromContext(ctx).System {
					return nil, errors.New("organization: writes require a system context")
				}
				return next.Mutate(ctx, m)
			})
		},
	}
}

// Annotations implements ent.Schema.
func (Organization) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipWhereInput, entgql.SkipOrderField)}
}
