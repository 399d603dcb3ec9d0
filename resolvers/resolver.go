// Package resolvers holds the gqlgen resolvers. They are thin: each one
// calls a domain service or a generated ent helper and returns its result.
package resolvers

import (
	"github.com/99designs/gqlgen/graphql"

	"github.com/entitled/entitled/ent"
	"github.com/entitled/entitled/graph"
	"github.com/entitled/entitled/internal/auth"
	"github.com/entitled/entitled/internal/catalog"
	"github.com/entitled/entitled/internal/custompolicy"
	"github.com/entitled/entitled/internal/decision"
	"github.com/entitled/entitled/internal/events"
	"github.com/entitled/entitled/internal/instance"
	"github.com/entitled/entitled/internal/metering"
	"github.com/entitled/entitled/internal/signing"
	"github.com/entitled/entitled/internal/webhooks"
)

// Resolver is the root resolver; it holds the services.
type Resolver struct {
	Client          *ent.Client
	Auth            *auth.Service
	Catalog         *catalog.Service
	InstanceService *instance.Service
	Decider         *decision.Service
	Metering        *metering.Service
	Custom          *custompolicy.Service
	Audit           *events.Auditor
	Webhooks        *webhooks.Service
	Signing         *signing.Service
}

// NewSchema returns the executable schema.
func NewSchema(r *Resolver) graphql.ExecutableSchema {
	return graph.NewExecutableSchema(graph.Config{Resolvers: r})
}
