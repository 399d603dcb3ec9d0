package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/lib/pq"

	"github.com/entitled/entitled/internal/platform/store"
	"github.com/entitled/entitled/internal/testenv"
)

// These tests run the entitled binary as an operator does: built once with
// go build, started as processes, stopped with signals.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// binary builds the entitled binary once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "entitled-bin")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "entitled")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// run runs a command of the binary to completion and returns its exit
// status and output.
func run(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	cmd.Env = append(baseEnv(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return code, out.String(), errb.String()
}

// baseEnv is the test process's environment without ENTITLED_ settings.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ENTITLED_") {
			env = append(env, kv)
		}
	}
	return env
}

// proc is a running server.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	addr   string
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan struct{}
	code   int
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start starts a server on a free port of 127.0.0.1 and waits until it
// logs that it listens.
func start(t *testing.T, env ...string) *proc {
	t.Helper()
	p := startAsync(t, env...)
	p.waitListening()
	return p
}

func startAsync(t *testing.T, env ...string) *proc {
	t.Helper()
	return startIn(t, "", env...)
}

// startIn starts a server in the working directory dir ("": this one).
func startIn(t *testing.T, dir string, env ...string) *proc {
	t.Helper()
	p := &proc{t: t, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(binary(t))
	p.cmd.Dir = dir
	p.cmd.Env = append(append(baseEnv(), "ENTITLED_ADDR=127.0.0.1:0", "ENTITLED_LOG_LEVEL=INFO", "ENTITLED_MASTER_KEY="+testenv.TestMasterKey), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			p.code = ee.ExitCode()
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("server stderr:\n%s", p.stderr.String())
		}
	})
	return p
}

var listening = regexp.MustCompile(`"msg":"entitled listening","addr":"([^"]+)"`)

