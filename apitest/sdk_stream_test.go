package apitest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/entitled/entitled/internal/app"
	"github.com/entitled/entitled/internal/platform/changefeed"
	"github.com/entitled/entitled/internal/testenv"
)

// heartbeat shortens the SDK streams' heartbeat for tests.
func heartbeat(d time.Duration) testenv.Option {
	return testenv.Configure(func(cfg *app.Config) { cfg.SDKHeartbeat = d })
}

// propagated fails the test when a change took longer than the SDK's
// acceptance bound to reach a stream, and logs how long it took.
func propagated(t *testing.T, what string, start time.Time, e sseEvent) {
	t.Helper()
	d := e.At.Sub(start)
	t.Logf("%s reached the stream after %s", what, d.Round(time.Microsecond))
	if d > propagation {
		t.Errorf("%s reached the stream after %s, more than %s", what, d, propagation)
	}
}

// A stream says hello with the current revision, then every change of the
// organization as it commits (links, instances with their slugs,
// policies, licenses, entitlements), each with a larger revision; API
// key changes are not sent; an idle stream sends heartbeats; a revoked
// key's stream ends.
func TestSDKStreamSendsEveryChange(t *testing.T) {
	t.Parallel()
	forEachStoreWith(t, []testenv.Option{heartbeat(100 * time.Millisecond)}, func(t *testing.T, c client) {
		f := newSDKFixture(c)
		s, res := openStream(t, c.Server.URL, f.check, "", nil)
		if s == nil {
			t.Fatalf("open: %d", res.StatusCode)
		}
		if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Errorf("Content-Type %q", ct)
		}
		rev := s.hello()
		if rev <= 0 {
			t.Errorf("hello revision %d: the fixture made changes", rev)
		}
		_, h, _ := c.snapshot(f.check, "eu-1", nil)
		if got := revisionOf(t, h); got > rev {
			t.Errorf("snapshot revision %d above the stream's %d with no change between", got, rev)
		}
		if e := s.comment(5 * time.Second); e.Comment != "ping" {
			t.Errorf("heartbeat %q", e.Comment)
		}

		c.NewKey(f.admin, "CHECK") // not sent
		type step struct {
			what, kind string
			do         func()
			slugs      []string
		}
		var polID string
		steps := []step{
			{"setLicenseEntitlement", "license_entitlement", func() { c.Link(f.admin, f.paid, f.sso, boolean(false)) }, nil},
			{"updateInstance", "instance", func() {
				c.MustDo(f.admin, `mutation { updateInstance(id: "`+c.instanceID(f.admin, "us-1")+`", input: {metadata: {region: "eu"}}) { id } }`, nil)
			}, []string{"us-1"}},
			{"createPolicy", "policy", func() {
				polID = testenv.Str(c.MustDo(f.admin, createPolicyQ, map[string]any{"in": map[string]any{"name": "deny-all", "active": true,
					"module": "package entitled.custom.x\n\ndeny contains \"no\" if true\n"}}), "createPolicy.id")
			}, nil},
			{"deactivate a license", "license", func() {
				c.MustDo(f.admin, `mutation($id: ID!) { updateLicense(id: $id, input: {isActive: false}) { id } }`, map[string]any{"id": f.paid})
			}, nil},
			{"createEntitlement", "entitlement", func() { c.NewEntitlement(f.admin, "seats", "NUMBER", nil) }, nil},
		}
		for _, st := range steps {
			start := time.Now()
			st.do()
			e := s.change(st.kind, 5*time.Second)
			propagated(t, st.what, start, e)
			if got := e.rev(t); got <= rev {
				t.Errorf("%s: revision %d after %d", st.what, got, rev)
			} else {
				rev = got
			}
			p := e.payload(t)
			if jsonNum(p["revision"]) != float64(rev) || len(p["ids"].([]any)) == 0 {
				t.Errorf("%s: %s", st.what, e.Data)
			}
			if st.slugs != nil && fmt.Sprint(p["slugs"]) != fmt.Sprint([]any{"us-1"}) {
				t.Errorf("%s: slugs %v, want %v", st.what, p["slugs"], st.slugs)
			}
		}
		if polID == "" {
			t.Fatal("no policy made")
		}
		// The snapshot taken now carries a revision that covers them all.
		if _, h, _ := c.snapshot(f.check, "eu-1", nil); revisionOf(t, h) != rev {
			t.Errorf("snapshot revision %s, stream at %d", h.Get("X-Entitled-Revision"), rev)
		}

		id := keyID(t, c.Env, f.admin, f.check)
		c.MustDo(f.admin, `mutation($id: ID!) { revokeAPIKey(id: $id) { revoked } }`, map[string]any{"id": id})
		s.waitEnd(5 * time.Second)
		if s, res := openStream(t, c.Server.URL, f.check, "", nil); s != nil || res.StatusCode != http.StatusUnauthorized {
			t.Errorf("a revoked key opened a stream: %v", res.Status)
		}
	})
}

