// Command loadgen is a small HTTP load generator for entitled's benchmarks.
//
// Closed loop (default): -c workers send requests back to back for -d and
// the result is the throughput the server sustains at that concurrency.
// Open loop (-rate N): requests are scheduled at a fixed rate of N per
// second and handed to -c workers; latency is measured from the scheduled
// send time, so a stalled server is charged for the requests it delayed
// (no coordinated omission). "svc" figures are measured from the actual
// send time instead.
//
// Bodies: -body FILE sends one body; -bodies FILE (JSON lines) rotates
// through its lines, one per request. It only targets loopback addresses
// and always stops after -d (capped at 10 minutes).
//
//	loadgen -url http://127.0.0.1:8080/v1/data/entitled/decision \
//	  -header "Authorization: Bearer etk_..." -bodies door.jsonl -c 16 -d 10s
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type headers []string

func (h *headers) String() string     { return strings.Join(*h, ", ") }
func (h *headers) Set(v string) error { *h = append(*h, v); return nil }

// Result is one run's summary.
type Result struct {
	Name     string  `json:"name"`
	Mode     string  `json:"mode"` // closed | open
	C        int     `json:"c"`
	Rate     float64 `json:"rate,omitempty"` // open loop: target rate
	Duration float64 `json:"durationS"`
	N        int     `json:"n"`
	Errors   int64   `json:"errors"`
	RPS      float64 `json:"rps"`
	P50      float64 `json:"p50Ms"`
	P90      float64 `json:"p90Ms"`
	P99      float64 `json:"p99Ms"`
	Max      float64 `json:"maxMs"`
	SvcP99   float64 `json:"svcP99Ms,omitempty"` // open loop: from actual send
	FirstErr string  `json:"firstError,omitempty"`
}

func main() {
	var hdrs headers
	target := flag.String("url", "", "target URL (loopback only)")
	flag.Var(&hdrs, "header", `request header "Name: value" (repeatable)`)
	bodyFile := flag.String("body", "", "file holding the request body")
	bodiesFile := flag.String("bodies", "", "JSON lines file: one body per line, rotated")
	method := flag.String("method", "POST", "HTTP method")
	c := flag.Int("c", 16, "concurrency (workers and connections)")
	d := flag.Duration("d", 10*time.Second, "measured duration (max 10m)")
	warmup := flag.Duration("warmup", 0, "unrecorded closed-loop warm-up before measuring")
	warmAll := flag.Bool("warm-all", false, "send every body once, unrecorded, before measuring")
	rate := flag.Float64("rate", 0, "open loop: requests per second (0: closed loop)")
	expect := flag.String("expect", "", "count a 2xx response without this substring as an error")
	name := flag.String("name", "", "label of the run")
	asJSON := flag.Bool("json", false, "print the result as JSON instead of text")
	flag.Parse()

	if err := run(*target, hdrs, *bodyFile, *bodiesFile, *method, *c, *d, *warmup, *warmAll, *rate, *expect, *name, *asJSON); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
}