func (p *proc) waitListening() {
	p.t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		if m := listening.FindStringSubmatch(p.stderr.String()); m != nil {
			p.addr = m[1]
			return
		}
		select {
		case <-p.done:
			p.t.Fatalf("server exited (%d) before listening:\n%s", p.code, p.stderr.String())
		case <-deadline:
			p.t.Fatalf("server did not listen within 60s:\n%s", p.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// wait waits for the process to exit and returns its status.
func (p *proc) wait(d time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(d):
		p.t.Fatalf("server still running after %s", d)
		return -1
	}
}

// key is the admin key the server printed on its first start.
// key is the admin key the server printed so far ("" if none).
func (p *proc) key() string {
	return regexp.MustCompile(`etk_[a-z0-9]+`).FindString(p.stdout.String())
}

// waitKey is the admin key a server that bootstraps prints. Stdout and
// stderr are copied by separate goroutines, so the key may arrive just
// after the listening line it was printed before: wait a little for it.
func (p *proc) waitKey() string {
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if k := p.key(); k != "" || time.Now().After(deadline) {
			return k
		}
	}
}

func (p *proc) get(path string) (int, string) {
	p.t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	res, err := c.Get("http://" + p.addr + path)
	if err != nil {
		p.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func (p *proc) graphql(key, query string) map[string]any {
	p.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query})
	req, _ := http.NewRequest(http.MethodPost, "http://"+p.addr+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		p.t.Fatal(err)
	}
	return out
}

func (p *proc) waitReady(d time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for {
		code, body := p.get("/readyz")
		if code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("not ready after %s: %d %s", d, code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func sqliteURL(t *testing.T) (string, string) {
	path := filepath.Join(t.TempDir(), "entitled.db")
	return "ENTITLED_DATABASE_URL=sqlite://" + path, path
}

// freshPostgres creates an empty database and returns its URL.
func freshPostgres(t *testing.T) string {
	t.Helper()
	dbURL, drop, err := testenv.NewDatabase(testenv.PostgresURL(), "entitled_test_")
	if err != nil {
		t.Fatalf("PostgreSQL at %s is needed: %v", testenv.PostgresURL(), err)
	}
	t.Cleanup(drop)
	return dbURL
}

// `entitled --help` exits 0 and documents every ENTITLED_* variable the
// server's code reads; every command's --help exits 0; an unknown command
// or flag exits 2 with a one-line hint.
func TestHelpAndUsage(t *testing.T) {
	code, out, _ := run(t, nil, "--help")
	if code != 0 {
		t.Fatalf("--help exit %d", code)
	}
	read := map[string]bool{}
	for _, f := range []string{"server.go", "cli.go"} {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`"(ENTITLED_[A-Z0-9_]+)"`).FindAllStringSubmatch(string(src), -1) {
			read[m[1]] = true
		}
	}
	if len(read) < 11 {
		t.Fatalf("found only %d variables in server.go: %v", len(read), read)
	}
	for v := range read {
		line := regexp.MustCompile(`(?m)^\s+` + v + `\s+\S+\s+\S.*$`).FindString(out)
		if line == "" {
			t.Errorf("--help does not document %s with a default and a meaning", v)
		}
	}
	for _, args := range [][]string{{"-h"}, {"help"}, {"serve", "--help"}, {"migrate", "--help"}, {"migrate"},
		{"migrate", "status", "--help"}, {"migrate", "up", "--help"}, {"keys", "--help"}, {"keys", "create", "--help"},
		{"policy", "--help"}, {"policy", "input-schema", "--help"}, {"version", "--help"},
		{"license", "--help"}, {"license"}, {"license", "verify", "--help"}, {"license", "check", "--help"}} {
		if code, out, errOut := run(t, nil, args...); code != 0 || !strings.Contains(out, "Usage:") {
			t.Errorf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
	}
	for _, args := range [][]string{{"bogus"}, {"--bogus"}, {"migrate", "sideways"}, {"keys", "create", "--org"},
		{"keys", "create", "--org", "x"}, {"version", "extra"}, {"serve", "--port", "1"},
		{"license", "verify", "x.lic"}, {"license", "check", "--jwks", "j.json", "x.lic"}, {"license", "sideways"}} {
		code, out, errOut := run(t, nil, args...)
		if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "entitled --help") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and a one-line hint", args, code, out, errOut)
		}
	}
	code, out, _ = run(t, nil, "policy", "input-schema")
	if code != 0 || !json.Valid([]byte(out)) {
		t.Errorf("policy input-schema: exit %d, %.80s", code, out)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := run(t, nil, "version")
	if code != 0 || !regexp.MustCompile(`^entitled \S+\ncommit \S+.*\ndate   \S+\ngo1\.`).MatchString(out) {
		t.Fatalf("version: exit %d\n%s", code, out)
	}
	t.Logf("entitled version:\n%s", out)
}

// `entitled keys create` writes a key straight into the database, prints
// its secret once, logs the operator action, and the key authenticates
// against a running server at once.
func TestKeysCreateAuthenticates(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			dbEnv := "ENTITLED_DATABASE_URL=" + freshPostgres(t)
			if backend == "sqlite" {
				dbEnv, _ = sqliteURL(t)
			}
			srv := start(t, dbEnv, "ENTITLED_WEBHOOK_ALLOW_PRIVATE=true")
			srv.waitReady(30 * time.Second)
			// The organization's webhooks hear of the operator's key too
			// (SQLite: by the server's idle poll, within 10 s).
			hooks := make(chan string, 10)
			rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				hooks <- string(b)
			}))
			defer rc.Close()
			if d := srv.graphql(srv.waitKey(), `mutation { createWebhookEndpoint(input: {url: "`+rc.URL+`", eventTypes: ["api_key.*"]}) { secret } }`); fmt.Sprint(d["errors"]) != "<nil>" {
				t.Fatalf("webhook endpoint: %v", d)
			}
			code, out, errOut := run(t, []string{dbEnv}, "keys", "create", "--org", "default", "--name", "recovery", "--scope", "ADMIN", "--scope", "read")
			if code != 0 {
				t.Fatalf("keys create: exit %d\n%s%s", code, out, errOut)
			}
			secret := regexp.MustCompile(`(?m)^    (etk_[a-z0-9]+)$`).FindStringSubmatch(out)
			if secret == nil || !strings.Contains(out, "ADMIN, READ") {
				t.Fatalf("no secret printed:\n%s", out)
			}
			if !strings.Contains(errOut, `"action":"api_key.created"`) || !strings.Contains(errOut, `"actor_type":"OPERATOR"`) {
				t.Errorf("the operator action is not logged:\n%s", errOut)
			}
			select {
			case b := <-hooks:
				if !strings.Contains(b, `"type":"api_key.created"`) || !strings.Contains(b, `"actorType":"OPERATOR"`) || !strings.Contains(b, `"recovery"`) {
					t.Errorf("webhook body %s", b)
				}
			case <-time.After(30 * time.Second):
				t.Error("the operator's key reached no webhook")
			}
			d := srv.graphql(secret[1], `{ viewer { organization { slug } } licenses { totalCount } }`)
			if fmt.Sprint(d["errors"]) != "<nil>" || !strings.Contains(fmt.Sprint(d["data"]), "slug:default") {
				t.Fatalf("the new key does not authenticate: %v", d)
			}
			if code, _, errOut := run(t, []string{dbEnv}, "keys", "create", "--org", "nobody", "--name", "x", "--scope", "ADMIN"); code != 1 || !strings.Contains(errOut, `"nobody"`) {
				t.Errorf("unknown organization: exit %d %s", code, errOut)
			}
			if code, _, errOut := run(t, []string{dbEnv}, "keys", "create", "--org", "default", "--name", "x", "--scope", "OWNER"); code != 1 || !strings.Contains(errOut, "OWNER") {
				t.Errorf("bad scope: exit %d %s", code, errOut)
			}
		})
	}
}

