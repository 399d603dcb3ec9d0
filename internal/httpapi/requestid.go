package httpapi

import (
	"context"
	"encoding/binary"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/oklog/ulid/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/entitled/entitled/internal/platform/metrics"
	"github.com/entitled/entitled/internal/tenant"
)

// RequestIDHeader carries a request's id, both ways.
const RequestIDHeader = "X-Request-ID"

// MaxRequestID bounds a caller's request id.
const MaxRequestID = 128

// RequestID gives every request an id: the caller's X-Request-ID when it
// is short and plain (at most MaxRequestID characters of A-Z a-z 0-9 . _
// : -), otherwise a new ULID. It answers with the id in X-Request-ID and
// puts it in the context (tenant.WithRequestID), where the events a
// request records and its log lines find it. A request that fails (an
// answer of 400 or more) gets one log line, unless the GraphQL layer
// logged it already (logOperation).
func RequestID(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !plainRequestID(id) {
			id = newRequestID(time.Now())
		}
		w.Header().Set(RequestIDHeader, id)
		rec := &requestRecord{}
		ctx := context.WithValue(tenant.WithRequestID(r.Context(), id), requestRecordKey{}, rec)
		sw := &metrics.StatusWriter{ResponseWriter: w}
		start := time.Now()
		next.ServeHTTP(sw, r.WithContext(ctx))
		if sw.Status() >= http.StatusBadRequest && !rec.logged.Load() {
			level := slog.LevelWarn
			if sw.Status() >= http.StatusInternalServerError {
				level = slog.LevelError
			}
			log.Log(ctx, level, "request failed", "request_id", id, "method", r.Method, "path", r.URL.Path,
				"status", sw.Status(), "duration_ms", time.Since(start).Milliseconds())
		}
	})
}

// newRequestID is a ULID (time-ordered, 26 characters) whose random part
// comes from math/rand/v2: a request id needs to be unique, not secret,
// and ulid.Make's locked crypto/rand source was a measurable share of a
// decision's cost.
func newRequestID(now time.Time) string {
	var u ulid.ULID
	_ = u.SetTime(ulid.Timestamp(now)) // fails only past the year 10889
	binary.BigEndian.PutUint64(u[6:14], rand.Uint64())
	binary.BigEndian.PutUint16(u[14:], uint16(rand.Uint32()))
	return u.String()
}

// plainRequestID reports whether a caller's request id may be used as it
// is: it ends up in logs and in the audit trail, so nothing that could
// forge a log line or hide in one.
func plainRequestID(id string) bool {
	if id == "" || len(id) > MaxRequestID {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// requestRecord notes that a request has had its log line.
type requestRecord struct{ logged atomic.Bool }

type requestRecordKey struct{}

func markLogged(ctx context.Context) {
	if rec, ok := ctx.Value(requestRecordKey{}).(*requestRecord); ok {
		rec.logged.Store(true)
	}
}

// logOperation is response middleware: every mutation, and every operation
// answered with errors, gets one log line naming the request id (the
// requestID of the events it recorded), the operation, its root fields,
// the caller and the error codes. Variables are never logged: they may
// hold secrets.
func logOperation(log *slog.Logger) graphql.ResponseMiddleware {
	return func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		start := time.Now()
		resp := next(ctx)
		var op *ast.OperationDefinition
		if graphql.HasOperationContext(ctx) {
			if oc := graphql.GetOperationContext(ctx); oc != nil {
				op = oc.Operation
			}
		}
		failed := resp != nil && len(resp.Errors) > 0
		mutation := op != nil && op.Operation == ast.Mutation
		if !mutation && !failed {
			return resp
		}
		// Usage reports come at the rate of the vendor's traffic and change
		// no configuration: a line each would drown the log (and cost every
		// report its allocations), so they log at DEBUG unless they fail.
		quiet := mutation && !failed && onlyUsage(op)
		if quiet && !log.Enabled(ctx, slog.LevelDebug) {
			return resp
		}
		attrs := []any{"request_id", tenant.RequestID(ctx)}
		if op != nil {
			attrs = append(attrs, "operation", string(op.Operation), "operation_name", op.Name, "fields", rootFields(op))
		}
		v := tenant.FromContext(ctx)
		if v.OrgID != "" {
			attrs = append(attrs, "organization_id", v.OrgID)
		}
		if v.KeyID != "" {
			attrs = append(attrs, "key_id", v.KeyID)
		}
		if v.Operator {
			attrs = append(attrs, "operator", true)
		}
		level, msg := slog.LevelInfo, "graphql mutation"
		if quiet {
			level = slog.LevelDebug
		}
		if failed {
			codes := make([]string, 0, len(resp.Errors))
			for _, e := range resp.Errors {
				code, _ := e.Extensions["code"].(string)
				codes = append(codes, code)
			}
			attrs = append(attrs, "errors", codes)
			level, msg = slog.LevelWarn, "graphql request failed"
			if mutation {
				msg = "graphql mutation failed"
			}
		}
		attrs = append(attrs, "duration_ms", time.Since(start).Milliseconds())
		log.Log(ctx, level, msg, attrs...)
		markLogged(ctx)
		return resp
	}
}

// usageFields are the mutations that only meter.
var usageFields = map[string]bool{"reportUsage": true, "reportUsageBatch": true, "consumeUsage": true}

// onlyUsage reports whether every root field of op only meters.
func onlyUsage(op *ast.OperationDefinition) bool {
	for _, s := range op.SelectionSet {
		f, ok := s.(*ast.Field)
		if !ok || !usageFields[f.Name] {
			return false
		}
	}
	return len(op.SelectionSet) > 0
}

// rootFields names the fields an operation selects at its root.
func rootFields(op *ast.OperationDefinition) []string {
	var out []string
	for _, s := range op.SelectionSet {
		if f, ok := s.(*ast.Field); ok {
			out = append(out, f.Name)
		}
	}
	return out
}
