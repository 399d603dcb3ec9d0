package apitest

import (
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/entitled/entitled/internal/testenv"
)

const reportQ = `mutation($in: ReportUsageInput!) { reportUsage(input: $in) {
	usage { value count periodStart periodEnd limit hardCap remaining entitlement { slug } }
	softLimitExceeded hardCapExceeded replayed } }`

const consumeQ = `mutation($in: ConsumeUsageInput!) { consumeUsage(input: $in) { allowed reason usage remaining hardCap } }`

// meter makes an organization with one instance on a license granting a
// NUMBER entitlement with the given metering, and returns its admin key.
func meter(t *testing.T, env *testenv.Env, org string, metering map[string]any, limit float64, overage any) string {
	t.Helper()
	key := env.NewOrg(org)
	in := map[string]any{"name": "Meter", "slug": "m", "type": "NUMBER"}
	for k, v := range metering {
		in[k] = v
	}
	e := testenv.Str(env.MustDo(key, createEntitlement, map[string]any{"in": in}), "createEntitlement.id")
	l := testenv.Str(env.MustDo(key, createLicense, map[string]any{"in": map[string]any{"name": "L", "slug": "l", "type": "PAID", "isDefault": true}}), "createLicense.id")
	link := map[string]any{"licenseID": l, "entitlementID": e, "value": map[string]any{"type": "number", "value": limit}}
	if overage != nil {
		link["overagePercent"] = overage
	}
	env.MustDo(key, setLink, map[string]any{"in": link})
	env.MustDo(key, `mutation { createInstance(input: {name: "I", slug: "i"}) { id } }`, nil)
	return key
}

func report(t *testing.T, env *testenv.Env, key string, value float64, at *time.Time, idem string) map[string]any {
	t.Helper()
	in := map[string]any{"instance": "i", "entitlement": "m", "value": value}
	if at != nil {
		in["timestamp"] = at.Format(time.RFC3339Nano)
	}
	if idem != "" {
		in["idempotencyKey"] = idem
	}
	return env.MustDo(key, reportQ, map[string]any{"in": in})["reportUsage"].(map[string]any)
}

func currentUsage(t *testing.T, env *testenv.Env, key string) (value, count float64) {
	t.Helper()
	d := env.MustDo(key, `{ instances { edges { node { usage { value count } } } } }`, nil)
	return testenv.Num(d, "instances.edges.0.node.usage.0.value"), testenv.Num(d, "instances.edges.0.node.usage.0.count")
}

func ledgerSize(t *testing.T, env *testenv.Env, key string) float64 {
	t.Helper()
	return testenv.Num(env.MustDo(key, `{ usageEvents { totalCount } }`, nil), "usageEvents.totalCount")
}

func TestAggregations(t *testing.T) {
	t.Parallel()
	testenv.ForEachStore(t, func(t *testing.T, env *testenv.Env) {
		base := time.Now().UTC().Add(-time.Minute)
		at := func(s int) *time.Time { v := base.Add(time.Duration(s) * time.Second); return &v }
		// Instances start before the reports they get.
		env.SetNow(base.Add(-time.Minute))
		cases := []struct {
			name     string
			metering map[string]any
			reports  []float64
			times    []int // seconds after base, per report
			want     float64
		}{
			{"SUM", map[string]any{"aggregationMethod": "SUM"}, []float64{1.5, 2.25, 3}, nil, 6.75},
			{"COUNT", map[string]any{"aggregationMethod": "COUNT"}, []float64{10, 20, 30, 40}, nil, 4},
			{"AVERAGE is sum/count, exact", map[string]any{"aggregationMethod": "AVERAGE"}, []float64{1, 2, 2}, nil, 5.0 / 3},
			{"AVERAGE of tenths", map[string]any{"aggregationMethod": "AVERAGE"}, []float64{0.1, 0.2, 0.3}, nil, (0.1 + 0.2 + 0.3) / 3},
			{"MAX", map[string]any{"meterType": "CALCULATED_USAGE", "aggregationMethod": "MAX"}, []float64{5, 1, 3}, nil, 5},
			{"MIN has no implicit zero", map[string]any{"meterType": "CALCULATED_USAGE", "aggregationMethod": "MIN"}, []float64{5, 3, 9}, nil, 3},
			{"MIN of fractions and zero", map[string]any{"meterType": "CALCULATED_USAGE", "aggregationMethod": "MIN"}, []float64{2, 0, 0.5}, nil, 0},
			{"LATEST by timestamp, not arrival", map[string]any{"meterType": "CALCULATED_USAGE"}, []float64{30, 10, 20}, []int{3, 1, 2}, 30},
		}
		for i, c := range cases {
			key := meter(t, env, fmt.Sprintf("agg-%d", i), c.metering, 1000, nil)
			for j, v := range c.reports {
				var ts *time.Time
				if c.times != nil {
					ts = at(c.times[j])
				}
				report(t, env, key, v, ts, "")
			}
			got, count := currentUsage(t, env, key)
			if math.Abs(got-c.want) > 1e-12 || count != float64(len(c.reports)) {
				t.Errorf("%s: usage %v count %v, want %v count %d", c.name, got, count, c.want, len(c.reports))
			}
		}
	})
}

