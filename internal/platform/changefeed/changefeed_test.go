package changefeed

import (
	"database/sql"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// feed returns a feed that believes it shares a database (so counters are
// compared) and records what it applies.
func feed(t *testing.T) (*Feed, *[]Change) {
	t.Helper()
	var got []Change
	f := New(Config{DB: &sql.DB{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Apply: func(c Change) { got = append(got, c) }})
	return f, &got
}

func TestDeliverFollowsTheCounters(t *testing.T) {
	f, got := feed(t)
	f.Observe("org_a", time.UnixMicro(100))
	f.deliver(Change{Org: "org_a", Kind: KindInstance, Slugs: []string{"i"}, Prev: 100, Stamp: 110})
	f.deliver(Change{Org: "org_a", Kind: KindInstance, Slugs: []string{"i"}, Prev: 100, Stamp: 110}) // heard again: nothing
	f.deliver(Change{Org: "org_a", Kind: KindLicense, Prev: 110, Stamp: 120})
	// 120 → 130 was never heard: the next shows the gap.
	f.deliver(Change{Org: "org_a", Kind: KindAPIKey, IDs: []string{"key_1"}, Prev: 130, Stamp: 140})
	want := []string{"instance", "license", "all"}
	if len(*got) != len(want) {
		t.Fatalf("applied %+v, want kinds %v", *got, want)
	}
	for i, k := range want {
		if string((*got)[i].Kind) != k {
			t.Fatalf("change %d applied as %s, want %s (%+v)", i, (*got)[i].Kind, k, *got)
		}
	}
	if f.applied["org_a"] != 140 {
		t.Fatalf("applied counter %d, want 140", f.applied["org_a"])
	}
}

func TestObserveKeepsTheOldestCounter(t *testing.T) {
	f, got := feed(t)
	f.Observe("org_a", time.UnixMicro(200))
	f.Observe("org_a", time.UnixMicro(150)) // an older read was cached too
	f.Observe("org_a", time.UnixMicro(300))
	if f.applied["org_a"] != 150 {
		t.Fatalf("counter %d, want the oldest, 150", f.applied["org_a"])
	}
	// A change after 200 does not follow 150: something in between may be
	// missing from what was cached at 150.
	f.deliver(Change{Org: "org_a", Kind: KindInstance, Prev: 200, Stamp: 210})
	if len(*got) != 1 || (*got)[0].Kind != KindAll {
		t.Fatalf("applied %+v, want the whole organization dropped", *got)
	}
}

func TestSingleProcessAppliesEverything(t *testing.T) {
	var got []Change
	f := New(Config{Apply: func(c Change) { got = append(got, c) }})
	f.Observe("org_a", time.UnixMicro(1)) // no counters without a shared database
	p := &Pending{f: f, org: "org_a", change: &Change{Org: "org_a", Kind: KindInstance}}
	p.Done(nil)
	p.Done(nil)
	if len(got) != 2 || !f.StaleSince().IsZero() {
		t.Fatalf("applied %+v, stale since %v", got, f.StaleSince())
	}
}

func TestDoneAfterAFailedCommitDropsTheOrganization(t *testing.T) {
	f, got := feed(t)
	p := &Pending{f: f, org: "org_a", change: &Change{Org: "org_a", Kind: KindInstance, Prev: 1, Stamp: 2}, published: true}
	p.Done(io.ErrUnexpectedEOF)
	if len(*got) != 1 || (*got)[0].Kind != KindAll {
		t.Fatalf("applied %+v, want the organization dropped", *got)
	}
	// A transaction that failed before publishing changed nothing.
	(&Pending{f: f, org: "org_a", change: &Change{Org: "org_a", Kind: KindLicense}}).Done(io.ErrUnexpectedEOF)
	var none *Pending
	none.Done(nil)
	if len(*got) != 1 {
		t.Fatalf("applied %+v", *got)
	}
}

func TestPayload(t *testing.T) {
	c := Change{Org: "org_a", Kind: KindInstance, IDs: []string{"ins_1"}, Slugs: []string{"eu-1"}, Prev: 1, Stamp: 2}
	back, ok := decode(encode(c))
	if !ok || back.Org != "org_a" || back.Kind != KindInstance || back.IDs[0] != "ins_1" || back.Slugs[0] != "eu-1" || back.Prev != 1 || back.Stamp != 2 {
		t.Fatalf("round trip: %+v", back)
	}
	// Too many ids for one notification: sent without them (all of the kind).
	big := Change{Org: "org_a", Kind: KindAPIKey, Stamp: 2}
	for i := 0; i < 1000; i++ {
		big.IDs = append(big.IDs, "key_0123456789")
	}
	p := encode(big)
	if len(p) > maxPayload || strings.Contains(p, "key_") {
		t.Fatalf("payload of %d bytes: %.80s", len(p), p)
	}
	if _, ok := decode("not json"); ok {
		t.Fatal("a malformed payload decoded")
	}
	if c, ok := decode(`{"org":"org_a"}`); !ok || c.Kind != KindAll {
		t.Fatalf("a payload without a kind: %+v %v", c, ok)
	}
}

func TestPublishWidensASecondChange(t *testing.T) {
	f := New(Config{})
	p := &Pending{f: f, org: "org_a"}
	_ = p.Publish(t.Context(), Change{Kind: KindInstance, Slugs: []string{"a"}})
	_ = p.Publish(t.Context(), Change{Kind: KindInstance, Slugs: []string{"b"}})
	if p.change.Kind != KindInstance || len(p.change.Slugs) != 2 {
		t.Fatalf("%+v", p.change)
	}
	_ = p.Publish(t.Context(), Change{Kind: KindLicense})
	if p.change.Kind != KindAll {
		t.Fatalf("%+v", p.change)
	}
}
