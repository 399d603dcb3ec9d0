// Package store opens the database (embedded SQLite or PostgreSQL), brings
// its schema up to date, runs work in transactions, and translates storage
// errors into domain errors. Nothing above it sees a driver error.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/lib/pq"
	"modernc.org/sqlite"

	"github.com/entitled/entitled/ent"
	"github.com/entitled/entitled/ent/migrate"
	_ "github.com/entitled/entitled/ent/runtime" // hooks, interceptors and defaults of the schema
)

var registerOnce sync.Once

// registerSQLite makes modernc's pure-Go driver available under the name ent
// and Atlas use. It must happen once per process.
func registerSQLite() {
	registerOnce.Do(func() { sql.Register("sqlite3", &sqlite.Driver{}) })
}

// DB is an open database with its ent client.
type DB struct {
	Client  *ent.Client
	SQL     *sql.DB
	Dialect string
	// DSN is the driver connection string (PostgreSQL LISTEN needs it).
	DSN string
	// Health is how the database's statements fare lately.
	Health *Health
}

// Option changes how Open sets up the database.
type Option func(*options)

type options struct {
	queryLog func(ctx context.Context, query string)
}

// WithQueryLog reports every SQL statement ent runs (tests count them to
// prove edge walks are batched, not one query per row).
func WithQueryLog(fn func(ctx context.Context, query string)) Option {
	return func(o *options) { o.queryLog = fn }
}

// Open parses a database URL (sqlite://PATH, sqlite:///abs/path,
// postgres://...), connects, and migrates the schema.
func Open(ctx context.Context, rawURL string, opts ...Option) (*DB, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	drv, dsn, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	var db *sql.DB
	switch drv {
	case dialect.SQLite:
		registerSQLite()
		db, err = sql.Open("sqlite3", dsn)
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		// WAL lets readers run beside the one writer; a few connections
		// are plenty for an embedded file.
		db.SetMaxOpenConns(4)
	case dialect.Postgres:
		db, err = sql.Open("postgres", dsn)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		db.SetMaxOpenConns(32)
		db.SetMaxIdleConns(32)
		db.SetConnMaxIdleTime(5 * time.Minute)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s database: %w", drv, err)
	}
	health := &Health{}
	var driver dialect.Driver = translating{entsql.OpenDB(drv, db), health}
	if o.queryLog != nil {
		driver = dialect.DebugWithContext(driver, func(ctx context.Context, args ...any) {
			o.queryLog(ctx, fmt.Sprint(args...))
		})
	}
	client := ent.NewClient(ent.Driver(driver))
	if err := client.Schema.Create(ctx, migrate.WithDropIndex(true)); err != nil {
		client.Close()
		return nil, fmt.Errorf("migrate schema: %w", err)
	}
	return &DB{Client: client, SQL: db, Dialect: drv, DSN: dsn, Health: health}, nil
}

// Close closes the database.
func (d *DB) Close() error { return d.Client.Close() }

func parseURL(raw string) (driver, dsn string, err error) {
	switch {
	case strings.HasPrefix(raw, "sqlite://"):
		path := strings.TrimPrefix(raw, "sqlite://")
		query := ""
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path, query = path[:i], path[i+1:]
		}
		if path == "" {
			return "", "", fmt.Errorf("ENTITLED_DATABASE_URL %q: sqlite URL needs a file path", raw)
		}
		if path != ":memory:" {
			if dir := filepath.Dir(path); dir != "." {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return "", "", fmt.Errorf("create database directory: %w", err)
				}
			}
		}
		q, err := url.ParseQuery(query)
		if err != nil {
			return "", "", fmt.Errorf("ENTITLED_DATABASE_URL %q: %w", raw, err)
		}
		// Foreign keys on; writers wait instead of failing; transactions
		// take the write lock up front so they never deadlock on upgrade.
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Set("_txlock", "immediate")
		return dialect.SQLite, "file:" + path + "?" + q.Encode(), nil
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		// A database that does not answer fails a connect in seconds
		// rather than at the kernel's timeout, so fallbacks get their turn.
		if u, err := url.Parse(raw); err == nil && !u.Query().Has("connect_timeout") {
			q := u.Query()
			q.Set("connect_timeout", "5")
			u.RawQuery = q.Encode()
			raw = u.String()
		}
		return dialect.Postgres, raw, nil
	default:
		return "", "", fmt.Errorf("ENTITLED_DATABASE_URL %q: want sqlite://PATH or postgres://", raw)
	}
}

// WithTx runs fn in one transaction, committing on success and rolling
// back on error or panic. A transaction that lost its connection before
// committing (so surely did not commit) is run once more, on another.
func WithTx(ctx context.Context, client *ent.Client, fn func(tx *ent.Tx) error) error {
	return retryLost(ctx, func() error {
		tx, err := client.Tx(ctx)
		return run(tx, err, fn)
	})
}

// WithSQLTx is WithTx for code that writes raw SQL (metering): fn gets a
// database/sql transaction.
func WithSQLTx(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	return retryLost(ctx, func() error {
		tx, err := db.BeginTx(ctx, nil)
		return run(tx, err, fn)
	})
}

// run is the body of both: fn inside a begun transaction, committed on
// success, rolled back on error or panic. A transient database failure
// anywhere in it is UNAVAILABLE.
func run[T interface {
	Commit() error
	Rollback() error
}](tx T, err error, fn func(T) error) error {
	if err != nil {
		return unavailable(fmt.Errorf("begin transaction: %w", err))
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
		return unavailable(commitError{fmt.Errorf("commit: %w", err)})
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
