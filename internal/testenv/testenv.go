// Package testenv starts a real entitled (the same handler server.go
// serves) on a fresh SQLite file or a fresh PostgreSQL database, and speaks
// GraphQL to it over HTTP, so tests see exactly what a client sees.
package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/lib/pq"

	"github.com/entitled/entitled/internal/app"
	"github.com/entitled/entitled/internal/platform/changefeed"
	"github.com/entitled/entitled/internal/platform/store"
)

// OperatorToken is the operator credential of every test server.
const OperatorToken = "test-operator-token-of-32-characters-or-more"

// PostgresURL is the server tests create their databases on; override with
// ENTITLED_TEST_POSTGRES_URL.
func PostgresURL() string {
	if u := os.Getenv("ENTITLED_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// Env is one running server with its own empty database.
type Env struct {
	T     testing.TB
	Store string // "sqlite" or "postgres"
	// DatabaseURL is the server's database (another process may share it).
	DatabaseURL string
	App         *app.App
	Server      *httptest.Server
	Queries     atomic.Int64 // SQL statements run so far
	// Now is the clock the server uses; tests may move it.
	clock    atomic.Pointer[time.Time]
	cfg      app.Config
	maxConns int
}

// limitPool applies the MaxConns setting to a's PostgreSQL pool.
func (e *Env) limitPool(a *app.App) {
	if e.Store != "postgres" || e.maxConns <= 0 {
		return
	}
	a.DB.SQL.SetMaxOpenConns(e.maxConns)
	a.DB.SQL.SetMaxIdleConns(e.maxConns)
}

// Stores lists the storage backends every storage test runs against.
var Stores = []string{"sqlite", "postgres"}

// ForEachStore runs fn as a parallel subtest against each backend: every
// subtest gets its own server and database, so the backends run side by
// side (and beside other parallel tests). fn must not share state with
// anything outside it; tests that count SQL statements or measure time use
// ForEachStoreSerial.
func ForEachStore(t *testing.T, fn func(t *testing.T, env *Env)) {
	t.Helper()
	forEachStore(t, true, fn)
}

// ForEachStoreSerial is ForEachStore with the backends run one after the
// other, for tests that must not share the machine with other tests
// (counting SQL statements, measuring time): call it from a test that does
// not call t.Parallel.
func ForEachStoreSerial(t *testing.T, fn func(t *testing.T, env *Env)) {
	t.Helper()
	forEachStore(t, false, fn)
}

func forEachStore(t *testing.T, parallel bool, fn func(t *testing.T, env *Env)) {
	t.Helper()
	for _, s := range Stores {
		t.Run(s, func(t *testing.T) {
			if parallel {
				t.Parallel()
			}
			fn(t, New(t, s))
		})
	}
}

// Option adjusts the server's configuration.
type Option func(*settings)

type settings struct {
	cfg app.Config
	// maxConns caps the server's PostgreSQL pool (0: the production size).
	maxConns int
}

// PolicyTimeout sets the deadline of custom policy evaluations. Tests
// default to a generous one so that a busy machine does not turn a
// trivial policy into POLICY_ERROR; deadline tests set the real one.
func PolicyTimeout(d time.Duration) Option {
	return func(s *settings) { s.cfg.PolicyTimeout = d }
}

// DefaultMaxConns caps the PostgreSQL pool of every test server (the
// production pool, store.Open's, is ENTITLED_DB_MAX_CONNS-1: 9 by
// default; this overrides it after the start), so that tests running
// in parallel stay within a small share of one PostgreSQL that other work
// on the machine uses too. It is above what any parallel test needs: a
// request fans out to one connection per root field (gqlgen resolves them
// concurrently), and the widest tests use 9 or 10 at once. Tests that
// fill the pool on purpose ask for MaxConns(0) and do not run in parallel.
const DefaultMaxConns = 12

// Configure changes the server's app.Config before it starts (tracing,
// the decision log, ...).
func Configure(fn func(cfg *app.Config)) Option {
	return func(s *settings) { fn(&s.cfg) }
}

// MaxConns sets the size of the server's PostgreSQL connection pool; 0
// keeps the production size. It does not apply to SQLite.
func MaxConns(n int) Option {
	return func(s *settings) { s.maxConns = n }
}

// StaleLimit sets how long decisions may be answered from cached facts
// while the database does not answer.
func StaleLimit(d time.Duration) Option {
	return func(s *settings) { s.cfg.StaleLimit = d }
}

// ResyncInterval sets the change feed's backstop period.
func ResyncInterval(d time.Duration) Option {
	return func(s *settings) { s.cfg.ResyncInterval = d }
}

// SkipNotify makes the server commit the changes skip returns true for
// without their notification, as if it were lost.
func SkipNotify(skip func(changefeed.Change) bool) Option {
	return func(s *settings) { s.cfg.SkipNotify = skip }
}

// DatabaseURL points a peer at the database through another URL (a proxy
// the test controls); see Peer.
func DatabaseURL(u string) Option {
	return func(s *settings) { s.cfg.DatabaseURL = u }
}

// New starts a server on a fresh database of the given backend.
func New(t testing.TB, backend string, opts ...Option) *Env {
	t.Helper()
	env := &Env{T: t, Store: backend}
	var dbURL string
	switch backend {
	case "sqlite":
		dbURL = "sqlite://" + t.TempDir() + "/entitled.db"
	case "postgres":
		dbURL = freshPostgres(t)
	default:
		t.Fatalf("unknown backend %q", backend)
	}
	env.DatabaseURL = dbURL
	ctx := context.Background()
	cfg := app.Config{
		DatabaseURL:   dbURL,
		OperatorToken: OperatorToken,
		Now:           env.Now,
		Logger:        slog.New(slog.NewTextHandler(logSink(), nil)),
		PolicyTimeout: 5 * time.Second,
		// The event scheduler's passes would run between the statements
		// of tests that count them; tests of the scheduler set a short
		// interval (Configure).
		ScheduleInterval: time.Hour,
		// A fixed master key: PostgreSQL refuses to start without one.
		MasterKey: TestMasterKey,
		StoreOptions: []store.Option{store.WithQueryLog(func(_ context.Context, q string) {
			env.Queries.Add(1)
			if rec := statementAudit.Load(); rec != nil && backend == "postgres" {
				rec.Record(t.Name(), q)
			}
		})},
	}
	set := settings{cfg: cfg, maxConns: DefaultMaxConns}
	for _, o := range opts {
		o(&set)
	}
	cfg = set.cfg
	env.cfg, env.maxConns = cfg, set.maxConns
	a, err := startApp(ctx, cfg)
	if err != nil {
		t.Fatalf("start app on %s: %v", backend, err)
	}
	env.limitPool(a)
	env.App = a
	env.Server = httptest.NewServer(a.Handler)
	t.Cleanup(func() {
		a.SDK.Close() // open SDK streams would hold Server.Close
		env.Server.Close()
		a.Close()
	})
	return env
}

// startMu serialises app.New within the test process. app.New migrates the
// schema, and ent's migration (schema.Atlas.setupTables) writes to the
// package-level table definitions of ent/migrate (maps and index lists of
// migrate.Tables), so two servers starting at once in one process race: go
// test -race reports it, and concurrent map writes can crash the binary. A
// service process starts once; parallel tests start many, so they take
// turns here. Everything else (creating the database, the requests,
// shutting down) runs in parallel.
var startMu sync.Mutex

func startApp(ctx context.Context, cfg app.Config) (*app.App, error) {
	startMu.Lock()
	defer startMu.Unlock()
	return app.New(ctx, cfg)
}

// Now is the server's clock: real time unless a test set it.
func (e *Env) Now() time.Time {
	if p := e.clock.Load(); p != nil {
		return *p
	}
	return time.Now()
}

// SetNow pins the server's clock.
func (e *Env) SetNow(t time.Time) { e.clock.Store(&t) }

func freshPostgres(t testing.TB) string {
	t.Helper()
	dbURL, drop, err := NewDatabase(PostgresURL(), "entitled_test_")
	if err != nil {
		t.Fatalf("PostgreSQL at %s is required for storage tests (start it, or set ENTITLED_TEST_POSTGRES_URL): %v", PostgresURL(), err)
	}
	t.Cleanup(drop)
	return dbURL
}

// Response is a GraphQL response as a client sees it.
type Response struct {
	Status int
	Header http.Header
	Data   map[string]any
	Errors []Error
	Raw    string
}

// Error is one GraphQL error.
type Error struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// Code returns extensions.code.
func (e Error) Code() string { s, _ := e.Extensions["code"].(string); return s }

// Field returns extensions.field.
func (e Error) Field() string { s, _ := e.Extensions["field"].(string); return s }

// Raw posts a raw body to /graphql with the given credential.
func (e *Env) Raw(key, contentType string, body []byte) Response {
	e.T.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.Server.URL+"/graphql", bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	return e.send(req)
}

// Get sends a GraphQL GET request.
func (e *Env) Get(key, query string, vars map[string]any) Response {
	e.T.Helper()
	q := url.Values{"query": {query}}
	if vars != nil {
		b, _ := json.Marshal(vars)
		q.Set("variables", string(b))
	}
	req, _ := http.NewRequest(http.MethodGet, e.Server.URL+"/graphql?"+q.Encode(), nil)
	req.Header.Set("Authorization", "Bearer "+key)
	return e.send(req)
}

func (e *Env) send(req *http.Request) Response {
	e.T.Helper()
	res, err := e.Server.Client().Do(req)
	if err != nil {
		e.T.Fatalf("request: %v", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	out := Response{Status: res.StatusCode, Header: res.Header, Raw: string(b)}
	var body struct {
		Data   map[string]any `json:"data"`
		Errors []Error        `json:"errors"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		e.T.Fatalf("response is not JSON (status %d): %s", res.StatusCode, b)
	}
	out.Data, out.Errors = body.Data, body.Errors
	return out
}

// Do runs a GraphQL document with variables.
func (e *Env) Do(key, query string, vars map[string]any) Response {
	e.T.Helper()
	b, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		e.T.Fatalf("marshal: %v", err)
	}
	return e.Raw(key, "application/json", b)
}

// MustDo runs a document and fails the test on any error.
func (e *Env) MustDo(key, query string, vars map[string]any) map[string]any {
	e.T.Helper()
	r := e.Do(key, query, vars)
	if len(r.Errors) > 0 || r.Status != http.StatusOK {
		e.T.Fatalf("unexpected errors (status %d): %s", r.Status, r.Raw)
	}
	return r.Data
}

// MustFail runs a document and returns its single error with the wanted
// code, failing the test otherwise.
func (e *Env) MustFail(key, code, query string, vars map[string]any) Error {
	e.T.Helper()
	r := e.Do(key, query, vars)
	if len(r.Errors) == 0 {
		e.T.Fatalf("expected %s error, got success: %s", code, r.Raw)
	}
	if got := r.Errors[0].Code(); got != code {
		e.T.Fatalf("expected %s error, got %s: %s", code, got, r.Raw)
	}
	return r.Errors[0]
}

// NewOrg creates an organization through the operator token and returns
// its admin key.
func (e *Env) NewOrg(slug string) string {
	e.T.Helper()
	d := e.MustDo(OperatorToken, `mutation($in: CreateOrganizationInput!) {
		createOrganization(input: $in) { organization { id slug } apiKey { id } secret } }`,
		map[string]any{"in": map[string]any{"name": strings.ToUpper(slug), "slug": slug}})
	return Str(d, "createOrganization.secret")
}

// NewKey creates an API key with the given scopes using an admin key.
func (e *Env) NewKey(admin string, scopes ...string) string {
	e.T.Helper()
	d := e.MustDo(admin, `mutation($in: CreateAPIKeyInput!) { createAPIKey(input: $in) { secret } }`,
		map[string]any{"in": map[string]any{"name": "key " + strings.Join(scopes, ","), "scopes": scopes}})
	return Str(d, "createAPIKey.secret")
}

// Get walks a decoded JSON value by a dotted path ("a.b.0.c").
func Get(v any, path string) any {
	if path == "" {
		return v
	}
	for _, p := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			var i int
			if _, err := fmt.Sscan(p, &i); err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// Str is Get for strings.
func Str(v any, path string) string { s, _ := Get(v, path).(string); return s }

// Num is Get for numbers.
func Num(v any, path string) float64 {
	switch n := Get(v, path).(type) {
	case json.Number:
		f, _ := n.Float64()
		return f
	case float64:
		return n
	}
	return 0
}

// Len is the length of the list at path (-1 when it is not a list).
func Len(v any, path string) int {
	if l, ok := Get(v, path).([]any); ok {
		return len(l)
	}
	return -1
}

// Peer starts a second server on the same database, as a second process
// sharing PostgreSQL would be, with e's settings changed by opts.
func (e *Env) Peer(opts ...Option) *Env {
	e.T.Helper()
	set := settings{cfg: e.cfg, maxConns: e.maxConns}
	set.cfg.SkipNotify = nil
	for _, o := range opts {
		o(&set)
	}
	peer := &Env{T: e.T, Store: e.Store, DatabaseURL: set.cfg.DatabaseURL, maxConns: set.maxConns}
	cfg := set.cfg
	cfg.Now, cfg.StoreOptions = peer.Now, nil
	if rec := statementAudit.Load(); rec != nil && e.Store == "postgres" {
		name := e.T.Name() + " (peer)"
		cfg.StoreOptions = []store.Option{store.WithQueryLog(func(_ context.Context, q string) { rec.Record(name, q) })}
	}
	peer.cfg = cfg
	a, err := startApp(context.Background(), cfg)
	if err != nil {
		e.T.Fatalf("start peer: %v", err)
	}
	peer.limitPool(a)
	peer.App = a
	peer.Server = httptest.NewServer(a.Handler)
	e.T.Cleanup(func() {
		a.SDK.Close() // open SDK streams would hold Server.Close
		peer.Server.Close()
		a.Close()
	})
	return peer
}

// TestMasterKey is the master key test servers seal secrets with (base64
// of 32 bytes).
const TestMasterKey = "ZW50aXRsZWQtdGVzdC1tYXN0ZXIta2V5LTMyLWJ5dGU="

// logSink is where test servers log: nowhere, unless ENTITLED_TEST_LOG is
// set (then stderr, to see what a failing test's server said).
func logSink() io.Writer {
	if os.Getenv("ENTITLED_TEST_LOG") != "" {
		return os.Stderr
	}
	return io.Discard
}
