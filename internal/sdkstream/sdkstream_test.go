package sdkstream

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/entitled/entitled/internal/platform/changefeed"
	"github.com/entitled/entitled/internal/tenant"
)

// A live change that does not advance the stream's revision (applied
// late, or without one: a gap, a backstop resync, a failed commit) cannot
// be numbered in order: the stream says resync at its current revision,
// and revisions sent never go down.
func TestLiveChangesNeverGoBack(t *testing.T) {
	rec := httptest.NewRecorder()
	out := &writer{w: rec, rc: http.NewResponseController(rec), last: 10}
	out.live(changefeed.Change{Kind: changefeed.KindInstance, IDs: []string{"ins_1"}, Slugs: []string{"eu-1"}, Rev: 12})
	out.live(changefeed.Change{Kind: changefeed.KindLicense, IDs: []string{"lic_1"}, Rev: 11})
	out.live(changefeed.Change{Kind: changefeed.KindAll})
	out.live(changefeed.Change{Kind: changefeed.KindPolicy, Rev: 13})
	want := "event: change\nid: 12\ndata: {\"ids\":[\"ins_1\"],\"kind\":\"instance\",\"revision\":12,\"slugs\":[\"eu-1\"]}\n\n" +
		"event: resync\nid: 12\ndata: {\"revision\":12}\n\n" +
		"event: resync\nid: 12\ndata: {\"revision\":12}\n\n" +
		"event: change\nid: 13\ndata: {\"ids\":[],\"kind\":\"policy\",\"revision\":13,\"slugs\":[]}\n\n"
	if got := rec.Body.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// Apply never blocks: a stream whose queue is full is ended and
// unregistered (its key's place is free again); API key changes are not
// queued; other organizations' streams hear nothing.
func TestApplyDropsAFullStream(t *testing.T) {
	h := New(nil, nil, Config{Buffer: 2, StreamsPerKey: 1})
	v := tenant.Viewer{OrgID: "org_1", KeyID: "key_1"}
	s, err := h.subscribe(v)
	if err != nil {
		t.Fatal(err)
	}
	other, err := h.subscribe(tenant.Viewer{OrgID: "org_2", KeyID: "key_2"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.subscribe(v); err == nil || !strings.Contains(err.Error(), "at most 1 streams") {
		t.Fatalf("second stream of a key limited to 1: %v", err)
	}
	h.Apply(changefeed.Change{Org: "org_1", Kind: changefeed.KindAPIKey, IDs: []string{"key_1"}, Rev: 1})
	h.Apply(changefeed.Change{Org: "org_1", Kind: changefeed.KindAPIKey, IDs: []string{"key_1"}, Rev: 1}) // heard twice
	if len(s.changes) != 0 || len(s.recheck) != 1 {
		t.Fatalf("an API key change was queued (%d) or did not ask for a recheck (%d)", len(s.changes), len(s.recheck))
	}
	h.Apply(changefeed.Change{Org: "org_1", Kind: changefeed.KindLicense, Rev: 2})
	h.Apply(changefeed.Change{Org: "org_1", Kind: changefeed.KindLicense, Rev: 2}) // a repeat is not queued
	if len(s.changes) != 1 {
		t.Fatalf("queued %d changes, want 1", len(s.changes))
	}
	for i := range 2 {
		h.Apply(changefeed.Change{Org: "org_1", Kind: changefeed.KindLicense, Rev: int64(3 + i)})
	}
	select {
	case <-s.gone:
	default:
		t.Fatal("a stream whose queue overflowed is still open")
	}
	if h.Revision("org_1") != 4 || h.Revision("org_2") != 0 {
		t.Errorf("revisions applied: %d %d", h.Revision("org_1"), h.Revision("org_2"))
	}
	if len(other.changes) != 0 {
		t.Errorf("another organization's stream heard %d changes", len(other.changes))
	}
	if _, err := h.subscribe(v); err != nil {
		t.Errorf("the dropped stream still holds its key's place: %v", err)
	}
	h.Close()
	select {
	case <-other.gone:
	default:
		t.Error("Close left a stream open")
	}
	if _, err := h.subscribe(tenant.Viewer{OrgID: "org_3", KeyID: "key_3"}); err == nil {
		t.Error("a closed hub accepted a stream")
	}
}
