// Package tenant carries the caller's identity through a request: which
// organization it acts for and what its key may do. It is a leaf package so
// that the ent schema (which confines every query to the caller's
// organization) can import it without cycles.
package tenant

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
)

// Scope is what an API key may do within its organization.
type Scope string

const (
	// ScopeAdmin may do everything in its organization.
	ScopeAdmin Scope = "ADMIN"
	// ScopeRead may run queries only.
	ScopeRead Scope = "READ"
	// ScopeCheck may ask for decisions and report usage only.
	ScopeCheck Scope = "CHECK"
)

// Scopes lists every valid scope.
var Scopes = []Scope{ScopeAdmin, ScopeRead, ScopeCheck}

// Valid reports whether s is a known scope.
func (s Scope) Valid() bool { return slices.Contains(Scopes, s) }

// MarshalGQL implements graphql.Marshaler.
func (s Scope) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(string(s))) }

// UnmarshalGQL implements graphql.Unmarshaler.
func (s *Scope) UnmarshalGQL(v any) error {
	str, ok := v.(string)
	if !ok {
		return fmt.Errorf("APIKeyScope must be a string")
	}
	if !Scope(str).Valid() {
		return fmt.Errorf("%q is not a valid APIKeyScope", str)
	}
	*s = Scope(str)
	return nil
}

// Viewer is who is calling.
type Viewer struct {
	// OrgID is the organization the caller acts for; empty for the operator.
	OrgID string
	// OrgSlug is the slug of that organization.
	OrgSlug string
	// KeyID is the API key used, if any, and KeyName its name (the
	// audit trail names the actor with both).
	KeyID   string
	KeyName string
	// Scopes granted to the key.
	Scopes []Scope
	// Operator is the deployment's operator token: it may create
	// organizations and nothing else.
	Operator bool
	// System marks trusted internal work (bootstrap, key lookup, cache
	// fills that name their organization explicitly). It bypasses tenant
	// filtering and must never be derived from a request.
	System bool
}

// Has reports whether the viewer holds any of the given scopes.
func (v Viewer) Has(scopes ...Scope) bool {
	for _, s := range scopes {
		if slices.Contains(v.Scopes, s) {
			return true
		}
	}
	return false
}

type ctxKey struct{}

// NewContext returns ctx carrying v.
func NewContext(ctx context.Context, v Viewer) context.Context {
	return context.WithValue(ctx, ctxKey{}, v)
}

// FromContext returns the viewer in ctx, or the zero Viewer (no access).
func FromContext(ctx context.Context) Viewer {
	v, _ := ctx.Value(ctxKey{}).(Viewer)
	return v
}

// SystemContext returns a context for trusted internal work across tenants.
func SystemContext(ctx context.Context) context.Context {
	return NewContext(ctx, Viewer{System: true})
}

// OrgContext returns a context that acts inside one organization with full
// rights, for internal work on behalf of that organization.
func OrgContext(ctx context.Context, orgID string) context.Context {
	return NewContext(ctx, Viewer{OrgID: orgID, Scopes: []Scope{ScopeAdmin}})
}

type requestIDKey struct{}

// WithRequestID returns ctx carrying the request's id (the X-Request-ID
// of its log line, and of the events it records).
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request id in ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// ErrNoTenant is returned when data is touched without an organization.
var ErrNoTenant = errors.New("tenant: no organization in context")
