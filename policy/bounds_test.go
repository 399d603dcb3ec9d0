package policy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// These tests run modules built to exhaust CPU or memory. Each runs under a
// watchdog (a hung evaluation fails the test instead of hanging CI) and
// measures what it allocated; the bombs are sized so that, should a bound
// regress, they allocate hundreds of megabytes to a few gigabytes — enough
// to fail clearly, not enough to take a CI machine down.

const (
	// bombDeadline is the per-evaluation deadline of the bomb tests: long
	// enough that on a loaded machine the builtin bound, not the deadline,
	// is what stops a bomb (which is what the tests show).
	bombDeadline   = time.Second
	bombHeapBudget = 64 << 20               // bytes a refused bomb may allocate
	cpuWindow      = time.Second            // idle window after a deadline
	cpuAfterBudget = 300 * time.Millisecond // CPU the process may use in it
)

// watchdog runs f, failing the test if it does not return within limit.
func watchdog(t *testing.T, limit time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(limit):
		t.Fatalf("did not return within %v", limit)
	}
}

// memory runs f and reports how far the heap grew while it ran (live and
// not yet swept objects, sampled every millisecond without stopping the
// world) and what f allocated in all (MemStats.TotalAlloc, garbage
// included).
func memory(f func()) (growth, allocated uint64) {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	base := read()
	stop, peak := make(chan struct{}), make(chan uint64)
	go func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		highest := base
		for {
			select {
			case <-stop:
				peak <- max(highest, read())
				return
			case <-tick.C:
				highest = max(highest, read())
			}
		}
	}()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	close(stop)
	return <-peak - base, after.TotalAlloc - before.TotalAlloc
}

// processCPU is the CPU time the process has used: utime+stime from
// /proc/self/stat, else the runtime's own estimate.
func processCPU() time.Duration {
	if b, err := os.ReadFile("/proc/self/stat"); err == nil {
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i > 0 {
			f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
			if len(f) > 12 {
				ut, err1 := strconv.ParseInt(f[11], 10, 64)
				st, err2 := strconv.ParseInt(f[12], 10, 64)
				if err1 == nil && err2 == nil {
					return time.Duration(ut+st) * (time.Second / 100) // USER_HZ
				}
			}
		}
	}
	samples := []metrics.Sample{{Name: "/cpu/classes/user:cpu-seconds"}, {Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(samples)
	var sec float64
	for _, s := range samples {
		if s.Value.Kind() == metrics.KindFloat64 {
			sec += s.Value.Float64()
		}
	}
	return time.Duration(sec * float64(time.Second))
}

// cpuAfter is the CPU the process uses in the window after an evaluation
// returned: nothing of the evaluation may keep running.
func cpuAfter(t *testing.T) time.Duration {
	t.Helper()
	start := processCPU()
	time.Sleep(cpuWindow)
	used := processCPU() - start
	if used > cpuAfterBudget {
		t.Errorf("the process used %v of CPU in the %v after the evaluation returned", used, cpuWindow)
	}
	return used
}

// chain is "v0 := first; v1 := step(v0); ...; vn := step(vn-1)" in a body.
func chain(v, first, step string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\t%s0 := %s\n", v, first)
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "\t%s%d := %s\n", v, i, fmt.Sprintf(step, fmt.Sprintf("%s%d", v, i-1)))
	}
	return b.String()
}

// shared is x0 ... x4: x4 holds 10^8 numbers as 100 references to x3,
// each 100 references to x2, ... (cheap to build, huge to traverse).
const shared = "\tr := numbers.range(1, 100)\n\tx0 := [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n" +
	"\tx1 := [x0 | some _ in r]\n\tx2 := [x1 | some _ in r]\n\tx3 := [x2 | some _ in r]\n\tx4 := [x3 | some _ in r]\n"

func bombModule(body string) Module {
	return Module{Name: "bomb.rego", Source: "package entitled.custom.bomb\n\ndeny contains \"boom\" if {\n" + body + "}\n"}
}

