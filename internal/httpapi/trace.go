package httpapi

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/entitled/entitled/internal/platform/tracing"
)

// traceOperation gives a traced request's GraphQL operation its span,
// named by the operation's type and name ("query Allowed"). It records
// the name and type, never the document or the variables.
func traceOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return next(ctx) // not traced: nothing to build
	}
	oc := graphql.GetOperationContext(ctx)
	if oc == nil || oc.Operation == nil {
		return next(ctx)
	}
	kind := string(oc.Operation.Operation)
	name := kind
	if oc.Operation.Name != "" {
		name += " " + oc.Operation.Name
	}
	ctx, span := tracing.Start(ctx, name)
	span.SetAttributes(
		attribute.String("graphql.operation.type", kind),
		attribute.String("graphql.operation.name", oc.Operation.Name),
	)
	responses := next(ctx)
	ended := false
	return func(ctx context.Context) *graphql.Response {
		resp := responses(ctx)
		if !ended {
			// A query or mutation answers once; the span covers resolving it.
			ended = true
			if resp != nil && len(resp.Errors) > 0 {
				span.SetStatus(codes.Error, "the response has errors")
			}
			span.End()
		}
		return resp
	}
}
