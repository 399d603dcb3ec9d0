// Command faults injects database faults into three entitled replicas that
// share one PostgreSQL database, under load, and prints what clients saw:
// errors by code during each fault, the worst change propagation across
// replicas, the time to recover, and whether any usage report was lost or
// counted twice (both must be 0).
//
// It builds entitled once, creates a fresh database on the PostgreSQL
// server given (loopback only), puts a TCP proxy it controls between the
// replicas and PostgreSQL, starts three replicas, and drives reportUsage
// (with idempotency keys, retried until acknowledged) and allowed from
// concurrent clients while it
//
//  1. terminates every connection of the database (pg_terminate_backend),
//  2. makes PostgreSQL unreachable through the proxy and brings it back,
//     as a restart would (connections reset, new ones refused),
//  3. SIGKILLs one replica and restarts it.
//
// The shared PostgreSQL server is never stopped: only the test database's
// connections are terminated, and only through the proxy is it cut off.
//
//	go run ./tools/faults             # about 40 s
//	go run ./tools/faults -short      # about 20 s (go test ./tools/faults runs it)
package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/entitled/entitled/internal/testenv"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	_ "github.com/lib/pq"

	"github.com/entitled/entitled/internal/testenv/proxy"
)

const operatorToken = "faults-operator-token-of-32-characters-or-more"

type config struct {
	pgURL            string
	bin              string
	phase, outage    time.Duration
	reporters        int
	propagationLimit time.Duration
}

func main() {
	var c config
	short := flag.Bool("short", false, "shorter phases (CI)")
	flag.StringVar(&c.pgURL, "postgres", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL server (loopback) to create the test database on")
	flag.StringVar(&c.bin, "bin", "", "entitled binary to run (default: build it)")
	flag.DurationVar(&c.phase, "phase", 6*time.Second, "how long each phase runs under load")
	flag.DurationVar(&c.outage, "outage", 8*time.Second, "how long PostgreSQL stays unreachable")
	flag.IntVar(&c.reporters, "reporters", 6, "concurrent reportUsage clients")
	flag.DurationVar(&c.propagationLimit, "propagation-limit", time.Second, "fail when a change takes longer to reach every replica")
	flag.Parse()
	if *short {
		c.phase, c.outage = 3*time.Second, 4*time.Second
	}
	if err := run(c, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "faults: FAIL:", err)
		os.Exit(1)
	}
}

// run is the whole suite; it returns an error when a report was lost or
// counted twice, a change took longer than the limit, or the replicas did
// not recover.
func run(c config, out io.Writer) error {
	deadline := time.Now().Add(4*c.phase + c.outage + 3*time.Minute)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := loopbackOnly(c.pgURL); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "faults")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if c.bin == "" {
		c.bin = filepath.Join(dir, "entitled")
		build := exec.CommandContext(ctx, "go", "build", "-o", c.bin, "github.com/entitled/entitled")
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build: %w", err)
		}
	}
	dbURL, drop, err := testenv.NewDatabase(c.pgURL, "entitled_faults_")
	if err != nil {
		return err
	}
	defer drop()
	px, viaProxy, err := proxy.ForURL(dbURL)
	if err != nil {
		return err
	}
	defer px.Close()

	s := &suite{cfg: c, dir: dir, dbURL: dbURL, viaProxy: viaProxy, px: px, out: out, rec: newRecorder()}
	defer s.stopAll()
	for i := 0; i < 3; i++ {
		if err := s.start(ctx, i); err != nil {
			return err
		}
	}
	if err := s.seed(); err != nil {
		return err
	}
	fmt.Fprintf(out, "three replicas on %s through a proxy at %s; %d report clients, one decision client per replica\n\n", redact(dbURL), px.Addr(), c.reporters)

	load, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	s.startLoad(load, &wg)

	s.phase("steady state", time.Now)
	s.phase("connections terminated (pg_terminate_backend, 3 times 1 s apart)", func() time.Time {
		for i := 0; i < 3; i++ {
			n, err := s.terminate()
			if err != nil {
				fmt.Fprintln(out, "   terminate:", err)
			} else {
				s.note("terminated %d connections", n)
			}
			if i < 2 {
				time.Sleep(time.Second)
			}
		}
		return time.Now()
	})
	s.phase(fmt.Sprintf("PostgreSQL unreachable for %s (proxy cut: connections reset, new ones refused), then back", c.outage), func() time.Time {
		s.cuts.Add(1)
		px.Cut()
		time.Sleep(c.outage)
		if err := px.Restore(); err != nil {
			s.note("restore: %v", err)
		}
		back := time.Now()
		s.firstChange(ctx)
		return back
	})
	s.phase("one replica SIGKILLed and restarted", func() time.Time {
		s.down.Store(2)
		killed := time.Now()
		s.kill(1)
		time.Sleep(500 * time.Millisecond)
		restart := time.Now()
		if err := s.start(ctx, 1); err != nil {
			s.note("restart: %v", err)
		} else {
			s.note("replica 2 killed; restarted after 500 ms, ready %s after its restart (%s after the kill)", time.Since(restart).Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
		}
		s.down.Store(0)
		return time.Now()
	})
	stopLoad()
	wg.Wait()
	return s.verify(ctx)
}

