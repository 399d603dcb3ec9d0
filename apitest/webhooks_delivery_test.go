package apitest

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/entitled/entitled/internal/testenv"
	"github.com/entitled/entitled/internal/webhooks"
)

// A receiver that fails twice and then answers 200 gets the same
// webhook-id three times, each attempt freshly signed, and the delivery
// ends SUCCEEDED after 3 attempts.
func TestWebhookRetriesUntilTheReceiverAnswers(t *testing.T) {
	t.Parallel()
	forEachStoreWith(t, []testenv.Option{hooks(nil)}, func(t *testing.T, c client) {
		key := c.NewOrg("acme")
		rc := newHookReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
			if n <= 2 {
				http.Error(w, "try later", http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusOK)
		})
		ep, secret := c.endpoint(key, rc.URL, "license.*")
		id := testenv.Str(c.MustDo(key, qSendTest, map[string]any{"id": ep}), "sendTestWebhook.eventID")
		hits := rc.wait(t, 3)
		for _, h := range hits {
			if h.id() != id {
				t.Fatalf("attempt %d has webhook-id %s, want %s", h.n, h.id(), id)
			}
			if err := swVerify(secret, h.header, h.body); err != nil {
				t.Fatalf("attempt %d: %v", h.n, err)
			}
			if string(h.body) != string(hits[0].body) {
				t.Fatalf("attempt %d sent another body", h.n)
			}
		}
		eventually(t, func() string {
			d := c.delivery(key, ep, id)
			if d["status"] != "SUCCEEDED" || testenv.Num(d, "attempts") != 3 {
				return "delivery: " + jsonString(d)
			}
			if d["lastError"] != nil || d["errorKind"] != nil || testenv.Num(d, "responseStatus") != 200 || d["nextAttemptAt"] != nil {
				return "a success still shows the last failure: " + jsonString(d)
			}
			return ""
		})
		if n := len(rc.got()); n != 3 {
			t.Fatalf("%d requests, want 3", n)
		}
		e := c.MustDo(key, qEndpoint, map[string]any{"id": ep})
		if testenv.Num(e, "node.consecutiveFailures") != 0 || testenv.Str(e, "node.lastFailureAt") == "" || testenv.Str(e, "node.lastSuccessAt") == "" {
			t.Errorf("endpoint health after two failures and a success: %v", e)
		}

		// A receiver that keeps failing: retried on the schedule (three
		// waits: four attempts), then GAVE_UP; the answer's start and the
		// failures in a row are kept.
		bad := newHookReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
			http.Error(w, strings.Repeat("x", 5000), http.StatusInternalServerError)
		})
		ep2, _ := c.endpoint(key, bad.URL, "license.*")
		id2 := testenv.Str(c.MustDo(key, qSendTest, map[string]any{"id": ep2}), "sendTestWebhook.eventID")
		eventually(t, func() string {
			d := c.delivery(key, ep2, id2)
			if d["status"] != "GAVE_UP" {
				return "delivery: " + jsonString(d)
			}
			return ""
		})
		d := c.delivery(key, ep2, id2)
		if testenv.Num(d, "attempts") != 4 || testenv.Num(d, "responseStatus") != 500 || d["errorKind"] != "HTTP_STATUS" ||
			len(testenv.Str(d, "responseBody")) != 2048 || d["nextAttemptAt"] != nil || d["deliveredAt"] != nil {
			t.Errorf("gave up: %s", jsonString(d))
		}
		if n := len(bad.got()); n != 4 {
			t.Errorf("%d requests, want 4", n)
		}
		if e := c.MustDo(key, qEndpoint, map[string]any{"id": ep2}); testenv.Num(e, "node.consecutiveFailures") != 4 || testenv.Get(e, "node.enabled") != true {
			t.Errorf("endpoint health: %v", e)
		}

		// retryWebhookDelivery: one attempt more, now, with the same id.
		got := c.MustDo(key, `mutation($id: ID!) { retryWebhookDelivery(id: $id) { status eventID } }`, map[string]any{"id": d["id"]})
		if testenv.Str(got, "retryWebhookDelivery.status") != "PENDING" {
			t.Errorf("retried: %v", got)
		}
		if h := bad.wait(t, 5)[4]; h.id() != id2 {
			t.Errorf("retry sent webhook-id %s, want %s", h.id(), id2)
		}
		eventually(t, func() string {
			if d := c.delivery(key, ep2, id2); d["status"] != "GAVE_UP" || testenv.Num(d, "attempts") != 5 {
				return "after a manual retry: " + jsonString(d)
			}
			return ""
		})
	})
}

