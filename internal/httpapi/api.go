// Package httpapi is the HTTP face of entitled's GraphQL API: authentication,
// the strict transport, document limits, page caps, the authorisation
// table of root fields, and the one place errors become GraphQL errors.
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/executor"
	"github.com/99designs/gqlgen/graphql/handler/extension"

	"github.com/entitled/entitled/internal/apperr"
	"github.com/entitled/entitled/internal/tenant"
)

// Authenticator turns a bearer credential, from a client address, into a
// viewer.
type Authenticator interface {
	Authenticate(ctx context.Context, credential, client string) (tenant.Viewer, error)
}

// GraphQL returns the /graphql handler for the schema. Requests must carry
// a credential the authenticator accepts. requestScope, when set, gives
// each operation its own context values (e.g. batched reads).
func GraphQL(schema graphql.ExecutableSchema, authn Authenticator, log *slog.Logger, requestScope func(context.Context) context.Context) http.Handler {
	exec := executor.New(schema)
	exec.SetQueryCache(newPageCache())
	exec.SetParserTokenLimit(tokenLimit)
	exec.Use(extension.Introspection{})
	exec.Use(newGuard(schema.Schema()))
	exec.AroundOperations(traceOperation)
	exec.AroundOperations(capVariables)
	if requestScope != nil {
		exec.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
			return next(requestScope(ctx))
		})
	}
	exec.AroundRootFields(authorizeRootField)
	exec.AroundFields(authorizeField)
	exec.AroundResponses(logOperation(log))
	exec.SetErrorPresenter(presenter(log))
	exec.SetRecoverFunc(recoverFunc(log))
	t := transport{}
	return Recover(log, Authenticate(authn, log, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !t.Supports(r) {
			w.Header().Set("Allow", "GET, POST")
			writeErrors(w, http.StatusMethodNotAllowed, requestError(apperr.BadUserInput, "", "use POST (or GET for queries)"))
			return
		}
		t.Do(w, r, exec)
	})))
}

// Deadline runs every request under a context deadline: database work and
// policy evaluation stop when it passes, whoever the caller is.
func Deadline(d time.Duration, next http.Handler) http.Handler {
	if d <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// Recover answers 500 with a typed error when a handler panics, instead of
// dropping the connection.
func Recover(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.ErrorContext(r.Context(), "panic serving request", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				writeErrors(w, http.StatusInternalServerError, requestError(apperr.Internal, "", "internal error"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// clientAddress is the peer's IP address: the unit failed
// authentications are counted by. (Behind a proxy every client shares the
// proxy's address; such deployments should limit at the proxy.)
func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// unavailable reports whether err is a transient failure (UNAVAILABLE, or
// the request's own deadline).
func unavailable(err error) bool {
	if ae, ok := apperr.As(err); ok {
		return ae.Code == apperr.Unavailable
	}
	return errors.Is(err, context.DeadlineExceeded)
}

// Authenticate puts the caller's viewer into the request context, or
// answers 401 with a typed GraphQL error.
func Authenticate(authn Authenticator, log *slog.Logger, next http.Handler) http.Handler {
	return authenticate(authn, log, next, func(w http.ResponseWriter, status int, code apperr.Code, msg string) {
		writeErrors(w, status, requestError(code, "", msg))
	})
}

func authenticate(authn Authenticator, log *slog.Logger, next http.Handler, fail func(w http.ResponseWriter, status int, code apperr.Code, msg string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cred := ""
		if h := r.Header.Get("Authorization"); h != "" {
			scheme, rest, ok := strings.Cut(h, " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") {
				fail(w, http.StatusUnauthorized, apperr.Unauthenticated, "Authorization must be \"Bearer <api key>\"")
				return
			}
			cred = strings.TrimSpace(rest)
		}
		v, err := authn.Authenticate(r.Context(), cred, clientAddress(r))
		if err != nil {
			if ae, ok := apperr.As(err); ok && ae.Code == apperr.Unauthenticated {
				w.Header().Set("WWW-Authenticate", `Bearer realm="entitled"`)
				fail(w, http.StatusUnauthorized, apperr.Unauthenticated, ae.Message)
				return
			}
			if ae, ok := apperr.As(err); ok && ae.Code == apperr.RateLimited {
				w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(ae.RetryAfter.Seconds()))))
				fail(w, http.StatusTooManyRequests, apperr.RateLimited, ae.Message)
				return
			}
			if unavailable(err) {
				log.WarnContext(r.Context(), "authenticate: the database does not answer", "err", err)
				w.Header().Set("Retry-After", retryAfterSeconds)
				fail(w, http.StatusServiceUnavailable, apperr.Unavailable, "the credential could not be checked: the database does not answer; try again shortly")
				return
			}
			log.ErrorContext(r.Context(), "authenticate", "err", err)
			fail(w, http.StatusInternalServerError, apperr.Internal, "internal error")
			return
		}
		next.ServeHTTP(w, r.WithContext(tenant.NewContext(r.Context(), v)))
	})
}
