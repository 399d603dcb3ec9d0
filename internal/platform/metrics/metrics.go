// Package metrics measures what operators watch — decision latency and
// outcomes by door and reason, HTTP latency by route, usage writes — and
// serves it at /metrics through prometheus/client_golang, from a registry
// of its own (never the global default one), with the Go and process
// collectors.
//
// Services receive a *Registry in their New and call its small typed
// methods; nothing here is global. No label ever carries tenant data:
// doors, reasons, routes, status classes and operations are fixed sets,
// and an unexpected reason is counted as OTHER.
package metrics

import (
	"database/sql"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Door is how a decision was asked for: the value of the door label.
type Door uint8

// The doors. GraphQL is the zero value: allowed and decisions, and the
// decision consumeUsage asks first.
const (
	DoorGraphQL Door = iota // GraphQL allowed, decisions, consumeUsage
	DoorOPA                 // the OPA-compatible POST /v1/data/entitled/decision
	DoorSDK                 // the Go SDK's server endpoints
	numDoors
)

var doorNames = [numDoors]string{"graphql", "opa", "sdk"}

func (d Door) String() string {
	if d >= numDoors {
		return "unknown"
	}
	return doorNames[d]
}

// UsageOp is a kind of usage write: the value of the operation label.
type UsageOp uint8

// The usage writes.
const (
	UsageReport  UsageOp = iota // reportUsage
	UsageBatch                  // reportUsageBatch
	UsageConsume                // consumeUsage
	numUsageOps
)

var usageOpNames = [numUsageOps]string{"report", "batch", "consume"}

// DecisionBuckets are the bounds of entitled_decision_duration_seconds:
// 25 µs to 100 ms in steps of 2, 2.5, 2 (about ×2.15 each).
var DecisionBuckets = []float64{
	25e-6, 50e-6, 100e-6, 250e-6, 500e-6,
	1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3,
}

// HTTPBuckets are the bounds of entitled_http_request_duration_seconds
// and entitled_usage_write_duration_seconds: 100 µs to 10 s, the same
// steps.
var HTTPBuckets = []float64{
	100e-6, 250e-6, 500e-6,
	1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3,
	250e-3, 500e-3, 1, 2.5, 5, 10,
}

// Bounds of the label sets built from values the service computes.
const (
	// maxReasons bounds the reason label's distinct values per door.
	maxReasons = 32
	// maxRoutes bounds the route label's distinct values.
	maxRoutes = 64
	// OtherReason is the reason label of a reason past maxReasons or not
	// shaped like a reason code (A–Z and _).
	OtherReason = "OTHER"
	// unmatchedRoute labels requests no mux pattern matched.
	unmatchedRoute = "unmatched"
)

// Registry holds the series and the prometheus registry serving them.
type Registry struct {
	reg *prometheus.Registry

	decisionDuration *prometheus.HistogramVec // door, reason
	decisions        *prometheus.CounterVec   // reason
	allowed, denied  prometheus.Counter
	// series by door: reason → the decision's histogram and counter,
	// copied on write so that the decision path reads without a lock.
	bySeries [numDoors]atomic.Pointer[map[string]decisionSeries]

	httpDuration *prometheus.HistogramVec // route, status
	routes       atomic.Pointer[map[string]*routeSeries]

	usageDuration     [numUsageOps]prometheus.Observer
	reports           prometheus.Counter
	consumed, refused prometheus.Counter
	compiles          prometheus.Counter
	compileCount      atomic.Int64
	logDropped        prometheus.Counter
	stale             prometheus.Counter
	// webhooks counts recorded delivery attempts by outcome.
	webhooks map[string]prometheus.Counter

	mu sync.Mutex // serialises adding decision and route series
}

type decisionSeries struct {
	duration prometheus.Observer
	total    prometheus.Counter
}

// routeSeries has one observer per status class, 1xx to 5xx.
type routeSeries [5]prometheus.Observer

// New returns a registry with every series registered.
func New() *Registry {
	r := &Registry{reg: prometheus.NewRegistry()}
	r.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	f := factory{r.reg}
	r.decisionDuration = f.histogramVec("entitled_decision_duration_seconds",
		"Time to answer one decision in process, from the question to the mapped decision (facts, usage counter, policy evaluation), by door and reason.",
		DecisionBuckets, "door", "reason")
	r.decisions = f.counterVec("entitled_decisions_total", "Decisions answered, by reason.", "reason")
	r.allowed = f.counter("entitled_decisions_allowed_total", "Decisions that allowed.")
	r.denied = f.counter("entitled_decisions_denied_total", "Decisions that refused.")
	r.httpDuration = f.histogramVec("entitled_http_request_duration_seconds",
		"Time to serve one HTTP request, by route (the matched pattern) and status class (2xx, 4xx, ...).",
		HTTPBuckets, "route", "status")
	usage := f.histogramVec("entitled_usage_write_duration_seconds",
		"Time of one usage write's database transaction (report, batch or consume), replays included.",
		HTTPBuckets, "operation")
	for op := range numUsageOps {
		r.usageDuration[op] = usage.WithLabelValues(usageOpNames[op])
	}
	r.reports = f.counter("entitled_usage_reports_total", "Usage reports recorded (replays not counted).")
	r.consumed = f.counter("entitled_usage_consumed_total", "consumeUsage calls that recorded.")
	r.refused = f.counter("entitled_usage_consume_refused_total", "consumeUsage calls refused (nothing recorded).")
	r.compiles = f.counter("entitled_policy_compiles_total", "Compiles of organizations' policy sets (one per organization and policy version).")
	r.logDropped = f.counter("entitled_decision_log_dropped_total", "Decision-log lines that could not be encoded or written.")
	r.stale = f.counter("entitled_decisions_stale_total", "Decisions answered from facts that may be out of date (the database did not answer).")
	hooks := f.counterVec("entitled_webhook_deliveries_total",
		"Webhook delivery attempts recorded, by outcome: succeeded, failed (to be retried) or gave_up.", "outcome")
	r.webhooks = map[string]prometheus.Counter{}
	for _, o := range WebhookOutcomes {
		r.webhooks[o] = hooks.WithLabelValues(o)
	}
	for d := range numDoors {
		r.bySeries[d].Store(&map[string]decisionSeries{})
	}
	r.routes.Store(&map[string]*routeSeries{})
	return r
}

type factory struct{ reg *prometheus.Registry }

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	f.reg.MustRegister(c)
	return c
}

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	f.reg.MustRegister(h)
	return h
}