// 410 Gone disables the endpoint (the system's change) and gives up; a
// disabled endpoint is sent nothing until enabled again.
func TestWebhookGoneDisablesTheEndpoint(t *testing.T) {
	t.Parallel()
	forEachStoreWith(t, []testenv.Option{hooks(nil)}, func(t *testing.T, c client) {
		key := c.NewOrg("acme")
		watch := newHookReceiver(t, answerWith(http.StatusOK))
		watcher, _ := c.endpoint(key, watch.URL, "webhook_endpoint.updated")
		gone := newHookReceiver(t, answerWith(http.StatusGone))
		ep, _ := c.endpoint(key, gone.URL, "license.*")
		id := testenv.Str(c.MustDo(key, qSendTest, map[string]any{"id": ep}), "sendTestWebhook.eventID")
		eventually(t, func() string {
			if d := c.delivery(key, ep, id); d["status"] != "GAVE_UP" || testenv.Num(d, "attempts") != 1 || testenv.Num(d, "responseStatus") != 410 {
				return "delivery: " + jsonString(d)
			}
			return ""
		})
		e := c.MustDo(key, qEndpoint, map[string]any{"id": ep})
		if testenv.Get(e, "node.enabled") != false || !strings.Contains(testenv.Str(e, "node.disabledReason"), "410") {
			t.Fatalf("endpoint after 410: %v", e)
		}
		// The disabling is an event by the system.
		h := watch.wait(t, 1)[0]
		data := h.decoded(t)["data"]
		if testenv.Str(data, "resourceID") != ep || testenv.Str(data, "actorType") != "SYSTEM" || testenv.Get(data, "after.enabled") != false {
			t.Errorf("the disabling's event: %s", h.body)
		}
		c.MustFail(key, "CONFLICT", qSendTest, map[string]any{"id": ep})
		if n := len(gone.got()); n != 1 {
			t.Errorf("%d requests to a gone receiver, want 1", n)
		}
		// Enabled again: the reason is cleared and deliveries flow.
		e = c.MustDo(key, `mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: {enabled: true}) { enabled disabledReason consecutiveFailures } }`, map[string]any{"id": ep})
		if testenv.Get(e, "updateWebhookEndpoint.enabled") != true || testenv.Get(e, "updateWebhookEndpoint.disabledReason") != nil || testenv.Num(e, "updateWebhookEndpoint.consecutiveFailures") != 0 {
			t.Errorf("re-enabled: %v", e)
		}
		c.MustDo(key, qSendTest, map[string]any{"id": ep})
		gone.wait(t, 2)
		eventually(t, func() string {
			if e := c.MustDo(key, qEndpoint, map[string]any{"id": ep}); testenv.Get(e, "node.enabled") != false {
				return "not disabled again"
			}
			return ""
		})

		// Deleting an endpoint deletes its deliveries.
		c.MustDo(key, `mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }`, map[string]any{"id": ep})
		c.MustFail(key, "NOT_FOUND", qDeliveries, map[string]any{"id": ep})
		if n := len(c.deliveries(key, watcher)); n != 3 {
			t.Errorf("the watcher has %d deliveries, want 3 (two disablings, one enabling)", n)
		}
	})
}

// A receiver that never answers is cut at the timeout (TIMEOUT) and the
// delivery retried.
func TestWebhookTimeoutIsRetried(t *testing.T) {
	t.Parallel()
	opts := []testenv.Option{hooks(func(c *webhooks.Config) {
		c.Timeout = 300 * time.Millisecond
		c.RetrySchedule = []time.Duration{1500 * time.Millisecond}
	})}
	forEachStoreWith(t, opts, func(t *testing.T, c client) {
		key := c.NewOrg("acme")
		rc := newHookReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
			if n == 1 {
				<-r.Context().Done() // never answers; the sender hangs up
				return
			}
			w.WriteHeader(http.StatusOK)
		})
		ep, _ := c.endpoint(key, rc.URL, "license.*")
		id := testenv.Str(c.MustDo(key, qSendTest, map[string]any{"id": ep}), "sendTestWebhook.eventID")
		rc.wait(t, 1)
		eventually(t, func() string {
			d := c.delivery(key, ep, id)
			if testenv.Num(d, "attempts") < 1 {
				return "no attempt recorded: " + jsonString(d)
			}
			if testenv.Num(d, "attempts") == 1 && (d["status"] != "FAILED" || d["errorKind"] != "TIMEOUT" || d["responseStatus"] != nil || d["nextAttemptAt"] == nil) {
				t.Fatalf("a timed-out attempt: %s", jsonString(d))
			}
			return ""
		})
		hits := rc.wait(t, 2)
		if hits[1].id() != id {
			t.Fatalf("the retry has webhook-id %s, want %s", hits[1].id(), id)
		}
		eventually(t, func() string {
			if d := c.delivery(key, ep, id); d["status"] != "SUCCEEDED" || testenv.Num(d, "attempts") != 2 {
				return "delivery: " + jsonString(d)
			}
			return ""
		})
	})
}

