package auth

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/entitled/entitled/internal/events"
	"github.com/entitled/entitled/internal/platform/changefeed"
	"github.com/entitled/entitled/internal/platform/store"
	"github.com/entitled/entitled/internal/tenant"
)

type pauseKey struct{}

// A lookup in flight when a revocation arrives through the change feed
// must not cache the key it read: the next request reads it again.
func TestLookupInFlightDuringRevocationDoesNotCache(t *testing.T) {
	ctx := context.Background()
	var queries atomic.Int64
	reached, release := make(chan struct{}), make(chan struct{})
	db, err := store.Open(ctx, "sqlite://"+t.TempDir()+"/auth.db", store.WithQueryLog(func(ctx context.Context, q string) {
		queries.Add(1)
		if ctx.Value(pauseKey{}) != nil && strings.Contains(q, "FROM `api_keys` WHERE") && !strings.Contains(q, "FROM `organizations`") {
			close(reached)
			<-release
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var s *Service
	feed := changefeed.New(changefeed.Config{Apply: func(c changefeed.Change) { s.Apply(c) }})
	s, err = New(db, feed, events.New(db.Dialect, time.Now, nil), time.Now, "")
	if err != nil {
		t.Fatal(err)
	}
	org, key, secret, err := s.CreateOrganization(ctx, "Acme", "acme")
	if err != nil {
		t.Fatal(err)
	}
	// Nobody asked (as at bootstrap): the first key's event is the system's.
	evts, err := db.Client.AuditEvent.Query().All(tenant.OrgContext(ctx, org.ID))
	if err != nil || len(evts) != 1 || evts[0].Action != "api_key.created" || evts[0].ActorType != "SYSTEM" || evts[0].ResourceID != key.ID {
		t.Fatalf("the first key's event: %v %v", evts, err)
	}

	done := make(chan error)
	go func() {
		_, err := s.Authenticate(context.WithValue(ctx, pauseKey{}, true), secret, "127.0.0.1")
		done <- err
	}()
	<-reached
	// Another process revoked the key; its notification arrives while the
	// lookup is between reading the generation and reading the row.
	s.Apply(changefeed.Change{Org: org.ID, Kind: changefeed.KindAPIKey, IDs: []string{key.ID}})
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("lookup: %v", err)
	}
	// The key's last use is written in the background; let it finish so
	// the counts below are the lookups' alone.
	if err := s.FlushLastUsed(ctx); err != nil {
		t.Fatal(err)
	}
	before := queries.Load()
	if _, err := s.Authenticate(ctx, secret, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if queries.Load() == before {
		t.Fatal("the key read by the lookup in flight was cached after the revocation arrived")
	}
	// With nothing in flight, a verified key is served from the cache.
	before = queries.Load()
	if _, err := s.Authenticate(ctx, secret, "127.0.0.1"); err != nil || queries.Load() != before {
		t.Fatalf("a verified key was read again (%d queries, %v)", queries.Load()-before, err)
	}
	// A revocation through this process takes effect at once.
	if _, err := s.RevokeAPIKey(tenant.OrgContext(ctx, org.ID), key.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, secret, "127.0.0.1"); err == nil {
		t.Fatal("a revoked key was accepted")
	}
}
