package apitest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/entitled/entitled/internal/app"
	"github.com/entitled/entitled/internal/platform/tracing"
	"github.com/entitled/entitled/internal/testenv"
)

// observe is the traffic of the observability tests: decisions through
// GraphQL and the OPA door, reports and consumes.
func observe(t *testing.T, env *testenv.Env, key string) {
	t.Helper()
	for range 3 {
		env.MustDo(key, `query Allowed { allowed(instance: "i", entitlement: "m") { allowed } }`, nil)
		env.MustDo(key, `{ decisions(instance: "i") { reason } }`, nil)
		env.MustDo(key, `{ allowed(instance: "nowhere", entitlement: "m") { reason } }`, nil)
		postOPADoor(t, env, key, `{"input": {"instance": "i", "entitlement": "m", "requested": 2}}`, "")
		report(t, env, key, 1, nil, "")
		env.MustDo(key, consumeQ, map[string]any{"in": map[string]any{"instance": "i", "entitlement": "m", "amount": 1}})
	}
	env.MustDo(key, `mutation($in: [ReportUsageInput!]!) { reportUsageBatch(inputs: $in) { results { replayed } } }`,
		map[string]any{"in": []any{
			map[string]any{"instance": "i", "entitlement": "m", "value": 1},
			map[string]any{"instance": "i", "entitlement": "m", "value": 1},
		}})
}

func postOPADoor(t *testing.T, env *testenv.Env, key, body, traceparent string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, env.Server.URL+"/v1/data/entitled/decision", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	if traceparent != "" {
		req.Header.Set("traceparent", traceparent)
	}
	res, err := env.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("OPA door: %d %s", res.StatusCode, b)
	}
}

func TestMetricsAfterRealTraffic(t *testing.T) {
	t.Parallel()
	testenv.ForEachStore(t, func(t *testing.T, env *testenv.Env) {
		key := meter(t, env, "acme-metrics", nil, 1000, nil)
		orgID := testenv.Str(env.MustDo(key, `{ viewer { organization { id } } }`, nil), "viewer.organization.id")
		if orgID == "" {
			t.Fatal("no organization id")
		}
		observe(t, env, key)

		res, err := env.Server.Client().Get(env.Server.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("/metrics is not the Prometheus text format: %v\n%s", err, body)
		}

		// The three histograms have observations where the traffic went.
		count := func(name string, labels map[string]string) uint64 {
			t.Helper()
			f := families[name]
			if f == nil || f.GetType() != dto.MetricType_HISTOGRAM {
				t.Fatalf("%s: missing or not a histogram", name)
			}
			var n uint64
			for _, m := range f.GetMetric() {
				if matches(m, labels) {
					n += m.GetHistogram().GetSampleCount()
				}
			}
			return n
		}
		for _, c := range []struct {
			name   string
			labels map[string]string
			min    uint64
		}{
			{"entitled_decision_duration_seconds", map[string]string{"door": "graphql", "reason": "ALLOWED"}, 3},
			{"entitled_decision_duration_seconds", map[string]string{"door": "graphql", "reason": "INSTANCE_NOT_FOUND"}, 3},
			{"entitled_decision_duration_seconds", map[string]string{"door": "opa", "reason": "ALLOWED"}, 3},
			{"entitled_http_request_duration_seconds", map[string]string{"route": "/graphql", "status": "2xx"}, 15},
			{"entitled_http_request_duration_seconds", map[string]string{"route": "/v1/data/entitled/decision", "status": "2xx"}, 3},
			{"entitled_usage_write_duration_seconds", map[string]string{"operation": "report"}, 3},
			{"entitled_usage_write_duration_seconds", map[string]string{"operation": "consume"}, 3},
			{"entitled_usage_write_duration_seconds", map[string]string{"operation": "batch"}, 1},
		} {
			if n := count(c.name, c.labels); n < c.min {
				t.Errorf("%s%v: %d observations, want at least %d", c.name, c.labels, n, c.min)
			}
		}
		counter := func(name string) float64 {
			t.Helper()
			if f := families[name]; f != nil && len(f.GetMetric()) == 1 {
				return f.GetMetric()[0].GetCounter().GetValue()
			}
			t.Fatalf("%s: missing", name)
			return 0
		}
		if n := counter("entitled_usage_reports_total"); n != 5 {
			t.Errorf("entitled_usage_reports_total = %v, want 5", n)
		}
		if n := counter("entitled_usage_consumed_total"); n != 3 {
			t.Errorf("entitled_usage_consumed_total = %v, want 3", n)
		}
		for _, name := range []string{"entitled_cached_organizations", "entitled_cached_instances", "go_goroutines", "process_start_time_seconds", "go_sql_open_connections"} {
			if families[name] == nil {
				t.Errorf("%s: missing", name)
			}
		}
		for _, name := range []string{"entitled_cached_organizations", "entitled_cached_instances"} {
			if g := families[name]; g != nil && g.GetMetric()[0].GetGauge().GetValue() < 1 {
				t.Errorf("%s = %v after decisions on a cached instance", name, g.GetMetric()[0].GetGauge().GetValue())
			}
		}

		// No label carries tenant data.
		for name, f := range families {
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					v := l.GetValue()
					if strings.Contains(v, "acme") || strings.Contains(v, orgID) || v == "i" || v == "m" || v == "nowhere" {
						t.Errorf("%s has tenant data in label %s=%q", name, l.GetName(), v)
					}
				}
			}
		}
	})
}