// A busy port fails before anything else: no database file, no
// organization, no key.
func TestBusyPortFailsFirst(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dbEnv, path := sqliteURL(t)
	pg := freshPostgres(t)
	for _, env := range []string{dbEnv, "ENTITLED_DATABASE_URL=" + pg} {
		code, out, errOut := run(t, []string{env, "ENTITLED_ADDR=" + ln.Addr().String()})
		if code != 1 || !strings.Contains(errOut, "address already in use") || strings.Contains(out, "etk_") {
			t.Fatalf("busy port: exit %d\nstdout %s\nstderr %s", code, out, errOut)
		}
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the SQLite file was created before the port was bound (%v)", err)
	}
	db, err := sql.Open("postgres", pg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var tables int
	if err := db.QueryRow("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'").Scan(&tables); err != nil || tables != 0 {
		t.Errorf("PostgreSQL got %d tables (%v) before the port was bound", tables, err)
	}
}

// Without ENTITLED_MASTER_KEY: on PostgreSQL the server refuses to start,
// naming the variable (replicas must share one key); on SQLite it makes a
// 0600 key file beside the database, says where, and reuses it.
func TestMasterKeyIsRequiredOnPostgres(t *testing.T) {
	code, _, errOut := run(t, []string{"ENTITLED_DATABASE_URL=" + freshPostgres(t), "ENTITLED_MASTER_KEY="})
	if code != 1 || !strings.Contains(errOut, "ENTITLED_MASTER_KEY is not set") {
		t.Fatalf("PostgreSQL without a master key: exit %d, stderr %s", code, errOut)
	}

	dbEnv, path := sqliteURL(t)
	p := start(t, dbEnv, "ENTITLED_MASTER_KEY=")
	p.waitListening()
	keyFile := path + ".master-key"
	st, err := os.Stat(keyFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file %s: %v %v", keyFile, st, err)
	}
	if !strings.Contains(p.stderr.String(), `"file":"`+keyFile+`"`) {
		t.Errorf("the log does not say where the key file is:\n%s", p.stderr.String())
	}
	first, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(20 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	again := start(t, dbEnv, "ENTITLED_MASTER_KEY=")
	again.waitListening()
	if second, err := os.ReadFile(keyFile); err != nil || string(second) != string(first) {
		t.Errorf("the second start changed the key file (%v)", err)
	}
}

// The server logs where the database is, absolute, and whether the file
// was created or opened.
func TestLogsTheDatabaseLocation(t *testing.T) {
	dir := t.TempDir()
	p := startIn(t, dir, "ENTITLED_DATABASE_URL=sqlite://rel/entitled.db")
	p.waitListening()
	abs := filepath.Join(dir, "rel", "entitled.db")
	if !strings.Contains(p.stderr.String(), `"location":"`+abs+`"`) || !strings.Contains(p.stderr.String(), `"file":"created"`) {
		t.Errorf("first start does not log %s, created:\n%s", abs, p.stderr.String())
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(20 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	again := startIn(t, dir, "ENTITLED_DATABASE_URL=sqlite://rel/entitled.db")
	again.waitListening()
	if !strings.Contains(again.stderr.String(), `"location":"`+abs+`"`) || !strings.Contains(again.stderr.String(), `"file":"opened"`) {
		t.Errorf("second start does not log %s, opened:\n%s", abs, again.stderr.String())
	}
}

// With ENTITLED_AUTO_MIGRATE=false a server on a database behind its
// migrations serves /readyz 503 saying which are pending, and creates
// nothing; `entitled migrate status` lists them, `entitled migrate up`
// applies them, and the server becomes ready without a restart.
func TestAutoMigrateFalseLeavesReadyzAt503(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			dbEnv := "ENTITLED_DATABASE_URL=" + freshPostgres(t)
			if backend == "sqlite" {
				dbEnv, _ = sqliteURL(t)
			}
			srv := start(t, dbEnv, "ENTITLED_AUTO_MIGRATE=false")
			code, body := srv.get("/readyz")
			var r struct {
				Status, Reason string
				Pending        []string
			}
			_ = json.Unmarshal([]byte(body), &r)
			if code != http.StatusServiceUnavailable || r.Status != "schema behind" || len(r.Pending) == 0 ||
				!strings.HasSuffix(r.Pending[0], "_baseline.sql") || !strings.Contains(r.Reason, "entitled migrate up") {
				t.Fatalf("/readyz = %d %s", code, body)
			}
			if srv.key() != "" {
				t.Fatal("created an organization on a database behind its migrations")
			}
			code, out, errOut := run(t, []string{dbEnv}, "migrate", "status")
			if code != 0 || !regexp.MustCompile(regexp.QuoteMeta(r.Pending[0])+`\s+pending`).MatchString(out) || !strings.Contains(out, fmt.Sprintf("%d pending", len(r.Pending))) {
				t.Fatalf("migrate status: %d\n%s%s", code, out, errOut)
			}
			code, out, errOut = run(t, []string{dbEnv}, "migrate", "up")
			if code != 0 || !strings.Contains(out, "applied "+r.Pending[0]) {
				t.Fatalf("migrate up: %d\n%s%s", code, out, errOut)
			}
			srv.waitReady(10 * time.Second)
			code, out, _ = run(t, []string{dbEnv}, "migrate", "status")
			if code != 0 || !strings.Contains(out, "the schema is current") {
				t.Fatalf("migrate status after up: %d\n%s", code, out)
			}
			if code, out, _ = run(t, []string{dbEnv}, "migrate", "up"); code != 0 || !strings.Contains(out, "nothing to apply") {
				t.Fatalf("second migrate up: %d\n%s", code, out)
			}
		})
	}
}

// Three processes started at once on one empty PostgreSQL database all
// become ready, each migration is applied once, one of them creates the
// default organization; then, under the load of tools/loadgen, with
// ENTITLED_DB_MAX_CONNS=10 they hold at most 33 connections and no
// request fails.
func TestThreeReplicasOnOnePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three servers and loads them")
	}
	pg := freshPostgres(t)
	env := []string{"ENTITLED_DATABASE_URL=" + pg, "ENTITLED_DB_MAX_CONNS=10"}
	procs := make([]*proc, 3)
	for i := range procs {
		procs[i] = startAsync(t, env...)
	}
	for _, p := range procs {
		p.waitListening()
		p.waitReady(30 * time.Second)
	}
	db, err := sql.Open("postgres", pg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	dir, err := store.MigrationDir("postgres")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := dir.Files()
	var rows, versions, baselines int
	if err := db.QueryRow("SELECT count(*), count(DISTINCT version), count(*) FILTER (WHERE type = 1) FROM "+store.RevisionTable).Scan(&rows, &versions, &baselines); err != nil {
		t.Fatal(err)
	}
	if rows != len(files) || versions != len(files) || baselines != 0 {
		t.Fatalf("migration history: %d rows, %d versions, %d baselines; want each of %d files once", rows, versions, baselines, len(files))
	}
	applied := 0
	var keys []string
	for _, p := range procs {
		applied += strings.Count(p.stderr.String(), `"msg":"applied migration"`)
		if k := p.key(); k != "" {
			keys = append(keys, k)
		}
	}
	var orgs int
	_ = db.QueryRow("SELECT count(*) FROM organizations").Scan(&orgs)
	if applied != len(files) || len(keys) != 1 || orgs != 1 {
		t.Fatalf("%d migrations applied in all, %d keys printed, %d organizations; want %d, 1, 1", applied, len(keys), orgs, len(files))
	}
	t.Logf("3 replicas started together: %d migration(s) applied once, 1 default organization", applied)

	loadThreeReplicas(t, procs, keys[0], db, pg)
}