type suite struct {
	cfg      config
	dir      string
	dbURL    string
	viaProxy string
	px       *proxy.Proxy
	out      io.Writer
	rec      *recorder

	replicas [3]*replica
	admin    string // admin key
	check    string // CHECK key
	licID    string
	flagID   string
	flag2ID  string // toggled once, by firstChange
	eventsID string
	flagOn   atomic.Bool

	// down is 1 + the index of a replica that is being killed and
	// restarted (0: none): changes are timed across the others, and its
	// catch-up is its time to recover.
	down atomic.Int32
	// cuts counts the database outages begun: a change committed just
	// before one may reach the others only when they reconnect (its
	// notification was lost with the connection), which firstChange
	// measures separately, so its propagation is not a change's.
	cuts atomic.Int32

	next   atomic.Int64 // next report index
	acked  sync.Map     // index → true
	probes atomic.Int64

	notes []string
}

type replica struct {
	addr string
	cmd  *exec.Cmd
	done chan struct{}
}

func (s *suite) note(format string, args ...any) {
	s.notes = append(s.notes, fmt.Sprintf(format, args...))
}

// start runs replica i (again, on its address, after a kill) and waits
// until it answers.
func (s *suite) start(ctx context.Context, i int) error {
	r := s.replicas[i]
	if r == nil {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		r = &replica{addr: l.Addr().String()}
		l.Close()
		s.replicas[i] = r
	}
	logf, err := os.OpenFile(filepath.Join(s.dir, fmt.Sprintf("replica-%d.log", i+1)), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, s.cfg.bin)
	cmd.Env = append(os.Environ(), "ENTITLED_DATABASE_URL="+s.viaProxy, "ENTITLED_ADDR="+r.addr,
		"ENTITLED_OPERATOR_TOKEN="+operatorToken, "ENTITLED_LOG_LEVEL=WARN", masterKeyEnv())
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		return err
	}
	r.cmd, r.done = cmd, make(chan struct{})
	keyc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if f := strings.TrimSpace(sc.Text()); strings.HasPrefix(f, "etk_") {
				keyc <- f
			}
		}
	}()
	go func() { _ = cmd.Wait(); logf.Close(); close(r.done) }()
	until := time.Now().Add(30 * time.Second)
	for time.Now().Before(until) {
		if st, _ := get("http://" + r.addr + "/readyz"); st == http.StatusOK {
			if s.admin == "" {
				select {
				case s.admin = <-keyc:
				case <-time.After(2 * time.Second):
					return errors.New("the first replica printed no admin key")
				}
			}
			return nil
		}
		select {
		case <-r.done:
			return fmt.Errorf("replica %d exited at start (log: %s)", i+1, logf.Name())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("replica %d did not become ready", i+1)
}

func (s *suite) kill(i int) {
	r := s.replicas[i]
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.done
}

func (s *suite) stopAll() {
	for _, r := range s.replicas {
		if r != nil && r.cmd != nil {
			_ = r.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-r.done:
			case <-time.After(5 * time.Second):
				_ = r.cmd.Process.Kill()
			}
		}
	}
}

func (s *suite) url(i int) string { return "http://" + s.replicas[i].addr }