func matches(m *dto.Metric, want map[string]string) bool {
	got := map[string]string{}
	for _, l := range m.GetLabel() {
		got[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// receiver is an OTLP/HTTP traces endpoint that keeps what it is sent.
type receiver struct {
	mu    sync.Mutex
	spans []*tracepb.Span
	res   []*tracepb.ResourceSpans
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
		http.Error(w, "not here", http.StatusNotFound)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	var req coltracepb.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(b, &req)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	for _, rs := range req.GetResourceSpans() {
		rc.res = append(rc.res, rs)
		for _, ss := range rs.GetScopeSpans() {
			rc.spans = append(rc.spans, ss.GetSpans()...)
		}
	}
	rc.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// trace returns the spans received for a trace ID (hex).
func (rc *receiver) trace(id string) []*tracepb.Span {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []*tracepb.Span
	for _, s := range rc.spans {
		if hex.EncodeToString(s.GetTraceId()) == id {
			out = append(out, s)
		}
	}
	return out
}

func attrs(s *tracepb.Span) map[string]string {
	out := map[string]string{}
	for _, kv := range s.GetAttributes() {
		out[kv.GetKey()] = anyValue(kv.GetValue())
	}
	return out
}

func anyValue(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_BoolValue:
		return fmt.Sprint(x.BoolValue)
	case *commonpb.AnyValue_IntValue:
		return fmt.Sprint(x.IntValue)
	case *commonpb.AnyValue_DoubleValue:
		return fmt.Sprint(x.DoubleValue)
	}
	return v.String()
}

// lockedBuffer is a decision log the test reads while the server writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Split(strings.TrimSpace(b.buf.String()), "\n")
}

func TestTracesReachAnOTLPReceiver(t *testing.T) {
	t.Parallel()
	for _, store := range testenv.Stores {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			traced(t, store)
		})
	}
}

