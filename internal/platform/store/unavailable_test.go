package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/lib/pq"

	"github.com/entitled/entitled/internal/apperr"
)

func TestTransientFailuresAreUnavailable(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for name, err := range map[string]error{
		"connection refused":     fmt.Errorf("begin: %w", dial),
		"bad connection":         driver.ErrBadConn,
		"admin shutdown":         &pq.Error{Code: "57P01"},
		"too many clients":       &pq.Error{Code: "53300"},
		"cannot connect now":     &pq.Error{Code: "57P03"},
		"connection exception":   &pq.Error{Code: "08006"},
		"deadline on connect":    fmt.Errorf("dial: %w", context.DeadlineExceeded),
		"connection reset":       syscall.ECONNRESET,
		"unexpected EOF":         io.ErrUnexpectedEOF,
		"serialization failure":  &pq.Error{Code: "40001"},
		"already an UNAVAILABLE": &apperr.Error{Code: apperr.Unavailable},
	} {
		if !IsUnavailable(err) {
			t.Errorf("%s: not unavailable", name)
		}
		ae, ok := apperr.As(Translate(err, "license"))
		if !ok || ae.Code != apperr.Unavailable {
			t.Errorf("%s: translated to %v", name, Translate(err, "license"))
		}
	}
	for name, err := range map[string]error{
		"a bug":             errors.New("nil map"),
		"unique violation":  &pq.Error{Code: "23505"},
		"syntax error":      &pq.Error{Code: "42601"},
		"a domain error":    apperr.Invalid("name", "bad"),
		"client went away":  context.Canceled,
		"nothing":           nil,
		"division by zero":  &pq.Error{Code: "22012"},
		"undefined column":  &pq.Error{Code: "42703"},
		"disk full":         &pq.Error{Code: "53100"},
		"permission denied": &pq.Error{Code: "42501"},
	} {
		if IsUnavailable(err) {
			t.Errorf("%s: unavailable", name)
		}
		if ae, ok := apperr.As(Translate(err, "license")); ok && ae.Code == apperr.Unavailable {
			t.Errorf("%s: translated to UNAVAILABLE", name)
		}
	}
}

func TestLostTransactionsRunOnceMore(t *testing.T) {
	for name, c := range map[string]struct {
		err   error
		tries int
	}{
		"terminated under it":  {&pq.Error{Code: "57P01"}, lostAttempts},
		"dead pooled conn":     {driver.ErrBadConn, lostAttempts},
		"deadlock victim":      {&pq.Error{Code: "40P01"}, lostAttempts},
		"commit outcome known": {commitError{driver.ErrBadConn}, 1},
		"a bug":                {errors.New("bug"), 1},
		"refused":              {apperr.Invalid("x", "y"), 1},
	} {
		n := 0
		err := retryLost(context.Background(), func() error { n++; return c.err })
		if n != c.tries || err == nil {
			t.Errorf("%s: %d tries (want %d), err %v", name, n, c.tries, err)
		}
	}
	n := 0
	if err := retryLost(context.Background(), func() error {
		n++
		if n <= 3 {
			return driver.ErrBadConn
		}
		return nil
	}); err != nil || n != 4 {
		t.Fatalf("second attempt: %v after %d", err, n)
	}
}

func TestHealthLetsOneProbeThrough(t *testing.T) {
	var h Health
	if h.Failing() {
		t.Fatal("failing before any failure")
	}
	h.Observe(nil)
	h.Observe(driver.ErrBadConn)
	probes := 0
	for i := 0; i < 100; i++ {
		if !h.Failing() {
			probes++
		}
	}
	if probes != 1 {
		t.Fatalf("%d callers told to try the database, want 1", probes)
	}
	h.Observe(errors.New("a bug, not an outage"))
	h.Observe(nil) // the probe answered
	if h.Failing() {
		t.Fatal("still failing after the database answered")
	}
}