// Decision counts one decision and observes how long it took.
func (r *Registry) Decision(door Door, reason string, allowed bool, took time.Duration) {
	if r == nil {
		return
	}
	if door >= numDoors {
		door = DoorGraphQL
	}
	s, ok := (*r.bySeries[door].Load())[reason]
	if !ok {
		s = r.addDecisionSeries(door, reason)
	}
	s.duration.Observe(took.Seconds())
	s.total.Inc()
	if allowed {
		r.allowed.Inc()
	} else {
		r.denied.Inc()
	}
}

// addDecisionSeries adds a door's series for a reason not seen before.
func (r *Registry) addDecisionSeries(door Door, reason string) decisionSeries {
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := *r.bySeries[door].Load()
	if s, ok := cur[reason]; ok {
		return s
	}
	label := reason
	if !isReasonCode(reason) || len(cur) >= maxReasons {
		label = OtherReason
	}
	s := decisionSeries{
		duration: r.decisionDuration.WithLabelValues(door.String(), label),
		total:    r.decisions.WithLabelValues(label),
	}
	if len(cur) < maxReasons {
		next := make(map[string]decisionSeries, len(cur)+1)
		for k, v := range cur {
			next[k] = v
		}
		next[reason] = s
		r.bySeries[door].Store(&next)
	}
	return s
}

// isReasonCode reports whether s looks like a reason code: 1–40
// characters of A–Z and _. Slugs and messages never do.
func isReasonCode(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'A' || c > 'Z') && c != '_' {
			return false
		}
	}
	return true
}

// Reports counts accepted usage reports.
func (r *Registry) Reports(n int) {
	if r != nil && n > 0 {
		r.reports.Add(float64(n))
	}
}

// Consume counts a consumeUsage outcome.
func (r *Registry) Consume(recorded bool) {
	if r == nil {
		return
	}
	if recorded {
		r.consumed.Inc()
	} else {
		r.refused.Inc()
	}
}

// UsageWrite observes the duration of one usage write since start.
func (r *Registry) UsageWrite(op UsageOp, start time.Time) {
	if r != nil && op < numUsageOps {
		r.usageDuration[op].Observe(time.Since(start).Seconds())
	}
}

// StaleDecision counts a decision made from facts that may be out of date
// (the database did not answer).
func (r *Registry) StaleDecision() {
	if r != nil {
		r.stale.Inc()
	}
}