// TestBuiltinBombs: calls whose results or work would be far over the
// bounds fail the evaluation (fail closed) quickly, allocating little.
func TestBuiltinBombs(t *testing.T) {
	kib := strings.Repeat("a", 1024)
	bombs := []struct{ name, body string }{
		// 256 verbs of 999999 bytes: 256 MB.
		{"sprintf width", "\tx := sprintf(\"" + strings.Repeat("%0999999d", 256) + "\", [" +
			strings.TrimSuffix(strings.Repeat("1, ", 256), ", ") + "])\n\tcount(x) > 0\n"},
		{"sprintf precision", "\tx := sprintf(\"" + strings.Repeat("%.999999f", 256) + "\", [" +
			strings.TrimSuffix(strings.Repeat("1.5, ", 256), ", ") + "])\n\tcount(x) > 0\n"},
		// One 512 KiB argument used 1000 times: 512 MB.
		{"sprintf repeated argument", chain("s", `"`+kib+`"`, `concat("", [%[1]s, %[1]s])`, 9) +
			"\tx := sprintf(\"" + strings.Repeat("%[1]s", 1000) + "\", [s9])\n\tcount(x) > 0\n"},
		{"sprintf star width", "\tx := sprintf(\"%0*d\", [999999999, 1])\n\tcount(x) > 0\n"},
		// 10^8 numbers rendered.
		{"sprintf of a shared value", shared + "\tx := sprintf(\"%v\", [x4])\n\tcount(x) > 0\n"},
		{"template string of a shared value", shared + "\tx := $\"{x4}\"\n\tcount(x) > 0\n"},
		{"json.marshal of a shared value", shared + "\tx := json.marshal(x4)\n\tcount(x) > 0\n"},
		{"yaml.marshal of a shared value", shared + "\tx := yaml.marshal(x4)\n\tcount(x) > 0\n"},
		{"object.union of a shared value", shared + "\tx := object.union({\"a\": x4}, {\"a\": x4})\n\tcount(x) > 0\n"},
		// Two equal values, 10^8 numbers each: 10^8 comparisons. (x4 == y4
		// is compiled to a unification, which no bound reaches: see the
		// audit in sandbox.go.)
		{"comparing shared values", shared + strings.ReplaceAll(shared[strings.Index(shared, "\tx0"):], "x", "y") + "\tnot x4 != y4\n"},
		{"membership of a shared value", shared + strings.ReplaceAll(shared[strings.Index(shared, "\tx0"):], "x", "y") + "\tx4 in [y4]\n"},
		// Doubling 26 times: 1 GiB.
		{"concat doubling", chain("s", `"aaaaaaaaaaaaaaaa"`, `concat("", [%[1]s, %[1]s])`, 26) + "\tcount(s26) > 0\n"},
		{"replace doubling", chain("s", `"aaaaaaaaaaaaaaaa"`, `replace(%[1]s, "a", "aa")`, 26) + "\tcount(s26) > 0\n"},
		{"strings.replace_n doubling", chain("s", `"aaaaaaaaaaaaaaaa"`, `strings.replace_n({"a": "aa"}, %[1]s)`, 26) + "\tcount(s26) > 0\n"},
		{"regex.replace doubling", chain("s", `"aaaaaaaaaaaaaaaa"`, `regex.replace(%[1]s, "a", "aa")`, 26) + "\tcount(s26) > 0\n"},
		{"hex.encode doubling", chain("s", `"aaaaaaaaaaaaaaaa"`, `hex.encode(%[1]s)`, 26) + "\tcount(s26) > 0\n"},
		{"concat of shared strings", chain("s", `"`+kib+`"`, `concat("", [%[1]s, %[1]s])`, 9) +
			"\tx := concat(\",\", [s9 | some _ in numbers.range(1, 1000)])\n\tcount(x) > 0\n"},
		// 2^27 elements: 1 GiB of pointers.
		{"array.concat doubling", chain("a", `[1]`, `array.concat(%[1]s, %[1]s)`, 27) + "\tcount(a27) > 0\n"},
		{"array.flatten of shared arrays", "\ta := numbers.range(1, 100000)\n\tb := [a | some _ in numbers.range(1, 1000)]\n" +
			"\tcount(array.flatten(b)) > 0\n"},
		{"numbers.range", "\tcount(numbers.range(1, 1000000000)) > 0\n"},
		{"numbers.range_step", "\tcount(numbers.range_step(0, 1000000000000, 2)) > 0\n"},
		{"split", chain("s", `"`+kib+`"`, `concat("", [%[1]s, %[1]s])`, 10) + "\tcount(split(s10, \"\")) > 0\n"},
		// 512 KiB strings, 50 GB of them: MaxEvalBuiltinBytes stops them
		// long before a generous deadline.
		{"many large strings", chain("s", `"`+kib+`"`, `concat("", [%[1]s, %[1]s])`, 8) +
			"\txs := [sprintf(\"%s%s%d\", [s8, s8, i]) | some i in numbers.range(1, 100000)]\n\tcount(xs) > 0\n"},
		// About 8 s of uninterruptible matching without the bound.
		{"regex program × text", chain("s", `"`+kib+`"`, `concat("", [%[1]s, %[1]s])`, 7) +
			"\tregex.match(\"" + strings.Repeat("[a-z]{1000}", 5) + "b\", s7)\n"},
		{"regex.find_n matches", chain("s", `"`+kib+`"`, `concat("", [%[1]s, %[1]s])`, 10) + "\tcount(regex.find_n(\"a\", s10, -1)) > 0\n"},
		{"indexof_n overlapping", chain("s", `"`+kib+`"`, `concat("", [%[1]s, %[1]s])`, 10) + "\tcount(indexof_n(s10, s9)) > 0\n"},
		{"trim with a non-ASCII cutset", chain("s", `"ééééééééééééééé"`, `concat("", [%[1]s, %[1]s])`, 16) +
			"\tcount(trim(s16, concat(\"\", [s16, \"x\"]))) > 0\n"},
		{"bits.lsh", "\tbits.lsh(1, 1000000000) > 0\n"},
		{"multiplication", chain("n", `1e9999`, `%[1]s * %[1]s`, 12) + "\tn12 > 0\n"},
	}
	var total time.Duration
	for _, b := range bombs {
		t.Run(b.name, func(t *testing.T) {
			deadline := bombDeadline
			if b.name == "many large strings" {
				deadline = 5 * time.Second
			}
			p, err := Compile([]Module{bombModule(b.body)}, WithEvalTimeout(deadline))
			if err != nil {
				t.Fatal(err)
			}
			var took time.Duration
			watchdog(t, 20*time.Second, func() {
				growth, alloc := memory(func() {
					start := time.Now()
					_, err = p.Eval(context.Background(), mustInput(t))
					took = time.Since(start)
				})
				t.Logf("returned in %v, heap grew %.1f MiB (%.1f MiB allocated): %v",
					took, float64(growth)/(1<<20), float64(alloc)/(1<<20), err)
				if growth > bombHeapBudget {
					t.Errorf("the heap grew by %d MiB", growth>>20)
				}
			})
			if !errors.Is(err, ErrBuiltinLimit) {
				t.Errorf("err = %v, want a sandbox builtin limit", err)
			}
			if took > 2*deadline {
				t.Errorf("returned after %v; deadline %v", took, deadline)
			}
			total += took
		})
	}
	t.Logf("after all bombs (%v of evaluation): %v of CPU in %v", total, cpuAfter(t), cpuWindow)
}

