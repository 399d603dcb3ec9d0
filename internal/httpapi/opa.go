package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/entitled/entitled/internal/apperr"
	"github.com/entitled/entitled/internal/tenant"
	"github.com/entitled/entitled/policy"
)

// DecisionPath is where the OPA-compatible door answers, as OPA's REST
// Data API would for the rule data.entitled.decision.
const DecisionPath = "/v1/data/entitled/decision"

// opaError is OPA's error body.
type opaError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeOPAError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := marshalJSON(opaError{Code: code, Message: msg})
	_, _ = w.Write(b)
}

type opaRequest struct {
	Input *struct {
		Instance    *string        `json:"instance"`
		Entitlement *string        `json:"entitlement"`
		Requested   *float64       `json:"requested"`
		Context     map[string]any `json:"context"`
	} `json:"input"`
}

// OPADecision serves POST /v1/data/entitled/decision with body
// {"input": {"instance", "entitlement", "requested", "context"}} and
// answers {"result": <decision>}, so services that speak OPA's REST Data
// API can ask without GraphQL.
func OPADecision(allowed func(context.Context, policy.Question) (*policy.Decision, error), authn Authenticator, log *slog.Logger) http.Handler {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			writeOPAError(w, http.StatusMethodNotAllowed, "invalid_parameter", "use POST with {\"input\": {...}}")
			return
		}
		v := tenant.FromContext(r.Context())
		if err := allowedScopes(v, "Query.allowed", "Query"); err != nil {
			writeOPAError(w, http.StatusForbidden, "unauthorized", err.Error())
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeOPAError(w, http.StatusRequestEntityTooLarge, "invalid_parameter", "request body is larger than 1 MiB")
			return
		}
		var req opaRequest
		dec := json.NewDecoder(bytes.NewReader(body))
		if err != nil || dec.Decode(&req) != nil || dec.More() {
			writeOPAError(w, http.StatusBadRequest, "invalid_parameter", "body must be JSON: {\"input\": {\"instance\": string, \"entitlement\": string, \"requested\": number, \"context\": object}}")
			return
		}
		switch {
		case req.Input == nil:
			writeOPAError(w, http.StatusBadRequest, "invalid_parameter", "missing input document")
			return
		case req.Input.Instance == nil || *req.Input.Instance == "":
			writeOPAError(w, http.StatusBadRequest, "invalid_parameter", "input.instance must be a non-empty string")
			return
		case req.Input.Entitlement == nil || *req.Input.Entitlement == "":
			writeOPAError(w, http.StatusBadRequest, "invalid_parameter", "input.entitlement must be a non-empty string")
			return
		}
		d, err := allowed(r.Context(), policy.Question{
			Instance:    *req.Input.Instance,
			Entitlement: *req.Input.Entitlement,
			Requested:   req.Input.Requested,
			Context:     req.Input.Context,
		})
		if err != nil {
			if unavailable(err) {
				w.Header().Set("Retry-After", retryAfterSeconds)
				msg := "the database does not answer and nothing cached could answer; try again shortly"
				if ae, ok := apperr.As(err); ok {
					msg = ae.Error()
				}
				writeOPAError(w, http.StatusServiceUnavailable, "unavailable", msg)
				return
			}
			if ae, ok := apperr.As(err); ok && ae.Code != apperr.Internal {
				writeOPAError(w, http.StatusBadRequest, "invalid_parameter", ae.Error())
				return
			}
			log.ErrorContext(r.Context(), "opa door", "err", err)
			writeOPAError(w, http.StatusInternalServerError, "internal_error", "internal error")
			return
		}
		b, err := marshalJSON(struct {
			Result *policy.Decision `json:"result"`
		}{d})
		if err != nil {
			writeOPAError(w, http.StatusInternalServerError, "internal_error", "internal error")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	})
	return Recover(log, authenticate(authn, log, h, func(w http.ResponseWriter, status int, code apperr.Code, msg string) {
		switch code {
		case apperr.Unavailable:
			writeOPAError(w, status, "unavailable", msg)
		case apperr.Internal:
			writeOPAError(w, status, "internal_error", msg)
		default:
			writeOPAError(w, status, "unauthorized", msg)
		}
	}))
}
