// Package store opens the database (embedded SQLite or PostgreSQL), brings
// its schema up to date with the versioned migrations of migrations/, runs
// work in transactions, and translates storage errors into domain errors.
// Nothing above it sees a driver error.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"time"

	"ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/lib/pq"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"modernc.org/sqlite"

	"github.com/entitled/entitled/ent"
	_ "github.com/entitled/entitled/ent/runtime" // hooks, interceptors and defaults of the schema
	"github.com/entitled/entitled/internal/platform/tracing"
)

var registerOnce sync.Once

// registerSQLite makes modernc's pure-Go driver available under the name ent
// and Atlas use. It must happen once per process.
func registerSQLite() {
	registerOnce.Do(func() { sql.Register("sqlite3", &sqlite.Driver{}) })
}

// DB is an open database with its ent client.
type DB struct {
	// Client is ent over SQL: writes, and reads inside transactions.
	Client *ent.Client
	// SQL is the pool that writes (and reads in transactions).
	SQL *sql.DB
	// Read is the pool for reads outside transactions (decisions' usage
	// counters, facts loading). On SQLite it is a pool of its own, opened
	// query_only, so that reads never queue behind writers that hold a
	// connection while they wait for the file's write lock; on PostgreSQL
	// it is SQL.
	Read *sql.DB
	// ReadClient is ent over Read. Nothing may write through it.
	ReadClient *ent.Client
	Dialect    string
	// DSN is the driver connection string (PostgreSQL LISTEN needs it).
	DSN string
	// Location says where the data lives: the SQLite file's absolute path,
	// or the PostgreSQL URL without its password.
	Location string
	// Created reports that Open created the SQLite file (false: it opened
	// an existing one; always false on PostgreSQL).
	Created bool
	// migrations replaces the embedded migrations (WithMigrationDir).
	migrations migrate.Dir
	// Health is how the database's statements fare lately.
	Health *Health
}

// Option changes how Open sets up the database.
type Option func(*options)

type options struct {
	queryLog    func(ctx context.Context, query string)
	skipMigrate bool
	maxConns    int
	log         *slog.Logger
	migrations  migrate.Dir
}

// WithQueryLog reports every SQL statement ent runs (tests count them to
// prove edge walks are batched, not one query per row).
func WithQueryLog(fn func(ctx context.Context, query string)) Option {
	return func(o *options) { o.queryLog = fn }
}

// SkipMigrations opens the database as it is, without applying pending
// migrations (ENTITLED_AUTO_MIGRATE=false, and the migrate command).
// MigrationStatus says whether the schema is behind.
func SkipMigrations() Option {
	return func(o *options) { o.skipMigrate = true }
}

// DefaultMaxConns is the PostgreSQL connection budget of one process
// (ENTITLED_DB_MAX_CONNS): three replicas fit in PostgreSQL's default
// max_connections of 100 with room to spare.
const DefaultMaxConns = 10

// MaxConns sets the PostgreSQL connection budget of the process: the pool
// gets n-1 connections, and the change feed's LISTEN connection is the
// last one. n must be at least 2. It does not apply to SQLite.
func MaxConns(n int) Option {
	return func(o *options) { o.maxConns = n }
}

// WithMigrationDir migrates with the files of dir instead of the
// binary's own (tests of schema changes).
func WithMigrationDir(dir migrate.Dir) Option {
	return func(o *options) { o.migrations = dir }
}

// WithLogger reports migrations as they are applied.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.log = l }
}