// TestDeadlineStopsCPU: for every kind of slow module of the test suite,
// the evaluation stops at its deadline and uses no CPU afterwards (OPA's
// evaluation is cancelled, not abandoned to a goroutine).
func TestDeadlineStopsCPU(t *testing.T) {
	fuzzSeed := "package entitled.custom\n\ndeny contains \"x\" if count([1 | some i in numbers.range(1, 100000)]) < 0\n" // fuzz_test.go, within the range bound
	walkModule := "package entitled.custom.w\n\ndeny contains \"x\" if {\n\tr := numbers.range(1, 100000)\n\txs := [r | some _ in r]\n" +
		"\tcount([p | walk(xs, [p, v]); v == -1]) > 0\n}\n"
	evalTimeoutModule := "package entitled.custom\n\ndeny contains \"never\" if {\n\tsome i in numbers.range(1, 20000)\n" +
		"\tsome j in numbers.range(1, 20000)\n\ti * j < 0\n}\n"
	for _, c := range []struct {
		name, src string
		explain   bool
	}{
		{"comprehension (TestDeadline)", slowModule, false},
		{"comprehension, Explain", slowModule, true},
		{"iteration (TestEvalTimeout)", evalTimeoutModule, false},
		{"long comprehension (FuzzValidate seed)", fuzzSeed, false},
		{"walk", walkModule, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := Compile([]Module{{Name: "slow.rego", Source: c.src}}, WithEvalTimeout(DefaultEvalTimeout))
			if err != nil {
				t.Fatal(err)
			}
			eval := p.Eval
			if c.explain {
				eval = p.Explain
			}
			var took time.Duration
			watchdog(t, 10*time.Second, func() {
				start := time.Now()
				_, err = eval(context.Background(), mustInput(t))
				took = time.Since(start)
			})
			if !errors.Is(err, ErrEvalTimeout) {
				t.Fatalf("err = %v", err)
			}
			if took > 500*time.Millisecond {
				t.Errorf("returned after %v; deadline %v", took, DefaultEvalTimeout)
			}
			t.Logf("returned after %v (deadline %v); CPU in the next %v: %v", took, DefaultEvalTimeout, cpuWindow, cpuAfter(t))
		})
	}
	t.Run("RunTests", func(t *testing.T) {
		var results []TestResult
		var err error
		var took time.Duration
		watchdog(t, 10*time.Second, func() {
			start := time.Now()
			results, err = RunTests(context.Background(), "package entitled.custom\n",
				"package entitled.custom_test\n\ntest_slow if {\n\tcount([x | some i in numbers.range(1, 100000); some j in numbers.range(1, 100000); x := i * j; x < 0]) > 0\n}\n",
				WithEvalTimeout(100*time.Millisecond))
			took = time.Since(start)
		})
		if err != nil || len(results) != 1 || !strings.Contains(results[0].Error, "timed out") {
			t.Fatalf("%+v %v", results, err)
		}
		t.Logf("returned after %v (test timeout 100ms); CPU in the next %v: %v", took, cpuWindow, cpuAfter(t))
	})
}