// instanceID looks an instance's id up by slug.
func (c client) instanceID(key, slug string) string {
	c.T.Helper()
	for _, e := range testenv.Get(c.MustDo(key, `{ instances { edges { node { id slug } } } }`, nil), "instances.edges").([]any) {
		if testenv.Str(e, "node.slug") == slug {
			return testenv.Str(e, "node.id")
		}
	}
	c.T.Fatalf("no instance %s", slug)
	return ""
}

// A stream resumed with Last-Event-ID (header or query) replays exactly
// the changes made while it was away, in order, then goes on live; one
// that cannot be replayed (an unknown revision) is told to resync; a
// malformed one is BAD_USER_INPUT.
func TestSDKStreamResumes(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		f := newSDKFixture(c)
		s, _ := openStream(t, c.Server.URL, f.check, "", nil)
		last := s.hello()
		s.Close()

		c.Link(f.admin, f.paid, f.sso, boolean(false))
		c.MustDo(f.admin, `mutation { updateInstance(id: "`+c.instanceID(f.admin, "eu-1")+`", input: {name: "EU again"}) { id } }`, nil)
		c.MustDo(f.admin, `mutation { rotateSigningKey { kid } }`, nil) // logged, not a stream change
		c.MustDo(f.admin, createPolicyQ, map[string]any{"in": map[string]any{"name": "p2", "active": true, "module": "package entitled.custom.y\n"}})
		want := []string{"license_entitlement", "instance", "policy"}

		for round, byHeader := range []bool{true, false} {
			query, header := fmt.Sprintf("?lastEventId=%d", last), map[string]string(nil)
			if byHeader {
				query, header = "", map[string]string{"Last-Event-ID": fmt.Sprint(last)}
			}
			s, res := openStream(t, c.Server.URL, f.check, query, header)
			if s == nil {
				t.Fatalf("resume: %d", res.StatusCode)
			}
			head := s.hello()
			prev := last
			for _, kind := range want {
				e := s.change(kind, 5*time.Second)
				if r := e.rev(t); r <= prev || r > head {
					t.Errorf("replayed %s with revision %d, after %d, head %d", kind, r, prev, head)
				} else {
					prev = r
				}
				if kind == "instance" && fmt.Sprint(e.payload(t)["slugs"]) != "[eu-1]" {
					t.Errorf("replayed instance change %s", e.Data)
				}
			}
			// Then live.
			c.Link(f.admin, f.paid, f.sso, boolean(round == 0)) // a change each round
			if e := s.change("license_entitlement", 5*time.Second); e.rev(t) <= head {
				t.Errorf("live change %d after head %d", e.rev(t), head)
			}
			s.Close()
			last = head
			want = []string{"license_entitlement"}
		}

		// A revision the log does not have: resync, at the current one.
		s, _ = openStream(t, c.Server.URL, f.check, "", map[string]string{"Last-Event-ID": "999999"})
		head := s.hello()
		if e := s.next(5 * time.Second); e.Event != "resync" || e.rev(t) != head || jsonNum(e.payload(t)["revision"]) != float64(head) {
			t.Errorf("resume from an unknown revision: %s %s %s", e.Event, e.ID, e.Data)
		}
		// Caught up: nothing to replay, the next event is live.
		s, _ = openStream(t, c.Server.URL, f.check, "", map[string]string{"Last-Event-ID": fmt.Sprint(head)})
		s.hello()
		c.NewEntitlement(f.admin, "seats", "NUMBER", nil)
		s.change("entitlement", 5*time.Second)

		_, res := openStream(t, c.Server.URL, f.check, "", map[string]string{"Last-Event-ID": "soon"})
		if res == nil || res.StatusCode != http.StatusBadRequest {
			t.Fatalf("malformed Last-Event-ID: %v", res)
		}
		var e struct{ Code string }
		if err := json.NewDecoder(res.Body).Decode(&e); err != nil || e.Code != "BAD_USER_INPUT" {
			t.Errorf("malformed Last-Event-ID: %v %v", e, err)
		}
	})
}

