package apitest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/entitled/entitled/internal/app"
	"github.com/entitled/entitled/internal/testenv"
	"github.com/entitled/entitled/internal/webhooks"
)

// The Standard Webhooks scheme written here from its specification, not
// from the server's code, so that a test which verifies a delivery with
// it proves that any receiver's library will: the signed content is
// "{webhook-id}.{webhook-timestamp}.{body}", the key the base64 part of
// the secret after "whsec_", the signature "v1," + base64 HMAC-SHA256,
// and webhook-signature lists one or more, space-separated.

func swSign(secret, id, timestamp string, body []byte) string {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		panic(err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + timestamp + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// swVerify checks a delivery's headers against a secret: one of the
// listed v1 signatures must match.
func swVerify(secret string, h http.Header, body []byte) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing webhook-id, webhook-timestamp or webhook-signature")
	}
	if _, err := strconv.ParseInt(ts, 10, 64); err != nil {
		return fmt.Errorf("webhook-timestamp %q is not unix seconds", ts)
	}
	want := swSign(secret, id, ts, body)
	for _, s := range strings.Split(sigs, " ") {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return fmt.Errorf("no signature of %q matches", sigs)
}

// The published test vector of the specification (its reference
// libraries test their signing with it).
func TestStandardWebhooksVerifierMatchesTheSpecificationVector(t *testing.T) {
	t.Parallel()
	const (
		secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		id     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
		ts     = "1614265330"
		body   = `{"test": 2432232314}`
		want   = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	)
	if got := swSign(secret, id, ts, []byte(body)); got != want {
		t.Fatalf("the test's signer gives %s, the specification %s", got, want)
	}
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", ts)
	h.Set("webhook-signature", "v1,bm9wZQ== "+want)
	if err := swVerify(secret, h, []byte(body)); err != nil {
		t.Fatalf("the vector does not verify among several signatures: %v", err)
	}
	if err := swVerify(secret, h, []byte(body+" ")); err == nil {
		t.Fatal("a changed body verifies")
	}
}

// hit is one request a receiver got.
type hit struct {
	header http.Header
	body   []byte
	n      int // 1-based, in arrival order
}

func (h hit) id() string { return h.header.Get("webhook-id") }

// decoded is the hit's body as JSON.
func (h hit) decoded(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(h.body, &m); err != nil {
		t.Fatalf("delivery body is not JSON: %s", h.body)
	}
	return m
}

// hookReceiver is an HTTP receiver on loopback that records every request
// and answers what answer says for the n-th one (it may block).
type hookReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	hits   []hit
	answer func(n int, w http.ResponseWriter, r *http.Request)
	more   chan struct{}
}

func newHookReceiver(t testing.TB, answer func(n int, w http.ResponseWriter, r *http.Request)) *hookReceiver {
	t.Helper()
	rc := &hookReceiver{answer: answer, more: make(chan struct{}, 1)}
	if rc.answer == nil {
		rc.answer = func(int, http.ResponseWriter, *http.Request) {}
	}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		h := hit{header: r.Header.Clone(), body: b, n: len(rc.hits) + 1}
		rc.hits = append(rc.hits, h)
		rc.mu.Unlock()
		select {
		case rc.more <- struct{}{}:
		default:
		}
		rc.answer(h.n, w, r)
	}))
	t.Cleanup(rc.Close)
	return rc
}

// status answers every request with code.
func answerWith(code int) func(int, http.ResponseWriter, *http.Request) {
	return func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

func (rc *hookReceiver) got() []hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hit(nil), rc.hits...)
}

// wait returns the hits once there are at least n (a hang guard of 20 s,
// not a speed assertion).
func (rc *hookReceiver) wait(t testing.TB, n int) []hit {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		if h := rc.got(); len(h) >= n {
			return h
		}
		select {
		case <-rc.more:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("the receiver got %d requests, want %d", len(rc.got()), n)
		}
	}
}

// eventually retries check until it returns "" (20 s hang guard) and
// fails with its last complaint.
func eventually(t testing.TB, check func() string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// hooks configures a server's webhooks for tests: receivers on loopback,
// short waits.
func hooks(fn func(c *webhooks.Config)) testenv.Option {
	return testenv.Configure(func(cfg *app.Config) {
		cfg.Webhooks = webhooks.Config{
			AllowPrivate:  true,
			RetrySchedule: []time.Duration{50 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond},
			Timeout:       2 * time.Second,
			Poll:          25 * time.Millisecond,
			IdlePoll:      200 * time.Millisecond,
		}
		if fn != nil {
			fn(&cfg.Webhooks)
		}
	})
}

// forEachStoreWith is forEachStore with server options.
func forEachStoreWith(t *testing.T, opts []testenv.Option, fn func(t *testing.T, c client)) {
	t.Helper()
	for _, s := range testenv.Stores {
		t.Run(s, func(t *testing.T) {
			t.Parallel()
			fn(t, client{testenv.New(t, s, opts...), t})
		})
	}
}

const (
	qCreateEndpoint = `mutation($in: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $in) {
		secret endpoint { id url eventTypes description enabled disabledReason consecutiveFailures } } }`
	qSendTest   = `mutation($id: ID!) { sendTestWebhook(endpointID: $id) { id eventID eventType status attempts } }`
	qDeliveries = `query($id: ID!) { webhookDeliveries(endpointID: $id, first: 100) { totalCount edges { node {
		id eventID eventType status attempts responseStatus responseBody lastError errorKind durationMs nextAttemptAt deliveredAt payload createdAt endpoint { id } } } } }`
	qEndpoint = `query($id: ID!) { node(id: $id) { ... on WebhookEndpoint {
		id url enabled disabledReason consecutiveFailures lastSuccessAt lastFailureAt eventTypes } } }`
)

// endpoint creates an endpoint for url with the event types and returns
// its id and secret.
func (c client) endpoint(key, url string, types ...string) (string, string) {
	c.T.Helper()
	if types == nil {
		types = []string{}
	}
	d := c.MustDo(key, qCreateEndpoint, map[string]any{"in": map[string]any{"url": url, "eventTypes": types}})
	return testenv.Str(d, "createWebhookEndpoint.endpoint.id"), testenv.Str(d, "createWebhookEndpoint.secret")
}

// deliveries lists an endpoint's deliveries, newest first.
func (c client) deliveries(key, endpointID string) []map[string]any {
	c.T.Helper()
	d := c.MustDo(key, qDeliveries, map[string]any{"id": endpointID})
	var out []map[string]any
	for _, e := range testenv.Get(d, "webhookDeliveries.edges").([]any) {
		out = append(out, e.(map[string]any)["node"].(map[string]any))
	}
	return out
}

// delivery is one delivery of an endpoint by its webhook-id.
func (c client) delivery(key, endpointID, eventID string) map[string]any {
	c.T.Helper()
	for _, d := range c.deliveries(key, endpointID) {
		if d["eventID"] == eventID {
			return d
		}
	}
	return nil
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
