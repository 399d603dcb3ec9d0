package metrics

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCountsAreServedInPrometheusFormat(t *testing.T) {
	r := New()
	r.Decision("ALLOWED", true)
	r.Decision("ALLOWED", true)
	r.Decision("LIMIT_EXCEEDED", false)
	r.Reports(1000)
	r.Consume(true)
	r.Consume(false)
	var nilReg *Registry
	nilReg.Decision("ALLOWED", true) // a nil registry counts nothing, safely

	w := httptest.NewRecorder()
	r.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	body := w.Body.String()
	for _, want := range []string{
		`entitled_decisions_total{reason="ALLOWED"} 2`,
		`entitled_decisions_total{reason="LIMIT_EXCEEDED"} 1`,
		"entitled_decisions_allowed_total 2",
		"entitled_decisions_denied_total 1",
		"entitled_usage_reports_total 1000",
		"entitled_usage_consumed_total 1",
		"entitled_usage_consume_refused_total 1",
		"# TYPE entitled_decisions_total counter",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %q in:\n%s", want, body)
		}
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("content type %q", ct)
	}
}