func traced(t *testing.T, store string) {
	{
		rc := &receiver{}
		collector := httptest.NewServer(rc)
		t.Cleanup(collector.Close)
		// The server's configuration as server.go makes it from the
		// standard variable, without touching this process's environment.
		cfg, err := tracing.FromEnv(func(k string) string {
			return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL}[k]
		})
		if err != nil {
			t.Fatal(err)
		}
		dlog := &lockedBuffer{}
		env := testenv.New(t, store, testenv.Configure(func(c *app.Config) {
			c.Tracing = cfg
			c.DecisionLog = dlog
		}))
		if env.App.Tracing == nil {
			t.Fatal("tracing is off with OTEL_EXPORTER_OTLP_ENDPOINT set")
		}
		key := meter(t, env, "acme-traces", nil, 1000, nil)
		orgID := testenv.Str(env.MustDo(key, `{ viewer { organization { id } } }`, nil), "viewer.organization.id")

		const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		const parentID = "00f067aa0ba902b7"
		req, _ := http.NewRequest(http.MethodPost, env.Server.URL+"/graphql", bytes.NewReader(doc(
			`query Allowed($i: String!, $e: String!) { allowed(instance: $i, entitlement: $e) { allowed reason } }`,
			map[string]any{"i": "i", "e": "m"})))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("traceparent", "00-"+traceID+"-"+parentID+"-01")
		r := client{env, t}.Send(req)
		if len(r.Errors) > 0 || testenv.Get(r.Data, "allowed.allowed") != true {
			t.Fatalf("allowed: %s", r.Raw)
		}
		const usageTrace = "0af7651916cd43dd8448eb211c80319c"
		req, _ = http.NewRequest(http.MethodPost, env.Server.URL+"/graphql", bytes.NewReader(doc(reportQ,
			map[string]any{"in": map[string]any{"instance": "i", "entitlement": "m", "value": 1}})))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("traceparent", "00-"+usageTrace+"-b7ad6b7169203331-01")
		if r := (client{env, t}).Send(req); len(r.Errors) > 0 {
			t.Fatalf("reportUsage: %s", r.Raw)
		}
		const doorTrace = "11111111111111111111111111111111"
		postOPADoor(t, env, key, `{"input": {"instance": "i", "entitlement": "m"}}`, "00-"+doorTrace+"-2222222222222222-01")

		const probeTrace = "33333333333333333333333333333333"
		probe, _ := http.NewRequest(http.MethodGet, env.Server.URL+"/healthz", nil)
		probe.Header.Set("traceparent", "00-"+probeTrace+"-4444444444444444-01")
		if res, err := env.Server.Client().Do(probe); err != nil {
			t.Fatal(err)
		} else {
			res.Body.Close()
		}

		if err := env.App.Tracing.ForceFlush(context.Background()); err != nil {
			t.Fatalf("flush: %v", err)
		}

		spans := rc.trace(traceID)
		byName := map[string]*tracepb.Span{}
		for _, s := range spans {
			byName[s.GetName()] = s
		}
		httpSpan, op, dec, eval := byName["POST /graphql"], byName["query Allowed"], byName["decision"], byName["policy.evaluate"]
		if httpSpan == nil || op == nil || dec == nil || eval == nil {
			names := []string{}
			for _, s := range spans {
				names = append(names, s.GetName())
			}
			t.Fatalf("trace %s has spans %q; want the request, the operation, the decision and the evaluation", traceID, names)
		}
		// One tree under the caller's span.
		if hex.EncodeToString(httpSpan.GetParentSpanId()) != parentID || httpSpan.GetKind() != tracepb.Span_SPAN_KIND_SERVER {
			t.Errorf("the request span does not continue the incoming traceparent (parent %x, kind %v)", httpSpan.GetParentSpanId(), httpSpan.GetKind())
		}
		for _, c := range []struct{ child, parent *tracepb.Span }{{op, httpSpan}, {dec, op}, {eval, dec}} {
			if !bytes.Equal(c.child.GetParentSpanId(), c.parent.GetSpanId()) {
				t.Errorf("span %q is not under %q", c.child.GetName(), c.parent.GetName())
			}
		}
		if a := attrs(op); a["graphql.operation.name"] != "Allowed" || a["graphql.operation.type"] != "query" {
			t.Errorf("operation attributes %v", a)
		}
		if a := attrs(dec); a["entitled.decision.reason"] != "ALLOWED" || a["entitled.decision.allowed"] != "true" || a["entitled.organization.id"] != orgID {
			t.Errorf("decision attributes %v", a)
		}
		// No variables, no slugs below the request span (whose URL and
		// headers are the caller's own).
		for _, s := range []*tracepb.Span{op, dec, eval} {
			for k, v := range attrs(s) {
				if v == "i" || v == "m" || strings.Contains(v, "acme") || strings.Contains(k, "variables") {
					t.Errorf("span %q carries %s=%q", s.GetName(), k, v)
				}
			}
		}
		rc.mu.Lock()
		service := ""
		for _, kv := range rc.res[0].GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				service = anyValue(kv.GetValue())
			}
		}
		rc.mu.Unlock()
		if service != tracing.DefaultServiceName {
			t.Errorf("service.name %q", service)
		}

		// A usage write has its database transaction's span.
		var tx *tracepb.Span
		for _, s := range rc.trace(usageTrace) {
			if s.GetName() == "db.transaction" {
				tx = s
			}
		}
		if tx == nil || attrs(tx)["db.transaction.outcome"] != "commit" {
			t.Errorf("reportUsage trace has no committed db.transaction span: %v", rc.trace(usageTrace))
		}
		// The OPA door's decision is traced too.
		found := false
		for _, s := range rc.trace(doorTrace) {
			found = found || s.GetName() == "decision"
		}
		if !found {
			t.Error("the OPA door's decision has no span")
		}

		if n := len(rc.trace(probeTrace)); n != 0 {
			t.Errorf("a health probe made %d spans", n)
		}

		// Decision-log lines carry the trace.
		var withTrace int
		for _, l := range dlog.lines() {
			var e struct {
				TraceID string `json:"trace_id"`
			}
			if err := json.Unmarshal([]byte(l), &e); err != nil {
				t.Fatalf("decision log line %q: %v", l, err)
			}
			if e.TraceID == traceID || e.TraceID == doorTrace {
				withTrace++
			}
		}
		if withTrace != 2 {
			t.Errorf("%d decision-log lines carry the requests' trace ids, want 2:\n%s", withTrace, strings.Join(dlog.lines(), "\n"))
		}
	}
}