// Past ENTITLED_SDK_STREAMS_PER_KEY streams of one key, 429 RATE_LIMITED
// with Retry-After; other keys are not affected; a closed stream frees its
// place. READ keys and no key are refused.
func TestSDKStreamLimits(t *testing.T) {
	t.Parallel()
	opt := testenv.Configure(func(cfg *app.Config) { cfg.SDKStreamsPerKey = 2 })
	forEachStoreWith(t, []testenv.Option{opt}, func(t *testing.T, c client) {
		f := newSDKFixture(c)
		a, _ := openStream(t, c.Server.URL, f.check, "", nil)
		a.hello()
		b, _ := openStream(t, c.Server.URL, f.check, "", nil)
		b.hello()
		s, res := openStream(t, c.Server.URL, f.check, "", nil)
		if s != nil || res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
			t.Fatalf("third stream of a key limited to 2: %v %v", res.Status, res.Header)
		}
		var e struct{ Code, Message string }
		if err := json.NewDecoder(res.Body).Decode(&e); err != nil || e.Code != "RATE_LIMITED" || e.Message == "" {
			t.Errorf("429 body: %+v %v", e, err)
		}
		if s, res := openStream(t, c.Server.URL, f.admin, "", nil); s == nil {
			t.Errorf("another key was limited: %v", res.Status)
		}
		a.Close()
		deadline := time.Now().Add(5 * time.Second)
		for {
			s, res := openStream(t, c.Server.URL, f.check, "", nil)
			if s != nil {
				break
			}
			if res.StatusCode != http.StatusTooManyRequests || time.Now().After(deadline) {
				t.Fatalf("after closing a stream: %v", res.Status)
			}
			time.Sleep(20 * time.Millisecond)
		}

		read := c.NewKey(f.admin, "READ")
		for key, want := range map[string]int{read: http.StatusForbidden, "": http.StatusUnauthorized, "etk_bogus": http.StatusUnauthorized} {
			if s, res := openStream(t, c.Server.URL, key, "", nil); s != nil || res.StatusCode != want {
				t.Errorf("stream with %q: %v, want %d", key, res.Status, want)
			}
		}
	})
}

// A reader that does not keep up is disconnected: once the connection's
// buffers and the stream's bounded queue are full, the server ends the
// stream instead of buffering without end (the SDK then reconnects and
// resumes). The changes are handed to the hub directly, in batches a
// reading client keeps up with: thousands of real mutations would take
// minutes.
func TestSDKStreamDropsASlowReader(t *testing.T) {
	t.Parallel()
	opt := testenv.Configure(func(cfg *app.Config) { cfg.SDKStreamsPerKey = 1 })
	env := testenv.New(t, "sqlite", opt)
	c := client{env, t}
	key := c.NewOrg("acme")
	orgID := testenv.Str(c.MustDo(key, `{ viewer { organization { id } } }`, nil), "viewer.organization.id")
	slow, res := openStreamPaused(t, env.Server.URL, key, "", nil, true) // reads nothing more
	if slow == nil {
		t.Fatalf("stream: %v", res.Status)
	}
	ids := make([]string, 200)
	for i := range ids {
		ids[i] = fmt.Sprintf("ent_%040d", i)
	}
	big := changefeed.Change{Org: orgID, Kind: changefeed.KindEntitlement, IDs: ids} // about 9 KB on the wire
	sent, dropped := 0, false
	for batch := 0; batch < 2000 && !dropped; batch++ {
		for range 20 {
			sent++
			big.Rev = int64(1_000 + sent)
			env.App.SDK.Apply(big) // never blocks, whatever the reader does
		}
		time.Sleep(time.Millisecond)
		// The key may hold one stream: a second opens once the first
		// was dropped.
		if batch%50 == 49 {
			if s, _ := openStream(t, env.Server.URL, key, "", nil); s != nil {
				dropped = true
				s.Close()
			}
		}
	}
	if !dropped {
		t.Fatalf("after %d changes (%d MB) the unread stream is still open", sent, sent*9/1000)
	}
	// The slow reader, reading at last, gets what was buffered, then the
	// end of the stream.
	n := slow.drain(30 * time.Second)
	t.Logf("dropped after at most %d changes; the slow reader then read %d bytes of the %d MB sent", sent, n, sent*9/1000)
	if n >= sent*9000 {
		t.Errorf("the slow reader got everything: buffered, not dropped")
	}
}