// Open parses a database URL (sqlite://PATH, sqlite:///abs/path,
// postgres://...), connects, and applies pending migrations (under a lock,
// so that replicas starting together apply each once) unless
// SkipMigrations is given.
func Open(ctx context.Context, rawURL string, opts ...Option) (*DB, error) {
	o := options{maxConns: DefaultMaxConns, log: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	u, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	d := &DB{Dialect: u.driver, DSN: u.dsn, Location: u.location, migrations: o.migrations, Health: &Health{}}
	switch u.driver {
	case dialect.SQLite:
		registerSQLite()
		if u.path != ":memory:" {
			_, statErr := os.Stat(u.path)
			d.Created = errors.Is(statErr, fs.ErrNotExist)
		}
		if d.SQL, err = sql.Open("sqlite3", u.dsn); err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		// WAL lets readers run beside the one writer; a few connections
		// are plenty for an embedded file.
		d.SQL.SetMaxOpenConns(4)
	case dialect.Postgres:
		if o.maxConns < 2 {
			return nil, fmt.Errorf("ENTITLED_DB_MAX_CONNS is %d; it must be at least 2 (one pool connection and the change feed's)", o.maxConns)
		}
		if d.SQL, err = sql.Open("postgres", u.dsn); err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		// One connection of the budget is the change feed's LISTEN.
		d.SQL.SetMaxOpenConns(o.maxConns - 1)
		d.SQL.SetMaxIdleConns(o.maxConns - 1)
		d.SQL.SetConnMaxIdleTime(5 * time.Minute)
	}
	if o.queryLog != nil {
		if d.SQL, err = logged(d.SQL, u.dsn, o.queryLog); err != nil {
			return nil, err
		}
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := d.SQL.PingContext(pingCtx); err != nil {
		d.SQL.Close()
		return nil, fmt.Errorf("connect to %s database %s: %w", u.driver, u.location, err)
	}
	attrs := []any{"location", d.Location, "dialect", d.Dialect}
	if u.driver == dialect.SQLite {
		attrs = append(attrs, "file", map[bool]string{true: "created", false: "opened"}[d.Created])
	}
	o.log.Info("database", attrs...)
	if !o.skipMigrate {
		if _, err := d.Migrate(ctx, o.log); err != nil {
			d.SQL.Close()
			return nil, err
		}
		if st, err := d.MigrationStatus(ctx); err == nil && len(st.Unknown) > 0 {
			o.log.Warn("a newer release has migrated this database: this binary runs on a schema it does not know", "unknown_migrations", st.Unknown)
		}
	}
	d.Read = d.SQL
	if u.driver == dialect.SQLite && u.path != ":memory:" {
		// After the write pool has opened the file (and set WAL, which is
		// persistent), so that the read pool needs no write of its own.
		if d.Read, err = sql.Open("sqlite3", u.readDSN); err != nil {
			d.SQL.Close()
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		d.Read.SetMaxOpenConns(max(4, runtime.GOMAXPROCS(0)))
		if o.queryLog != nil {
			if d.Read, err = logged(d.Read, u.readDSN, o.queryLog); err != nil {
				d.SQL.Close()
				return nil, err
			}
		}
	}
	d.Client = ent.NewClient(ent.Driver(d.driver(d.SQL)))
	d.ReadClient = d.Client
	if d.Read != d.SQL {
		d.ReadClient = ent.NewClient(ent.Driver(d.driver(d.Read)))
	}
	return d, nil
}

// driver is ent's driver over db (the query log, when set, sits below it,
// at the database driver), with transient failures translated to
// UNAVAILABLE and told to the database's Health.
func (d *DB) driver(db *sql.DB) dialect.Driver {
	return translating{entsql.OpenDB(d.Dialect, db), d.Health}
}

// logged reopens a pool through the query log, keeping its limits.
func logged(db *sql.DB, dsn string, log func(ctx context.Context, query string)) (*sql.DB, error) {
	maxOpen := db.Stats().MaxOpenConnections
	out, err := withLogging(db, dsn, log)
	if err != nil {
		return nil, fmt.Errorf("log queries: %w", err)
	}
	out.SetMaxOpenConns(maxOpen)
	out.SetMaxIdleConns(maxOpen)
	out.SetConnMaxIdleTime(5 * time.Minute)
	return out, nil
}

// Close closes the database.
func (d *DB) Close() error {
	err := d.Client.Close()
	if d.ReadClient != d.Client {
		err = errors.Join(err, d.ReadClient.Close())
	}
	return err
}

// dbURL is a parsed ENTITLED_DATABASE_URL.
type dbURL struct {
	driver string
	dsn    string
	// readDSN opens the SQLite file query_only (reads' pool).
	readDSN string
	// path is the SQLite file as given.
	path string
	// location is the absolute path of the SQLite file, or the PostgreSQL
	// URL without its password.
	location string
}

func parseURL(raw string) (dbURL, error) {
	switch {
	case strings.HasPrefix(raw, "sqlite://"):
		path := strings.TrimPrefix(raw, "sqlite://")
		query := ""
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path, query = path[:i], path[i+1:]
		}
		if path == "" {
			return dbURL{}, fmt.Errorf("ENTITLED_DATABASE_URL %q: sqlite URL needs a file path", raw)
		}
		loc := path
		if path != ":memory:" {
			if dir := filepath.Dir(path); dir != "." {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return dbURL{}, fmt.Errorf("create database directory: %w", err)
				}
			}
			abs, err := filepath.Abs(path)
			if err != nil {
				return dbURL{}, fmt.Errorf("ENTITLED_DATABASE_URL %q: %w", raw, err)
			}
			loc = abs
		}
		q, err := url.ParseQuery(query)
		if err != nil {
			return dbURL{}, fmt.Errorf("ENTITLED_DATABASE_URL %q: %w", raw, err)
		}
		r, _ := url.ParseQuery(query)
		// Foreign keys on; writers wait instead of failing; transactions
		// take the write lock up front so they never deadlock on upgrade.
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Set("_txlock", "immediate")
		// Readers refuse to write, and never set the journal mode.
		r.Add("_pragma", "query_only(1)")
		r.Add("_pragma", "busy_timeout(10000)")
		return dbURL{driver: dialect.SQLite, dsn: "file:" + path + "?" + q.Encode(),
			readDSN: "file:" + path + "?" + r.Encode(), path: path, location: loc}, nil
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		dsn := raw
		// A database that does not answer fails a connect in seconds
		// rather than at the kernel's timeout, so fallbacks get their turn.
		if u, err := url.Parse(raw); err == nil && !u.Query().Has("connect_timeout") {
			q := u.Query()
			q.Set("connect_timeout", "5")
			u.RawQuery = q.Encode()
			dsn = u.String()
		}
		return dbURL{driver: dialect.Postgres, dsn: dsn, location: Redact(raw)}, nil
	default:
		return dbURL{}, fmt.Errorf("ENTITLED_DATABASE_URL %q: want sqlite://PATH or postgres://", raw)
	}
}

// Redact hides the password of a database URL.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// WithTx runs fn in one transaction, committing on success and rolling
// back on error or panic. A transaction that lost its connection before
// committing (so surely did not commit) is run once more, on another.
func WithTx(ctx context.Context, client *ent.Client, fn func(tx *ent.Tx) error) error {
	ctx, span := startTx(ctx)
	defer span.End()
	return endTx(span, retryLost(ctx, func() error {
		tx, err := client.Tx(ctx)
		return run(tx, err, fn)
	}))
}

// WithSQLTx is WithTx for code that writes raw SQL (metering): fn gets a
// database/sql transaction.
func WithSQLTx(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	ctx, span := startTx(ctx)
	defer span.End()
	return endTx(span, retryLost(ctx, func() error {
		tx, err := db.BeginTx(ctx, nil)
		return run(tx, err, fn)
	}))
}

// startTx starts a transaction's span when the request is traced.
func startTx(ctx context.Context) (context.Context, trace.Span) {
	return tracing.Start(ctx, "db.transaction")
}

// endTx records how a transaction ended: committed, rolled back by fn, or
// failed (begin or commit: the span's status is then an error).
func endTx(span trace.Span, err error) error {
	if !span.IsRecording() {
		return err
	}
	var failed *txError
	switch {
	case err == nil:
		span.SetAttributes(attribute.String("db.transaction.outcome", "commit"))
	case errors.As(err, &failed):
		span.SetAttributes(attribute.String("db.transaction.outcome", failed.stage+"_failed"))
		tracing.Fail(span, err)
	default:
		span.SetAttributes(attribute.String("db.transaction.outcome", "rollback"))
	}
	return err
}

// txError is a failure of the transaction itself, not of fn.
type txError struct {
	stage string // "begin" or "commit"
	err   error
}

func (e *txError) Error() string {
	if e.stage == "begin" {
		return "begin transaction: " + e.err.Error()
	}
	return "commit: " + e.err.Error()
}

func (e *txError) Unwrap() error { return e.err }

// run is the body of both: fn inside a begun transaction, committed on
// success, rolled back on error or panic. A transient database failure
// anywhere in it is UNAVAILABLE.
func run[T interface {
	Commit() error
	Rollback() error
}](tx T, err error, fn func(T) error) error {
	if err != nil {
		return unavailable(&txError{"begin", err})
	}
	defer func() {
		if v := recover(); v != nil {
			_ = tx.Rollback()
			panic(v)
		}
	}()
	if err := fn(tx); err != nil {
		if rerr := tx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
			return unavailable(errors.Join(err, fmt.Errorf("rollback: %w", rerr)))
		}
		return unavailable(err)
	}
	if err := tx.Commit(); err != nil {
		return unavailable(commitError{&txError{"commit", err}})
	}
	return nil
}