// During a rotation a delivery carries two signatures, the new secret's
// and the old one's, and each verifies on its own.
func TestWebhookRotationSignsWithBothSecrets(t *testing.T) {
	t.Parallel()
	forEachStoreWith(t, []testenv.Option{hooks(nil)}, func(t *testing.T, c client) {
		key := c.NewOrg("acme")
		rc := newHookReceiver(t, answerWith(http.StatusOK))
		ep, old := c.endpoint(key, rc.URL, "license.*")
		d := c.MustDo(key, `mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret endpoint { id url } } }`, map[string]any{"id": ep})
		fresh := testenv.Str(d, "rotateWebhookSecret.secret")
		if fresh == old || !strings.HasPrefix(fresh, "whsec_") || testenv.Str(d, "rotateWebhookSecret.endpoint.id") != ep {
			t.Fatalf("rotated: %v", d)
		}
		c.MustDo(key, qSendTest, map[string]any{"id": ep})
		h := rc.wait(t, 1)[0]
		sigs := strings.Split(h.header.Get("webhook-signature"), " ")
		if len(sigs) != 2 {
			t.Fatalf("webhook-signature %q: want two signatures", h.header.Get("webhook-signature"))
		}
		for name, secret := range map[string]string{"new": fresh, "old": old} {
			verified := 0
			for _, sig := range sigs {
				one := h.header.Clone()
				one.Set("webhook-signature", sig)
				if swVerify(secret, one, h.body) == nil {
					verified++
				}
			}
			if verified != 1 {
				t.Errorf("%d of the signatures verify with the %s secret, want 1", verified, name)
			}
		}
		if swVerify("whsec_"+strings.Repeat("A", 43)+"=", h.header, h.body) == nil {
			t.Error("an unrelated secret verifies")
		}
	})
}

// replayWebhookEvents sends a time range again: the events the filter
// takes, with their original ids and bodies.
func TestWebhookReplaySendsARangeAgain(t *testing.T) {
	t.Parallel()
	forEachStoreWith(t, []testenv.Option{hooks(nil)}, func(t *testing.T, c client) {
		key := c.NewOrg("acme")
		rc := newHookReceiver(t, answerWith(http.StatusOK))
		watcher, secret := c.endpoint(key, rc.URL, "webhook_endpoint.created", "webhook_endpoint.deleted")
		var made []string
		for i := range 4 {
			id, _ := c.endpoint(key, fmt.Sprintf("https://hooks.example.com/%d", i), "license.*")
			made = append(made, id)
		}
		c.MustDo(key, `mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: {description: "not taken"}) { id } }`, map[string]any{"id": made[1]})
		c.MustDo(key, `mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }`, map[string]any{"id": made[3]})
		// Its own creation, 4 creations, 1 deletion (the update is not in
		// its filter).
		first := rc.wait(t, 6)
		byResource := map[string]hit{}
		for _, h := range first {
			byResource[testenv.Str(h.decoded(t), "type")+" "+testenv.Str(h.decoded(t), "data.resourceID")] = h
		}
		from := byResource["webhook_endpoint.created "+made[1]]
		to := byResource["webhook_endpoint.deleted "+made[3]]
		since := testenv.Str(from.decoded(t), "data.occurredAt")
		until := parseTime(t, testenv.Str(to.decoded(t), "data.occurredAt")).Add(time.Microsecond).Format(time.RFC3339Nano)
		n := testenv.Num(c.MustDo(key, `mutation($id: ID!, $s: Time!, $u: Time) { replayWebhookEvents(endpointID: $id, since: $s, until: $u) }`,
			map[string]any{"id": watcher, "s": since, "u": until}), "replayWebhookEvents")
		if n != 4 {
			t.Fatalf("replay queued %v, want 4 (created 1, 2, 3 and deleted 3)", n)
		}
		again := rc.wait(t, 10)[6:]
		want := map[string]hit{}
		for _, k := range []string{"created " + made[1], "created " + made[2], "created " + made[3], "deleted " + made[3]} {
			h := byResource["webhook_endpoint."+k]
			want[h.id()] = h
		}
		for _, h := range again {
			orig, ok := want[h.id()]
			if !ok {
				t.Fatalf("replayed %s, which is not in the range: %s", h.id(), h.body)
			}
			if string(h.body) != string(orig.body) {
				t.Errorf("replayed body differs:\n%s\n%s", h.body, orig.body)
			}
			if err := swVerify(secret, h.header, h.body); err != nil {
				t.Error(err)
			}
			delete(want, h.id())
		}
		if len(want) != 0 {
			t.Errorf("not replayed: %v", want)
		}
		if ds := c.deliveries(key, watcher); len(ds) != 10 {
			t.Errorf("%d deliveries recorded, want 10", len(ds))
		}
	})
}

