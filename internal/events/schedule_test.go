package events_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/entitled/entitled/ent"
	"github.com/entitled/entitled/ent/auditevent"
	"github.com/entitled/entitled/internal/events"
	"github.com/entitled/entitled/internal/platform/store"
	"github.com/entitled/entitled/internal/tenant"
)

// clock is a settable clock.
type clock struct{ t atomic.Pointer[time.Time] }

func (c *clock) now() time.Time  { return *c.t.Load() }
func (c *clock) set(t time.Time) { c.t.Store(&t) }

func newInstance(t *testing.T, db *store.DB, org, slug string, expires time.Time) string {
	t.Helper()
	ctx := tenant.OrgContext(context.Background(), org)
	i, err := db.Client.Instance.Create().SetName(slug).SetSlug(slug).SetStartsAt(expires.AddDate(-1, 0, 0)).SetExpiresAt(expires.UTC().Truncate(time.Microsecond)).SetMetadata(map[string]any{}).Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return i.ID
}

func expiring(t *testing.T, db *store.DB, org string) map[string][]float64 {
	t.Helper()
	rows, err := db.Client.AuditEvent.Query().Where(auditevent.Action("instance.expiring")).Order(ent.Asc(auditevent.FieldSeq)).All(tenant.OrgContext(context.Background(), org))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]float64{}
	for _, r := range rows {
		if r.ActorType != auditevent.ActorTypeSYSTEM || r.Before != nil {
			t.Errorf("expiry event %d: actor %s before %v", r.Seq, r.ActorType, r.Before)
		}
		out[*r.ResourceSlug] = append(out[*r.ResourceSlug], r.After["days"].(float64))
	}
	return out
}

func TestExpiryNoticesOnceEach(t *testing.T) {
	forEachStore(t, func(t *testing.T, db *store.DB) {
		org := newOrg(t, db, "acme")
		start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
		var c clock
		c.set(start)
		log := events.New(db.Dialect, c.now, nil)
		day := 24 * time.Hour
		newInstance(t, db, org, "far", start.Add(40*day))
		newInstance(t, db, org, "month", start.Add(20*day))
		newInstance(t, db, org, "soon", start.Add(5*day+time.Hour))
		newInstance(t, db, org, "gone", start.Add(-day))
		// Two schedulers (two replicas) on one database.
		a := events.NewScheduler(db.SQL, db.Dialect, log, c.now, events.ScheduleConfig{})
		b := events.NewScheduler(db.SQL, db.Dialect, log, c.now, events.ScheduleConfig{})
		pass := func() {
			t.Helper()
			var wg sync.WaitGroup
			for _, s := range []*events.Scheduler{a, b, a} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := s.RunOnce(context.Background()); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
		}
		pass()
		got := expiring(t, db, org)
		if len(got) != 2 || len(got["month"]) != 1 || got["month"][0] != 30 || len(got["soon"]) != 1 || got["soon"][0] != 7 {
			t.Fatalf("first pass: %v", got)
		}
		pass()
		if got := expiring(t, db, org); len(got["month"]) != 1 || len(got["soon"]) != 1 {
			t.Fatalf("a second pass repeated notices: %v", got)
		}
		c.set(start.Add(5 * day)) // soon: 1 h left; month: 15 days; far: 35 days
		pass()
		c.set(start.Add(13*day + time.Hour)) // month: 7 days less an hour; far: 27 days
		pass()
		pass()
		got = expiring(t, db, org)
		want := map[string][]float64{"soon": {7, 1}, "month": {30, 7}, "far": {30}}
		for k, w := range want {
			if len(got[k]) != len(w) {
				t.Fatalf("%s: notices %v, want %v (all: %v)", k, got[k], w, got)
			}
			for i := range w {
				if got[k][i] != w[i] {
					t.Fatalf("%s: notices %v, want %v", k, got[k], w)
				}
			}
		}
		if len(got) != 3 {
			t.Fatalf("notices %v", got)
		}
		if v := verify(t, db, log, org); !v.Valid || v.HeadSeq != 5 {
			t.Fatalf("verification %+v", v)
		}
	})
}