func TestResetPeriodsAndLateReports(t *testing.T) {
	t.Parallel()
	testenv.ForEachStore(t, func(t *testing.T, env *testenv.Env) {
		for _, c := range []struct {
			period        string
			before, after time.Time
		}{
			{"HOUR", time.Date(2026, 11, 28, 12, 59, 59, 0, time.UTC), time.Date(2026, 11, 28, 13, 0, 0, 0, time.UTC)},
			{"DAY", time.Date(2026, 11, 28, 23, 59, 59, 0, time.UTC), time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)},
			{"WEEK", time.Date(2026, 11, 29, 23, 59, 59, 0, time.UTC), time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)},
			{"MONTH", time.Date(2026, 11, 30, 23, 59, 59, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)},
			{"YEAR", time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		} {
			// The instance starts a minute before, so late reports are
			// within its life.
			env.SetNow(c.before.Add(-time.Minute))
			key := meter(t, env, "p-"+map[string]string{"HOUR": "h", "DAY": "d", "WEEK": "w", "MONTH": "m", "YEAR": "y"}[c.period], map[string]any{"resetPeriod": c.period}, 100, nil)
			env.SetNow(c.before)
			r := report(t, env, key, 5, nil, "")
			if testenv.Num(r, "usage.value") != 5 {
				t.Fatalf("%s: first report %v", c.period, r)
			}
			env.SetNow(c.after)
			if v, _ := currentUsage(t, env, key); v != 0 {
				t.Fatalf("%s: usage after the boundary = %v, want 0 (new period)", c.period, v)
			}
			r = report(t, env, key, 2, nil, "")
			if testenv.Num(r, "usage.value") != 2 || testenv.Str(r, "usage.periodStart") != c.after.Format(time.RFC3339) {
				t.Fatalf("%s: report in new period = %v", c.period, r)
			}
			// A late report lands in the period of its timestamp.
			late := c.before.Add(-time.Second)
			r = report(t, env, key, 1, &late, "")
			if testenv.Num(r, "usage.value") != 6 || testenv.Str(r, "usage.periodEnd") != c.after.Format(time.RFC3339) {
				t.Fatalf("%s: late report = %v, want previous period at 6", c.period, r)
			}
			if v, _ := currentUsage(t, env, key); v != 2 {
				t.Fatalf("%s: current period changed by a late report: %v", c.period, v)
			}
			h := env.MustDo(key, `{ usageHistory(instance: "i", entitlement: "m", periods: 2) { value periodStart } }`, nil)
			if testenv.Num(h, "usageHistory.0.value") != 2 || testenv.Num(h, "usageHistory.1.value") != 6 {
				t.Fatalf("%s: history %v", c.period, h)
			}
		}
	})
}