// TestReachablePathsRemoved: graph.reachable_paths enumerates every path
// (a complete graph of 8 nodes ran minutes past its deadline): it is
// refused when a module is saved; graph.reachable stays.
func TestReachablePathsRemoved(t *testing.T) {
	var graph []string
	for i := range 8 {
		var edges []string
		for j := range 8 {
			if j != i {
				edges = append(edges, fmt.Sprintf(`"n%d"`, j))
			}
		}
		graph = append(graph, fmt.Sprintf(`"n%d": [%s]`, i, strings.Join(edges, ", ")))
	}
	g := "{" + strings.Join(graph, ", ") + "}"
	src := "package entitled.custom\n\ndeny contains \"x\" if {\n\tpaths := graph.reachable_paths(" + g + ", {\"n0\"})\n\tcount(paths) > 0\n}\n"
	var errs CompileErrors
	watchdog(t, 10*time.Second, func() { errs = Validate(Module{Name: "paths.rego", Source: src}, nil) })
	if len(errs) != 1 || errs[0].Code != CodeBuiltin || !strings.Contains(errs[0].Message, "graph.reachable_paths") ||
		errs[0].Row != 4 || !strings.Contains(errs[0].Message, "exponential") {
		t.Fatalf("got %v", errs)
	}
	if BuiltinAllowed("graph.reachable_paths") {
		t.Fatal("graph.reachable_paths is allowed")
	}
	if _, err := RunTests(context.Background(), "package entitled.custom\n",
		"package entitled.custom_test\n\ntest_x if count(graph.reachable_paths("+g+", {\"n0\"})) > 0\n"); err == nil {
		t.Fatal("a test may call graph.reachable_paths")
	}
	// graph.reachable (linear) still works, on the same graph.
	p, err := Compile([]Module{{Name: "r.rego", Source: "package entitled.custom\n\ndeny contains \"all\" if count(graph.reachable(" + g + ", {\"n0\"})) == 8\n"}})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := p.Eval(context.Background(), mustInput(t)); err != nil || r.Reason != ReasonDeniedByPolicy {
		t.Fatalf("%+v %v", r, err)
	}
}