// IsUniqueViolation reports whether err is a unique-constraint violation.
func IsUniqueViolation(err error) bool {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		return pqErr.Code == "23505"
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		// SQLITE_CONSTRAINT_UNIQUE and SQLITE_CONSTRAINT_PRIMARYKEY
		return sqErr.Code() == 2067 || sqErr.Code() == 1555
	}
	return false
}

// IsForeignKeyViolation reports whether err is a foreign-key violation.
func IsForeignKeyViolation(err error) bool {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		return pqErr.Code == "23503"
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		return sqErr.Code() == 787 // SQLITE_CONSTRAINT_FOREIGNKEY
	}
	return false
}

// Unwrap detaches an entity returned from a committed transaction so that
// its edges can still be loaded. It passes errors and nil entities through.
func Unwrap[T interface{ Unwrap() T }](v T, err error) (T, error) {
	if err != nil || reflect.ValueOf(v).IsNil() {
		return v, err
	}
	return v.Unwrap(), nil
}

// dollar is a PostgreSQL placeholder ($N).
var dollar = regexp.MustCompile(`\$(\d+)`)

// Rebind adapts a query written with PostgreSQL's $N placeholders to the
// dialect: SQLite takes them as ?N. Hand-written SQL is written once, for
// both.
func Rebind(d, q string) string {
	if d == dialect.SQLite {
		return dollar.ReplaceAllString(q, "?$1")
	}
	return q
}

// Rebind is Rebind in the database's dialect.
func (db *DB) Rebind(q string) string { return Rebind(db.Dialect, q) }