func TestReportRejections(t *testing.T) {
	t.Parallel()
	testenv.ForEachStore(t, func(t *testing.T, env *testenv.Env) {
		now := time.Now().UTC()
		env.SetNow(now)
		f := newFixture(t, env, "acme") // api-calls (NUMBER SUM), sso, branding, beta, seats (not linked)
		bad := []struct {
			in    map[string]any
			code  string
			field string
		}{
			{map[string]any{"instance": "eu-1", "entitlement": "sso", "value": 1}, "BAD_USER_INPUT", "entitlement"},
			{map[string]any{"instance": "eu-1", "entitlement": "branding", "value": 1}, "BAD_USER_INPUT", "entitlement"},
			{map[string]any{"instance": "eu-1", "entitlement": "seats", "value": 1}, "BAD_USER_INPUT", "entitlement"},
			{map[string]any{"instance": "eu-1", "entitlement": "api-calls", "value": -1}, "BAD_USER_INPUT", "value"},
			{map[string]any{"instance": "eu-1", "entitlement": "api-calls", "value": "NaN"}, "BAD_USER_INPUT", ""},
			{map[string]any{"instance": "nope", "entitlement": "api-calls", "value": 1}, "NOT_FOUND", "instance"},
			{map[string]any{"instance": "eu-1", "entitlement": "nope", "value": 1}, "NOT_FOUND", "entitlement"},
			{map[string]any{"instance": "eu-1", "entitlement": "api-calls", "value": 1, "timestamp": now.Add(6 * time.Minute).Format(time.RFC3339)}, "BAD_USER_INPUT", "timestamp"},
		}
		for _, b := range bad {
			e := env.MustFail(f.key, b.code, reportQ, map[string]any{"in": b.in})
			if b.field != "" && e.Field() != b.field {
				t.Errorf("%v: field %q, want %q (%s)", b.in, e.Field(), b.field, e.Message)
			}
		}
		// Four minutes ahead is within the tolerance.
		env.MustDo(f.key, reportQ, map[string]any{"in": map[string]any{"instance": "eu-1", "entitlement": "api-calls", "value": 1, "timestamp": now.Add(4 * time.Minute).Format(time.RFC3339)}})
		if n := ledgerSize(t, env, f.key); n != 1 {
			t.Fatalf("rejected reports wrote to the ledger: %v events, want 1", n)
		}
		// Another organization cannot report on this one's instance.
		other := env.NewOrg("globex")
		env.MustFail(other, "NOT_FOUND", reportQ, map[string]any{"in": map[string]any{"instance": "eu-1", "entitlement": "api-calls", "value": 1}})
		if n := testenv.Num(env.MustDo(other, `{ usageEvents { totalCount } thresholdEvents { totalCount } }`, nil), "usageEvents.totalCount"); n != 0 {
			t.Fatalf("other organization sees %v usage events", n)
		}
	})
}

func TestIdempotencyAndOverage(t *testing.T) {
	t.Parallel()
	testenv.ForEachStore(t, func(t *testing.T, env *testenv.Env) {
		key := meter(t, env, "acme", nil, 10, 20) // hard cap 12
		r1 := report(t, env, key, 9, nil, "req-1")
		if r1["replayed"] != false || r1["softLimitExceeded"] != false {
			t.Fatalf("first report %v", r1)
		}
		again := report(t, env, key, 9, nil, "req-1")
		if again["replayed"] != true || testenv.Num(again, "usage.value") != 9 {
			t.Fatalf("replay %v", again)
		}
		e := env.MustFail(key, "CONFLICT", reportQ, map[string]any{"in": map[string]any{"instance": "i", "entitlement": "m", "value": 8, "idempotencyKey": "req-1"}})
		if e.Field() != "idempotencyKey" {
			t.Fatalf("key reuse error field %q", e.Field())
		}
		// Over the limit and over the cap: recorded, flagged.
		r := report(t, env, key, 2, nil, "")
		if r["softLimitExceeded"] != true || r["hardCapExceeded"] != false || testenv.Num(r, "usage.remaining") != 1 {
			t.Fatalf("soft overage %v", r)
		}
		r = report(t, env, key, 5, nil, "")
		if r["hardCapExceeded"] != true || testenv.Num(r, "usage.value") != 16 || testenv.Num(r, "usage.remaining") != 0 {
			t.Fatalf("hard overage not recorded and flagged: %v", r)
		}
		if v, c := currentUsage(t, env, key); v != 16 || c != 3 {
			t.Fatalf("usage %v count %v, want 16 / 3", v, c)
		}
		// One threshold event per crossing.
		report(t, env, key, 1, nil, "")
		d := env.MustDo(key, `{ thresholdEvents { totalCount edges { node { kind } } } }`, nil)
		if testenv.Num(d, "thresholdEvents.totalCount") != 3 {
			t.Fatalf("threshold events %v, want PERCENT_80, LIMIT_REACHED, HARD_CAP_EXCEEDED once each", d)
		}
	})
}

func TestAllowedFlipsAtTheLimit(t *testing.T) {
	t.Parallel()
	testenv.ForEachStore(t, func(t *testing.T, env *testenv.Env) {
		key := meter(t, env, "acme", nil, 5, nil)
		for i := 1; i <= 5; i++ {
			d := ask(t, env, key, "i", "m", nil)
			wantReason(t, d, true, "ALLOWED")
			if testenv.Num(d, "usage") != float64(i-1) || testenv.Num(d, "remaining") != float64(5-i+1) {
				t.Fatalf("before report %d: %v", i, d)
			}
			report(t, env, key, 1, nil, "")
		}
		d := ask(t, env, key, "i", "m", nil)
		wantReason(t, d, false, "LIMIT_EXCEEDED")
		if testenv.Num(d, "usage") != 5 || testenv.Num(d, "remaining") != 0 {
			t.Fatalf("at the limit: %v", d)
		}
	})
}

