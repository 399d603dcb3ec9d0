package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"entgo.io/ent/dialect"
	"github.com/lib/pq"
	"modernc.org/sqlite"

	"github.com/entitled/entitled/internal/apperr"
)

// RetryAfter is what a caller refused for a transient database failure is
// told to wait before trying again.
const RetryAfter = time.Second

// transientStates are the PostgreSQL SQLSTATEs (and classes) of failures
// that say nothing about the request: the same request may succeed later.
var transientStates = map[string]bool{
	"08":    true, // connection exception (class)
	"53300": true, // too_many_connections
	"57P01": true, // admin_shutdown (pg_terminate_backend, a restart)
	"57P02": true, // crash_shutdown
	"57P03": true, // cannot_connect_now (starting up, shutting down)
	"57014": true, // query_canceled (statement timeout)
	"40001": true, // serialization_failure
	"40P01": true, // deadlock_detected
	"55P03": true, // lock_not_available
}

// IsUnavailable reports whether err is a transient failure of the
// database rather than a bug or a refusal of the request: the connection
// was refused, reset or closed, the server is shutting down or has no
// connection to spare, a connect or a statement ran out of time.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	if ae, ok := apperr.As(err); ok {
		return ae.Code == apperr.Unavailable
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		code := string(pqErr.Code)
		return transientStates[code] || (len(code) == 5 && transientStates[code[:2]])
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		switch sqErr.Code() & 0xff {
		case 5, 6: // SQLITE_BUSY, SQLITE_LOCKED
			return true
		}
		return false
	}
	var netErr net.Error
	var opErr *net.OpError
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED),
		errors.As(err, &opErr), errors.As(err, &dnsErr):
		return true
	case errors.As(err, &netErr) && netErr.Timeout():
		return true
	}
	return false
}

// commitError marks a failed commit: whether the transaction committed is
// unknown, so it is never run again.
type commitError struct{ error }

func (e commitError) Unwrap() error { return e.error }

// lostStates are the SQLSTATEs of a transaction the server ended before
// it committed: running it again is safe.
var lostStates = map[string]bool{"57P01": true, "57P02": true, "40001": true, "40P01": true}

// lostAttempts bounds how often one transaction is run when each attempt
// lost its connection: after pg_terminate_backend or a failover every idle
// connection in the pool is dead, and each fails at once on first use, so
// the bound covers the default pool's worth of them (DefaultMaxConns)
// without looping on a database that is really away, where opening a new
// connection fails with something that is not "lost".
const lostAttempts = DefaultMaxConns + 2

// retryLost runs a transaction, and again while each attempt lost its
// connection (or was chosen as a deadlock or serialization victim) before
// committing: connections terminated under it, or pooled ones that died
// while idle, cost the caller nothing.
func retryLost(ctx context.Context, attempt func() error) error {
	var err error
	for range lostAttempts {
		err = attempt()
		if err == nil || ctx.Err() != nil || !lost(err) {
			return err
		}
	}
	return err
}

// lost reports whether a transaction surely did not commit because the
// server ended it or its connection: running it again is safe.
func lost(err error) bool {
	var ce commitError
	if errors.As(err, &ce) {
		return false
	}
	var pqErr *pq.Error
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		(errors.As(err, &pqErr) && (lostStates[string(pqErr.Code)] || string(pqErr.Code.Class()) == "08"))
}

// unavailable turns a transient database failure into UNAVAILABLE (the
// cause kept for logs); other errors pass through unchanged.
func unavailable(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := apperr.As(err); ok || !IsUnavailable(err) {
		return err
	}
	return &apperr.Error{Code: apperr.Unavailable, Message: "the database is unavailable; try again shortly", RetryAfter: RetryAfter, Err: err}
}

// Health is what this process last heard from its database. It is a
// circuit breaker for reads that have something to fall back on: once the
// database failed (and has not answered since), they use their fallback
// instead of waiting on it again, but for one caller every failingProbe,
// which tries the database and closes the breaker when it answers.
type Health struct {
	failed, answered, probed atomic.Int64 // unix nanos
}

// failingProbe is how often a read tries a database that failed.
const failingProbe = 250 * time.Millisecond

// Observe records the outcome of a statement.
func (h *Health) Observe(err error) {
	switch {
	case err == nil:
		if h.failed.Load() != 0 {
			h.answered.Store(time.Now().UnixNano())
		}
	case IsUnavailable(err):
		h.failed.Store(time.Now().UnixNano())
	}
}

// Failing reports whether a read with a fallback should use it rather than
// the database: the database failed transiently and has not answered
// since. One caller every failingProbe is told false, to try it.
func (h *Health) Failing() bool {
	f := h.failed.Load()
	if f == 0 || f <= h.answered.Load() {
		return false
	}
	now, p := time.Now().UnixNano(), h.probed.Load()
	if now-p >= int64(failingProbe) && h.probed.CompareAndSwap(p, now) {
		return false
	}
	return true
}

// translating is the ent driver with transient failures reported as
// UNAVAILABLE, so every query of every room, generated ones included,
// tells a client "try again" rather than "internal error". It tells the
// database's Health how statements fare.
type translating struct {
	dialect.Driver
	health *Health
}

func (d translating) seen(err error) error {
	d.health.Observe(err)
	return unavailable(err)
}

func (d translating) Exec(ctx context.Context, query string, args, v any) error {
	return d.seen(d.Driver.Exec(ctx, query, args, v))
}

func (d translating) Query(ctx context.Context, query string, args, v any) error {
	return d.seen(d.Driver.Query(ctx, query, args, v))
}

func (d translating) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	r, err := d.Driver.(execQuerier).ExecContext(ctx, query, args...)
	return r, d.seen(err)
}

func (d translating) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	r, err := d.Driver.(execQuerier).QueryContext(ctx, query, args...)
	return r, d.seen(err)
}

func (d translating) Tx(ctx context.Context) (dialect.Tx, error) {
	tx, err := d.Driver.Tx(ctx)
	if err != nil {
		return nil, d.seen(err)
	}
	return translatingTx{tx}, nil
}

func (d translating) BeginTx(ctx context.Context, opts *sql.TxOptions) (dialect.Tx, error) {
	tx, err := d.Driver.(interface {
		BeginTx(context.Context, *sql.TxOptions) (dialect.Tx, error)
	}).BeginTx(ctx, opts)
	if err != nil {
		return nil, d.seen(err)
	}
	return translatingTx{tx}, nil
}

type execQuerier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

type translatingTx struct{ dialect.Tx }

func (t translatingTx) Exec(ctx context.Context, query string, args, v any) error {
	return unavailable(t.Tx.Exec(ctx, query, args, v))
}

func (t translatingTx) Query(ctx context.Context, query string, args, v any) error {
	return unavailable(t.Tx.Query(ctx, query, args, v))
}

func (t translatingTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	r, err := t.Tx.(execQuerier).ExecContext(ctx, query, args...)
	return r, unavailable(err)
}

func (t translatingTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	r, err := t.Tx.(execQuerier).QueryContext(ctx, query, args...)
	return r, unavailable(err)
}

func (t translatingTx) Commit() error { return unavailable(t.Tx.Commit()) }

// IsCommitFailure reports whether err is a failed commit: whether the
// transaction committed is unknown, so its work must be neither
// acknowledged nor run again.
func IsCommitFailure(err error) bool {
	var ce commitError
	return errors.As(err, &ce)
}
