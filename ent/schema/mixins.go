// Package schema is the hand-written ent schema of entitled: every table,
// its invariants (unique keys, partial indexes, foreign-key behaviour) and
// the GraphQL annotations that drive the generated API.
package schema

import (
	"context"
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/sql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/mixin"

	"github.com/entitled/entitled/ent/intercept"
	"github.com/entitled/entitled/internal/tenant"
)

// TimeMixin adds created_at and updated_at.
type TimeMixin struct{ mixin.Schema }

// Fields implements ent.Mixin.
func (TimeMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Time("created_at").Immutable().Default(time.Now).
			Annotations(entgql.OrderField("CREATED_AT"), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		field.Time("updated_at").Default(time.Now).UpdateDefault(time.Now).
			Annotations(entgql.OrderField("UPDATED_AT"), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
	}
}

// TenantMixin confines a type to one organization. Reads are filtered to the
// caller's organization by an interceptor; creates get the caller's
// organization written by a hook whatever the input said (privacy filters do
// not guard inserts); updates and deletes are filtered like reads, so a row of
// another organization behaves exactly like a missing one.
type TenantMixin struct{ mixin.Schema }

// Fields implements ent.Mixin.
func (TenantMixin) Fields() []ent.Field {
	return []ent.Field{
		field.String("organization_id").Immutable().NotEmpty().
			Annotations(entgql.Skip()),
	}
}

// Edges implements ent.Mixin.
func (TenantMixin) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("organization", Organization.Type).
			Field("organization_id").Unique().Required().Immutable().
			Annotations(entgql.Skip()),
	}
}

type wherePer interface {
	WhereP(...func(*sql.Selector))
}

// Interceptors implements ent.Mixin.
func (TenantMixin) Interceptors() []ent.Interceptor {
	return []ent.Interceptor{
		intercept.TraverseFunc(func(ctx context.Context, q intercept.Query) error {
			return confine(ctx, q, "organization_id")
		}),
	}
}

// Hooks implements ent.Mixin.
func (TenantMixin) Hooks() []ent.Hook {
	return []ent.Hook{
		func(next ent.Mutator) ent.Mutator {
			return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
				v := tenant.FromContext(ctx)
				if m.Op().Is(ent.OpCreate) {
					if v.System {
						if _, ok := m.Field("organization_id"); !ok {
							return nil, tenant.ErrNoTenant
						}
						return next.Mutate(ctx, m)
					}
					if v.OrgID == "" {
						return nil, tenant.ErrNoTenant
					}
					if err := m.SetField("organization_id", v.OrgID); err != nil {
						return nil, err
					}
					return next.Mutate(ctx, m)
				}
				if err := confine(ctx, m, "organization_id"); err != nil {
					return nil, err
				}
				return next.Mutate(ctx, m)
			})
		},
	}
}

// confine adds "column = caller's organization" to a query or mutation.
func confine(ctx context.Context, target any, column string) error {
	v := tenant.FromContext(ctx)
	if v.System {
		return nil
	}
	if v.OrgID == "" {
		return tenant.ErrNoTenant
	}
	w, ok := target.(wherePer)
	if !ok {
		return tenant.ErrNoTenant
	}
	w.WhereP(sql.FieldEQ(column, v.OrgID))
	return nil
}

// Annotations shared by tenant-owned types exposed as Relay connections.
func connectionAnnotations(mutations ...entgql.MutationOption) []schema.Annotation {
	return []schema.Annotation{
		entgql.QueryField(),
		entgql.RelayConnection(),
		entgql.MultiOrder(),
		entgql.Mutations(mutations...),
	}
}