func TestBatchIsAllOrNothing(t *testing.T) {
	t.Parallel()
	testenv.ForEachStore(t, func(t *testing.T, env *testenv.Env) {
		key := meter(t, env, "acme", nil, 1e9, nil)
		const q = `mutation($in: [ReportUsageInput!]!) { reportUsageBatch(inputs: $in) { results { usage { value count } replayed } } }`
		var inputs []any
		for i := 0; i < 1000; i++ {
			inputs = append(inputs, map[string]any{"instance": "i", "entitlement": "m", "value": 1, "idempotencyKey": fmt.Sprintf("b-%d", i)})
		}
		bad := append(append([]any{}, inputs[:500]...), map[string]any{"instance": "i", "entitlement": "m", "value": -3})
		e := env.MustFail(key, "BAD_USER_INPUT", q, map[string]any{"in": bad})
		if e.Field() != "inputs[500].value" {
			t.Fatalf("batch error field %q", e.Field())
		}
		if n := ledgerSize(t, env, key); n != 0 {
			t.Fatalf("failed batch wrote %v events", n)
		}
		d := env.MustDo(key, q, map[string]any{"in": inputs})
		if testenv.Len(d, "reportUsageBatch.results") != 1000 || testenv.Num(d, "reportUsageBatch.results.999.usage.value") != 1000 {
			t.Fatalf("batch results: last %v", testenv.Get(d, "reportUsageBatch.results.999"))
		}
		// The same batch again counts nothing.
		d = env.MustDo(key, q, map[string]any{"in": inputs})
		if testenv.Get(d, "reportUsageBatch.results.0.replayed") != true {
			t.Fatalf("retried batch not replayed")
		}
		if v, c := currentUsage(t, env, key); v != 1000 || c != 1000 {
			t.Fatalf("after retry usage %v count %v, want 1000", v, c)
		}
	})
}

// Not parallel: 200 concurrent requests fill the production-sized
// PostgreSQL pool (32 connections, testenv.MaxConns(0)) and both cores; run
// beside other tests they would exceed the suite's connection budget, and
// a smaller pool would weaken the race this test provokes. The consumes
// are committed in groups (one transaction for those queued on the
// counter row), each decided in arrival order against the cap.
func TestConcurrentConsumeNeverPassesTheCap(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) { concurrentConsume(t, backend) })
	}
}

func concurrentConsume(t *testing.T, backend string) {
	env := testenv.New(t, backend, testenv.MaxConns(0))
	key := meter(t, env, "acme", nil, 50, nil)
	const n = 200
	var wg sync.WaitGroup
	var mu sync.Mutex
	granted, refused := 0, 0
	errs := make(chan string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := env.Do(key, consumeQ, map[string]any{"in": map[string]any{"instance": "i", "entitlement": "m", "amount": 1}})
			if len(r.Errors) > 0 {
				errs <- r.Raw
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if testenv.Get(r.Data, "consumeUsage.allowed") == true {
				granted++
			} else {
				refused++
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatalf("consume failed: %s", e)
	}
	if granted != 50 || refused != 150 {
		t.Fatalf("granted %d refused %d, want exactly 50 / 150", granted, refused)
	}
	if v, c := currentUsage(t, env, key); v != 50 || c != 50 {
		t.Fatalf("usage %v count %v, want 50", v, c)
	}
}

// Not parallel, for the reasons TestConcurrentConsumeNeverPassesTheCap is
// not: 200 concurrent requests on the production-sized pool.
func TestConcurrentReportsCountExactlyOnce(t *testing.T) {
	env := testenv.New(t, "postgres", testenv.MaxConns(0))
	key := meter(t, env, "acme", nil, 1e9, nil)
	send := func() {
		var wg sync.WaitGroup
		for i := 0; i < 200; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				r := env.Do(key, reportQ, map[string]any{"in": map[string]any{"instance": "i", "entitlement": "m", "value": 1, "idempotencyKey": fmt.Sprintf("c-%d", i)}})
				if len(r.Errors) > 0 {
					t.Errorf("report %d: %s", i, r.Raw)
				}
			}(i)
		}
		wg.Wait()
	}
	send()
	if v, c := currentUsage(t, env, key); v != 200 || c != 200 {
		t.Fatalf("usage %v count %v, want 200", v, c)
	}
	send() // every request retried
	if v, c := currentUsage(t, env, key); v != 200 || c != 200 {
		t.Fatalf("after retries usage %v count %v, want 200", v, c)
	}
	if n := ledgerSize(t, env, key); n != 200 {
		t.Fatalf("ledger has %v events, want 200", n)
	}
}
