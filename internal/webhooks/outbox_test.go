package webhooks_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"github.com/entitled/entitled/ent/webhookdelivery"
	"github.com/entitled/entitled/internal/events"
	"github.com/entitled/entitled/internal/platform/changefeed"
	"github.com/entitled/entitled/internal/platform/store"
	"github.com/entitled/entitled/internal/tenant"
	"github.com/entitled/entitled/internal/testenv"
	"github.com/entitled/entitled/internal/webhooks"
)

// The outbox in a database/sql transaction (metering writes its events
// so): a committed event is delivered without a commit hook (SQLite's
// brisk poll, PostgreSQL's NOTIFY; the idle backstop is an hour here),
// and a rolled-back one leaves no delivery.
func TestEventsOfSQLTransactionsAreDelivered(t *testing.T) {
	for _, backend := range testenv.Stores {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			db := openStore(t, backend)
			quiet := slog.New(slog.DiscardHandler)

			got := make(chan []byte, 10)
			rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				got <- b
			}))
			t.Cleanup(rc.Close)

			var s *webhooks.Service
			log := events.New(db.Dialect, nil, func(ctx context.Context, tx events.Tx, e *events.Event) error { return s.Enqueue(ctx, tx, e) })
			s = webhooks.New(db, log, newSealer(t), webhooks.Config{AllowPrivate: true, Log: quiet, IdlePoll: time.Hour})
			s.Start()
			t.Cleanup(s.Stop)
			if db.Dialect == dialect.Postgres {
				// As app.New does: the change feed's listener hears the
				// webhooks' channel.
				feed := changefeed.New(changefeed.Config{DB: db.SQL, DSN: db.DSN, Log: quiet, Channels: map[string]func(string){webhooks.Channel: s.Hear}})
				ctx, cancel := context.WithCancel(context.Background())
				t.Cleanup(cancel)
				if err := feed.Listen(ctx); err != nil {
					t.Fatal(err)
				}
			}

			sys := tenant.SystemContext(context.Background())
			org, err := db.Client.Organization.Create().SetName("Acme").SetSlug("acme").Save(sys)
			if err != nil {
				t.Fatal(err)
			}
			ctx := tenant.OrgContext(context.Background(), org.ID)
			if _, err := db.Client.WebhookEndpoint.Create().SetURL(rc.URL).SetSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").SetEventTypes([]string{"usage.*"}).Save(ctx); err != nil {
				t.Fatal(err)
			}
			crossing := events.Change{Action: "usage.threshold_crossed", ResourceType: "USAGE", ResourceID: "ins_1/ent_1",
				After: map[string]any{"threshold": "PERCENT_80"}, Actor: events.SystemActor}

			// Rolled back: no delivery row.
			boom := errors.New("the change failed")
			err = store.WithSQLTx(ctx, db.SQL, func(tx *sql.Tx) error {
				if _, err := log.Append(ctx, tx, crossing); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("rolled back with %v", err)
			}
			if n, err := db.Client.WebhookDelivery.Query().Count(ctx); err != nil || n != 0 {
				t.Fatalf("%d deliveries after a rollback (%v)", n, err)
			}

			// Committed: delivered.
			var id string
			if err := store.WithSQLTx(ctx, db.SQL, func(tx *sql.Tx) error {
				e, err := log.Append(ctx, tx, crossing)
				if e != nil {
					id = e.ID
				}
				return err
			}); err != nil {
				t.Fatal(err)
			}
			select {
			case b := <-got:
				var body struct {
					Type string         `json:"type"`
					Data map[string]any `json:"data"`
				}
				if err := json.Unmarshal(b, &body); err != nil || body.Type != "usage.threshold_crossed" || body.Data["id"] != id || body.Data["actorType"] != "SYSTEM" {
					t.Fatalf("delivered %s (%v)", b, err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("the event was not delivered")
			}
			deadline := time.Now().Add(20 * time.Second)
			for {
				d, err := db.Client.WebhookDelivery.Query().Only(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if d.Status == webhookdelivery.StatusSUCCEEDED && d.Attempts == 1 && d.EventID == id {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("delivery %+v", d)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}