// Without ENTITLED_WEBHOOK_ALLOW_PRIVATE, a host that resolved to a
// public address when saved but to loopback when connecting (DNS
// rebinding) is refused at the connection, and nothing reaches it.
func TestWebhookPrivateAddressesAreRefusedWhenConnecting(t *testing.T) {
	t.Parallel()
	rc := newHookReceiver(t, answerWith(http.StatusOK))
	port := mustURL(t, rc.URL).Port()
	var lookups atomic.Int64
	rebinding := func(_ context.Context, host string) ([]netip.Addr, error) {
		if host != "rebind.example.com" {
			return nil, fmt.Errorf("no such host %s", host)
		}
		if lookups.Add(1) == 1 {
			return []netip.Addr{netip.MustParseAddr("93.184.215.14")}, nil // public, when saved
		}
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
	opts := []testenv.Option{hooks(func(c *webhooks.Config) { c.AllowPrivate, c.LookupIP = false, rebinding })}
	env := testenv.New(t, "sqlite", opts...)
	c := client{env, t}
	key := c.NewOrg("acme")
	ep, _ := c.endpoint(key, "http://rebind.example.com:"+port+"/in", "license.*")
	id := testenv.Str(c.MustDo(key, qSendTest, map[string]any{"id": ep}), "sendTestWebhook.eventID")
	eventually(t, func() string {
		if d := c.delivery(key, ep, id); d["errorKind"] != "BLOCKED" || d["status"] != "FAILED" {
			return "delivery: " + jsonString(d)
		}
		return ""
	})
	if n := len(rc.got()); n != 0 {
		t.Fatalf("a private receiver got %d requests", n)
	}
	if d := c.delivery(key, ep, id); !strings.Contains(testenv.Str(d, "lastError"), "127.0.0.1") {
		t.Errorf("lastError does not say what was refused: %v", d["lastError"])
	}
}

// Redirects are not followed: a 3xx is a failed attempt, and the
// target is never asked.
func TestWebhookRedirectsAreNotFollowed(t *testing.T) {
	t.Parallel()
	target := newHookReceiver(t, answerWith(http.StatusOK))
	rc := newHookReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/in", http.StatusTemporaryRedirect)
	})
	env := testenv.New(t, "sqlite", hooks(nil))
	c := client{env, t}
	key := c.NewOrg("acme")
	ep, _ := c.endpoint(key, rc.URL, "license.*")
	id := testenv.Str(c.MustDo(key, qSendTest, map[string]any{"id": ep}), "sendTestWebhook.eventID")
	eventually(t, func() string {
		if d := c.delivery(key, ep, id); d["errorKind"] != "HTTP_STATUS" || testenv.Num(d, "responseStatus") != 307 {
			return "delivery: " + jsonString(d)
		}
		return ""
	})
	if n := len(target.got()); n != 0 {
		t.Fatalf("the redirect's target got %d requests", n)
	}
}