// A stream outlives the server's read and write timeouts (server.go sets
// both; a stream lasts longer); it ends when the server shuts down (Drain,
// as on SIGTERM): a graceful http.Server.Shutdown with a stream open
// returns at once instead of waiting out its timeout, and new streams are
// refused with 503.
func TestSDKStreamOutlivesTimeoutsAndEndsOnShutdown(t *testing.T) {
	t.Parallel()
	env := testenv.New(t, "sqlite", heartbeat(50*time.Millisecond))
	c := client{env, t}
	key := c.NewOrg("acme")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	timeout := 200 * time.Millisecond
	srv := &http.Server{Handler: env.App.Handler, ReadHeaderTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout}
	go func() { _ = srv.Serve(ln) }()
	s, res := openStream(t, "http://"+ln.Addr().String(), key, "", nil)
	if s == nil {
		t.Fatalf("stream: %v", res.Status)
	}
	s.hello()
	start := time.Now()
	for time.Since(start) < 5*timeout {
		s.comment(5 * time.Second)
	}
	c.NewEntitlement(key, "sso", "BOOLEAN", nil)
	s.change("entitlement", 5*time.Second)

	env.App.Drain()
	s.waitEnd(5 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start = time.Now()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("graceful shutdown with an SDK stream open: %v after %s", err, time.Since(start))
	}
	t.Logf("shut down in %s", time.Since(start).Round(time.Millisecond))
	if s, res := openStream(t, env.Server.URL, key, "", nil); s != nil || res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Errorf("a stream while shutting down: %v", res.Status)
	}
}

// Two servers on one PostgreSQL: a change made through the first reaches
// a stream of the second (through the change feed) within a second, with
// the revision the first's event log gave it; the second's snapshot then
// carries it.
func TestSDKStreamAcrossReplicas(t *testing.T) {
	t.Parallel()
	a := testenv.New(t, "postgres")
	b := a.Peer()
	c := client{a, t}
	f := newSDKFixture(c)
	s, res := openStream(t, b.Server.URL, f.check, "", nil)
	if s == nil {
		t.Fatalf("stream on the second server: %v", res.Status)
	}
	rev := s.hello()
	var worst time.Duration
	for i := range 10 {
		start := time.Now()
		c.Link(f.admin, f.paid, f.calls, num(float64(101+i)))
		e := s.change("license_entitlement", 5*time.Second)
		propagated(t, fmt.Sprintf("trial %d: a link change through server 1", i+1), start, e)
		worst = max(worst, e.At.Sub(start))
		if e.rev(t) <= rev {
			t.Errorf("revision %d after %d", e.rev(t), rev)
		}
		rev = e.rev(t)
	}
	t.Logf("worst of 10: %s", worst.Round(time.Microsecond))
	bc := client{b, t}
	if _, h, _ := bc.snapshot(f.check, "eu-1", nil); revisionOf(t, h) != rev {
		t.Errorf("server 2's snapshot revision %s, its stream's %d", h.Get("X-Entitled-Revision"), rev)
	}
	// Server 1 starts a stream at the same revision or later (the
	// snapshot made the organization's first signing key: a logged change
	// the streams do not send).
	s1, _ := openStream(t, a.Server.URL, f.check, "", nil)
	if got := s1.hello(); got < rev {
		t.Errorf("server 1's hello %d, server 2's stream at %d", got, rev)
	}
}
