package httpapi

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/entitled/entitled/internal/apperr"
	"github.com/entitled/entitled/internal/tenant"
)

var (
	anyScope   = []tenant.Scope{tenant.ScopeAdmin, tenant.ScopeRead, tenant.ScopeCheck}
	readScopes = []tenant.Scope{tenant.ScopeAdmin, tenant.ScopeRead}
	checkScope = []tenant.Scope{tenant.ScopeAdmin, tenant.ScopeCheck}
	adminScope = []tenant.Scope{tenant.ScopeAdmin}
)

// rootFieldScopes says which scopes may call a root field. Fields not
// listed fall back to: queries need ADMIN or READ, mutations need ADMIN.
// This table is the whole authorisation policy of the GraphQL API.
var rootFieldScopes = map[string][]tenant.Scope{
	"Query.viewer":              anyScope,
	"Query.apiKeys":             adminScope,
	"Query.allowed":             checkScope,
	"Query.decisions":           checkScope,
	"Query.explainDecision":     checkScope,
	"Mutation.reportUsage":      checkScope,
	"Mutation.reportUsageBatch": checkScope,
	"Mutation.consumeUsage":     checkScope,
	// Policy tooling runs callers' Rego: work for an administrator, each
	// request within its own evaluation budget.
	"Query.validatePolicy": adminScope,
	"Query.testPolicy":     adminScope,
	"Query.evaluatePolicy": adminScope,
	"Query.previewPolicy":  adminScope,
}

// operatorFields are all the operator token may call.
var operatorFields = map[string]bool{
	"Query.viewer":                true,
	"Mutation.createOrganization": true,
}

func authorizeRootField(ctx context.Context, next graphql.RootResolver) graphql.Marshaler {
	fc := graphql.GetRootFieldContext(ctx)
	if fc == nil {
		return next(ctx)
	}
	if len(fc.Field.Name) > 2 && fc.Field.Name[:2] == "__" {
		return next(ctx) // introspection
	}
	object := "Query"
	if oc := graphql.GetOperationContext(ctx); oc != nil && oc.Operation != nil && oc.Operation.Operation == ast.Mutation {
		object = "Mutation"
	}
	name := object + "." + fc.Field.Name
	if err := allowedScopes(tenant.FromContext(ctx), name, object); err != nil {
		graphql.AddError(ctx, err)
		return graphql.Null
	}
	return next(ctx)
}

func allowedScopes(v tenant.Viewer, name, object string) error {
	if v.Operator {
		if operatorFields[name] {
			return nil
		}
		return apperr.Forbiddenf("the operator token may only create organizations; use an organization's API key for %s", name)
	}
	if name == "Mutation.createOrganization" {
		return apperr.Forbiddenf("only the operator token may create organizations")
	}
	scopes, ok := rootFieldScopes[name]
	if !ok {
		scopes = readScopes
		if object == "Mutation" {
			scopes = adminScope
		}
	}
	if v.Has(scopes...) {
		return nil
	}
	return apperr.Forbiddenf("this API key (scopes %v) may not call %s; it needs one of %v", v.Scopes, name, scopes)
}