// seed makes an unlimited NUMBER entitlement for the reports, another for
// recovery probes, and a BOOLEAN one whose link the propagation probe
// toggles, all on the default license of instance "i".
func (s *suite) seed() error {
	c := client{base: s.url(0), key: s.admin}
	mk := func(slug, typ string) (string, error) {
		d, err := c.must(`mutation($in: CreateEntitlementInput!) { createEntitlement(input: $in) { id } }`, map[string]any{"in": map[string]any{"name": slug, "slug": slug, "type": typ}})
		return str(d, "createEntitlement", "id"), err
	}
	var err error
	if s.eventsID, err = mk("events", "NUMBER"); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	probe, err := mk("probe", "NUMBER")
	if err != nil {
		return err
	}
	if s.flagID, err = mk("flag", "BOOLEAN"); err != nil {
		return err
	}
	if s.flag2ID, err = mk("flag2", "BOOLEAN"); err != nil {
		return err
	}
	d, err := c.must(`mutation { createLicense(input: {name: "L", slug: "l", type: PAID, isDefault: true}) { id } }`, nil)
	if err != nil {
		return err
	}
	s.licID = str(d, "createLicense", "id")
	for e, v := range map[string]any{s.eventsID: -1, probe: -1, s.flagID: false, s.flag2ID: false} {
		typ := "number"
		if _, ok := v.(bool); ok {
			typ = "boolean"
		}
		if _, err := c.must(setLink, map[string]any{"l": s.licID, "e": e, "v": map[string]any{"type": typ, "value": v}}); err != nil {
			return err
		}
	}
	if _, err := c.must(`mutation { createInstance(input: {name: "I", slug: "i"}) { id } }`, nil); err != nil {
		return err
	}
	d, err = c.must(`mutation { createAPIKey(input: {name: "check", scopes: [CHECK]}) { secret } }`, nil)
	s.check = str(d, "createAPIKey", "secret")
	return err
}

const setLink = `mutation($l: ID!, $e: ID!, $v: Map!) { setLicenseEntitlement(input: {licenseID: $l, entitlementID: $e, value: $v}) { id } }`

const allowedQ = `query($e: String!) { allowed(instance: "i", entitlement: $e) { allowed stale } }`

const reportQ = `mutation($k: String!, $e: String!) { reportUsage(input: {instance: "i", entitlement: $e, value: 1, idempotencyKey: $k}) { replayed } }`

