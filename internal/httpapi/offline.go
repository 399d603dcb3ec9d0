package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/entitled/entitled/ent"
	"github.com/entitled/entitled/internal/apperr"
	"github.com/entitled/entitled/internal/signing"
	"github.com/entitled/entitled/internal/tenant"
)

// JWKSPath and LicenseFilePath are the routes of offline verification.
const (
	JWKSPath        = "GET /v1/orgs/{slug}/jwks.json"
	LicenseFilePath = "GET /v1/license-file"
)

func writePlainError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"code": code, "message": msg})
	_, _ = w.Write(b)
}

// writeServiceError answers a service error with its HTTP status.
func writeServiceError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	if ae, ok := apperr.As(err); ok && ae.Code != apperr.Internal {
		status := http.StatusBadRequest
		switch ae.Code {
		case apperr.NotFound:
			status = http.StatusNotFound
		case apperr.Forbidden:
			status = http.StatusForbidden
		case apperr.Unavailable:
			status = http.StatusServiceUnavailable
			w.Header().Set("Retry-After", retryAfterSeconds)
		}
		writePlainError(w, status, string(ae.Code), ae.Error())
		return
	}
	log.ErrorContext(r.Context(), "offline endpoint", "path", r.URL.Path, "err", err)
	writePlainError(w, http.StatusInternalServerError, string(apperr.Internal), "internal error")
}

// JWKS serves an organization's public signing keys without
// authentication: they are what verifiers trust. Cached for 5 minutes,
// with an ETag (304 on an unchanged If-None-Match).
func JWKS(jwks func(ctx context.Context, orgSlug string) ([]byte, string, error), log *slog.Logger) http.Handler {
	return Recover(log, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, etag, err := jwks(r.Context(), r.PathValue("slug"))
		if err != nil {
			writeServiceError(w, r, log, err)
			return
		}
		w.Header().Set("ETag", etag)
		w.Header().Set("Cache-Control", "public, max-age=300")
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(body)
	}))
}

// LicenseFile serves GET /v1/license-file?instance=SLUG to a CHECK (or
// ADMIN) key: the instance's armored license file for its current facts,
// with an ETag (304 on an unchanged If-None-Match).
func LicenseFile(file func(ctx context.Context, instanceSlug string) (*ent.IssuedLicenseFile, error), authn Authenticator, log *slog.Logger) http.Handler {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := tenant.FromContext(r.Context())
		if !v.Has(tenant.ScopeAdmin, tenant.ScopeCheck) {
			writePlainError(w, http.StatusForbidden, string(apperr.Forbidden), "license files need an ADMIN or CHECK key")
			return
		}
		slug := r.URL.Query().Get("instance")
		if slug == "" {
			writePlainError(w, http.StatusBadRequest, string(apperr.BadUserInput), "instance: the instance's slug is required")
			return
		}
		f, err := file(r.Context(), slug)
		if err != nil {
			writeServiceError(w, r, log, err)
			return
		}
		etag := signing.ETag([]byte(f.Certificate))
		w.Header().Set("ETag", etag)
		w.Header().Set("Cache-Control", "private, no-cache")
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte(f.Certificate))
	})
	return Recover(log, authenticate(authn, log, h, func(w http.ResponseWriter, status int, code apperr.Code, msg string) {
		writePlainError(w, status, string(code), msg)
	}))
}
