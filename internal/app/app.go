// Package app assembles entitled: it opens the store, wires the domain
// services to the API, and returns the HTTP handler. server.go only reads
// configuration and serves; tests build the very same handler.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"entgo.io/ent/dialect"
	"github.com/entitled/entitled/console"
	"github.com/entitled/entitled/internal/auth"
	"github.com/entitled/entitled/internal/catalog"
	"github.com/entitled/entitled/internal/custompolicy"
	"github.com/entitled/entitled/internal/decision"
	"github.com/entitled/entitled/internal/events"
	"github.com/entitled/entitled/internal/facts"
	"github.com/entitled/entitled/internal/httpapi"
	"github.com/entitled/entitled/internal/instance"
	"github.com/entitled/entitled/internal/platform/changefeed"
	"github.com/entitled/entitled/internal/platform/metrics"
	"github.com/entitled/entitled/internal/platform/tracing"
	"github.com/entitled/entitled/internal/sdkstream"
	"github.com/entitled/entitled/internal/signing"
	"github.com/entitled/entitled/policy"

	"github.com/entitled/entitled/internal/metering"
	"github.com/entitled/entitled/internal/platform/store"
	"github.com/entitled/entitled/internal/webhooks"
	"github.com/entitled/entitled/resolvers"
)

// DefaultRequestTimeout is ENTITLED_REQUEST_TIMEOUT's default.
const DefaultRequestTimeout = 15 * time.Second

// Config is everything the service needs to start.
type Config struct {
	// DatabaseURL is sqlite://PATH or postgres://...
	DatabaseURL string
	// OperatorToken, when set, may create organizations.
	OperatorToken string
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// StoreOptions are passed to store.Open (tests count queries with them).
	StoreOptions []store.Option
	// DecisionLog, when set, receives one JSON line per sampled decision.
	DecisionLog io.Writer
	// DecisionLogSample is the fraction of decisions logged (0 or 1: all).
	DecisionLogSample float64
	// PolicyTimeout bounds each evaluation of an organization's custom
	// policies (default 25 ms); past it the decision is POLICY_ERROR.
	PolicyTimeout time.Duration
	// RequestTimeout bounds every API request (default 15 s): past it,
	// its database work and evaluations are cancelled.
	RequestTimeout time.Duration
	// SkipMigrations leaves the schema as it is (ENTITLED_AUTO_MIGRATE=
	// false): while migrations are pending, /readyz says so with 503.
	SkipMigrations bool
	// MaxConns is the PostgreSQL connection budget (ENTITLED_DB_MAX_CONNS;
	// 0: store.DefaultMaxConns), the change feed's connection included.
	MaxConns int
	// StaleLimit bounds how long decisions are answered from cached facts
	// while the database does not answer (default 5 min); past it they
	// fail closed with UNAVAILABLE.
	StaleLimit time.Duration
	// ResyncInterval is the change feed's backstop period (default 30 s).
	ResyncInterval time.Duration
	// SkipNotify is a test hook: changes it returns true for are committed
	// without their notification, as if it were lost.
	SkipNotify func(changefeed.Change) bool
	// Tracing says where OpenTelemetry spans go; the zero value is off.
	Tracing tracing.Config
	// AuditRetention is how long audit events are kept
	// (ENTITLED_AUDIT_RETENTION; 0: forever).
	AuditRetention time.Duration
	// ScheduleInterval is how often the event scheduler runs (expiry
	// notices, retention; 0: events.DefaultScheduleInterval).
	ScheduleInterval time.Duration
	// Webhooks says how deliveries are sent (retry schedule, timeout,
	// private receivers); its Now, Log and Metrics are the app's.
	Webhooks webhooks.Config
	// MasterKey is ENTITLED_MASTER_KEY (signing.LoadMasterKey: empty on
	// SQLite means a key file beside the database; on PostgreSQL, an error).
	MasterKey string
	// SnapshotTTL is an SDK snapshot's lifetime
	// (ENTITLED_SDK_SNAPSHOT_TTL; 0: signing.DefaultSnapshotTTL).
	SnapshotTTL time.Duration
	// SDKStreamsPerKey bounds one API key's concurrent SDK streams
	// (ENTITLED_SDK_STREAMS_PER_KEY; 0: sdkstream.DefaultStreamsPerKey).
	SDKStreamsPerKey int
	// SDKHeartbeat is the SDK streams' heartbeat period (0:
	// sdkstream.DefaultHeartbeat; tests shorten it).
	SDKHeartbeat time.Duration
	// SDKStreamBuffer bounds each SDK stream's queue of changes (0:
	// sdkstream.DefaultBuffer; tests shrink it).
	SDKStreamBuffer int
}

