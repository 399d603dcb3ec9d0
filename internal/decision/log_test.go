package decision

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/entitled/entitled/internal/platform/metrics"
	"github.com/entitled/entitled/policy"
)

func TestDecisionLogLinesAreBounded(t *testing.T) {
	var buf bytes.Buffer
	m := metrics.New()
	l := NewLog(&buf, 1, slog.New(slog.NewTextHandler(io.Discard, nil)), m)
	org := &policy.Org{ID: "o1", Slug: "acme"}
	big := strings.Repeat("x", 1<<20)
	ctxMap := map[string]any{"blob": big, "list": []any{big, big}}
	f := &policy.Facts{Now: time.Now(), InstanceSlug: big, EntitlementSlug: "sso", Org: org,
		Request: &policy.Request{Context: ctxMap}}
	d := policy.Map(f, f.Now, policy.Result{Reason: policy.ReasonInstanceNotFound, Reasons: []string{big}})
	l.Log(context.Background(), org, f, d)
	line := buf.Bytes()
	if n := len(line); n > 32<<10 {
		t.Fatalf("a decision with 1 MB caller strings logged a %d-byte line", n)
	}
	var entry struct {
		Input  map[string]any  `json:"input"`
		Result policy.Decision `json:"result"`
	}
	if err := json.Unmarshal(line, &entry); err != nil {
		t.Fatalf("line is not JSON: %v", err)
	}
	if !strings.HasSuffix(entry.Result.Instance, truncatedMark) || !strings.HasSuffix(entry.Result.Reasons[0], truncatedMark) {
		t.Fatalf("cut strings carry no marker: %.80q", entry.Result.Instance)
	}
	if len(entry.Input) == 0 {
		t.Fatal("the input was dropped instead of cut")
	}

	// A line that cannot be written is counted, not lost in silence.
	l = NewLog(failingWriter{}, 1, slog.New(slog.NewTextHandler(io.Discard, nil)), m)
	l.Log(context.Background(), org, &policy.Facts{Now: time.Now(), Org: org}, d)
	out := httptest.NewRecorder()
	m.Handler().ServeHTTP(out, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(out.Body.String(), "entitled_decision_log_dropped_total 1") {
		t.Fatalf("dropped line not counted:\n%s", out.Body.String())
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }
