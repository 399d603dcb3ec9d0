package metrics

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func scrape(t *testing.T, r *Registry) string {
	t.Helper()
	w := httptest.NewRecorder()
	r.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("content type %q", ct)
	}
	return w.Body.String()
}

func TestCountsAreServedInPrometheusFormat(t *testing.T) {
	r := New()
	r.Decision(DoorGraphQL, "ALLOWED", true, 40*time.Microsecond)
	r.Decision(DoorOPA, "ALLOWED", true, 30*time.Microsecond)
	r.Decision(DoorGraphQL, "LIMIT_EXCEEDED", false, 2*time.Millisecond)
	r.Reports(1000)
	r.Consume(true)
	r.Consume(false)
	r.UsageWrite(UsageBatch, time.Now().Add(-3*time.Millisecond))
	r.PolicyCompiled()
	r.CacheSizes(func() (int, int) { return 2, 7 })
	var nilReg *Registry
	nilReg.Decision(DoorGraphQL, "ALLOWED", true, time.Millisecond) // a nil registry counts nothing, safely

	body := scrape(t, r)
	for _, want := range []string{
		`entitled_decisions_total{reason="ALLOWED"} 2`,
		`entitled_decisions_total{reason="LIMIT_EXCEEDED"} 1`,
		"entitled_decisions_allowed_total 2",
		"entitled_decisions_denied_total 1",
		`entitled_decision_duration_seconds_count{door="graphql",reason="ALLOWED"} 1`,
		`entitled_decision_duration_seconds_count{door="opa",reason="ALLOWED"} 1`,
		`entitled_decision_duration_seconds_bucket{door="graphql",reason="ALLOWED",le="5e-05"} 1`,
		`entitled_decision_duration_seconds_bucket{door="graphql",reason="LIMIT_EXCEEDED",le="0.1"} 1`,
		`entitled_usage_write_duration_seconds_count{operation="batch"} 1`,
		`entitled_usage_write_duration_seconds_count{operation="report"} 0`,
		"entitled_usage_reports_total 1000",
		"entitled_usage_consumed_total 1",
		"entitled_usage_consume_refused_total 1",
		"entitled_policy_compiles_total 1",
		"entitled_cached_organizations 2",
		"entitled_cached_instances 7",
		"# TYPE entitled_decisions_total counter",
		"# TYPE entitled_decision_duration_seconds histogram",
		"go_goroutines ",
		"process_start_time_seconds ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %q in:\n%s", want, body)
		}
	}
	if r.PolicyCompiles() != 1 {
		t.Errorf("PolicyCompiles = %d", r.PolicyCompiles())
	}
}

func TestDecisionBucketsSpan25MicrosecondsTo100Milliseconds(t *testing.T) {
	b := DecisionBuckets
	if b[0] != 25e-6 || b[len(b)-1] != 0.1 {
		t.Fatalf("buckets %v", b)
	}
}

// A reason that is not a reason code, or one past the bound, is counted
// as OTHER: a label never carries what a policy or a caller made up.
func TestReasonsAreBounded(t *testing.T) {
	r := New()
	r.Decision(DoorGraphQL, "acme-prod: region blocked", false, time.Millisecond)
	for i := range maxReasons + 5 {
		r.Decision(DoorGraphQL, "R_"+strings.Repeat("X", i), false, time.Millisecond)
	}
	body := scrape(t, r)
	if strings.Contains(body, "acme") {
		t.Fatal("a made-up reason became a label")
	}
	if !strings.Contains(body, `entitled_decisions_total{reason="OTHER"}`) {
		t.Fatal("no OTHER series")
	}
	if n := strings.Count(body, "entitled_decisions_total{"); n > maxReasons+1 {
		t.Fatalf("%d reason series", n)
	}
}

func TestHTTPRequestsAreObservedByRouteAndStatusClass(t *testing.T) {
	r := New()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("/graphql", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusUnauthorized) })
	mux.HandleFunc("/stream", func(w http.ResponseWriter, _ *http.Request) {
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush through the instrumented writer: %v", err)
		}
	})
	h := r.InstrumentHTTP(mux)
	for _, path := range []string{"/healthz", "/graphql", "/graphql", "/stream", "/nowhere"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", path, nil))
	}
	body := scrape(t, r)
	for _, want := range []string{
		`entitled_http_request_duration_seconds_count{route="/healthz",status="2xx"} 1`,
		`entitled_http_request_duration_seconds_count{route="/graphql",status="4xx"} 2`,
		`entitled_http_request_duration_seconds_count{route="/stream",status="2xx"} 1`,
		`entitled_http_request_duration_seconds_count{route="unmatched",status="4xx"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %q in:\n%s", want, grep(body, "entitled_http_request_duration_seconds_count"))
		}
	}
}

func grep(body, prefix string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestDecisionRecordingDoesNotAllocate(t *testing.T) {
	r := New()
	r.Decision(DoorOPA, "ALLOWED", true, time.Millisecond)
	if n := testing.AllocsPerRun(1000, func() {
		r.Decision(DoorOPA, "ALLOWED", true, time.Millisecond)
	}); n != 0 {
		t.Fatalf("%v allocations per decision", n)
	}
}

// BenchmarkDecision is what recording adds to every decision.
func BenchmarkDecision(b *testing.B) {
	r := New()
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		r.Decision(DoorGraphQL, "ALLOWED", true, time.Since(start))
	}
}
