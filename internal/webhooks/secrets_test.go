package webhooks_test

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/entitled/entitled/ent"
	"github.com/entitled/entitled/ent/webhookdelivery"
	"github.com/entitled/entitled/internal/events"
	"github.com/entitled/entitled/internal/platform/store"
	"github.com/entitled/entitled/internal/signing"
	"github.com/entitled/entitled/internal/tenant"
	"github.com/entitled/entitled/internal/testenv"
	"github.com/entitled/entitled/internal/webhooks"
)

// openStore opens a fresh database of the backend (its PostgreSQL
// database is dropped after the test).
func openStore(t *testing.T, backend string) *store.DB {
	t.Helper()
	url := "sqlite://" + t.TempDir() + "/entitled.db"
	if backend == "postgres" {
		u, drop, err := testenv.NewDatabase(testenv.PostgresURL(), "entitled_test_")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(drop)
		url = u
	}
	db, err := store.Open(context.Background(), url, store.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newSealer(t *testing.T) *signing.Sealer {
	t.Helper()
	m, err := signing.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := signing.NewSealer(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// received is one delivery as the receiver saw it.
type received struct {
	id, ts, sig string
	body        []byte
}

// signedWith reports whether the delivery carries a valid signature by
// secret.
func (r received) signedWith(t *testing.T, secret string) bool {
	t.Helper()
	ts, err := strconv.ParseInt(r.ts, 10, 64)
	if err != nil {
		t.Fatalf("webhook-timestamp %q", r.ts)
	}
	want, err := webhooks.Sign(secret, r.id, ts, r.body)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range strings.Fields(r.sig) {
		if s == want {
			return true
		}
	}
	return false
}

// Webhook secrets are sealed under the master key at rest: the stored
// value is not the secret, deliveries are still signed with it, a sealed
// value moved to another endpoint's row does not open (the attempt fails
// and says why), and secrets an earlier release stored in the clear are
// sealed by SealStoredSecrets without changing what they sign with.
func TestSecretsAreSealedAtRest(t *testing.T) {
	for _, backend := range testenv.Stores {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			db := openStore(t, backend)
			got := make(chan received, 100)
			rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				got <- received{r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature"), b}
			}))
			t.Cleanup(rc.Close)
			sealer := newSealer(t)
			var s *webhooks.Service
			log := events.New(db.Dialect, nil, func(ctx context.Context, tx events.Tx, e *events.Event) error { return s.Enqueue(ctx, tx, e) })
			s = webhooks.New(db, log, sealer, webhooks.Config{AllowPrivate: true, Log: slog.New(slog.DiscardHandler), Poll: 20 * time.Millisecond, IdlePoll: 20 * time.Millisecond,
				RetrySchedule: []time.Duration{time.Hour}})
			s.Start()
			t.Cleanup(s.Stop)

			sys := tenant.SystemContext(context.Background())
			org, err := db.Client.Organization.Create().SetName("Acme").SetSlug("acme").Save(sys)
			if err != nil {
				t.Fatal(err)
			}
			ctx := tenant.OrgContext(context.Background(), org.ID)
			stored := func(id string) (secret, prev string) {
				t.Helper()
				var p sql.NullString
				if err := db.SQL.QueryRowContext(ctx, db.Rebind(`SELECT secret, previous_secret FROM webhook_endpoints WHERE id = $1`), id).Scan(&secret, &p); err != nil {
					t.Fatal(err)
				}
				return secret, p.String
			}
			deliver := func(endpointID string) received {
				t.Helper()
				d, err := s.SendTest(ctx, endpointID)
				if err != nil {
					t.Fatal(err)
				}
				// Endpoints without a filter also get the endpoints' own
				// events: wait for this test delivery.
				timeout := time.After(20 * time.Second)
				for {
					select {
					case r := <-got:
						if r.id == d.EventID {
							return r
						}
					case <-timeout:
						t.Fatal("no delivery")
						return received{}
					}
				}
			}

			created, err := s.Create(ctx, ent.CreateWebhookEndpointInput{URL: rc.URL})
			if err != nil {
				t.Fatal(err)
			}
			secret, _ := stored(created.Endpoint.ID)
			if secret == created.Secret || strings.Contains(secret, strings.TrimPrefix(created.Secret, "whsec_")) || !strings.HasPrefix(secret, "v1.") {
				t.Fatalf("stored %q for the secret %q: not sealed", secret, created.Secret)
			}
			if r := deliver(created.Endpoint.ID); !r.signedWith(t, created.Secret) {
				t.Fatalf("delivery signed %q, not with the endpoint's secret", r.sig)
			}

			// Rotation: both secrets sign, both stay sealed.
			rotated, err := s.RotateSecret(ctx, created.Endpoint.ID)
			if err != nil {
				t.Fatal(err)
			}
			cur, prev := stored(created.Endpoint.ID)
			if prev != secret || cur == rotated.Secret || !strings.HasPrefix(cur, "v1.") {
				t.Fatalf("after rotation stored %q and %q", cur, prev)
			}
			if r := deliver(created.Endpoint.ID); !r.signedWith(t, rotated.Secret) || !r.signedWith(t, created.Secret) {
				t.Fatalf("delivery after rotation signed %q, not with both secrets", r.sig)
			}

			// Another endpoint's sealed value copied in does not open.
			other, err := s.Create(ctx, ent.CreateWebhookEndpointInput{URL: rc.URL})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.SQL.ExecContext(ctx, db.Rebind(`UPDATE webhook_endpoints SET secret = $1 WHERE id = $2`), cur, other.Endpoint.ID); err != nil {
				t.Fatal(err)
			}
			d, err := s.SendTest(ctx, other.Endpoint.ID)
			if err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(20 * time.Second)
			for {
				row, err := db.Client.WebhookDelivery.Get(ctx, d.ID)
				if err != nil {
					t.Fatal(err)
				}
				if row.Attempts > 0 {
					if row.Status == webhookdelivery.StatusSUCCEEDED || row.LastError == nil || !strings.Contains(*row.LastError, "cannot be read") {
						t.Fatalf("a moved sealed secret: delivery %s, error %v", row.Status, row.LastError)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the delivery with a moved secret was never attempted")
				}
				time.Sleep(20 * time.Millisecond)
			}
			for len(got) > 0 {
				if r := <-got; r.id == d.EventID {
					t.Fatalf("a delivery with a secret that does not open was sent: %+v", r)
				}
			}

			// A row of an earlier release: both secrets in the clear.
			legacy, legacyPrev := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_cGFzc3dvcmRwYXNzd29yZHBhc3N3b3Jk"
			old, err := db.Client.WebhookEndpoint.Create().SetURL(rc.URL).SetSecret(legacy).
				SetPreviousSecret(legacyPrev).SetPreviousSecretExpiresAt(time.Now().Add(time.Hour)).Save(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if r := deliver(old.ID); !r.signedWith(t, legacy) || !r.signedWith(t, legacyPrev) {
				t.Fatalf("a secret in the clear: delivery signed %q", r.sig)
			}
			n, err := s.SealStoredSecrets(ctx)
			if err != nil || n != 2 {
				t.Fatalf("sealed %d values (%v), want 2", n, err)
			}
			cur, prev = stored(old.ID)
			if strings.HasPrefix(cur, "whsec_") || strings.HasPrefix(prev, "whsec_") {
				t.Fatalf("still in the clear: %q, %q", cur, prev)
			}
			if n, err := s.SealStoredSecrets(ctx); err != nil || n != 0 {
				t.Fatalf("a second pass sealed %d (%v)", n, err)
			}
			if r := deliver(old.ID); !r.signedWith(t, legacy) || !r.signedWith(t, legacyPrev) {
				t.Fatalf("after sealing: delivery signed %q, not with the original secrets", r.sig)
			}
		})
	}
}