func loadThreeReplicas(t *testing.T, procs []*proc, key string, db *sql.DB, pg string) {
	p := procs[0]
	for _, q := range []string{
		`mutation { createEntitlement(input: {name: "Calls", slug: "calls", type: NUMBER}) { id } }`,
		`mutation { createEntitlement(input: {name: "SSO", slug: "sso", type: BOOLEAN}) { id } }`,
		`mutation { createLicense(input: {name: "L", slug: "l", type: PAID, isDefault: true}) { id } }`,
	} {
		if d := p.graphql(key, q); d["errors"] != nil {
			t.Fatalf("%s: %v", q, d)
		}
	}
	ids := p.graphql(key, `{ licenses { edges { node { id } } } entitlements(orderBy: {field: SLUG, direction: ASC}) { edges { node { id slug } } } }`)
	lic := dig(ids, "data", "licenses", "edges", 0, "node", "id")
	calls := dig(ids, "data", "entitlements", "edges", 0, "node", "id")
	sso := dig(ids, "data", "entitlements", "edges", 1, "node", "id")
	for _, q := range []string{
		fmt.Sprintf(`mutation { setLicenseEntitlement(input: {licenseID: %q, entitlementID: %q, value: {type: "number", value: -1}}) { id } }`, lic, calls),
		fmt.Sprintf(`mutation { setLicenseEntitlement(input: {licenseID: %q, entitlementID: %q, value: {type: "boolean", value: true}}) { id } }`, lic, sso),
		`mutation { createInstance(input: {name: "I", slug: "i"}) { id } }`,
	} {
		if d := p.graphql(key, q); d["errors"] != nil {
			t.Fatalf("%s: %v", q, d)
		}
	}
	// Decisions, usage writes and list reads, rotated.
	var bodies bytes.Buffer
	for i := 0; i < 30; i++ {
		var q string
		switch i % 3 {
		case 0:
			q = `{ allowed(instance: "i", entitlement: "sso") { allowed reason } decisions(instance: "i") { reason } }`
		case 1:
			q = `mutation { reportUsage(input: {instance: "i", entitlement: "calls", value: 1}) { usage { value } } }`
		default:
			q = `{ licenses { totalCount edges { node { slug entitlements { value } } } } instances { totalCount } }`
		}
		b, _ := json.Marshal(map[string]string{"query": q})
		bodies.Write(append(b, '\n'))
	}
	dir := t.TempDir()
	bodyFile := filepath.Join(dir, "bodies.jsonl")
	if err := os.WriteFile(bodyFile, bodies.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	loadgen := filepath.Join(dir, "loadgen")
	if out, err := exec.Command("go", "build", "-o", loadgen, "./tools/loadgen").CombinedOutput(); err != nil {
		t.Fatalf("build loadgen: %v\n%s", err, out)
	}

	u, _ := url.Parse(pg)
	dbName := strings.TrimPrefix(u.Path, "/")
	stop := make(chan struct{})
	var peak, samples int
	var sampled sync.WaitGroup
	sampled.Add(1)
	go func() {
		defer sampled.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			var n int
			if err := db.QueryRow("SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", dbName).Scan(&n); err == nil {
				peak, samples = max(peak, n), samples+1
			}
		}
	}()
	type result struct {
		N        int     `json:"n"`
		Errors   int64   `json:"errors"`
		RPS      float64 `json:"rps"`
		P99      float64 `json:"p99Ms"`
		FirstErr string  `json:"firstError"`
	}
	results := make([]result, len(procs))
	var wg sync.WaitGroup
	for i, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := exec.Command(loadgen, "-url", "http://"+p.addr+"/graphql", "-header", "Authorization: Bearer "+key,
				"-bodies", bodyFile, "-c", "32", "-d", "4s", "-expect", `{"data":{"`, "-json").Output()
			if err != nil {
				t.Errorf("loadgen on replica %d: %v", i, err)
				return
			}
			if err := json.Unmarshal(out, &results[i]); err != nil {
				t.Errorf("loadgen output %q: %v", out, err)
			}
		}()
	}
	wg.Wait()
	close(stop)
	sampled.Wait()
	total := 0
	for i, r := range results {
		total += r.N
		if r.Errors > 0 || r.N == 0 {
			t.Errorf("replica %d: %d requests, %d failed (first: %s)", i, r.N, r.Errors, r.FirstErr)
		}
		t.Logf("replica %d: %d requests, %.0f/s, p99 %.1f ms, %d errors", i, r.N, r.RPS, r.P99, r.Errors)
	}
	for i, p := range procs {
		if strings.Contains(p.stderr.String(), "too many clients") {
			t.Errorf("replica %d hit \"too many clients\"", i)
		}
	}
	t.Logf("pg_stat_activity on the test database: peak %d connections over %d samples (budget 3 x ENTITLED_DB_MAX_CONNS=10 = 30; limit 33); %d requests", peak, samples, total)
	if peak > 33 || samples == 0 {
		t.Fatalf("peak %d connections (%d samples), want at most 33", peak, samples)
	}
}