// startLoad runs the clients until ctx ends: reporters send reports with
// distinct keys to the replicas in turn, each retried (same key, next
// replica) until acknowledged; one decision client per replica; and a
// probe that toggles a link through one replica and times how long the
// others take to answer accordingly.
func (s *suite) startLoad(ctx context.Context, wg *sync.WaitGroup) {
	for w := 0; w < s.cfg.reporters; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				n := s.next.Add(1) - 1
				for try := int(n); ctx.Err() == nil; try++ {
					i := try % 3
					res := s.do(i, s.check, reportQ, map[string]any{"k": fmt.Sprintf("r-%d", n), "e": "events"})
					s.rec.count("reportUsage", res.outcome())
					if res.ok() {
						s.acked.Store(n, true)
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				res := s.do(i, s.check, allowedQ, map[string]any{"e": "flag"})
				o := res.outcome()
				if o == "OK" && res.stale() {
					o = "OK (stale)"
				}
				s.rec.count("allowed", o)
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for origin := 0; ctx.Err() == nil; origin = (origin + 1) % 3 {
			s.propagate(ctx, origin)
			select {
			case <-ctx.Done():
			case <-time.After(300 * time.Millisecond):
			}
		}
	}()
}

// propagate toggles the flag's link through one replica and waits until
// the other two answer the new value.
func (s *suite) propagate(ctx context.Context, origin int) {
	down := int(s.down.Load()) - 1
	if origin == down {
		return
	}
	on := !s.flagOn.Load()
	res := s.do(origin, s.admin, setLink, map[string]any{"l": s.licID, "e": s.flagID, "v": map[string]any{"type": "boolean", "value": on}})
	s.rec.count("setLicenseEntitlement", res.outcome())
	if !res.ok() {
		return
	}
	s.flagOn.Store(on)
	cuts := s.cuts.Load()
	start := time.Now()
	var wg sync.WaitGroup
	var worst atomic.Int64
	for i := 0; i < 3; i++ {
		if i == origin || i == down {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && time.Since(start) < 30*time.Second {
				r := s.do(i, s.check, allowedQ, map[string]any{"e": "flag"})
				if r.ok() && r.allowed() == on {
					d := int64(time.Since(start))
					for cur := worst.Load(); d > cur && !worst.CompareAndSwap(cur, d); cur = worst.Load() {
					}
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
			worst.Store(int64(time.Hour)) // never reached
		}()
	}
	wg.Wait()
	if ctx.Err() == nil && int(s.down.Load())-1 == down && s.cuts.Load() == cuts {
		s.rec.propagation(time.Duration(worst.Load()))
	}
}

// firstChange makes the first change after an outage, through replica 1
// as soon as it can write, and notes how long the two others take to
// answer accordingly.
func (s *suite) firstChange(ctx context.Context) {
	back := time.Now()
	for ctx.Err() == nil && time.Since(back) < 30*time.Second {
		if s.do(0, s.admin, setLink, map[string]any{"l": s.licID, "e": s.flag2ID, "v": map[string]any{"type": "boolean", "value": true}}).ok() {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	made := time.Now()
	for i := 1; i < 3; i++ {
		for ctx.Err() == nil && time.Since(made) < 30*time.Second {
			if r := s.do(i, s.check, allowedQ, map[string]any{"e": "flag2"}); r.ok() && r.allowed() {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	d := time.Since(made)
	s.note("first change after the outage: written %s after the database returned, answered by both other replicas %s after it was made", made.Sub(back).Round(time.Millisecond), d.Round(time.Millisecond))
	if d > s.cfg.propagationLimit {
		s.rec.failed(fmt.Errorf("the first change after the outage took %s to reach every replica", d.Round(time.Millisecond)))
	}
}

// recover waits until every replica answers a fresh decision and a write
// again, and returns how long that took from start.
func (s *suite) recover(start time.Time) (time.Duration, error) {
	for i := 0; i < 3; i++ {
		for {
			if time.Since(start) > 60*time.Second {
				return 0, fmt.Errorf("replica %d did not recover within a minute", i+1)
			}
			d := s.do(i, s.check, allowedQ, map[string]any{"e": "flag"})
			if d.ok() && !d.stale() {
				w := s.do(i, s.check, reportQ, map[string]any{"k": fmt.Sprintf("probe-%d", s.probes.Add(1)), "e": "probe"})
				if w.ok() {
					break
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return time.Since(start), nil
}

// phase runs fault under load (it returns when the fault ended), then
// waits out the phase and for recovery, and prints what clients saw
// meanwhile.
func (s *suite) phase(name string, fault func() time.Time) {
	s.rec.begin()
	s.notes = nil
	start := time.Now()
	faultEnd := fault()
	rec, rerr := s.recover(faultEnd)
	if rest := s.cfg.phase - time.Since(start); rest > 0 {
		time.Sleep(rest)
	}
	p := s.rec.end()
	fmt.Fprintf(s.out, "== %s (%s)\n", name, time.Since(start).Round(100*time.Millisecond))
	for _, n := range s.notes {
		fmt.Fprintf(s.out, "   %s\n", n)
	}
	for _, door := range []string{"allowed", "reportUsage", "setLicenseEntitlement"} {
		fmt.Fprintf(s.out, "   %-22s %s\n", door+":", p.counts(door))
	}
	if len(p.prop) == 0 {
		fmt.Fprintf(s.out, "   change propagation:    no change was made\n")
	} else {
		fmt.Fprintf(s.out, "   change propagation:    %d changes, worst %s to reach both other replicas (median %s)\n", len(p.prop), p.worst().Round(time.Millisecond), p.median().Round(time.Millisecond))
	}
	if rerr != nil {
		fmt.Fprintf(s.out, "   recovery:              %v\n", rerr)
		s.rec.failed(rerr)
	} else {
		fmt.Fprintf(s.out, "   time to recover:       %s (from the end of the fault until every replica answered a fresh decision and a write)\n", rec.Round(time.Millisecond))
	}
	if w := p.worst(); w > s.cfg.propagationLimit {
		s.rec.failed(fmt.Errorf("%s: a change took %s to reach every replica", name, w.Round(time.Millisecond)))
	}
	fmt.Fprintln(s.out)
}

// verify sends every report that was never acknowledged again, then
// checks that the counter and the ledger hold each report exactly once.
func (s *suite) verify(ctx context.Context) error {
	total := s.next.Load()
	retried := 0
	for n := int64(0); n < total; n++ {
		if _, ok := s.acked.Load(n); ok {
			continue
		}
		retried++
		for try := 0; ; try++ {
			if ctx.Err() != nil || try > 200 {
				return fmt.Errorf("report %d still refused", n)
			}
			if s.do(try%3, s.check, reportQ, map[string]any{"k": fmt.Sprintf("r-%d", n), "e": "events"}).ok() {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// A sample of acknowledged reports sent again, as a client that lost
	// the answer would: none may count twice.
	for n := int64(0); n < total; n += 7 {
		if !s.do(int(n%3), s.check, reportQ, map[string]any{"k": fmt.Sprintf("r-%d", n), "e": "events"}).ok() {
			return fmt.Errorf("replayed report %d refused", n)
		}
	}
	db, err := sql.Open("postgres", s.dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	var count, ledger int64
	var sum float64
	if err := db.QueryRowContext(ctx, `SELECT coalesce(sum(count), 0), coalesce(sum(sum), 0) FROM usage_counters WHERE entitlement_id = $1`, s.eventsID).Scan(&count, &sum); err != nil {
		return err
	}
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM usage_events WHERE entitlement_id = $1`, s.eventsID).Scan(&ledger); err != nil {
		return err
	}
	lost, dup := max(0, total-ledger), max(0, ledger-total)+max(0, count-ledger)
	fmt.Fprintf(s.out, "== reports\n   %d distinct reports sent (%d retried after the load stopped, every 7th sent again); counter count=%d value=%g, ledger %d rows\n   lost %d, duplicated %d\n",
		total, retried, count, sum, ledger, lost, dup)
	if lost != 0 || dup != 0 || count != total || int64(sum) != total {
		return fmt.Errorf("reports lost %d, duplicated %d (counter %d/%g, ledger %d, sent %d)", lost, dup, count, sum, ledger, total)
	}
	if err := s.rec.err(); err != nil {
		return err
	}
	fmt.Fprintln(s.out, "\nPASS")
	return nil
}

// terminate ends every connection of the test database but its own, as an
// operator (or a failover) would.
func (s *suite) terminate() (int, error) {
	db, err := sql.Open("postgres", s.dbURL)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int
	err = db.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&n)
	return n, err
}

// result is one request's outcome as a client sees it.
type result struct {
	status int
	err    error
	body   struct {
		Data   map[string]any `json:"data"`
		Errors []struct {
			Extensions map[string]any `json:"extensions"`
		} `json:"errors"`
	}
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

func (s *suite) do(i int, key, query string, vars map[string]any) result {
	return (&client{base: s.url(i), key: key}).do(query, vars)
}

type client struct{ base, key string }

func (c *client) do(query string, vars map[string]any) result {
	var r result
	b, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, c.base+"/graphql", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.key)
	res, err := httpClient.Do(req)
	if err != nil {
		r.err = err
		return r
	}
	defer res.Body.Close()
	r.status = res.StatusCode
	body, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(body, &r.body); err != nil {
		r.err = fmt.Errorf("status %d: %.200s", res.StatusCode, body)
	}
	return r
}

func (c *client) must(query string, vars map[string]any) (map[string]any, error) {
	r := c.do(query, vars)
	if !r.ok() {
		return nil, fmt.Errorf("%s: %s", strings.Fields(query)[0], r.outcome())
	}
	return r.body.Data, nil
}

func (r result) ok() bool {
	return r.err == nil && r.status == http.StatusOK && len(r.body.Errors) == 0
}

// outcome names a result: OK, the error code with the HTTP status, or
// what the connection did.
func (r result) outcome() string {
	switch {
	case r.err != nil:
		var ne net.Error
		switch {
		case errors.Is(r.err, syscall.ECONNREFUSED):
			return "connection refused"
		case errors.Is(r.err, syscall.ECONNRESET), errors.Is(r.err, io.EOF), strings.Contains(r.err.Error(), "EOF"):
			return "connection reset"
		case errors.As(r.err, &ne) && ne.Timeout():
			return "timeout"
		}
		return "transport error"
	case len(r.body.Errors) > 0:
		code, _ := r.body.Errors[0].Extensions["code"].(string)
		return fmt.Sprintf("%s (HTTP %d)", code, r.status)
	case r.status != http.StatusOK:
		return fmt.Sprintf("HTTP %d", r.status)
	}
	return "OK"
}

func (r result) allowed() bool {
	d, _ := r.body.Data["allowed"].(map[string]any)
	v, _ := d["allowed"].(bool)
	return v
}

func (r result) stale() bool {
	d, _ := r.body.Data["allowed"].(map[string]any)
	v, _ := d["stale"].(bool)
	return v
}

// recorder counts outcomes per phase.
type recorder struct {
	mu     sync.Mutex
	cur    *phaseStats
	errs   []error
	failed func(error)
}

type phaseStats struct {
	byDoor map[string]map[string]int
	prop   []time.Duration
}

func newRecorder() *recorder {
	r := &recorder{cur: &phaseStats{byDoor: map[string]map[string]int{}}}
	r.failed = func(err error) { r.mu.Lock(); r.errs = append(r.errs, err); r.mu.Unlock() }
	return r
}

func (r *recorder) begin() {
	r.mu.Lock()
	r.cur = &phaseStats{byDoor: map[string]map[string]int{}}
	r.mu.Unlock()
}

func (r *recorder) end() *phaseStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.cur
	r.cur = &phaseStats{byDoor: map[string]map[string]int{}}
	return p
}

func (r *recorder) count(door, outcome string) {
	r.mu.Lock()
	m := r.cur.byDoor[door]
	if m == nil {
		m = map[string]int{}
		r.cur.byDoor[door] = m
	}
	m[outcome]++
	r.mu.Unlock()
}

func (r *recorder) propagation(d time.Duration) {
	r.mu.Lock()
	r.cur.prop = append(r.cur.prop, d)
	r.mu.Unlock()
}

func (r *recorder) err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return errors.Join(r.errs...)
}

func (p *phaseStats) counts(door string) string {
	m := p.byDoor[door]
	if len(m) == 0 {
		return "no requests"
	}
	keys := make([]string, 0, len(m))
	total := 0
	for k, n := range m {
		keys = append(keys, k)
		total += n
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", m[k], k)
	}
	return fmt.Sprintf("%d requests: %s", total, strings.Join(parts, ", "))
}

func (p *phaseStats) worst() time.Duration {
	var w time.Duration
	for _, d := range p.prop {
		w = max(w, d)
	}
	return w
}

func (p *phaseStats) median() time.Duration {
	if len(p.prop) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), p.prop...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func get(u string) (int, error) {
	res, err := httpClient.Get(u)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}

func str(v map[string]any, path ...string) string {
	var cur any = v
	for _, p := range path {
		m, _ := cur.(map[string]any)
		cur = m[p]
	}
	s, _ := cur.(string)
	return s
}

// loopbackOnly refuses a PostgreSQL server that is not on this machine:
// the suite terminates connections and must never reach anyone else's.
func loopbackOnly(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	ips, err := net.LookupIP(u.Hostname())
	if err != nil {
		return fmt.Errorf("resolve %s: %w", u.Hostname(), err)
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return fmt.Errorf("-postgres must be a loopback address, not %s (%s)", u.Hostname(), ip)
		}
	}
	return nil
}

func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	p.User = nil
	return p.String()
}

// masterKeyEnv is the master key every replica of a run shares
// (PostgreSQL servers refuse to start without one): the caller's
// ENTITLED_MASTER_KEY, else a fixed harness key.
func masterKeyEnv() string {
	if k := os.Getenv("ENTITLED_MASTER_KEY"); k != "" {
		return "ENTITLED_MASTER_KEY=" + k
	}
	return "ENTITLED_MASTER_KEY=ZW50aXRsZWQtaGFybmVzcy1tYXN0ZXIta2V5LTMyYnk="
}
