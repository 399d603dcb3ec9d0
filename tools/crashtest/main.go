// Command crashtest checks that usage survives a crash exactly once: it
// drives sustained reportUsage traffic with idempotency keys against an
// entitled server on PostgreSQL, kills the server with SIGKILL mid-run,
// restarts it, retries every report that was not acknowledged, and checks
// that every report was counted exactly once.
//
//	go run ./tools/crashtest -reports 20000 -workers 16
//
// With -webhooks it checks instead that webhooks survive a crash at least
// once (webhooks.go): events made while a slow receiver has a backlog,
// SIGKILL, restart, and every event that committed is delivered.
//
//	go run ./tools/crashtest -webhooks -events 600 -workers 8
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/entitled/entitled/internal/testenv"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	_ "github.com/lib/pq"
)

func main() {
	pgURL := flag.String("postgres", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL server to create the test database on")
	reports := flag.Int("reports", 20000, "reports to send")
	workers := flag.Int("workers", 16, "concurrent senders")
	killAfter := flag.Duration("kill-after", 3*time.Second, "how long to run before SIGKILL")
	addr := flag.String("addr", "127.0.0.1:18099", "listen address of the server under test")
	hooks := flag.Bool("webhooks", false, "check webhook deliveries across the crash instead of usage")
	events := flag.Int("events", 600, "with -webhooks: events to make")
	flag.Parse()
	var err error
	if *hooks {
		err = runWebhooks(webhookConfig{pgURL: *pgURL, events: *events, workers: *workers, killAfter: *killAfter, addr: *addr, settle: time.Minute})
	} else {
		err = run(*pgURL, *reports, *workers, *killAfter, *addr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "crashtest: FAIL:", err)
		os.Exit(1)
	}
}

func run(pgURL string, total, workers int, killAfter time.Duration, addr string) error {
	dir, err := os.MkdirTemp("", "crashtest")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "entitled")
	if err := build(bin); err != nil {
		return err
	}
	dbURL, drop, err := testenv.NewDatabase(pgURL, "entitled_crash_")
	if err != nil {
		return err
	}
	defer drop()

	srv, key, err := start(bin, dbURL, addr)
	if err != nil {
		return err
	}
	if key == "" {
		return fmt.Errorf("the server printed no admin key on its first start")
	}
	c := &client{base: "http://" + addr + "/graphql", key: key}
	for _, doc := range []string{
		`mutation { createEntitlement(input: {name: "Events", slug: "events", type: NUMBER}) { id } }`,
		`mutation { createLicense(input: {name: "L", slug: "l", type: PAID, isDefault: true}) { id } }`,
		`mutation { createInstance(input: {name: "I", slug: "i"}) { id } }`,
	} {
		if _, err := c.do(doc, nil); err != nil {
			srv.Process.Kill()
			return fmt.Errorf("seed: %w", err)
		}
	}
	ids, err := c.do(`{ licenses { edges { node { id } } } entitlements { edges { node { id } } } }`, nil)
	if err != nil {
		return err
	}
	if _, err := c.do(`mutation($l: ID!, $e: ID!) { setLicenseEntitlement(input: {licenseID: $l, entitlementID: $e, value: {type: "number", value: -1}}) { id } }`,
		map[string]any{"l": dig(ids, "licenses", "edges", 0, "node", "id"), "e": dig(ids, "entitlements", "edges", 0, "node", "id")}); err != nil {
		return err
	}

	acked := make([]atomic.Bool, total)
	var sent, ackCount atomic.Int64
	next := atomic.Int64{}
	var wg sync.WaitGroup
	send := func() {
		defer wg.Done()
		for {
			i := int(next.Add(1) - 1)
			if i >= total {
				return
			}
			sent.Add(1)
			if err := c.report(i); err == nil {
				acked[i].Store(true)
				ackCount.Add(1)
			}
		}
	}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go send()
	}
	time.Sleep(killAfter)
	if err := srv.Process.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill: %w", err)
	}
	_ = srv.Wait()
	killedAt := ackCount.Load()
	wg.Wait()
	fmt.Printf("killed the server after %d acknowledged reports (%d attempted of %d)\n", killedAt, sent.Load(), total)

	srv, _, err = start(bin, dbURL, addr)
	if err != nil {
		return err
	}
	defer func() { srv.Process.Signal(syscall.SIGTERM); srv.Wait() }()

	// Retry everything not acknowledged, and re-send a sample of what was
	// (a client that lost the answer retries those too).
	retried, resent := 0, 0
	for i := 0; i < total; i++ {
		if acked[i].Load() && i%10 != 0 {
			continue
		}
		if acked[i].Load() {
			resent++
		} else {
			retried++
		}
		var err error
		for attempt := 0; attempt < 20; attempt++ {
			if err = c.report(i); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			return fmt.Errorf("report %d still failing after restart: %w", i, err)
		}
	}
	d, err := c.do(`{ instances { edges { node { usage { value count } usageEvents { totalCount } } } } }`, nil)
	if err != nil {
		return err
	}
	value := dig(d, "instances", "edges", 0, "node", "usage", 0, "value")
	count := dig(d, "instances", "edges", 0, "node", "usage", 0, "count")
	events := dig(d, "instances", "edges", 0, "node", "usageEvents", "totalCount")
	fmt.Printf("after restart: retried %d unacknowledged, re-sent %d acknowledged; usage value=%v count=%v ledger=%v (want %d)\n",
		retried, resent, value, count, events, total)
	want := json.Number(fmt.Sprint(total))
	if value != want || count != want || events != want {
		return fmt.Errorf("counted value=%v count=%v ledger=%v, want exactly %d", value, count, events, total)
	}
	fmt.Println("PASS: every report counted exactly once")
	return nil
}

type client struct {
	base, key string
	http      http.Client
}

func (c *client) report(i int) error {
	_, err := c.do(`mutation($k: String!) { reportUsage(input: {instance: "i", entitlement: "events", value: 1, idempotencyKey: $k}) { replayed } }`,
		map[string]any{"k": fmt.Sprintf("report-%d", i)})
	return err
}

func (c *client) do(query string, vars map[string]any) (map[string]any, error) {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, c.base, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.key)
	c.http.Timeout = 10 * time.Second
	res, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var out struct {
		Data   map[string]any `json:"data"`
		Errors []any          `json:"errors"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("status %d: %s", res.StatusCode, b)
	}
	if len(out.Errors) > 0 {
		return nil, fmt.Errorf("%s", b)
	}
	return out.Data, nil
}

func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

// start runs the server (with the extra environment) and waits until it
// answers; it returns the admin key it printed (empty on restarts).
func start(bin, dbURL, addr string, env ...string) (*exec.Cmd, string, error) {
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "ENTITLED_DATABASE_URL="+dbURL, "ENTITLED_ADDR="+addr, "ENTITLED_LOG_LEVEL=ERROR", masterKeyEnv())
	cmd.Env = append(cmd.Env, env...)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	keyc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if f := strings.TrimSpace(sc.Text()); strings.HasPrefix(f, "etk_") {
				keyc <- f
			}
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if res, err := http.Get("http://" + addr + "/healthz"); err == nil {
			res.Body.Close()
			select {
			case k := <-keyc:
				return cmd, k, nil
			case <-time.After(200 * time.Millisecond):
				return cmd, "", nil // a restart prints no key
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	return nil, "", fmt.Errorf("server did not start")
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