func dig(v any, path ...any) string {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return ""
			}
			v = l[k]
		}
	}
	s, _ := v.(string)
	return s
}

// SIGTERM while 200 requests are in flight: the server stops accepting,
// lets every one of them finish, and exits 0. (That /readyz turns 503 at
// once is internal/app's TestDrainIsNotReady: a request the server has not
// fully read when the signal comes is not served, so this process test
// cannot ask.)
func TestSIGTERMDrainsInFlightRequests(t *testing.T) {
	dbEnv, _ := sqliteURL(t)
	srv := start(t, dbEnv, "ENTITLED_SHUTDOWN_TIMEOUT=20s")
	key := srv.waitKey()
	if key == "" {
		t.Fatal("no key printed")
	}
	const inFlight = 200
	body := []byte(`{"query":"{ licenses { totalCount } viewer { organization { slug } } }"}`)
	type conn struct {
		c net.Conn
		r *bufio.Reader
	}
	conns := make([]conn, 0, inFlight)
	defer func() {
		for _, c := range conns {
			c.c.Close()
		}
	}()
	// Each request is sent but for the end of its body: the server has
	// read it and is running its handler, which waits for the rest.
	for i := 0; i < inFlight; i++ {
		c, err := net.DialTimeout("tcp", srv.addr, 5*time.Second)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		fmt.Fprintf(c, "POST /graphql HTTP/1.1\r\nHost: entitled\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
			key, len(body), body[:len(body)/2])
		conns = append(conns, conn{c, bufio.NewReader(c)})
	}
	time.Sleep(500 * time.Millisecond)

	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(srv.stderr.String(), "shutting down") {
		if time.Now().After(deadline) {
			t.Fatal("no shutdown logged")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if c, err := net.DialTimeout("tcp", srv.addr, time.Second); err == nil {
		c.Close()
		t.Error("still accepting connections after SIGTERM")
	}
	var ok int
	var failures []string
	for i, c := range conns {
		if _, err := c.c.Write(body[len(body)/2:]); err != nil {
			failures = append(failures, fmt.Sprintf("%d: write: %v", i, err))
			continue
		}
		_ = c.c.SetReadDeadline(time.Now().Add(15 * time.Second))
		res, err := http.ReadResponse(c.r, nil)
		if err != nil {
			failures = append(failures, fmt.Sprintf("%d: %v", i, err))
			continue
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || !bytes.Contains(b, []byte(`"slug":"default"`)) {
			failures = append(failures, fmt.Sprintf("%d: %d %s", i, res.StatusCode, b))
			continue
		}
		ok++
	}
	code := srv.wait(30 * time.Second)
	t.Logf("SIGTERM with %d requests in flight: %d completed with 200, %d failed; exit status %d", inFlight, ok, len(failures), code)
	if len(failures) > 0 {
		t.Fatalf("%d in-flight requests failed, e.g. %s", len(failures), failures[:min(3, len(failures))])
	}
	if code != 0 || !strings.Contains(srv.stderr.String(), "every in-flight request finished") {
		t.Fatalf("exit %d\n%s", code, srv.stderr.String())
	}
}
