package resolvers

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"github.com/entitled/entitled/ent"
	"github.com/entitled/entitled/graph/model"
	"github.com/entitled/entitled/internal/apperr"
	"github.com/entitled/entitled/internal/platform/store"
	"github.com/entitled/entitled/internal/tenant"
)

// maxNodes bounds nodes(ids:).
const maxNodes = 100

// nodeType resolves which table an opaque ID belongs to from its prefix,
// through the prefix map generated from the schema's pulid mixins.
func nodeType(_ context.Context, id string) (string, error) {
	if t, ok := ent.IDToTable(id); ok {
		return t, nil
	}
	return "", apperr.NotFoundf("node %q not found", id)
}

func (r *Resolver) viewer(ctx context.Context) (*model.Viewer, error) {
	v := tenant.FromContext(ctx)
	out := &model.Viewer{Scopes: v.Scopes, Operator: v.Operator}
	if out.Scopes == nil {
		out.Scopes = []tenant.Scope{}
	}
	if v.OrgID != "" {
		org, err := r.Client.Organization.Get(ctx, v.OrgID)
		if err != nil {
			return nil, err
		}
		out.Organization = org
	}
	if v.KeyID != "" {
		k, err := r.Client.APIKey.Get(ctx, v.KeyID)
		if err != nil {
			return nil, err
		}
		out.APIKey = k
	}
	return out, nil
}

// nodes resolves ids in order: an id that names nothing the caller may see
// answers null at its place, with a NOT_FOUND error at that index, as
// node(id) does for one.
func (r *Resolver) nodes(ctx context.Context, ids []string) ([]ent.Noder, error) {
	if len(ids) > maxNodes {
		return nil, apperr.Invalid("ids", "at most %d ids per call", maxNodes)
	}
	if len(ids) != 1 {
		// entgql's Noders reports each missing id at its index.
		return r.Client.Noders(ctx, ids, ent.WithNodeType(nodeType))
	}
	n, err := r.Client.Noder(ctx, ids[0], ent.WithNodeType(nodeType))
	if err != nil {
		err = store.Translate(err, "node")
		if ae, ok := apperr.As(err); !ok || ae.Code != apperr.NotFound {
			return nil, err
		}
		graphql.AddError(graphql.WithPathContext(ctx, graphql.NewPathWithIndex(0)), err)
		return []ent.Noder{nil}, nil
	}
	return []ent.Noder{n}, nil
}
