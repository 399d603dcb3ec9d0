package events_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/entitled/entitled/ent"
	"github.com/entitled/entitled/ent/auditevent"
	"github.com/entitled/entitled/internal/events"
	"github.com/entitled/entitled/internal/platform/store"
	"github.com/entitled/entitled/internal/tenant"
	"github.com/entitled/entitled/internal/testenv"
)

// open returns a migrated database of the backend, dropped after the test.
func open(t *testing.T, backend string) *store.DB {
	t.Helper()
	var u string
	switch backend {
	case "sqlite":
		u = "sqlite://" + t.TempDir() + "/events.db"
	case "postgres":
		dbURL, drop, err := testenv.NewDatabase(testenv.PostgresURL(), "entitled_events_")
		if err != nil {
			t.Fatalf("PostgreSQL is required: %v", err)
		}
		t.Cleanup(drop)
		u = dbURL
	}
	db, err := store.Open(context.Background(), u, store.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newOrg(t *testing.T, db *store.DB, slug string) string {
	t.Helper()
	o, err := db.Client.Organization.Create().SetName(slug).SetSlug(slug).Save(tenant.SystemContext(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	return o.ID
}

func forEachStore(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	for _, s := range testenv.Stores {
		t.Run(s, func(t *testing.T) { fn(t, open(t, s)) })
	}
}

// caller is an API key's context in an organization.
func caller(org string) context.Context {
	ctx := tenant.NewContext(context.Background(), tenant.Viewer{OrgID: org, KeyID: "key_1", KeyName: "ci key", Scopes: []tenant.Scope{tenant.ScopeAdmin}})
	return tenant.WithRequestID(ctx, "req-1")
}

func appendEnt(t testing.TB, ctx context.Context, db *store.DB, log *events.Log, c events.Change) *events.Event {
	t.Helper()
	var e *events.Event
	err := store.WithTx(ctx, db.Client, func(tx *ent.Tx) error {
		var err error
		e, err = log.Append(ctx, tx, c)
		return err
	})
	if err != nil {
		t.Fatalf("append %s: %v", c.Action, err)
	}
	return e
}

func verify(t *testing.T, db *store.DB, log *events.Log, org string) *events.Verification {
	t.Helper()
	v, err := log.Verify(context.Background(), db.SQL, org)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// A clock whose readings are in a zone other than UTC, carry nanoseconds,
// whole seconds, or microseconds ending in zeros: what is stored, read
// back and hashed must agree for each.
func oddClock() func() time.Time {
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	times := []time.Time{
		time.Date(2026, 3, 4, 5, 6, 7, 123456789, zone),
		time.Date(2026, 3, 4, 5, 6, 8, 0, zone),
		time.Date(2026, 3, 4, 5, 6, 9, 120000000, time.UTC),
		time.Date(2026, 3, 4, 5, 6, 9, 100, time.Local),
	}
	var mu sync.Mutex
	i := 0
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t := times[i%len(times)].AddDate(0, 0, i/len(times))
		i++
		return t
	}
}

func TestAppendThenVerify(t *testing.T) {
	forEachStore(t, func(t *testing.T, db *store.DB) {
		org := newOrg(t, db, "acme")
		log := events.New(db.Dialect, oddClock(), nil)
		ctx := caller(org)
		before := map[string]any{"name": "Gold", "n": 1.5, "big": 1e21, "tiny": 1e-7, "nested": map[string]any{"z": []any{true, nil, "€\u2028"}, "a": 3}}
		first := appendEnt(t, ctx, db, log, events.Change{Action: "license.created", ResourceType: "LICENSE", ResourceID: "lic_1", ResourceSlug: "gold", After: before, LicenseVersion: ptr(1)})
		if first.Seq != 1 || first.PrevHash != events.Genesis {
			t.Fatalf("first event: seq %d prevHash %s", first.Seq, first.PrevHash)
		}
		if first.ActorType != events.ActorAPIKey || deref(first.ActorID) != "key_1" || deref(first.ActorName) != "ci key" || deref(first.RequestID) != "req-1" {
			t.Fatalf("actor %s %v %v request %v", first.ActorType, first.ActorID, first.ActorName, first.RequestID)
		}
		second := appendEnt(t, ctx, db, log, events.Change{Action: "license.updated", ResourceType: "LICENSE", ResourceID: "lic_1", Before: before, After: map[string]any{"name": "Platinum"}})
		third := appendEnt(t, ctx, db, log, events.Change{Action: "usage.threshold_crossed", ResourceType: "USAGE", ResourceID: "ins_1", After: map[string]any{"x": 1}, Actor: events.SystemActor})
		fourth := appendEnt(t, ctx, db, log, events.Change{Action: "license.deleted", ResourceType: "LICENSE", ResourceID: "lic_1", Before: map[string]any{"name": "Platinum"}})
		if second.PrevHash != first.Hash || third.PrevHash != second.Hash || fourth.Seq != 4 {
			t.Fatal("events are not chained")
		}
		if third.ActorType != events.ActorSystem || third.ActorID != nil {
			t.Fatalf("system actor: %s %v", third.ActorType, third.ActorID)
		}
		v := verify(t, db, log, org)
		if !v.Valid || v.Checked != 4 || v.HeadSeq != 4 || v.HeadHash != fourth.Hash || v.FirstBrokenSeq != nil {
			t.Fatalf("verification %+v", v)
		}
		// What ent reads back (the GraphQL export) hashes the same.
		rows, err := db.Client.AuditEvent.Query().Order(ent.Asc(auditevent.FieldSeq)).All(tenant.OrgContext(context.Background(), org))
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 4 {
			t.Fatalf("%d rows", len(rows))
		}
		for _, r := range rows {
			e := fromEnt(r)
			h, err := events.Hash(e)
			if err != nil {
				t.Fatal(err)
			}
			if h != r.Hash {
				t.Errorf("seq %d: ent's row hashes to %s, stored %s (occurredAt %s)", r.Seq, h, r.Hash, r.OccurredAt.Format(time.RFC3339Nano))
			}
		}
	})
}

func TestAppendOnSQLTx(t *testing.T) {
	forEachStore(t, func(t *testing.T, db *store.DB) {
		org := newOrg(t, db, "acme")
		log := events.New(db.Dialect, nil, nil)
		ctx := caller(org)
		for i := range 3 {
			err := store.WithSQLTx(ctx, db.SQL, func(tx *sql.Tx) error {
				_, err := log.Append(ctx, tx, events.Change{Action: "usage.reset", ResourceType: "USAGE", ResourceID: fmt.Sprint("ins_", i), After: map[string]any{"reason": "test"}})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if v := verify(t, db, log, org); !v.Valid || v.HeadSeq != 3 {
			t.Fatalf("verification %+v", v)
		}
	})
}

func TestRolledBackAppendLeavesNoTrace(t *testing.T) {
	forEachStore(t, func(t *testing.T, db *store.DB) {
		org := newOrg(t, db, "acme")
		log := events.New(db.Dialect, nil, nil)
		ctx := caller(org)
		appendEnt(t, ctx, db, log, events.Change{Action: "license.created", ResourceType: "LICENSE", ResourceID: "lic_1"})
		boom := fmt.Errorf("the change failed")
		err := store.WithTx(ctx, db.Client, func(tx *ent.Tx) error {
			if _, err := log.Append(ctx, tx, events.Change{Action: "license.updated", ResourceType: "LICENSE", ResourceID: "lic_1"}); err != nil {
				return err
			}
			return boom
		})
		if err != boom {
			t.Fatalf("err %v", err)
		}
		e := appendEnt(t, ctx, db, log, events.Change{Action: "license.deleted", ResourceType: "LICENSE", ResourceID: "lic_1"})
		if e.Seq != 2 {
			t.Fatalf("after a rollback the next seq is %d, want 2", e.Seq)
		}
		if v := verify(t, db, log, org); !v.Valid || v.HeadSeq != 2 {
			t.Fatalf("verification %+v", v)
		}
	})
}

// 50 concurrent appends in one organization take seq 1..50 with no gap,
// and the chain verifies; another organization's appends, interleaved,
// make a chain of their own.
func TestConcurrentAppends(t *testing.T) {
	forEachStore(t, func(t *testing.T, db *store.DB) {
		a, b := newOrg(t, db, "alpha"), newOrg(t, db, "beta")
		log := events.New(db.Dialect, nil, nil)
		const n = 50
		var wg sync.WaitGroup
		errs := make(chan error, 2*n)
		for i := range n {
			for _, org := range []string{a, b} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx := caller(org)
					errs <- store.WithTx(ctx, db.Client, func(tx *ent.Tx) error {
						_, err := log.Append(ctx, tx, events.Change{Action: "instance.created", ResourceType: "INSTANCE", ResourceID: fmt.Sprintf("ins_%d", i), After: map[string]any{"i": i}})
						return err
					})
				}()
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		for _, org := range []string{a, b} {
			rows, err := db.Client.AuditEvent.Query().Order(ent.Asc(auditevent.FieldSeq)).All(tenant.OrgContext(context.Background(), org))
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != n {
				t.Fatalf("org %s has %d events, want %d", org, len(rows), n)
			}
			prev := events.Genesis
			for i, r := range rows {
				if r.Seq != int64(i+1) {
					t.Fatalf("org %s: event %d has seq %d", org, i, r.Seq)
				}
				if r.OrganizationID != org || r.PrevHash != prev {
					t.Fatalf("org %s: seq %d chained to %s, want %s", org, r.Seq, r.PrevHash, prev)
				}
				prev = r.Hash
			}
			if v := verify(t, db, log, org); !v.Valid || v.Checked != n || v.HeadSeq != n {
				t.Fatalf("org %s: verification %+v", org, v)
			}
		}
	})
}

func TestVerifyFindsTampering(t *testing.T) {
	forEachStore(t, func(t *testing.T, db *store.DB) {
		log := events.New(db.Dialect, nil, nil)
		setup := func(slug string) string {
			org := newOrg(t, db, slug)
			for i := range 5 {
				appendEnt(t, caller(org), db, log, events.Change{Action: "entitlement.updated", ResourceType: "ENTITLEMENT", ResourceID: "ent_1", Before: map[string]any{"v": i}, After: map[string]any{"v": i + 1}})
			}
			return org
		}
		exec := func(q string, args ...any) {
			t.Helper()
			if db.Dialect == "sqlite3" {
				q = sqliteArgs(q)
			}
			if _, err := db.SQL.Exec(q, args...); err != nil {
				t.Fatal(err)
			}
		}
		broken := func(org string, want int64) {
			t.Helper()
			v := verify(t, db, log, org)
			if v.Valid || v.FirstBrokenSeq == nil || *v.FirstBrokenSeq != want {
				t.Fatalf("verification %+v (first broken %v), want broken at %d", v, ptrVal(v.FirstBrokenSeq), want)
			}
		}
		edited := setup("edited")
		exec(`UPDATE audit_events SET after = '{"v": 99}' WHERE organization_id = $1 AND seq = 3`, edited)
		broken(edited, 3)

		deleted := setup("deleted")
		exec(`DELETE FROM audit_events WHERE organization_id = $1 AND seq = 2`, deleted)
		broken(deleted, 2)

		last := setup("last")
		exec(`DELETE FROM audit_events WHERE organization_id = $1 AND seq = 5`, last)
		broken(last, 5)

		swapped := setup("swapped")
		exec(`UPDATE audit_events SET seq = 100 WHERE organization_id = $1 AND seq = 4`, swapped)
		exec(`UPDATE audit_events SET seq = 4 WHERE organization_id = $1 AND seq = 3`, swapped)
		exec(`UPDATE audit_events SET seq = 3 WHERE organization_id = $1 AND seq = 100`, swapped)
		broken(swapped, 3)

		// Other organizations' chains are untouched.
		clean := setup("clean")
		if v := verify(t, db, log, clean); !v.Valid {
			t.Fatalf("clean chain: %+v", v)
		}
	})
}

func TestVerifyEmptyChain(t *testing.T) {
	forEachStore(t, func(t *testing.T, db *store.DB) {
		org := newOrg(t, db, "empty")
		v := verify(t, db, events.New(db.Dialect, nil, nil), org)
		if !v.Valid || v.Checked != 0 || v.HeadSeq != 0 || v.HeadHash != events.Genesis {
			t.Fatalf("verification %+v", v)
		}
	})
}

func TestOutboxRunsInTheTransaction(t *testing.T) {
	forEachStore(t, func(t *testing.T, db *store.DB) {
		org := newOrg(t, db, "acme")
		var got []int64
		log := events.New(db.Dialect, nil, func(ctx context.Context, tx events.Tx, e *events.Event) error {
			got = append(got, e.Seq)
			if e.Action == "license.deleted" {
				return fmt.Errorf("outbox refused")
			}
			return nil
		})
		ctx := caller(org)
		appendEnt(t, ctx, db, log, events.Change{Action: "license.created", ResourceType: "LICENSE", ResourceID: "lic_1"})
		err := store.WithTx(ctx, db.Client, func(tx *ent.Tx) error {
			_, err := log.Append(ctx, tx, events.Change{Action: "license.deleted", ResourceType: "LICENSE", ResourceID: "lic_1"})
			return err
		})
		if err == nil {
			t.Fatal("an outbox failure must fail the append")
		}
		if v := verify(t, db, log, org); !v.Valid || v.HeadSeq != 1 || len(got) != 2 {
			t.Fatalf("verification %+v, outbox saw %v", v, got)
		}
	})
}

func fromEnt(r *ent.AuditEvent) *events.Event {
	return &events.Event{
		ID: r.ID, Seq: r.Seq, Action: r.Action, ResourceType: r.ResourceType, ResourceID: r.ResourceID,
		ResourceSlug: r.ResourceSlug, ActorType: string(r.ActorType), ActorID: r.ActorID, ActorName: r.ActorName,
		Before: r.Before, After: r.After, LicenseVersion: r.LicenseVersion, RequestID: r.RequestID,
		OccurredAt: r.OccurredAt, PrevHash: r.PrevHash, Hash: r.Hash,
	}
}

func sqliteArgs(q string) string {
	out := []byte{}
	for i := 0; i < len(q); i++ {
		if q[i] == '$' {
			out = append(out, '?')
			continue
		}
		out = append(out, q[i])
	}
	return string(out)
}

func ptr[T any](v T) *T { return &v }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func ptrVal(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}
