package resolvers

import (
	"context"

	"github.com/entitled/entitled/ent"
	"github.com/entitled/entitled/graph/model"
	"github.com/entitled/entitled/internal/apperr"
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
