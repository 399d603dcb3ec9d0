package httpapi

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/entitled/entitled/ent"
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
	// The audit trail: administrators and auditors (READ).
	"Query.auditEvents":      readScopes,
	"Query.verifyAuditChain": readScopes,
}

// typeScopes says which scopes may see an object type, through every path
// the schema offers: a root field, node and nodes, or an edge of another
// object (a payload's, a connection's). CHECK keys see decisions and usage
// figures only; catalog objects, metadata, events and versions need READ;
// API keys need ADMIN (but a key may always see itself). Every object type
// of the schema has a rule (TestEveryTypeHasAScopeRule).
var typeScopes = map[string][]tenant.Scope{
	"Viewer":                  anyScope,
	"Organization":            anyScope,
	"Decision":                anyScope,
	"ExplainStep":             anyScope,
	"Usage":                   anyScope,
	"ReportUsagePayload":      anyScope,
	"ReportUsageBatchPayload": anyScope,
	"PageInfo":                anyScope,
	"Node":                    anyScope, // the concrete type's rule applies to its fields

	"License":                  readScopes,
	"LicenseConnection":        readScopes,
	"LicenseEdge":              readScopes,
	"LicenseEntitlement":       readScopes,
	"LicenseTerm":              readScopes,
	"LicenseVersion":           readScopes,
	"LicenseVersionConnection": readScopes,
	"LicenseVersionEdge":       readScopes,
	"Entitlement":              readScopes,
	"EntitlementConnection":    readScopes,
	"EntitlementEdge":          readScopes,
	"Instance":                 readScopes,
	"InstanceConnection":       readScopes,
	"InstanceEdge":             readScopes,
	"OrgPolicy":                readScopes,
	"OrgPolicyConnection":      readScopes,
	"OrgPolicyEdge":            readScopes,
	"PolicyRevision":           readScopes,
	"PolicyTestResult":         readScopes,
	"PolicyProblem":            readScopes,
	"PolicyPreview":            readScopes,
	"PolicyChange":             readScopes,
	"UsageEvent":               readScopes,
	"UsageEventConnection":     readScopes,
	"UsageEventEdge":           readScopes,
	"ThresholdEvent":           readScopes,
	"ThresholdEventConnection": readScopes,
	"ThresholdEventEdge":       readScopes,
	// The audit trail names keys and shows every resource's fields: READ,
	// never CHECK, through any edge.
	"AuditEvent":             readScopes,
	"AuditEventConnection":   readScopes,
	"AuditEventEdge":         readScopes,
	"AuditChainVerification": readScopes,
	// Webhook endpoints never show their secrets; deliveries hold the
	// events' bodies, which READ keys may see as events.
	// Signing keys show their public halves only; issued files are
	// signed public data. Rotating and issuing are ADMIN (the default).
	"SigningKey":                readScopes,
	"IssuedLicenseFile":         readScopes,
	"WebhookEndpoint":           readScopes,
	"WebhookEndpointConnection": readScopes,
	"WebhookEndpointEdge":       readScopes,
	"WebhookDelivery":           readScopes,
	"WebhookDeliveryConnection": readScopes,
	"WebhookDeliveryEdge":       readScopes,

	"APIKey":              adminScope,
	"CreateAPIKeyPayload": adminScope,
	// It carries an endpoint's signing secret.
	"CreateWebhookEndpointPayload": adminScope,
	// Only the operator token creates organizations; it passes every
	// type rule (it may call nothing else).
	"CreateOrganizationPayload": adminScope,
}

// authorizeField is field middleware: a field resolves only when the
// caller may see both the object it belongs to and the type it returns.
// It also marks what a resolver returns that is not a domain error as
// internal (see markInternal).
func authorizeField(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc != nil {
		v := tenant.FromContext(ctx)
		if !v.Operator {
			if err := fieldAllowed(v, fc); err != nil {
				return nil, err
			}
		}
	}
	return markInternal(ctx, next)
}

func fieldAllowed(v tenant.Viewer, fc *graphql.FieldContext) error {
	if scopes, ok := typeScopes[fc.Object]; ok && !v.Has(scopes...) && !(fc.Object == "APIKey" && ownKey(v, fc)) {
		return apperr.Forbiddenf("this API key (scopes %v) may not read %s objects; it needs one of %v", v.Scopes, fc.Object, scopes)
	}
	if fc.Field.Definition == nil {
		return nil
	}
	ret := fc.Field.Definition.Type.Name()
	if scopes, ok := typeScopes[ret]; ok && !v.Has(scopes...) && !(ret == "APIKey" && fc.Object == "Viewer") {
		return apperr.Forbiddenf("this API key (scopes %v) may not read %s.%s (%s); it needs one of %v", v.Scopes, fc.Object, fc.Field.Name, ret, scopes)
	}
	return nil
}

// ownKey reports whether the APIKey whose field is asked is the caller's
// own.
func ownKey(v tenant.Viewer, fc *graphql.FieldContext) bool {
	if fc.Parent == nil {
		return false
	}
	switch k := fc.Parent.Result.(type) {
	case *ent.APIKey:
		return k != nil && k.ID == v.KeyID
	case **ent.APIKey:
		return k != nil && *k != nil && (*k).ID == v.KeyID
	case *ent.Noder:
		if k != nil {
			if key, ok := (*k).(*ent.APIKey); ok {
				return key.ID == v.KeyID
			}
		}
	case ent.Noder:
		if key, ok := k.(*ent.APIKey); ok {
			return key.ID == v.KeyID
		}
	}
	return false
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