// TestRunTestsTotalBudget: a run of many spinning tests returns within its
// total budget; the tests left are reported failed, not run.
func TestRunTestsTotalBudget(t *testing.T) {
	var b strings.Builder
	b.WriteString("package entitled.custom_test\n\n")
	for i := range 199 {
		fmt.Fprintf(&b, "test_spin_%03d if count([x | some i in numbers.range(1, 100000); some j in numbers.range(1, 100000); x := i * j; x < 0]) > 0\n", i)
	}
	spin := b.String()
	check := func(t *testing.T, results []TestResult, took, budget time.Duration) {
		t.Helper()
		if len(results) != 199 {
			t.Fatalf("%d results", len(results))
		}
		ran, notRun := 0, 0
		for _, r := range results {
			switch {
			case r.Passed:
				t.Fatalf("passed: %+v", r)
			case strings.HasPrefix(r.Error, "not run: the test run's total budget of "+budget.String()):
				notRun++
			case strings.Contains(r.Error, "timed out"):
				ran++
			default:
				t.Fatalf("unexpected result %+v", r)
			}
			if r.File != "module_test.rego" || r.Row == 0 {
				t.Fatalf("unlocated result %+v", r)
			}
		}
		if notRun == 0 || ran == 0 {
			t.Fatalf("%d ran, %d not run", ran, notRun)
		}
		t.Logf("returned after %v (budget %v): %d tests ran, %d not run", took, budget, ran, notRun)
	}
	// Default budget (DefaultTestBudget) and per-test timeout (1 s).
	var results []TestResult
	var err error
	var took time.Duration
	watchdog(t, 20*time.Second, func() {
		start := time.Now()
		results, err = RunTests(context.Background(), "package entitled.custom\n", spin)
		took = time.Since(start)
	})
	if err != nil {
		t.Fatal(err)
	}
	if took > DefaultTestBudget+2*time.Second {
		t.Errorf("returned after %v, budget %v", took, DefaultTestBudget)
	}
	check(t, results, took, DefaultTestBudget)
	if !strings.Contains(results[1].Error, "total budget") {
		t.Errorf("second test: %+v", results[1])
	}
	// A smaller budget with a smaller per-test timeout.
	watchdog(t, 20*time.Second, func() {
		start := time.Now()
		results, err = RunTests(context.Background(), "package entitled.custom\n", spin,
			WithTotalBudget(300*time.Millisecond), WithEvalTimeout(50*time.Millisecond))
		took = time.Since(start)
	})
	if err != nil {
		t.Fatal(err)
	}
	if took > 300*time.Millisecond+time.Second {
		t.Errorf("returned after %v, budget 300ms", took)
	}
	check(t, results, took, 300*time.Millisecond)
	if results[0].Error == "" || strings.Contains(results[0].Error, "total budget") {
		t.Errorf("the first test should time out on its own deadline: %+v", results[0])
	}

	// A cancelled context stops the run promptly, with the results so far.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(150*time.Millisecond, cancel)
	watchdog(t, 20*time.Second, func() {
		start := time.Now()
		results, err = RunTests(ctx, "package entitled.custom\n", spin, WithTotalBudget(0))
		took = time.Since(start)
	})
	if !errors.Is(err, context.Canceled) || len(results) == 0 || len(results) > 2 {
		t.Fatalf("%d results, %v", len(results), err)
	}
	if took > 150*time.Millisecond+time.Second {
		t.Errorf("returned %v after the start, cancelled at 150ms", took)
	}
	t.Logf("cancelled at 150ms, returned after %v: %s", took, results[len(results)-1].Error)
}

