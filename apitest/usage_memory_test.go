package apitest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/entitled/entitled/internal/testenv"
)

// Decisions read usage from memory: after a report is acknowledged, a
// decision of the same process counts it (exact), whatever else is being
// reported at the same time.
func TestDecisionAfterReportSeesIt(t *testing.T) {
	t.Parallel()
	testenv.ForEachStore(t, func(t *testing.T, env *testenv.Env) {
		key := meter(t, env, "acme", nil, 1e6, nil)
		if d := ask(t, env, key, "i", "m", nil); testenv.Num(d, "usage") != 0 {
			t.Fatalf("fresh usage %v", d["usage"])
		}
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 10; i++ {
					before := testenv.Num(ask(t, env, key, "i", "m", nil), "usage")
					r := report(t, env, key, 1, nil, "")
					after := testenv.Num(ask(t, env, key, "i", "m", nil), "usage")
					// What this report left is committed, so the decision
					// after it sees at least that much.
					if got := testenv.Num(r, "usage.value"); after < got || got <= before {
						t.Errorf("usage before %v, report answered %v, decision after it %v", before, got, after)
					}
				}
			}()
		}
		wg.Wait()
		if d := ask(t, env, key, "i", "m", nil); testenv.Num(d, "usage") != 40 || testenv.Num(d, "remaining") != 1e6-40 {
			t.Fatalf("after 40 reports: usage %v remaining %v", d["usage"], d["remaining"])
		}
	})
}

// A report through one process is seen by the other process's decisions:
// the other process has read the counter before (it is in its memory, so
// no decision of it reads the row again), and only the counter update
// notified at the report's commit can tell it.
func TestReportReachesOtherProcessDecisions(t *testing.T) {
	t.Parallel()
	a := testenv.New(t, "postgres")
	b := a.Peer()
	key := meter(t, a, "acme", nil, 3, nil)
	wantReason(t, ask(t, b, key, "i", "m", nil), true, "ALLOWED") // b keeps usage 0
	for i := 1; i <= 3; i++ {
		report(t, a, key, 1, nil, "")
		start := time.Now()
		deadline := start.Add(5 * time.Second)
		for {
			d := ask(t, b, key, "i", "m", nil)
			if testenv.Num(d, "usage") == float64(i) {
				t.Logf("report %d reached the other process's decisions after %s", i, time.Since(start).Round(time.Millisecond))
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("report %d: the other process still decides on usage %v", i, d["usage"])
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	wantReason(t, ask(t, b, key, "i", "m", nil), false, "LIMIT_EXCEEDED")
	// A reset through b reaches a's decisions the same way.
	b.MustDo(key, `mutation { resetUsage(input: {instance: "i", entitlement: "m", reason: "test"}) { value } }`, nil)
	deadline := time.Now().Add(5 * time.Second)
	for testenv.Num(ask(t, a, key, "i", "m", nil), "usage") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the reset through b did not reach a's decisions")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The same batch sent again while its first attempt is in flight replays
// (before group commit's fix, PostgreSQL answered CONFLICT); so does a
// single report whose key is in flight.
func TestRetriedBatchInFlightReplays(t *testing.T) {
	t.Parallel()
	testenv.ForEachStore(t, func(t *testing.T, env *testenv.Env) {
		key := meter(t, env, "acme", nil, 1e9, nil)
		const q = `mutation($in: [ReportUsageInput!]!) { reportUsageBatch(inputs: $in) { results { usage { count } replayed } } }`
		const n = 2000
		var inputs []any
		for i := 0; i < n; i++ {
			inputs = append(inputs, map[string]any{"instance": "i", "entitlement": "m", "value": 1, "idempotencyKey": fmt.Sprintf("f-%d", i)})
		}
		const copies = 4
		var wg sync.WaitGroup
		replayed := make([]bool, copies)
		for c := 0; c < copies; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := env.Do(key, q, map[string]any{"in": inputs})
				if len(r.Errors) > 0 {
					t.Errorf("copy %d of the batch: %s", c, r.Errors[0].Message)
					return
				}
				replayed[c] = testenv.Get(r.Data, "reportUsageBatch.results.0.replayed") == true
			}()
		}
		wg.Wait()
		fresh := 0
		for _, r := range replayed {
			if !r {
				fresh++
			}
		}
		if fresh != 1 {
			t.Fatalf("%d copies of the batch counted, want 1 (the others replay)", fresh)
		}
		if v, c := currentUsage(t, env, key); v != n || c != n {
			t.Fatalf("usage %v count %v, want %d", v, c, n)
		}
		// Single reports with one key, concurrently: one counts, the
		// others replay its result; a different body is refused.
		results := make(chan map[string]any, 20)
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results <- report(t, env, key, 5, nil, "single")
			}()
		}
		wg.Wait()
		close(results)
		counted := 0
		for r := range results {
			if r["replayed"] != true {
				counted++
			}
			if testenv.Num(r, "usage.value") != n+5 {
				t.Fatalf("answer %v, want usage %d", r, n+5)
			}
		}
		if counted != 1 {
			t.Fatalf("%d of 20 reports with one key counted, want 1", counted)
		}
		e := env.MustFail(key, "CONFLICT", reportQ, map[string]any{"in": map[string]any{"instance": "i", "entitlement": "m", "value": 6, "idempotencyKey": "single"}})
		if e.Field() != "idempotencyKey" {
			t.Fatalf("conflict field %q", e.Field())
		}
		if got := ledgerSize(t, env, key); got != n+1 {
			t.Fatalf("ledger has %v events, want %d", got, n+1)
		}
	})
}

// At the first instant of a period a decision sees the new period's
// counter (zero), while a report dated just before it still lands in the
// old one.
func TestPeriodRollOverAtTheBoundary(t *testing.T) {
	t.Parallel()
	testenv.ForEachStore(t, func(t *testing.T, env *testenv.Env) {
		key := meter(t, env, "acme", map[string]any{"resetPeriod": "DAY"}, 10, nil)
		boundary := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 2)
		env.SetNow(boundary.Add(-time.Millisecond))
		report(t, env, key, 4, nil, "")
		if d := ask(t, env, key, "i", "m", nil); testenv.Num(d, "usage") != 4 {
			t.Fatalf("a millisecond before the boundary: usage %v, want 4", d["usage"])
		}
		env.SetNow(boundary)
		d := ask(t, env, key, "i", "m", nil)
		if testenv.Num(d, "usage") != 0 || testenv.Num(d, "remaining") != 10 {
			t.Fatalf("at the boundary: usage %v remaining %v, want 0 and 10", d["usage"], d["remaining"])
		}
		// Late: dated a millisecond before the boundary, it counts in the
		// old period, not the new.
		late := boundary.Add(-time.Millisecond)
		report(t, env, key, 1, &late, "")
		report(t, env, key, 2, nil, "")
		if d := ask(t, env, key, "i", "m", nil); testenv.Num(d, "usage") != 2 {
			t.Fatalf("new period after two reports: usage %v, want 2", d["usage"])
		}
		c := env.MustDo(key, `mutation { consumeUsage(input: {instance: "i", entitlement: "m", amount: 8}) { allowed usage } }`, nil)
		if testenv.Get(c, "consumeUsage.allowed") != true || testenv.Num(c, "consumeUsage.usage") != 10 {
			t.Fatalf("consume in the new period: %v", c)
		}
		env.SetNow(boundary.Add(-time.Millisecond))
		if d := ask(t, env, key, "i", "m", nil); testenv.Num(d, "usage") != 5 {
			t.Fatalf("back in the old period: usage %v, want 5", d["usage"])
		}
	})
}
