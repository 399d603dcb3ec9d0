// Package app assembles entitled: it opens the store, wires the domain
// services to the API, and returns the HTTP handler. server.go only reads
// configuration and serves; tests build the very same handler.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/entitled/entitled/api"
	"github.com/entitled/entitled/auth"
	"github.com/entitled/entitled/catalog"
	"github.com/entitled/entitled/fleet"
	"github.com/entitled/entitled/resolvers"
	"github.com/entitled/entitled/store"
)

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
}

// App is a running entitled.
type App struct {
	DB      *store.DB
	Auth    *auth.Service
	Catalog *catalog.Service
	Fleet   *fleet.Service
	Handler http.Handler
	log     *slog.Logger
}

// New opens the database, migrates it and wires the services.
func New(ctx context.Context, cfg Config) (*App, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	db, err := store.Open(ctx, cfg.DatabaseURL, cfg.StoreOptions...)
	if err != nil {
		return nil, err
	}
	a := &App{DB: db, log: cfg.Logger}
	a.Auth = auth.New(db, cfg.Now, cfg.OperatorToken)
	a.Catalog = catalog.New(db, nil)
	a.Fleet = fleet.New(db, cfg.Now, nil)
	schema := resolvers.NewSchema(&resolvers.Resolver{
		Client:  db.Client,
		Auth:    a.Auth,
		Catalog: a.Catalog,
		Fleet:   a.Fleet,
	})
	mux := http.NewServeMux()
	mux.Handle("/graphql", api.GraphQL(schema, a.Auth, cfg.Logger))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if err := db.SQL.PingContext(r.Context()); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"status":"database unavailable"}`))
			return
		}
		_, _ = w.Write([]byte(`{"status":"ready"}`))
	})
	a.Handler = mux
	return a, nil
}

// Bootstrap creates the default organization on an empty database and
// returns its first admin key ("" when the database was not empty).
func (a *App) Bootstrap(ctx context.Context) (string, error) {
	secret, err := a.Auth.Bootstrap(ctx)
	if err != nil {
		return "", fmt.Errorf("bootstrap: %w", err)
	}
	return secret, nil
}

// Close releases the database.
func (a *App) Close() error { return a.DB.Close() }
