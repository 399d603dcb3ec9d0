package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/entitled/entitled/internal/apperr"
)

// internalError marks an error that escaped a resolver without being a
// domain error: its text is logged, never shown.
type internalError struct{ err error }

func (e internalError) Error() string { return e.err.Error() }
func (e internalError) Unwrap() error { return e.err }

// markInternal is field middleware: anything a resolver returns that is not
// a domain error is internal. Errors that never reach a resolver (parse,
// validation, argument coercion) are about the request and are shown.
func markInternal(ctx context.Context, next graphql.Resolver) (any, error) {
	res, err := next(ctx)
	if err != nil {
		if _, ok := apperr.As(err); !ok {
			var ie internalError
			if !errors.As(err, &ie) {
				err = internalError{err}
			}
		}
	}
	return res, err
}

// presenter is the one place domain errors become GraphQL errors.
func presenter(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		out := graphql.DefaultErrorPresenter(ctx, err)
		if out.Extensions == nil {
			out.Extensions = map[string]any{}
		}
		if ae, ok := apperr.As(err); ok {
			out.Message = ae.Error()
			out.Extensions["code"] = string(ae.Code)
			if ae.Field != "" {
				out.Extensions["field"] = ae.Field
			}
			for k, v := range ae.Details {
				if k != "code" && k != "field" {
					out.Extensions[k] = v
				}
			}
			if ae.Code == apperr.Internal && ae.Err != nil {
				log.ErrorContext(ctx, "internal error", "err", ae.Err, "path", out.Path.String())
			}
			return out
		}
		if errors.Is(err, context.DeadlineExceeded) {
			out.Message = "the request did not finish within its time limit; try again, or ask for less"
			out.Extensions = map[string]any{"code": string(apperr.Unavailable)}
			return out
		}
		var ie internalError
		if errors.As(err, &ie) {
			log.ErrorContext(ctx, "internal error", "err", ie.err, "path", out.Path.String())
			out.Message = "internal error"
			out.Extensions = map[string]any{"code": string(apperr.Internal)}
			return out
		}
		// entgql's nodes() reports each unresolvable ID itself, tagged
		// NOT_FOUND: keep that code (node() says NOT_FOUND too).
		if code, _ := extensionString(err, "code"); code == string(apperr.NotFound) {
			out.Extensions = map[string]any{"code": string(apperr.NotFound)}
			return out
		}
		// What remains comes from parsing, validating and coercing the
		// request: it describes the caller's document, so it is shown.
		out.Extensions = map[string]any{"code": string(apperr.BadUserInput)}
		if rule, ok := extensionString(err, "rule"); ok {
			out.Extensions["rule"] = rule
		}
		if f := fieldFromPath(out.Path); f != "" {
			out.Extensions["field"] = f
		}
		return out
	}
}

func extensionString(err error, key string) (string, bool) {
	var ge *gqlerror.Error
	if errors.As(err, &ge) && ge.Extensions != nil {
		s, ok := ge.Extensions[key].(string)
		return s, ok
	}
	return "", false
}

// fieldFromPath names the input field of a coercion error, in the form
// domain errors use: "variable.input.type" → "input.type"; an argument
// error at createLicense.input.type → "type"; reportUsageBatch.inputs.3.value
// → "inputs[3].value".
func fieldFromPath(p ast.Path) string {
	if len(p) == 0 {
		return ""
	}
	var parts []string
	for _, e := range p {
		switch v := e.(type) {
		case ast.PathName:
			parts = append(parts, string(v))
		case ast.PathIndex:
			parts = append(parts, fmt.Sprintf("[%d]", int(v)))
		}
	}
	if len(parts) > 0 && parts[0] == "variable" {
		return strings.ReplaceAll(strings.Join(parts[1:], "."), ".[", "[")
	}
	if len(parts) < 2 {
		return ""
	}
	parts = parts[1:] // the root field
	if parts[0] == "input" && len(parts) > 1 {
		parts = parts[1:]
	}
	return strings.ReplaceAll(strings.Join(parts, "."), ".[", "[")
}

// recoverFunc turns a panic in a resolver into an INTERNAL error.
func recoverFunc(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, v any) error {
		log.ErrorContext(ctx, "panic in resolver", "panic", fmt.Sprint(v))
		return internalError{fmt.Errorf("panic: %v", v)}
	}
}
