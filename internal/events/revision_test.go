package events_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/entitled/entitled/internal/events"
	"github.com/entitled/entitled/internal/platform/store"
)

// After reads what the log holds past a seq, of the types asked, up to the
// head; it says incomplete when the seq is ahead of the head, when
// retention pruned events after it, or past the limit.
func TestAfter(t *testing.T) {
	forEachStore(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		log := events.New(db.Dialect, nil, nil)
		org := newOrg(t, db, "acme")
		other := newOrg(t, db, "other")
		if head, err := log.Head(ctx, db.SQL, org); err != nil || head != 0 {
			t.Fatalf("head before the first event: %d %v", head, err)
		}
		for i, rt := range []string{"LICENSE", "SIGNING_KEY", "INSTANCE", "LICENSE", "USAGE"} {
			appendEnt(t, caller(org), db, log, events.Change{Action: "x.changed", ResourceType: rt, ResourceID: fmt.Sprint("id_", i), ResourceSlug: fmt.Sprint("s", i)})
		}
		appendEnt(t, caller(other), db, log, events.Change{Action: "x.changed", ResourceType: "LICENSE", ResourceID: "theirs"})
		types := []string{"LICENSE", "INSTANCE"}
		tail, err := log.After(ctx, db.SQL, org, 0, types, 10)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		for _, e := range tail.Entries {
			got += fmt.Sprintf("%d:%s:%s:%s ", e.Seq, e.ResourceType, e.ResourceID, e.ResourceSlug)
		}
		if tail.Head != 5 || !tail.Complete || got != "1:LICENSE:id_0:s0 3:INSTANCE:id_2:s2 4:LICENSE:id_3:s3 " {
			t.Errorf("after 0: head %d complete %v entries %s", tail.Head, tail.Complete, got)
		}
		if tail, _ := log.After(ctx, db.SQL, org, 3, types, 10); !tail.Complete || len(tail.Entries) != 1 || tail.Entries[0].Seq != 4 {
			t.Errorf("after 3: %+v", tail)
		}
		if tail, _ := log.After(ctx, db.SQL, org, 5, types, 10); !tail.Complete || len(tail.Entries) != 0 {
			t.Errorf("after the head: %+v", tail)
		}
		if tail, _ := log.After(ctx, db.SQL, org, 6, types, 10); tail.Complete {
			t.Errorf("after a seq the log does not have: %+v", tail)
		}
		if tail, _ := log.After(ctx, db.SQL, org, 0, types, 2); tail.Complete || tail.Entries != nil {
			t.Errorf("past the limit: %+v", tail)
		}
		// Retention pruned up to seq 2.
		q := "UPDATE audit_heads SET pruned_seq = 2 WHERE id = $1"
		if db.Dialect == "sqlite3" {
			q = "UPDATE audit_heads SET pruned_seq = 2 WHERE id = ?1"
		}
		if _, err := db.SQL.ExecContext(ctx, q, org); err != nil {
			t.Fatal(err)
		}
		if tail, _ := log.After(ctx, db.SQL, org, 1, types, 10); tail.Complete {
			t.Errorf("after a pruned seq: %+v", tail)
		}
		if tail, _ := log.After(ctx, db.SQL, org, 2, types, 10); !tail.Complete || len(tail.Entries) != 2 {
			t.Errorf("after the last pruned seq: %+v", tail)
		}
	})
}
