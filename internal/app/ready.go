package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/entitled/entitled/internal/platform/store"
)

// readiness is what /readyz answers besides the database's ping: whether
// the process is shutting down, and whether the schema is current.
type readiness struct {
	draining atomic.Bool
	// migrated: the schema is known to be current (migrations applied at
	// start, or a check found none pending). It never goes back.
	migrated atomic.Bool

	mu      sync.Mutex
	checked time.Time
	pending []string
	err     error
}

// schemaCheckEvery bounds how often a process whose schema is behind
// looks again (another replica, or entitled migrate up, may catch it up).
const schemaCheckEvery = time.Second

func storeOptions(cfg Config) []store.Option {
	opts := slices.Clone(cfg.StoreOptions)
	opts = append(opts, store.WithLogger(cfg.Logger))
	if cfg.MaxConns > 0 {
		opts = append(opts, store.MaxConns(cfg.MaxConns))
	}
	if cfg.SkipMigrations {
		opts = append(opts, store.SkipMigrations())
	}
	return opts
}

// pending lists the migrations this binary has and the database lacks.
func (a *App) pending(ctx context.Context) ([]string, error) {
	if a.ready.migrated.Load() {
		return nil, nil
	}
	r := &a.ready
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) < schemaCheckEvery {
		return r.pending, r.err
	}
	st, err := a.DB.MigrationStatus(ctx)
	r.checked, r.err, r.pending = time.Now(), err, nil
	if err == nil {
		r.pending = st.Pending
		if st.Current() && !r.migrated.Swap(true) {
			if err := a.sealClearSecrets(ctx); err != nil {
				a.log.WarnContext(ctx, "seal webhook secrets stored in the clear (they keep signing; the next start tries again)", "err", err)
			}
		}
	}
	return r.pending, r.err
}

// Drain marks the process not ready: it is shutting down, and load
// balancers should send new work elsewhere. It ends the SDK streams (their
// clients reconnect elsewhere), which would otherwise hold the server's
// graceful shutdown for its whole timeout.
func (a *App) Drain() {
	a.ready.draining.Store(true)
	a.SDK.Close()
}

func (a *App) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	notReady := func(body map[string]any) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(body)
	}
	if a.ready.draining.Load() {
		notReady(map[string]any{"status": "shutting down"})
		return
	}
	pending, err := a.pending(r.Context())
	if err != nil {
		notReady(map[string]any{"status": "database unavailable"})
		return
	}
	if len(pending) > 0 {
		notReady(map[string]any{
			"status":  "schema behind",
			"reason":  fmt.Sprintf("the database lacks %d migration(s) of this binary and ENTITLED_AUTO_MIGRATE=false: apply them with entitled migrate up", len(pending)),
			"pending": pending,
		})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.DB.SQL.PingContext(ctx); err != nil {
		notReady(map[string]any{"status": "database unavailable"})
		return
	}
	_, _ = w.Write([]byte(`{"status":"ready"}`))
}