// TestRunTestsBounds: tests get the builtin bounds too, and a test's print
// output is bounded before it is formatted.
func TestRunTestsBounds(t *testing.T) {
	tests := `package entitled.custom_test

test_bomb if {
	s0 := "aaaaaaaaaaaaaaaa"
	s1 := concat("", [s0, s0, s0, s0, s0, s0, s0, s0, s0, s0, s0, s0, s0, s0, s0, s0])
	s2 := concat("", [s1, s1, s1, s1, s1, s1, s1, s1, s1, s1, s1, s1, s1, s1, s1, s1])
	s3 := concat("", [s2, s2, s2, s2, s2, s2, s2, s2, s2, s2, s2, s2, s2, s2, s2, s2])
	s4 := concat("", [s3, s3, s3, s3, s3, s3, s3, s3, s3, s3, s3, s3, s3, s3, s3, s3])
	s5 := concat("", [s4, s4, s4, s4, s4, s4, s4, s4, s4, s4, s4, s4, s4, s4, s4, s4])
	count(s5) > 0
}

test_print_shared if {
` + shared + `	print(x4)
}

test_loud if {
	every i in numbers.range(1, 100000) {
		print("line", i)
	}
}
`
	var results []TestResult
	var err error
	watchdog(t, 20*time.Second, func() {
		results, err = RunTests(context.Background(), "package entitled.custom\n", tests, WithEvalTimeout(5*time.Second), WithTotalBudget(0))
	})
	if err != nil || len(results) != 3 {
		t.Fatalf("%+v %v", results, err)
	}
	for i, want := range []string{"concat: result", "print: would print more than", ""} {
		r := results[i]
		if want == "" {
			if !r.Passed || !strings.Contains(r.Output, "truncated") || len(r.Output) > MaxTestOutput+100 {
				t.Errorf("%s: passed=%v, %d bytes of output", r.Name, r.Passed, len(r.Output))
			}
			t.Logf("%s: %v", r.Name, r.Duration)
			continue
		}
		if r.Passed || !strings.Contains(r.Error, want) || r.Duration > time.Second {
			t.Errorf("%s: %+v", r.Name, r)
		}
	}
}

