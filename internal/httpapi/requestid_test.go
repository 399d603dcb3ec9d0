package httpapi

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/entitled/entitled/internal/tenant"
)

func TestRequestID(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	var seen string
	h := RequestID(log, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = tenant.RequestID(r.Context())
		if r.URL.Path == "/fail" {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	serve := func(path, id string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if id != "" {
			req.Header.Set(RequestIDHeader, id)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for _, id := range []string{"abc-123", "trace:01J.x_y", strings.Repeat("a", MaxRequestID)} {
		rec := serve("/", id)
		if got := rec.Header().Get(RequestIDHeader); got != id || seen != id {
			t.Errorf("caller's id %q: answered %q, context %q", id, got, seen)
		}
	}
	for _, id := range []string{"", strings.Repeat("a", MaxRequestID+1), "has space", "new\nline", "quote\"", "ünïcode", "a/b", "x=y"} {
		rec := serve("/", id)
		got := rec.Header().Get(RequestIDHeader)
		if got == id || len(got) != 26 || !plainRequestID(got) || seen != got {
			t.Errorf("caller's id %q: answered %q, context %q; want a new ULID", id, got, seen)
		}
	}
	if logs.Len() != 0 {
		t.Errorf("successful requests are not logged: %s", logs.String())
	}
	serve("/fail", "req-7")
	var line map[string]any
	if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
		t.Fatalf("one JSON log line for the failed request: %v: %s", err, logs.String())
	}
	if line["request_id"] != "req-7" || line["status"] != float64(401) || line["msg"] != "request failed" {
		t.Errorf("log line %v", line)
	}
}

func TestRequestIDKeepsFlusher(t *testing.T) {
	h := RequestID(slog.Default(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := w.(http.Flusher); !ok {
			t.Error("the wrapped writer is no http.Flusher")
		}
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush: %v", err)
		}
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
}