// A receiver that hangs holds only its own slots: another endpoint of the
// organization, another organization and the API go on meanwhile, and
// the hanging one is never sent more than its cap at once.
func TestWebhookASlowReceiverDelaysNobodyElse(t *testing.T) {
	t.Parallel()
	forEachStoreWith(t, []testenv.Option{hooks(func(c *webhooks.Config) {
		c.Timeout = time.Minute // longer than the test: the receiver decides
		c.PerEndpoint, c.PerOrg = 2, 4
	})}, func(t *testing.T, c client) {
		release := make(chan struct{})
		var mu sync.Mutex
		inFlight, most := 0, 0
		slow := newHookReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			inFlight++
			most = max(most, inFlight)
			mu.Unlock()
			select {
			case <-release:
			case <-r.Context().Done():
			}
			mu.Lock()
			inFlight--
			mu.Unlock()
			w.WriteHeader(http.StatusOK)
		})
		var once sync.Once
		stop := func() { once.Do(func() { close(release) }) }
		t.Cleanup(stop)
		fast := newHookReceiver(t, answerWith(http.StatusOK))
		key := c.NewOrg("acme")
		other := c.NewOrg("other")
		slowEP, _ := c.endpoint(key, slow.URL, "license.*")
		fastEP, _ := c.endpoint(key, fast.URL, "license.*")
		otherEP, _ := c.endpoint(other, fast.URL+"/other", "license.*")
		for range 6 {
			c.MustDo(key, qSendTest, map[string]any{"id": slowEP})
		}
		slow.wait(t, 2) // its cap is busy, and stays so
		c.MustDo(key, qSendTest, map[string]any{"id": fastEP})
		c.MustDo(other, qSendTest, map[string]any{"id": otherEP})
		fast.wait(t, 2)
		c.MustDo(key, `{ webhookEndpoints { totalCount } }`, nil) // the API answers
		if n := len(slow.got()); n != 2 {
			t.Errorf("the slow receiver got %d requests at once, its cap is 2", n)
		}
		stop()
		slow.wait(t, 6)
		eventually(t, func() string {
			for _, d := range c.deliveries(key, slowEP) {
				if d["status"] != "SUCCEEDED" {
					return "slow delivery: " + jsonString(d)
				}
			}
			return ""
		})
		mu.Lock()
		defer mu.Unlock()
		if most > 2 {
			t.Errorf("the slow receiver had %d requests in flight, its cap is 2", most)
		}
	})
}

// Two servers on one PostgreSQL deliver every attempt exactly once: each
// event's first attempt fails and its second succeeds, so the receiver
// must count exactly two requests per webhook-id.
func TestWebhookTwoServersDeliverEachAttemptOnce(t *testing.T) {
	t.Parallel()
	a := testenv.New(t, "postgres", hooks(nil))
	b := a.Peer()
	ca, cb := client{a, t}, client{b, t}
	key := ca.NewOrg("acme")
	var mu sync.Mutex
	seen := map[string]int{}
	rc := newHookReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Header.Get("webhook-id")]++
		n := seen[r.Header.Get("webhook-id")]
		mu.Unlock()
		if n == 1 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	ep, _ := ca.endpoint(key, rc.URL, "license.*")
	const events = 40
	var wg sync.WaitGroup
	for i := range events {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := ca
			if i%2 == 1 {
				cl = cb
			}
			cl.MustDo(key, qSendTest, map[string]any{"id": ep})
		}()
	}
	wg.Wait()
	rc.wait(t, 2*events)
	eventually(t, func() string {
		ds := ca.deliveries(key, ep)
		if len(ds) != events {
			return fmt.Sprintf("%d deliveries", len(ds))
		}
		for _, d := range ds {
			if d["status"] != "SUCCEEDED" {
				return "delivery: " + jsonString(d)
			}
		}
		return ""
	})
	// Anything sent twice would have been in flight beside the recorded
	// attempt; give it a moment to arrive.
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != events {
		t.Fatalf("%d webhook-ids, want %d", len(seen), events)
	}
	for id, n := range seen {
		if n != 2 {
			t.Errorf("webhook-id %s arrived %d times, want 2 (one failed attempt, one success)", id, n)
		}
	}
	for _, d := range ca.deliveries(key, ep) {
		if testenv.Num(d, "attempts") != 2 {
			t.Errorf("delivery %v: %v attempts, want 2", d["eventID"], d["attempts"])
		}
	}
}

func mustURL(t testing.TB, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Failures without an answer are named: an untrusted certificate is TLS,
// a closed port CONNECTION, a name that does not resolve DNS.
func TestWebhookFailuresAreNamed(t *testing.T) {
	t.Parallel()
	tlsServer := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	tlsServer.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	tlsServer.StartTLS()
	t.Cleanup(tlsServer.Close)
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	noDNS := func(_ context.Context, host string) ([]netip.Addr, error) {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	env := testenv.New(t, "sqlite", hooks(func(c *webhooks.Config) { c.LookupIP = noDNS }))
	c := client{env, t}
	key := c.NewOrg("acme")
	for url, kind := range map[string]string{
		tlsServer.URL:                   "TLS",
		closedURL:                       "CONNECTION",
		"http://nowhere.example.com/in": "DNS",
	} {
		ep, _ := c.endpoint(key, url, "license.*")
		id := testenv.Str(c.MustDo(key, qSendTest, map[string]any{"id": ep}), "sendTestWebhook.eventID")
		eventually(t, func() string {
			if d := c.delivery(key, ep, id); d["errorKind"] != kind || d["responseStatus"] != nil || testenv.Str(d, "lastError") == "" {
				return url + ": " + jsonString(d)
			}
			return ""
		})
	}
}
