package resolvers

import (
	"context"

	"github.com/entitled/entitled/ent/apikey"
	"github.com/entitled/entitled/ent/entitlement"
	"github.com/entitled/entitled/ent/instance"
	"github.com/entitled/entitled/ent/license"
	"github.com/entitled/entitled/ent/licenseentitlement"
	"github.com/entitled/entitled/ent/licenseversion"
	"github.com/entitled/entitled/ent/organization"
	"github.com/entitled/entitled/ent/orgpolicy"
	"github.com/entitled/entitled/ent/policyrevision"
	"github.com/entitled/entitled/ent/schema/pulid"
	"github.com/entitled/entitled/ent/thresholdevent"
	"github.com/entitled/entitled/ent/usageevent"
	"github.com/entitled/entitled/graph/model"
	"github.com/entitled/entitled/internal/apperr"
	"github.com/entitled/entitled/internal/tenant"
)

// maxNodes bounds nodes(ids:).
const maxNodes = 100

// tables maps an ID prefix to the table holding that type.
var tables = map[string]string{
	"org": organization.Table,
	"key": apikey.Table,
	"lic": license.Table,
	"lv":  licenseversion.Table,
	"ent": entitlement.Table,
	"le":  licenseentitlement.Table,
	"ins": instance.Table,
	"ue":  usageevent.Table,
	"te":  thresholdevent.Table,
	"pol": orgpolicy.Table,
	"pr":  policyrevision.Table,
}

// nodeType resolves which table an opaque ID belongs to from its prefix.
func nodeType(_ context.Context, id string) (string, error) {
	if t, ok := tables[pulid.Prefix(id)]; ok {
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