// TestBoundedBuiltinsKeepWorking: under their bounds, the wrapped builtins
// give OPA's results.
func TestBoundedBuiltinsKeepWorking(t *testing.T) {
	src := `package entitled.custom

deny contains "sprintf" if sprintf("%s has %d seats (%.1f%%) %v %[1]q", ["acme", 3, 12.5, [1]]) != "acme has 3 seats (12.5%) [1] \"acme\""
deny contains "width" if sprintf("%05d|%-4s|", [42, "ab"]) != "00042|ab  |"
deny contains "concat" if concat(", ", ["a", "b"]) != "a, b"
deny contains "replace" if replace("a-b-c", "-", "+") != "a+b+c"
deny contains "replace_n" if strings.replace_n({"a": "1", "b": "22"}, "abc") != "122c"
deny contains "regex.replace" if regex.replace("a1b22", "[0-9]+", "<$0>") != "a<1>b<22>"
deny contains "split" if split("a,b,c", ",") != ["a", "b", "c"]
deny contains "split_n" if strings.split_n("a,b,c", ",", 2) != ["a", "b"]
deny contains "indexof_n" if indexof_n("ééaé", "é") != [0, 1, 3]
deny contains "trim" if trim("éaé", "éx") != "a"
deny contains "range" if numbers.range(1, 3) != [1, 2, 3]
deny contains "range 1e2" if count(numbers.range(1, 1e2)) != 100
deny contains "range_step" if numbers.range_step(10, 1, 4) != [10, 6, 2]
deny contains "array.concat" if array.concat([1], [2]) != [1, 2]
deny contains "flatten" if array.flatten([1, [2, 3]]) != [1, 2, 3]
deny contains "arith" if 2 * 3 + 1 != 7
deny contains "big" if 18446744073709551616 * 2 != 36893488147419103232
deny contains "lsh" if bits.lsh(1, 64) != 18446744073709551616
deny contains "format_int" if format_int(255, 16) != "ff"
deny contains "json" if json.marshal({"a": [1]}) != "{\"a\":[1]}"
deny contains "json pretty" if json.marshal_with_options({"a": 1}, {"indent": "  "}) != "{\n  \"a\": 1\n}"
deny contains "unmarshal" if json.unmarshal("[1, {\"a\": 2}]") != [1, {"a": 2}]
deny contains "yaml" if yaml.unmarshal("a: [1, 2]") != {"a": [1, 2]}
deny contains "union" if object.union({"a": {"b": 1}}, {"a": {"c": 2}}) != {"a": {"b": 1, "c": 2}}
deny contains "subset" if not object.subset({"a": [1, 2, 3]}, {"a": [2, 3]})
deny contains "patch" if json.patch({"a": 1}, [{"op": "add", "path": "/b", "value": 2}]) != {"a": 1, "b": 2}
deny contains "regex" if not regex.match("^[a-z0-9-]{1,63}$", "eu-prod-1")
deny contains "find_n" if regex.find_n("[0-9]", "a1b2c3", -1) != ["1", "2", "3"]
deny contains "regex.split" if regex.split("[,;]", "a,b;c") != ["a", "b", "c"]
deny contains "template" if not regex.template_match("urn:foo:{.*}", "urn:foo:bar:baz", "{", "}")
deny contains "glob" if not glob.match("*.example.com", ["."], "api.example.com")
deny contains "template string" if $"{1 + 1} seats" != "2 seats"
deny contains "sort" if sort([3, 1, 2]) != [1, 2, 3]
deny contains "units" if units.parse_bytes("2KiB") != 2048
deny contains "to_number" if to_number("12.5") != 12.5
deny contains "jwt" if io.jwt.decode("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln")[1] != {"sub": "x"}
deny contains "urlquery" if urlquery.decode_object("a=1&a=2&b=3") != {"a": ["1", "2"], "b": ["3"]}
`
	p, err := Compile([]Module{{Name: "ok.rego", Source: src}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := p.Eval(context.Background(), mustInput(t))
	if err != nil || r.Reason != ReasonAllowed {
		t.Fatalf("%+v %v", r, err)
	}
}

// TestBoundsCoverAllowlist: every allowlisted builtin has a line in the
// audit of sandbox.go, and every bounded builtin is one a policy can call.
func TestBoundsCoverAllowlist(t *testing.T) {
	src, err := os.ReadFile("sandbox.go")
	if err != nil {
		t.Fatal(err)
	}
	audit := string(src)
	audit = audit[strings.Index(audit, "# Availability audit"):strings.Index(audit, "var allowedBuiltins")]
	for _, name := range append(AllowedBuiltins(), "graph.reachable_paths") {
		if !regexp.MustCompile(`[\s(]` + regexp.QuoteMeta(name) + `[\s)]`).MatchString(audit) {
			t.Errorf("%s is not in the audit", name)
		}
	}
	for name := range bounds {
		if !BuiltinAllowed(name) {
			t.Errorf("bounded %s is not available to policies", name)
		}
	}
}

// TestMaxTotalBytes: the policy set as a whole is bounded.
func TestMaxTotalBytes(t *testing.T) {
	var mods []Module
	for i := range 9 { // 9 × 60 KiB > 512 KiB
		mods = append(mods, Module{Name: fmt.Sprintf("m%d.rego", i),
			Source: fmt.Sprintf("package entitled.custom.m%d\n\n# %s\n", i, strings.Repeat("x", 60<<10))})
	}
	_, err := Compile(mods)
	var ces CompileErrors
	if !errors.As(err, &ces) || len(ces) != 1 || ces[0].Code != CodeLimit || !strings.Contains(ces[0].Message, "524288") {
		t.Fatalf("compile: %v", err)
	}
	if errs := Validate(mods[8], mods[:8]); len(errs) != 1 || errs[0].Code != CodeLimit {
		t.Fatalf("validate: %v", errs)
	}
	if _, err := RunModuleTests(context.Background(), mods[:8], mods[8:]); !errors.As(err, &ces) || ces[0].Code != CodeLimit {
		t.Fatalf("tests: %v", err)
	}
	if _, err := Compile(mods[:8]); err != nil {
		t.Fatalf("8 modules: %v", err)
	}
	if _, err := Compile(mods, WithLimits(Limits{MaxModuleBytes: 64 << 10})); err != nil {
		t.Fatalf("no total limit: %v", err)
	}
}

// TestLargeMessagesAreShortened: a message that is not a string is
// rendered with a bound, not whole; one too large to sort fails the
// decision.
func TestLargeMessagesAreShortened(t *testing.T) {
	// x2: 10^5 numbers, 100 references to x1.
	p, err := Compile([]Module{{Name: "m.rego", Source: "package entitled.custom\n\ndeny contains x2 if {\n" +
		strings.Split(shared, "\tx3")[0] + "}\n"}}, WithEvalTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var r Result
	watchdog(t, 20*time.Second, func() { r, err = p.Eval(context.Background(), mustInput(t)) })
	if err != nil || len(r.Reasons) != 1 || len(r.Reasons[0]) > maxReasonRendered+3 || !strings.HasSuffix(r.Reasons[0], "...") {
		t.Fatalf("%v, %d reasons", err, len(r.Reasons))
	}
	if r, err := p.Explain(context.Background(), mustInput(t)); err != nil || len(r.Explanation) == 0 || len(r.Explanation[0].Message) > 203 {
		t.Fatalf("explain: %v %v", r.Explanation, err)
	}
	// x4: 10^8 numbers.
	p, err = Compile([]Module{{Name: "m.rego", Source: "package entitled.custom\n\ndeny contains x4 if {\n" + shared + "}\n"}},
		WithEvalTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	watchdog(t, 20*time.Second, func() {
		if growth, _ := memory(func() { r, err = p.Eval(context.Background(), mustInput(t)) }); growth > bombHeapBudget {
			t.Errorf("the heap grew by %d MiB", growth>>20)
		}
	})
	if !errors.Is(err, ErrBuiltinLimit) {
		t.Fatalf("%+v %v", r, err)
	}
	if s := boundedString(ast.MustParseTerm(`{"a": [1, "x"], "b": {1}}`).Value, 100); s != `{"a": [1, "x"], "b": {1}}` {
		t.Errorf("small value: %s", s)
	}
}

// TestExpansionRefused: values that double through variables or rules
// make OPA's type checker and evaluator do exponential work where no
// deadline reaches (compiling, or plugging one expression); such modules
// are refused when saved, quickly.
func TestExpansionRefused(t *testing.T) {
	var rules, imported strings.Builder
	rules.WriteString("package entitled.custom.r\n\na0 := [1]\n")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&rules, "a%d := [a%d, a%d]\n", i, i-1, i-1)
	}
	rules.WriteString("\ndeny contains \"x\" if count(a40) == 0\n")
	imported.WriteString("package entitled.custom.i\n\nimport data.entitled.custom.h\n\nb0 := [h.a15, h.a15]\n")
	for i := 1; i <= 10; i++ {
		fmt.Fprintf(&imported, "b%d := {\"l\": b%d, \"r\": b%d}\n", i, i-1, i-1)
	}
	helper := "package entitled.custom.h\n\na0 := [1]\n"
	for i := 1; i <= 15; i++ {
		helper += fmt.Sprintf("a%d := [a%d, a%d]\n", i, i-1, i-1)
	}
	for _, c := range []struct {
		name   string
		mod    Module
		active []Module
		row    int
	}{
		{"local variables", bombModule(chain("x", "[1]", "[%[1]s, %[1]s]", 40) + "\tcount(x40) == 0\n"), nil, 20},
		{"objects in a comprehension", bombModule(chain("x", "[1]", `[{"a": %[1]s, "b": %[1]s} | some _ in [1]]`, 40) + "\tcount(x40) == 0\n"), nil, 19},
		{"rules", Module{Name: "bomb.rego", Source: rules.String()}, nil, 19},
		{"function calls", Module{Name: "bomb.rego", Source: "package entitled.custom.f\n\nf(x) := [x, x]\n\ndeny contains \"x\" if {\n" +
			chain("a", "[1]", "f(%[1]s)", 40) + "\tcount(a40) == 0\n}\n"}, nil, 22},
		{"rules of another module, imported", Module{Name: "bomb.rego", Source: imported.String()}, []Module{{Name: "h.rego", Source: helper}}, 5},
	} {
		t.Run(c.name, func(t *testing.T) {
			var errs CompileErrors
			var took time.Duration
			watchdog(t, 10*time.Second, func() {
				start := time.Now()
				errs = Validate(c.mod, c.active)
				took = time.Since(start)
			})
			if len(errs) != 1 || errs[0].Code != CodeLimit || errs[0].File != "bomb.rego" || errs[0].Row != c.row ||
				!strings.Contains(errs[0].Message, "expands to more than 100000") {
				t.Fatalf("got %v", errs)
			}
			t.Logf("refused in %v: %v", took, errs[0])
		})
	}
	// Below the bound (2^16 values), it compiles and evaluates.
	p, err := Compile([]Module{bombModule(chain("x", "[1]", "[%[1]s, %[1]s]", 15) + "\tcount(x15) == 0\n")})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := p.Eval(context.Background(), mustInput(t)); err != nil || r.Reason != ReasonAllowed {
		t.Fatalf("%+v %v", r, err)
	}
}
