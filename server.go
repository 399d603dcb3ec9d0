// Command entitled serves the licensing and entitlements API, and holds
// the operator's commands (cli.go): entitled --help lists them and every
// ENTITLED_* variable (envVars below) with its default. Tracing is on when
// the standard OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set (docs/operations.md, "Tracing").
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"github.com/entitled/entitled/internal/app"
	"github.com/entitled/entitled/internal/events"
	"github.com/entitled/entitled/internal/platform/store"
	"github.com/entitled/entitled/internal/platform/tracing"
	"github.com/entitled/entitled/internal/sdkstream"
	"github.com/entitled/entitled/internal/signing"
	"github.com/entitled/entitled/internal/webhooks"
)

// envVar documents one setting the server reads.
type envVar struct{ name, def, meaning string }

// envVars is every ENTITLED_* variable loadConfig reads, for the help.
var envVars = []envVar{
	{"ENTITLED_ADDR", ":8080", "listen address"},
	{"ENTITLED_DATABASE_URL", "sqlite://entitled.db", "sqlite://PATH (relative), sqlite:///abs/path.db, or postgres://user@host:5432/db?sslmode=disable"},
	{"ENTITLED_OPERATOR_TOKEN", "unset", "an operator credential (32+ characters) that may call createOrganization, and nothing else"},
	{"ENTITLED_LOG_LEVEL", "INFO", "DEBUG, INFO, WARN or ERROR; logs are JSON on stderr"},
	{"ENTITLED_DECISION_LOG", "off", "stdout, stderr or a file path: one JSON line per decision (OPA's decision-log shape)"},
	{"ENTITLED_DECISION_LOG_SAMPLE", "1", "fraction of decisions logged, in (0, 1]"},
	{"ENTITLED_POLICY_TIMEOUT", "25ms", "deadline of one evaluation of an organization's custom policies (past it: POLICY_ERROR)"},
	{"ENTITLED_REQUEST_TIMEOUT", "15s", "deadline of one API request; past it its database work and evaluations are cancelled"},
	{"ENTITLED_AUTO_MIGRATE", "true", "apply pending schema migrations at start, under a lock; false: leave the schema alone, and /readyz answers 503 while migrations are pending"},
	{"ENTITLED_SHUTDOWN_TIMEOUT", "10s", "on SIGTERM or SIGINT, how long in-flight requests may take to finish before they are cut"},
	{"ENTITLED_DB_MAX_CONNS", strconv.Itoa(store.DefaultMaxConns), "PostgreSQL connections of this process, the change feed's LISTEN included (pool: one fewer); at least 2"},
	{"ENTITLED_STALE_LIMIT", "5m", "while the database does not answer, decisions are answered from cached facts (marked stale) for at most this long; past it they fail closed (UNAVAILABLE)"},
	{"ENTITLED_RESYNC_INTERVAL", "30s", "PostgreSQL: how often to compare the organizations' change counters with the database's, catching any change notification missed"},
	{"ENTITLED_MASTER_KEY", "SQLite: a generated 0600 file beside the database; PostgreSQL: required", "base64 of 32 bytes (openssl rand -base64 32) encrypting signing keys at rest; the same for every replica"},
	{"ENTITLED_AUDIT_RETENTION", "forever", "how long audit events are kept: a duration (2160h) or days (90d); older ones are pruned and the chain stays verifiable from the first kept event"},
	{"ENTITLED_WEBHOOK_RETRY_SCHEDULE", "5s,5m,30m,2h,5h,10h,10h", "waits between a webhook delivery's failed attempts (comma-separated durations); past the last it is GAVE_UP"},
	{"ENTITLED_WEBHOOK_TIMEOUT", "15s", "deadline of one webhook delivery attempt (connect, send, answer)"},
	{"ENTITLED_SDK_SNAPSHOT_TTL", "24h", "lifetime of a signed SDK snapshot (GET /v1/sdk/snapshot): past it an SDK that cannot reach the server falls back to its license file"},
	{"ENTITLED_SDK_STREAMS_PER_KEY", strconv.Itoa(sdkstream.DefaultStreamsPerKey), "concurrent SDK change streams (GET /v1/sdk/stream) one API key may hold; beyond it 429"},
	{"ENTITLED_WEBHOOK_ALLOW_PRIVATE", "false", "true: webhook endpoints may be loopback, private or link-local addresses (self-hosted receivers); false refuses them when saved and when connecting"},
}

type config struct {
	addr            string
	databaseURL     string
	operatorToken   string
	logLevel        slog.Level
	decisionLog     string
	sample          float64
	policyTimeout   time.Duration
	reqTimeout      time.Duration
	autoMigrate     bool
	shutdownTimeout time.Duration
	maxConns        int
	staleLimit      time.Duration
	resync          time.Duration
	auditRetention  time.Duration
	masterKey       string
	snapshotTTL     time.Duration
	streamsPerKey   int
	tracing         tracing.Config
	webhooks        webhooks.Config
}

