// Command entitled serves the licensing and entitlements API.
//
// Configuration comes from the environment (see README.md):
// ENTITLED_ADDR, ENTITLED_DATABASE_URL, ENTITLED_OPERATOR_TOKEN,
// ENTITLED_LOG_LEVEL, ENTITLED_DECISION_LOG, ENTITLED_DECISION_LOG_SAMPLE,
// ENTITLED_POLICY_TIMEOUT, ENTITLED_REQUEST_TIMEOUT, ENTITLED_STALE_LIMIT,
// ENTITLED_RESYNC_INTERVAL.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/entitled/entitled/internal/app"
	"github.com/entitled/entitled/policy"
)

type config struct {
	addr          string
	databaseURL   string
	operatorToken string
	logLevel      slog.Level
	decisionLog   string
	sample        float64
	policyTimeout time.Duration
	reqTimeout    time.Duration
	staleLimit    time.Duration
	resync        time.Duration
}

func loadConfig(getenv func(string) string) (config, error) {
	c := config{
		addr:          getenv("ENTITLED_ADDR"),
		databaseURL:   getenv("ENTITLED_DATABASE_URL"),
		operatorToken: getenv("ENTITLED_OPERATOR_TOKEN"),
	}
	if c.addr == "" {
		c.addr = ":8080"
	}
	if c.databaseURL == "" {
		c.databaseURL = "sqlite://entitled.db"
	}
	c.decisionLog = getenv("ENTITLED_DECISION_LOG")
	c.sample = 1
	if v := getenv("ENTITLED_DECISION_LOG_SAMPLE"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 || f > 1 {
			return c, fmt.Errorf("ENTITLED_DECISION_LOG_SAMPLE must be a number in (0, 1], got %q", v)
		}
		c.sample = f
	}
	if v := getenv("ENTITLED_POLICY_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("ENTITLED_POLICY_TIMEOUT must be a positive duration such as 25ms, got %q", v)
		}
		c.policyTimeout = d
	}
	if v := getenv("ENTITLED_REQUEST_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("ENTITLED_REQUEST_TIMEOUT must be a positive duration such as 15s, got %q", v)
		}
		c.reqTimeout = d
	}
	for _, d := range []struct {
		name, example string
		dst           *time.Duration
	}{{"ENTITLED_STALE_LIMIT", "5m", &c.staleLimit}, {"ENTITLED_RESYNC_INTERVAL", "30s", &c.resync}} {
		if v := getenv(d.name); v != "" {
			t, err := time.ParseDuration(v)
			if err != nil || t <= 0 {
				return c, fmt.Errorf("%s must be a positive duration such as %s, got %q", d.name, d.example, v)
			}
			*d.dst = t
		}
	}
	if lvl := getenv("ENTITLED_LOG_LEVEL"); lvl != "" {
		if err := c.logLevel.UnmarshalText([]byte(lvl)); err != nil {
			return c, fmt.Errorf("ENTITLED_LOG_LEVEL: %w", err)
		}
	}
	return c, nil
}

func main() {
	if len(os.Args) > 1 {
		os.Exit(command(os.Args[1:]))
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "entitled:", err)
		os.Exit(1)
	}
}

func run() error {
	if os.Getenv("GOGC") == "" {
		// Decisions allocate short-lived garbage at a high rate; trading
		// memory (plentiful here) for fewer collections shortens the tail.
		debug.SetGCPercent(400)
	}
	cfg, err := loadConfig(os.Getenv)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	slog.SetDefault(log)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	appCfg := app.Config{
		DatabaseURL:       cfg.databaseURL,
		OperatorToken:     cfg.operatorToken,
		Logger:            log,
		DecisionLogSample: cfg.sample,
		PolicyTimeout:     cfg.policyTimeout,
		RequestTimeout:    cfg.reqTimeout,
		StaleLimit:        cfg.staleLimit,
		ResyncInterval:    cfg.resync,
	}
	switch cfg.decisionLog {
	case "", "off":
	case "stdout":
		appCfg.DecisionLog = os.Stdout
	case "stderr":
		appCfg.DecisionLog = os.Stderr
	default:
		f, err := os.OpenFile(cfg.decisionLog, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return fmt.Errorf("ENTITLED_DECISION_LOG: %w", err)
		}
		defer f.Close()
		appCfg.DecisionLog = f
	}
	a, err := app.New(ctx, appCfg)
	if err != nil {
		return err
	}
	defer a.Close()

	secret, err := a.Bootstrap(ctx)
	if err != nil {
		return err
	}
	if secret != "" {
		fmt.Printf("Created organization \"default\". Its admin API key (shown once):\n\n    %s\n\n", secret)
	}

	srv := &http.Server{
		Addr:              cfg.addr,
		Handler:           a.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("entitled listening", "addr", cfg.addr, "database", redact(cfg.databaseURL))
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	case <-ctx.Done():
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(shutdownCtx)
	}
	return nil
}

// command runs a subcommand instead of the server.
func command(args []string) int {
	switch strings.Join(args, " ") {
	case "policy input-schema":
		// The JSON Schema of the policy input document, for authors who
		// develop with the stock opa CLI.
		os.Stdout.Write(policy.InputSchema())
		return 0
	default:
		fmt.Fprintf(os.Stderr, "usage: entitled                        serve (configured by ENTITLED_* variables)\n       entitled policy input-schema    print the JSON Schema of the policy input document\n")
		return 2
	}
}
