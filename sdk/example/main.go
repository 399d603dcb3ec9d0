// Command example is a service gated by entitled, to copy from: it
// connects, gates a feature, meters a call and keeps answering through an
// outage of the entitled server.
//
//	ENTITLED_URL=http://localhost:8080 ENTITLED_API_KEY=etk_... \
//	ENTITLED_INSTANCE=eu-prod-1 go run ./sdk/example
//
// Optional: ENTITLED_CACHE_DIR (default ./entitled-cache: the last good
// snapshot and unsent reports survive a restart), ENTITLED_LICENSE_FILE
// (the offline fallback) and ENTITLED_JWKS (a file with the trusted keys;
// without it they are fetched from the server). It serves
//
//	GET /report   gated by the BOOLEAN entitlement "sso"
//	GET /api      metered by the NUMBER entitlement "api-calls"
//	GET /theme    the CONFIG entitlement "branding"
//
// on ENTITLED_EXAMPLE_ADDR (default 127.0.0.1:8090). docs/sdk.md explains
// each call.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/entitled/entitled/sdk"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		log.Error("example", "err", err)
		os.Exit(1)
	}
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func run(log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg := sdk.Config{
		URL:         os.Getenv("ENTITLED_URL"),
		APIKey:      os.Getenv("ENTITLED_API_KEY"),
		CacheDir:    env("ENTITLED_CACHE_DIR", "entitled-cache"),
		LicenseFile: os.Getenv("ENTITLED_LICENSE_FILE"),
		Logger:      log,
	}
	if path := os.Getenv("ENTITLED_JWKS"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		cfg.JWKS = b
	}
	// 1. Connect. New does not reach the server: the first question about
	// an instance fetches its snapshot.
	c, err := sdk.New(ctx, cfg)
	if err != nil {
		return err
	}
	// Close sends what is still buffered (bounded) and stops the client.
	defer c.Close()
	instance := env("ENTITLED_INSTANCE", "eu-prod-1")

	mux := http.NewServeMux()
	// 2. Gate a feature: a local decision, microseconds, no round trip.
	mux.HandleFunc("GET /report", func(w http.ResponseWriter, r *http.Request) {
		d, err := c.Allowed(r.Context(), instance, "sso")
		if err != nil { // nothing known to decide from: fail closed
			http.Error(w, "entitlements unavailable", http.StatusServiceUnavailable)
			return
		}
		if !d.Allowed {
			http.Error(w, "not included in your plan: "+d.Reason, http.StatusForbidden)
			return
		}
		// 4. Survive an outage: d.Stale says the answer came from the last
		// snapshot while the server could not be reached.
		fmt.Fprintf(w, "the report (decided %s, stale %v)\n", d.Source, d.Stale)
	})
	// 3. Meter a call: ask locally, then report what was used. Reports are
	// buffered, kept in CacheDir and sent in batches with idempotency keys.
	mux.HandleFunc("GET /api", func(w http.ResponseWriter, r *http.Request) {
		d, err := c.Allowed(r.Context(), instance, "api-calls", sdk.Requested(1))
		if err != nil {
			http.Error(w, "entitlements unavailable", http.StatusServiceUnavailable)
			return
		}
		if !d.Allowed {
			http.Error(w, "quota exhausted: "+d.Reason, http.StatusTooManyRequests)
			return
		}
		if err := c.Report(r.Context(), instance, "api-calls", 1); err != nil {
			log.Warn("usage report not recorded", "err", err)
		}
		remaining := "unlimited"
		if d.Remaining != nil {
			remaining = fmt.Sprint(*d.Remaining - 1)
		}
		fmt.Fprintf(w, "done; about %s calls left\n", remaining)
	})
	// A CONFIG entitlement's value.
	mux.HandleFunc("GET /theme", func(w http.ResponseWriter, r *http.Request) {
		d, err := c.Allowed(r.Context(), instance, "branding")
		if err != nil || !d.Allowed {
			http.Error(w, "no branding", http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(d.Value["value"])
	})

	srv := &http.Server{Addr: env("ENTITLED_EXAMPLE_ADDR", "127.0.0.1:8090"), Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("listening", "addr", srv.Addr, "instance", instance)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	// Send what is buffered before exiting (what is not sent stays in
	// CacheDir for the next start).
	return c.Flush(sctx)
}