func TestRetentionKeepsTheChainVerifiable(t *testing.T) {
	forEachStore(t, func(t *testing.T, db *store.DB) {
		org, other := newOrg(t, db, "acme"), newOrg(t, db, "other")
		start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		var c clock
		c.set(start)
		log := events.New(db.Dialect, c.now, nil)
		for i := range 10 {
			c.set(start.Add(time.Duration(i) * 24 * time.Hour))
			appendEnt(t, caller(org), db, log, events.Change{Action: "license.updated", ResourceType: "LICENSE", ResourceID: "lic_1", After: map[string]any{"i": i}})
		}
		appendEnt(t, caller(other), db, log, events.Change{Action: "license.updated", ResourceType: "LICENSE", ResourceID: "lic_2"})
		// Day 9 with 3.5 days kept: the events of days 0..5 go.
		c.set(start.Add(9*24*time.Hour + 12*time.Hour))
		s := events.NewScheduler(db.SQL, db.Dialect, log, c.now, events.ScheduleConfig{Retention: 3*24*time.Hour + 12*time.Hour})
		if err := s.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		rows, err := db.Client.AuditEvent.Query().Order(ent.Asc(auditevent.FieldSeq)).All(tenant.OrgContext(context.Background(), org))
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 4 || rows[0].Seq != 7 {
			t.Fatalf("%d events kept, first %d; want 4 from seq 7", len(rows), rows[0].Seq)
		}
		v := verify(t, db, log, org)
		if !v.Valid || v.Checked != 4 || v.HeadSeq != 10 || v.PrunedSeq != 6 || v.PrunedHash != rows[0].PrevHash {
			t.Fatalf("verification after pruning %+v", v)
		}
		// The chain goes on from its head; a tampered first kept event is
		// still found.
		appendEnt(t, caller(org), db, log, events.Change{Action: "license.deleted", ResourceType: "LICENSE", ResourceID: "lic_1"})
		if v := verify(t, db, log, org); !v.Valid || v.HeadSeq != 11 {
			t.Fatalf("verification %+v", v)
		}
		q := `UPDATE audit_events SET after = '{"i": 100}' WHERE organization_id = $1 AND seq = 7`
		if db.Dialect == "sqlite3" {
			q = sqliteArgs(q)
		}
		if _, err := db.SQL.Exec(q, org); err != nil {
			t.Fatal(err)
		}
		if v := verify(t, db, log, org); v.Valid || *v.FirstBrokenSeq != 7 {
			t.Fatalf("verification %+v", v)
		}
		// The other organization's recent event is kept.
		if v := verify(t, db, log, other); !v.Valid || v.Checked != 1 || v.PrunedSeq != 0 {
			t.Fatalf("other organization: %+v", v)
		}
		// Everything older than the retention goes, in batches.
		c.set(start.Add(400 * 24 * time.Hour))
		if err := s.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		if v := verify(t, db, log, org); !v.Valid || v.Checked != 0 || v.PrunedSeq != 11 || v.HeadSeq != 11 {
			t.Fatalf("all pruned: %+v", v)
		}
		e := appendEnt(t, caller(org), db, log, events.Change{Action: "license.created", ResourceType: "LICENSE", ResourceID: "lic_3"})
		if v := verify(t, db, log, org); !v.Valid || e.Seq != 12 || v.Checked != 1 {
			t.Fatalf("after a full prune: seq %d, %+v", e.Seq, v)
		}
	})
}

func TestSchedulerStartStop(t *testing.T) {
	db := open(t, "sqlite")
	s := events.NewScheduler(db.SQL, db.Dialect, events.New(db.Dialect, nil, nil), nil, events.ScheduleConfig{Interval: time.Millisecond})
	s.Start()
	s.Start()
	time.Sleep(5 * time.Millisecond)
	s.Stop()
	s.Stop()
	var nilScheduler *events.Scheduler
	nilScheduler.Stop()
}

func TestParseRetention(t *testing.T) {
	for in, want := range map[string]time.Duration{"": 0, "90d": 90 * 24 * time.Hour, "1d": 24 * time.Hour, "2160h": 2160 * time.Hour, " 36h ": 36 * time.Hour} {
		if got, err := events.ParseRetention(in); err != nil || got != want {
			t.Errorf("ParseRetention(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"0d", "-3d", "1.5d", "d", "soon", "-1h", "0s", "90days"} {
		if _, err := events.ParseRetention(in); err == nil {
			t.Errorf("ParseRetention(%q) accepted", in)
		}
	}
}
