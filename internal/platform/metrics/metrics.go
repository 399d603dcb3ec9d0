// Package metrics counts what operators watch — decisions by reason, usage
// recorded and refused — and serves the counts at /metrics in the
// Prometheus text format. Counting is a lock-free atomic add on the hot
// path.
package metrics

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Registry holds the counters.
type Registry struct {
	started time.Time

	mu        sync.RWMutex
	decisions map[string]*atomic.Int64 // by reason

	allowed, denied            atomic.Int64
	reports, consumed, refused atomic.Int64
	compiles                   atomic.Int64
	logDropped                 atomic.Int64
	stale                      atomic.Int64
}

// New returns an empty registry.
func New() *Registry {
	return &Registry{started: time.Now(), decisions: map[string]*atomic.Int64{}}
}

// Decision counts one decision.
func (r *Registry) Decision(reason string, allowed bool) {
	if r == nil {
		return
	}
	if allowed {
		r.allowed.Add(1)
	} else {
		r.denied.Add(1)
	}
	r.mu.RLock()
	c := r.decisions[reason]
	r.mu.RUnlock()
	if c == nil {
		r.mu.Lock()
		if c = r.decisions[reason]; c == nil {
			c = new(atomic.Int64)
			r.decisions[reason] = c
		}
		r.mu.Unlock()
	}
	c.Add(1)
}

// Reports counts accepted usage reports.
func (r *Registry) Reports(n int) {
	if r != nil {
		r.reports.Add(int64(n))
	}
}

// Consume counts a consumeUsage outcome.
func (r *Registry) Consume(recorded bool) {
	if r == nil {
		return
	}
	if recorded {
		r.consumed.Add(1)
	} else {
		r.refused.Add(1)
	}
}

// PolicyCompiled counts one compile of an organization's policy set.
func (r *Registry) PolicyCompiled() {
	if r != nil {
		r.compiles.Add(1)
	}
}

// DecisionLogDropped counts a decision-log line that could not be written.
func (r *Registry) DecisionLogDropped() {
	if r != nil {
		r.logDropped.Add(1)
	}
}

// StaleDecision counts a decision made from facts that may be out of date
// (the database did not answer).
func (r *Registry) StaleDecision() {
	if r != nil {
		r.stale.Add(1)
	}
}

// PolicyCompiles is how many policy sets were compiled so far.
func (r *Registry) PolicyCompiles() int64 { return r.compiles.Load() }

// Handler serves the counters.
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		r.Write(w)
	})
}

// Write renders the Prometheus text format.
func (r *Registry) Write(w io.Writer) {
	counter := func(name, help string) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n", name, help, name)
	}
	counter("entitled_decisions_total", "Decisions answered, by reason.")
	r.mu.RLock()
	reasons := make([]string, 0, len(r.decisions))
	for k := range r.decisions {
		reasons = append(reasons, k)
	}
	sort.Strings(reasons)
	for _, k := range reasons {
		fmt.Fprintf(w, "entitled_decisions_total{reason=%q} %d\n", k, r.decisions[k].Load())
	}
	r.mu.RUnlock()
	counter("entitled_decisions_allowed_total", "Decisions that allowed.")
	fmt.Fprintf(w, "entitled_decisions_allowed_total %d\n", r.allowed.Load())
	counter("entitled_decisions_denied_total", "Decisions that refused.")
	fmt.Fprintf(w, "entitled_decisions_denied_total %d\n", r.denied.Load())
	counter("entitled_usage_reports_total", "Usage reports recorded (replays not counted).")
	fmt.Fprintf(w, "entitled_usage_reports_total %d\n", r.reports.Load())
	counter("entitled_usage_consumed_total", "consumeUsage calls that recorded.")
	fmt.Fprintf(w, "entitled_usage_consumed_total %d\n", r.consumed.Load())
	counter("entitled_usage_consume_refused_total", "consumeUsage calls refused (nothing recorded).")
	fmt.Fprintf(w, "entitled_usage_consume_refused_total %d\n", r.refused.Load())
	counter("entitled_policy_compiles_total", "Compiles of organizations' policy sets (one per organization and policy version).")
	fmt.Fprintf(w, "entitled_policy_compiles_total %d\n", r.compiles.Load())
	counter("entitled_decision_log_dropped_total", "Decision-log lines that could not be encoded or written.")
	fmt.Fprintf(w, "entitled_decision_log_dropped_total %d\n", r.logDropped.Load())
	counter("entitled_decisions_stale_total", "Decisions answered from cached facts while the database did not answer (fail static).")
	fmt.Fprintf(w, "entitled_decisions_stale_total %d\n", r.stale.Load())
	fmt.Fprintf(w, "# HELP go_goroutines Goroutines that currently exist.\n# TYPE go_goroutines gauge\ngo_goroutines %d\n", runtime.NumGoroutine())
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Fprintf(w, "# HELP go_memstats_heap_inuse_bytes Heap bytes in use.\n# TYPE go_memstats_heap_inuse_bytes gauge\ngo_memstats_heap_inuse_bytes %d\n", ms.HeapInuse)
	fmt.Fprintf(w, "# HELP process_start_time_seconds Start time of the process.\n# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %d\n", r.started.Unix())
}
