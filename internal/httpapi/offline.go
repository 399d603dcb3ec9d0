package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/entitled/entitled/ent"
	"github.com/entitled/entitled/internal/apperr"
	"github.com/entitled/entitled/internal/signing"
	"github.com/entitled/entitled/internal/tenant"
)

// JWKSPath and LicenseFilePath are the routes of offline verification,
// SnapshotPath and StreamPath the SDK's.
const (
	JWKSPath        = "GET /v1/orgs/{slug}/jwks.json"
	LicenseFilePath = "GET /v1/license-file"
	SnapshotPath    = "GET /v1/sdk/snapshot"
	StreamPath      = "GET /v1/sdk/stream"
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

// conditional sets a response's validators and answers 304 Not Modified
// when the request's If-None-Match already names etag; it reports whether
// it did. JWKS, license files and SDK snapshots share it.
func conditional(w http.ResponseWriter, r *http.Request, etag, cacheControl string) bool {
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", cacheControl)
	if !etagMatches(r, etag) {
		return false
	}
	w.WriteHeader(http.StatusNotModified)
	return true
}

// etagMatches reports whether the request's If-None-Match names etag
// (one of a comma-separated list, weak or not, or "*").
func etagMatches(r *http.Request, etag string) bool {
	for _, h := range r.Header.Values("If-None-Match") {
		for _, t := range strings.Split(h, ",") {
			t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
			if t == etag || t == "*" {
				return true
			}
		}
	}
	return false
}

// CheckKey authenticates a request to a plain (non-GraphQL) endpoint that
// a CHECK or ADMIN key may call, for what (e.g. "license files"),
// answering JSON errors: 401 without a valid key, 403 for other scopes.
func CheckKey(authn Authenticator, log *slog.Logger, what string, next http.Handler) http.Handler {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !tenant.FromContext(r.Context()).Has(tenant.ScopeAdmin, tenant.ScopeCheck) {
			writePlainError(w, http.StatusForbidden, string(apperr.Forbidden), what+" need an ADMIN or CHECK key")
			return
		}
		next.ServeHTTP(w, r)
	})
	return Recover(log, authenticate(authn, log, h, func(w http.ResponseWriter, status int, code apperr.Code, msg string) {
		writePlainError(w, status, string(code), msg)
	}))
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
		if conditional(w, r, etag, "public, max-age=300") {
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(body)
	}))
}

// instanceParam reads the required ?instance=SLUG, or answers 400.
func instanceParam(w http.ResponseWriter, r *http.Request) (string, bool) {
	slug := r.URL.Query().Get("instance")
	if slug == "" {
		writePlainError(w, http.StatusBadRequest, string(apperr.BadUserInput), "instance: the instance's slug is required")
		return "", false
	}
	return slug, true
}

// LicenseFile serves GET /v1/license-file?instance=SLUG to a CHECK (or
// ADMIN) key: the instance's armored license file for its current facts,
// with an ETag (304 on an unchanged If-None-Match).
func LicenseFile(file func(ctx context.Context, instanceSlug string) (*ent.IssuedLicenseFile, error), authn Authenticator, log *slog.Logger) http.Handler {
	return CheckKey(authn, log, "license files", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		slug, ok := instanceParam(w, r)
		if !ok {
			return
		}
		f, err := file(r.Context(), slug)
		if err != nil {
			writeServiceError(w, r, log, err)
			return
		}
		if conditional(w, r, signing.ETag([]byte(f.Certificate)), "private, no-cache") {
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte(f.Certificate))
	}))
}

// RevisionHeader carries, on an SDK snapshot, the organization's stream
// revision read before its facts: stream changes at or below it are in
// the snapshot already.
const RevisionHeader = "X-Entitled-Revision"

// Snapshot serves GET /v1/sdk/snapshot?instance=SLUG to a CHECK (or
// ADMIN) key: the instance's signed dataset for the SDK (see
// docs/sdk-protocol.md), with the ETag of its facts (304 on an unchanged
// If-None-Match, without signing) and the revision (revision(orgID), read
// before the facts).
func Snapshot(snapshot func(ctx context.Context, instanceSlug string, unchanged func(etag string) bool) (*signing.Snapshot, error), revision func(orgID string) int64, authn Authenticator, log *slog.Logger) http.Handler {
	return CheckKey(authn, log, "SDK snapshots", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		slug, ok := instanceParam(w, r)
		if !ok {
			return
		}
		rev := revision(tenant.FromContext(r.Context()).OrgID)
		snap, err := snapshot(r.Context(), slug, func(etag string) bool { return etagMatches(r, etag) })
		if err != nil {
			writeServiceError(w, r, log, err)
			return
		}
		w.Header().Set(RevisionHeader, strconv.FormatInt(rev, 10))
		if conditional(w, r, snap.ETag, "private, no-cache") {
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte(snap.Certificate))
	}))
}
