// Package resolvers holds the gqlgen resolvers. They are thin: each one
// calls a domain service or a generated ent helper and returns its result.
package resolvers

import (
	"github.com/99designs/gqlgen/graphql"

	"github.com/entitled/entitled/auth"
	"github.com/entitled/entitled/catalog"
	"github.com/entitled/entitled/checks"
	"github.com/entitled/entitled/ent"
	"github.com/entitled/entitled/fleet"
	"github.com/entitled/entitled/graph"
	"github.com/entitled/entitled/policies"
	"github.com/entitled/entitled/usage"
)

// Resolver is the root resolver; it holds the services.
type Resolver struct {
	Client   *ent.Client
	Auth     *auth.Service
	Catalog  *catalog.Service
	Fleet    *fleet.Service
	Checks   *checks.Service
	Metering *usage.Service
	Rego     *policies.Service
}

// NewSchema returns the executable schema.
func NewSchema(r *Resolver) graphql.ExecutableSchema {
	return graph.NewExecutableSchema(graph.Config{Resolvers: r})
}