// App is a running entitled.
type App struct {
	DB        *store.DB
	Auth      *auth.Service
	Catalog   *catalog.Service
	Instances *instance.Service
	Facts     *facts.Cache
	Decisions *decision.Service
	Metering  *metering.Service
	Metrics   *metrics.Registry
	Policies  *custompolicy.Service
	// Scheduler writes expiry notices and applies retention.
	Scheduler *events.Scheduler
	Feed      *changefeed.Feed
	Events    *events.Log // every service appends its changes; outbox: Webhooks.Enqueue
	Webhooks  *webhooks.Service
	Signing   *signing.Service
	// SDK fans the organizations' changes out to the SDK streams.
	SDK     *sdkstream.Hub
	Tracing *tracing.Provider // nil: tracing off
	Handler http.Handler
	log     *slog.Logger
	stop    context.CancelFunc
	ready   readiness
}

// New opens the database, migrates it and wires the services. Each
// collaborator is built before the services that use it and passed to
// their New.
func New(ctx context.Context, cfg Config) (*App, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.PolicyTimeout <= 0 {
		cfg.PolicyTimeout = policy.DefaultEvalTimeout
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	db, err := store.Open(ctx, cfg.DatabaseURL, storeOptions(cfg)...)
	if err != nil {
		return nil, err
	}
	a := &App{DB: db, log: cfg.Logger, Metrics: metrics.New()}
	a.ready.migrated.Store(!cfg.SkipMigrations)
	a.Feed = changefeed.New(feedConfig(db, cfg, changefeed.Config{
		Resync:     cfg.ResyncInterval,
		StaleLimit: cfg.StaleLimit,
		Skip:       cfg.SkipNotify,
		// Every cache that holds an organization's state hears its changes.
		Apply: func(c changefeed.Change) {
			a.Facts.Apply(c)
			a.Auth.Apply(c)
			a.SDK.Apply(c) // last: streams hear of changes the caches dropped
		},
		// A change's revision is its event's seq (see internal/sdkstream).
		Revision: func(ctx context.Context, tx changefeed.Tx, org string) (int64, error) {
			return a.Events.Head(ctx, tx, org)
		},
		// Any process's queued deliveries wake every dispatcher; any
		// process's usage commits update every process's counters.
		Channels: map[string]func(string){
			webhooks.Channel: func(p string) { a.Webhooks.Hear(p) },
			metering.Channel: func(p string) { a.Metering.Hear(p) },
		},
	}))
	// The log's outbox queues deliveries in the event's transaction.
	a.Events = events.New(db.Dialect, cfg.Now, func(ctx context.Context, tx events.Tx, e *events.Event) error {
		return a.Webhooks.Enqueue(ctx, tx, e)
	})
	master, err := signing.LoadMasterKey(cfg.MasterKey, db.Dialect, db.Location, cfg.Logger)
	if err != nil {
		db.Close()
		return nil, err
	}
	sealer, err := signing.NewSealer(master)
	if err != nil {
		db.Close()
		return nil, err
	}
	whc := cfg.Webhooks
	whc.Now, whc.Log, whc.Metrics = cfg.Now, cfg.Logger, a.Metrics
	a.Webhooks = webhooks.New(db, a.Events, sealer, whc)
	// Secrets an earlier release stored in the clear are sealed once the
	// schema is this binary's: now, or (ENTITLED_AUTO_MIGRATE=false) when
	// a readiness check first finds it current.
	if !cfg.SkipMigrations {
		if err := a.sealClearSecrets(ctx); err != nil {
			db.Close()
			return nil, err
		}
	}
	// Facts only read: on SQLite they get the read pool.
	a.Facts = facts.New(db, cfg.Now, a.Feed.Observe)
	if a.Auth, err = auth.New(db, a.Feed, a.Events, cfg.Now, cfg.OperatorToken); err != nil {
		db.Close()
		return nil, err
	}
	a.SDK = sdkstream.New(a.Events, db.Read, sdkstream.Config{
		Heartbeat: cfg.SDKHeartbeat, StreamsPerKey: cfg.SDKStreamsPerKey, Buffer: cfg.SDKStreamBuffer,
		Logger: cfg.Logger, Authenticator: a.Auth,
	})
	a.Catalog = catalog.New(db, a.Feed, a.Events)
	a.Instances = instance.New(db, cfg.Now, a.Feed, a.Events)
	var dlog *decision.Log
	if cfg.DecisionLog != nil {
		dlog = decision.NewLog(cfg.DecisionLog, cfg.DecisionLogSample, cfg.Logger, a.Metrics)
	}
	a.Policies = custompolicy.New(db, a.Metrics, cfg.PolicyTimeout, a.Feed, a.Events)
	a.Metering = metering.New(db, a.Facts, a.Metrics, cfg.Now, a.Events, a.Feed)
	if a.Signing, err = signing.New(db, master, a.Events, a.Facts, a.Metering, a.Policies, cfg.Now, cfg.SnapshotTTL); err != nil {
		db.Close()
		return nil, err
	}
	a.Decisions = decision.New(a.Facts, a.Policies, a.Metering, a.Feed, a.Metrics, cfg.Now, cfg.Logger, dlog)
	listenCtx, stop := context.WithCancel(context.Background())
	a.stop = stop
	if err := a.Feed.Listen(listenCtx); err != nil {
		stop()
		db.Close()
		return nil, fmt.Errorf("listen for changes: %w", err)
	}
	a.Webhooks.Start()
	a.Metrics.CacheSizes(a.Facts.Sizes)
	a.Metrics.WebhooksInFlight(a.Webhooks.InFlight)
	a.Metrics.DB("entitled", db.SQL)
	if db.Read != db.SQL {
		a.Metrics.DB("entitled_read", db.Read) // SQLite's pool of readers
	}
	if a.Tracing, err = tracing.New(ctx, cfg.Tracing); err != nil {
		a.Webhooks.Stop()
		stop()
		db.Close()
		return nil, err
	}
	if a.Tracing != nil {
		cfg.Logger.Info("tracing: exporting spans over OTLP/HTTP", "endpoint", cfg.Tracing.Endpoint())
	}
	schema := resolvers.NewSchema(&resolvers.Resolver{
		Client:          db.Client,
		Auth:            a.Auth,
		Catalog:         a.Catalog,
		InstanceService: a.Instances,
		Decider:         a.Decisions,
		Metering:        a.Metering,
		Custom:          a.Policies,
		Audit:           events.NewAuditor(a.Events, db.Read),
		Webhooks:        a.Webhooks,
		Signing:         a.Signing,
	})
	mux := http.NewServeMux()
	mux.Handle("/graphql", httpapi.Deadline(cfg.RequestTimeout, httpapi.GraphQL(schema, a.Auth, cfg.Logger, metering.WithUsageBatch)))
	mux.Handle(httpapi.DecisionPath, httpapi.Deadline(cfg.RequestTimeout, httpapi.OPADecision(a.Decisions.Door(metrics.DoorOPA).Allowed, a.Auth, cfg.Logger)))
	mux.Handle(httpapi.JWKSPath, httpapi.Deadline(cfg.RequestTimeout, httpapi.JWKS(a.Signing.JWKS, cfg.Logger)))
	mux.Handle(httpapi.LicenseFilePath, httpapi.Deadline(cfg.RequestTimeout, httpapi.LicenseFile(a.Signing.ForInstance, a.Auth, cfg.Logger)))
	mux.Handle(httpapi.SnapshotPath, httpapi.Deadline(cfg.RequestTimeout, httpapi.Snapshot(a.Signing.Snapshot, a.SDK.Revision, a.Auth, cfg.Logger)))
	// No deadline: a stream lasts; it ends with its client, or on Drain.
	mux.Handle(httpapi.StreamPath, httpapi.CheckKey(a.Auth, cfg.Logger, "SDK streams", a.SDK))
	mux.Handle("/", console.Handler())
	mux.Handle("GET /metrics", a.Metrics.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("GET /readyz", a.readyz)
	// The request id outermost: the instrumentation below reads the route
	// from the request the mux is handed, which must be its own.
	a.Handler = httpapi.RequestID(cfg.Logger, a.Tracing.Handler(a.Metrics.InstrumentHTTP(mux)))
	// Last: nothing after it can fail, and Close stops it.
	a.Scheduler = events.NewScheduler(db.SQL, db.Dialect, a.Events, cfg.Now, events.ScheduleConfig{
		Interval: cfg.ScheduleInterval, Retention: cfg.AuditRetention, Logger: cfg.Logger,
	})
	a.Scheduler.Start()
	return a, nil
}

// feedConfig completes a change feed's configuration for the database:
// on PostgreSQL the feed notifies and listens through it.
func feedConfig(db *store.DB, cfg Config, fc changefeed.Config) changefeed.Config {
	fc.Log = cfg.Logger
	if db.Dialect == dialect.Postgres {
		fc.DB, fc.DSN = db.SQL, db.DSN
	}
	return fc
}

// Bootstrap creates the default organization on an empty database and
// returns its first admin key ("" when the database was not empty).
func (a *App) Bootstrap(ctx context.Context) (string, error) {
	if pending, err := a.pending(ctx); err != nil {
		return "", fmt.Errorf("bootstrap: %w", err)
	} else if len(pending) > 0 {
		a.log.Warn("the database schema is behind this binary: not ready, and no default organization is created, until the migrations are applied (entitled migrate up)", "pending", pending)
		return "", nil
	}
	secret, err := a.Auth.Bootstrap(ctx)
	if err != nil {
		return "", fmt.Errorf("bootstrap: %w", err)
	}
	return secret, nil
}

// Close ends the SDK streams, stops delivering webhooks (deliveries in flight stay due) and
// listening for changes, exports the spans not yet exported (within 5 s)
// and releases the database.
func (a *App) Close() error {
	a.SDK.Close()
	a.Scheduler.Stop()
	a.Webhooks.Stop()
	a.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if a.Auth != nil {
		if err := a.Auth.FlushLastUsed(ctx); err != nil {
			a.log.Warn("auth: record when API keys were last used, at shutdown", "err", err)
		}
	}
	if err := a.Tracing.Shutdown(ctx); err != nil {
		a.log.Warn("tracing: export spans at shutdown", "err", err)
	}
	return a.DB.Close()
}

// sealClearSecrets seals the webhook secrets an earlier release stored in
// the clear (until then they sign as they are).
func (a *App) sealClearSecrets(ctx context.Context) error {
	n, err := a.Webhooks.SealStoredSecrets(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		a.log.Info("sealed webhook secrets stored in the clear by an earlier release", "secrets", n)
	}
	return nil
}