func run(target string, hdrs headers, bodyFile, bodiesFile, method string, c int, d, warmup time.Duration, warmAll bool, rate float64, expect, name string, asJSON bool) error {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("-url must be an http(s) URL, got %q", target)
	}
	if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-url must target a loopback address (127.0.0.1), got %q", u.Hostname())
	}
	if c < 1 || c > 4096 {
		return errors.New("-c must be in [1, 4096]")
	}
	if d <= 0 || d > 10*time.Minute || warmup < 0 || warmup > 2*time.Minute {
		return errors.New("-d must be in (0, 10m] and -warmup in [0, 2m]")
	}
	hdr := http.Header{}
	for _, h := range hdrs {
		k, v, ok := strings.Cut(h, ":")
		if !ok {
			return fmt.Errorf("-header %q: want \"Name: value\"", h)
		}
		hdr.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	bodies, err := loadBodies(bodyFile, bodiesFile)
	if err != nil {
		return err
	}
	if len(bodies) > 0 && hdr.Get("Content-Type") == "" {
		hdr.Set("Content-Type", "application/json")
	}

	g := &gen{
		url: target, method: method, hdr: hdr, bodies: bodies, expect: []byte(expect),
		client: &http.Client{
			Timeout: 10 * time.Second,
			Transport: &http.Transport{
				Proxy:               nil,
				DialContext:         (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
				MaxIdleConns:        2 * c,
				MaxIdleConnsPerHost: 2 * c,
				IdleConnTimeout:     90 * time.Second,
				DisableCompression:  true,
			},
		},
	}
	if warmAll && len(bodies) > 0 {
		g.closed(c, 0, len(bodies), false)
	}
	if warmup > 0 {
		g.closed(c, warmup, 0, false)
	}
	g.errors.Store(0)
	g.firstErr = atomic.Value{}

	res := Result{Name: name, C: c}
	var lat, svc []time.Duration
	var elapsed time.Duration
	if rate > 0 {
		res.Mode, res.Rate = "open", rate
		lat, svc, elapsed = g.open(c, d, rate)
	} else {
		res.Mode = "closed"
		lat, elapsed = g.closed(c, d, 0, true)
	}
	res.Duration = elapsed.Seconds()
	res.N = len(lat)
	res.Errors = g.errors.Load()
	if v, ok := g.firstErr.Load().(string); ok {
		res.FirstErr = v
	}
	if elapsed > 0 {
		res.RPS = float64(len(lat)) / elapsed.Seconds()
	}
	slices.Sort(lat)
	res.P50, res.P90, res.P99 = pct(lat, 50), pct(lat, 90), pct(lat, 99)
	if len(lat) > 0 {
		res.Max = ms(lat[len(lat)-1])
	}
	if svc != nil {
		slices.Sort(svc)
		res.SvcP99 = pct(svc, 99)
	}
	if asJSON {
		return json.NewEncoder(os.Stdout).Encode(res)
	}
	line := fmt.Sprintf("name=%s mode=%s c=%d", orDash(res.Name), res.Mode, res.C)
	if res.Mode == "open" {
		line += fmt.Sprintf(" rate=%.0f", res.Rate)
	}
	line += fmt.Sprintf(" n=%d rps=%.0f p50=%.3fms p90=%.3fms p99=%.3fms max=%.3fms errors=%d",
		res.N, res.RPS, res.P50, res.P90, res.P99, res.Max, res.Errors)
	if res.Mode == "open" {
		line += fmt.Sprintf(" svc_p99=%.3fms", res.SvcP99)
	}
	if res.FirstErr != "" {
		line += fmt.Sprintf(" first_error=%q", res.FirstErr)
	}
	fmt.Println(line)
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func loadBodies(bodyFile, bodiesFile string) ([][]byte, error) {
	switch {
	case bodyFile != "" && bodiesFile != "":
		return nil, errors.New("use -body or -bodies, not both")
	case bodyFile != "":
		b, err := os.ReadFile(bodyFile)
		if err != nil {
			return nil, err
		}
		return [][]byte{b}, nil
	case bodiesFile != "":
		f, err := os.Open(bodiesFile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		var out [][]byte
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
				out = append(out, bytes.Clone(line))
			}
		}
		if err := sc.Err(); err != nil {
			return nil, err
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("%s has no bodies", bodiesFile)
		}
		return out, nil
	}
	return nil, nil
}

type gen struct {
	url      string
	method   string
	hdr      http.Header
	bodies   [][]byte
	expect   []byte
	client   *http.Client
	next     atomic.Uint64
	errors   atomic.Int64
	firstErr atomic.Value
}

// do sends one request and reports whether it succeeded.
func (g *gen) do(buf *bytes.Buffer) bool {
	var body io.Reader
	if len(g.bodies) > 0 {
		i := g.next.Add(1) - 1
		body = bytes.NewReader(g.bodies[i%uint64(len(g.bodies))])
	}
	req, err := http.NewRequest(g.method, g.url, body)
	if err != nil {
		return g.fail(err.Error())
	}
	req.Header = g.hdr.Clone()
	resp, err := g.client.Do(req)
	if err != nil {
		return g.fail(err.Error())
	}
	buf.Reset()
	_, err = buf.ReadFrom(resp.Body)
	resp.Body.Close()
	switch {
	case err != nil:
		return g.fail(err.Error())
	case resp.StatusCode/100 != 2:
		return g.fail(fmt.Sprintf("HTTP %d: %.200s", resp.StatusCode, buf.Bytes()))
	case len(g.expect) > 0 && !bytes.Contains(buf.Bytes(), g.expect):
		return g.fail(fmt.Sprintf("unexpected body: %.200s", buf.Bytes()))
	}
	return true
}

func (g *gen) fail(msg string) bool {
	g.errors.Add(1)
	g.firstErr.CompareAndSwap(nil, msg)
	return false
}

// closed runs c workers back to back for d, or until n requests when n > 0.
func (g *gen) closed(c int, d time.Duration, n int, record bool) ([]time.Duration, time.Duration) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		all   []time.Duration
		count atomic.Int64
	)
	start := time.Now()
	deadline := start.Add(d)
	if n > 0 {
		deadline = start.Add(10 * time.Minute)
	}
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			local := make([]time.Duration, 0, 1<<14)
			for {
				if n > 0 && count.Add(1) > int64(n) {
					break
				}
				t0 := time.Now()
				if t0.After(deadline) {
					break
				}
				g.do(&buf)
				if record {
					local = append(local, time.Since(t0))
				}
			}
			mu.Lock()
			all = append(all, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return all, time.Since(start)
}

// open schedules requests at rate per second for d and hands them to c
// workers. A request's latency runs from its scheduled time.
func (g *gen) open(c int, d time.Duration, rate float64) (lat, svc []time.Duration, elapsed time.Duration) {
	total := int(rate * d.Seconds())
	queue := make(chan time.Time, total)
	var (
		wg sync.WaitGroup
		mu sync.Mutex
	)
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			l := make([]time.Duration, 0, total/c+1)
			s := make([]time.Duration, 0, total/c+1)
			for due := range queue {
				t0 := time.Now()
				g.do(&buf)
				t1 := time.Now()
				l = append(l, t1.Sub(due))
				s = append(s, t1.Sub(t0))
			}
			mu.Lock()
			lat = append(lat, l...)
			svc = append(svc, s...)
			mu.Unlock()
		}()
	}
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	for i := 0; i < total; i++ {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		}
		queue <- due
	}
	close(queue)
	wg.Wait()
	return lat, svc, time.Since(start)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// pct is the nearest-rank percentile of sorted durations, in milliseconds.
func pct(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.999999) - 1
	i = max(0, min(i, len(sorted)-1))
	return ms(sorted[i])
}