// WebhookOutcomes are the outcome label's values.
var WebhookOutcomes = []string{"succeeded", "failed", "gave_up"}

// WebhookDelivery counts one recorded attempt; outcome is one of
// WebhookOutcomes (others are not counted).
func (r *Registry) WebhookDelivery(outcome string) {
	if r == nil {
		return
	}
	if c, ok := r.webhooks[outcome]; ok {
		c.Inc()
	}
}

// PolicyCompiled counts one compile of an organization's policy set.
func (r *Registry) PolicyCompiled() {
	if r != nil {
		r.compiles.Inc()
		r.compileCount.Add(1)
	}
}

// PolicyCompiles is how many policy sets were compiled so far.
func (r *Registry) PolicyCompiles() int64 { return r.compileCount.Load() }

// DecisionLogDropped counts a decision-log line that could not be written.
func (r *Registry) DecisionLogDropped() {
	if r != nil {
		r.logDropped.Inc()
	}
}

// WebhooksInFlight serves the gauge of webhook sends in flight in this
// process from n, called once per scrape.
func (r *Registry) WebhooksInFlight(n func() int) {
	r.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "entitled_webhook_sends_in_flight",
		Help: "Webhook delivery attempts this process is making now.",
	}, func() float64 { return float64(n()) }))
}

// CacheSizes serves the gauges of the facts cache from sizes, called once
// per scrape: how many organizations' facts and how many instances it
// holds.
func (r *Registry) CacheSizes(sizes func() (orgs, instances int)) {
	r.reg.MustRegister(&cacheCollector{
		sizes:     sizes,
		orgs:      prometheus.NewDesc("entitled_cached_organizations", "Organizations whose facts are in this process's cache.", nil, nil),
		instances: prometheus.NewDesc("entitled_cached_instances", "Instances in this process's facts cache, all organizations together.", nil, nil),
	})
}

type cacheCollector struct {
	sizes           func() (int, int)
	orgs, instances *prometheus.Desc
}

func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.orgs
	ch <- c.instances
}

func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	orgs, instances := c.sizes()
	ch <- prometheus.MustNewConstMetric(c.orgs, prometheus.GaugeValue, float64(orgs))
	ch <- prometheus.MustNewConstMetric(c.instances, prometheus.GaugeValue, float64(instances))
}

// DB serves a connection pool's statistics: the go_sql_* series, with
// the pool's name as db_name.
func (r *Registry) DB(name string, db *sql.DB) {
	r.reg.MustRegister(collectors.NewDBStatsCollector(db, name))
}

// Handler serves the registry in the Prometheus exposition format.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{})
}

// InstrumentHTTP observes every request next serves (a ServeMux) under
// its route: the pattern that matched, without its method.
func (r *Registry) InstrumentHTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		start := time.Now()
		sw := &StatusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, req)
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		class := status/100 - 1
		if class < 0 || class > 4 {
			class = 4
		}
		r.route(req.Pattern)[class].Observe(time.Since(start).Seconds())
	})
}

// route returns the observers of a mux pattern's route.
func (r *Registry) route(pattern string) *routeSeries {
	if s, ok := (*r.routes.Load())[pattern]; ok {
		return s
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := *r.routes.Load()
	if s, ok := cur[pattern]; ok {
		return s
	}
	label := pattern
	if _, path, ok := strings.Cut(pattern, " "); ok {
		label = path // "GET /metrics" → "/metrics"
	}
	if label == "" || len(cur) >= maxRoutes {
		label = unmatchedRoute
	}
	s := new(routeSeries)
	for i := range s {
		s[i] = r.httpDuration.WithLabelValues(label, string(rune('1'+i))+"xx")
	}
	if len(cur) < maxRoutes {
		next := make(map[string]*routeSeries, len(cur)+1)
		for k, v := range cur {
			next[k] = v
		}
		next[pattern] = s
		r.routes.Store(&next)
	}
	return s
}

// StatusWriter remembers the status of a response (Status: 0 until the
// handler wrote; 1xx answers are not the final status). The request-id
// middleware uses it too.
type StatusWriter struct {
	http.ResponseWriter
	status int
}

// Status is the final status written so far (0: none yet).
func (w *StatusWriter) Status() int { return w.status }

func (w *StatusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *StatusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush keeps streaming responses streaming.
func (w *StatusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection.
func (w *StatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