func loadConfig(getenv func(string) string) (config, error) {
	c := config{
		addr:            getenv("ENTITLED_ADDR"),
		databaseURL:     getenv("ENTITLED_DATABASE_URL"),
		operatorToken:   getenv("ENTITLED_OPERATOR_TOKEN"),
		masterKey:       getenv(signing.MasterKeyEnv),
		autoMigrate:     true,
		shutdownTimeout: 10 * time.Second,
		maxConns:        store.DefaultMaxConns,
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
	var err error
	if c.policyTimeout, err = duration(getenv, "ENTITLED_POLICY_TIMEOUT", "25ms", 0); err != nil {
		return c, err
	}
	if c.reqTimeout, err = duration(getenv, "ENTITLED_REQUEST_TIMEOUT", "15s", 0); err != nil {
		return c, err
	}
	if c.shutdownTimeout, err = duration(getenv, "ENTITLED_SHUTDOWN_TIMEOUT", "10s", c.shutdownTimeout); err != nil {
		return c, err
	}
	if c.staleLimit, err = duration(getenv, "ENTITLED_STALE_LIMIT", "5m", 0); err != nil {
		return c, err
	}
	if c.resync, err = duration(getenv, "ENTITLED_RESYNC_INTERVAL", "30s", 0); err != nil {
		return c, err
	}
	if c.snapshotTTL, err = duration(getenv, "ENTITLED_SDK_SNAPSHOT_TTL", "24h", signing.DefaultSnapshotTTL); err != nil {
		return c, err
	}
	c.streamsPerKey = sdkstream.DefaultStreamsPerKey
	if v := getenv("ENTITLED_SDK_STREAMS_PER_KEY"); v != "" {
		if c.streamsPerKey, err = strconv.Atoi(v); err != nil || c.streamsPerKey < 1 {
			return c, fmt.Errorf("ENTITLED_SDK_STREAMS_PER_KEY must be a whole number of at least 1, got %q", v)
		}
	}
	if c.auditRetention, err = events.ParseRetention(getenv("ENTITLED_AUDIT_RETENTION")); err != nil {
		return c, err
	}
	if v := getenv("ENTITLED_AUTO_MIGRATE"); v != "" {
		if c.autoMigrate, err = strconv.ParseBool(v); err != nil {
			return c, fmt.Errorf("ENTITLED_AUTO_MIGRATE must be true or false, got %q", v)
		}
	}
	if v := getenv("ENTITLED_DB_MAX_CONNS"); v != "" {
		if c.maxConns, err = strconv.Atoi(v); err != nil || c.maxConns < 2 {
			return c, fmt.Errorf("ENTITLED_DB_MAX_CONNS must be a whole number of at least 2, got %q", v)
		}
	}
	if c.tracing, err = tracing.FromEnv(getenv); err != nil {
		return c, err
	}
	if v := getenv("ENTITLED_WEBHOOK_RETRY_SCHEDULE"); v != "" {
		if c.webhooks.RetrySchedule, err = webhooks.ParseSchedule(v); err != nil {
			return c, fmt.Errorf("ENTITLED_WEBHOOK_RETRY_SCHEDULE: %w", err)
		}
	}
	if c.webhooks.Timeout, err = duration(getenv, "ENTITLED_WEBHOOK_TIMEOUT", "15s", 0); err != nil {
		return c, err
	}
	if v := getenv("ENTITLED_WEBHOOK_ALLOW_PRIVATE"); v != "" {
		if c.webhooks.AllowPrivate, err = strconv.ParseBool(v); err != nil {
			return c, fmt.Errorf("ENTITLED_WEBHOOK_ALLOW_PRIVATE must be true or false, got %q", v)
		}
	}
	if lvl := getenv("ENTITLED_LOG_LEVEL"); lvl != "" {
		if err := c.logLevel.UnmarshalText([]byte(lvl)); err != nil {
			return c, fmt.Errorf("ENTITLED_LOG_LEVEL: %w", err)
		}
	}
	return c, nil
}

// duration reads a positive duration; def when unset.
func duration(getenv func(string) string, name, example string, def time.Duration) (time.Duration, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s must be a positive duration such as %s, got %q", name, example, v)
	}
	return d, nil
}

func main() { os.Exit(execute(os.Args[1:])) }

// serve runs the server until SIGTERM or SIGINT, then drains it.
func serve() error {
	if os.Getenv("GOGC") == "" {
		// Decisions allocate short-lived garbage at a high rate; trading
		// memory (plentiful here) for fewer collections shortens the tail.
		debug.SetGCPercent(400)
	}
	cfg, err := loadConfig(os.Getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg.logLevel)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// The address first: a busy port fails before anything is created
	// or printed.
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("ENTITLED_ADDR: %w", err)
	}
	defer ln.Close()

	appCfg := app.Config{
		DatabaseURL:       cfg.databaseURL,
		OperatorToken:     cfg.operatorToken,
		Logger:            log,
		DecisionLogSample: cfg.sample,
		PolicyTimeout:     cfg.policyTimeout,
		RequestTimeout:    cfg.reqTimeout,
		SkipMigrations:    !cfg.autoMigrate,
		MaxConns:          cfg.maxConns,
		StaleLimit:        cfg.staleLimit,
		ResyncInterval:    cfg.resync,
		AuditRetention:    cfg.auditRetention,
		MasterKey:         cfg.masterKey,
		SnapshotTTL:       cfg.snapshotTTL,
		SDKStreamsPerKey:  cfg.streamsPerKey,
		Tracing:           cfg.tracing,
		Webhooks:          cfg.webhooks,
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
		// Runs last, after the drain: every decision logged is on disk.
		defer func() { _ = f.Sync(); _ = f.Close() }()
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
		Handler:           a.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	errc := make(chan error, 1)
	log.Info("entitled listening", "addr", ln.Addr().String())
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	stop() // a second signal ends the process at once
	log.Info("shutting down: not ready, no new connections, waiting for in-flight requests", "timeout", cfg.shutdownTimeout.String())
	a.Drain()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("in-flight requests did not finish within ENTITLED_SHUTDOWN_TIMEOUT (%s); cut them", cfg.shutdownTimeout)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped: every in-flight request finished")
	return nil
}

func newLogger(level slog.Level) *slog.Logger {
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)
	return log
}
