package apitest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/entitled/entitled/internal/testenv"
	"github.com/entitled/entitled/internal/webhooks"
)

// A delivery is a signed POST that an independent implementation of
// Standard Webhooks verifies, with the documented body; an endpoint's
// own changes are events its subscribers receive, without secrets.
func TestWebhookDeliveriesAreSignedEvents(t *testing.T) {
	t.Parallel()
	forEachStoreWith(t, []testenv.Option{hooks(nil)}, func(t *testing.T, c client) {
		key := c.NewOrg("acme")
		rc := newHookReceiver(t, answerWith(http.StatusNoContent))
		watcher, secret := c.endpoint(key, rc.URL+"/hooks", "webhook_endpoint.*")
		if !strings.HasPrefix(secret, "whsec_") || len(secret) != len("whsec_")+44 {
			t.Fatalf("secret %q is not whsec_ and the base64 of 32 bytes", secret)
		}

		// The watcher hears its own creation, then another endpoint's
		// life: created, updated, secret rotated, deleted.
		other, otherSecret := c.endpoint(key, "https://hooks.example.com/in", "license.*")
		c.MustDo(key, `mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: {description: "billing", enabled: false}) { id } }`, map[string]any{"id": other})
		rotated := testenv.Str(c.MustDo(key, `mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret endpoint { id } } }`, map[string]any{"id": other}), "rotateWebhookSecret.secret")
		c.MustDo(key, `mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }`, map[string]any{"id": other})

		hits := rc.wait(t, 5)
		byType := map[string]map[string]any{}
		for _, h := range hits {
			if err := swVerify(secret, h.header, h.body); err != nil {
				t.Fatalf("delivery %s does not verify: %v", h.id(), err)
			}
			if ct := h.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if sec, _ := strconv.ParseInt(h.header.Get("webhook-timestamp"), 10, 64); time.Since(time.Unix(sec, 0)).Abs() > time.Hour {
				t.Errorf("webhook-timestamp %q is not the attempt's unix seconds", h.header.Get("webhook-timestamp"))
			}
			for _, s := range []string{secret, otherSecret, rotated, strings.TrimPrefix(otherSecret, "whsec_"), strings.TrimPrefix(rotated, "whsec_")} {
				if strings.Contains(string(h.body), s) {
					t.Fatalf("a delivery's body holds a secret: %s", h.body)
				}
			}
			m := h.decoded(t)
			data, _ := m["data"].(map[string]any)
			if data == nil || m["type"] != data["action"] || data["id"] != h.id() {
				t.Fatalf("body is not {type, timestamp, data: the event} with the event id as webhook-id: %s", h.body)
			}
			if m["timestamp"] != data["occurredAt"] {
				t.Errorf("timestamp %v is not the event's occurredAt %v", m["timestamp"], data["occurredAt"])
			}
			for _, f := range []string{"seq", "resourceType", "resourceID", "actorType", "actorID", "actorName", "before", "after", "prevHash", "hash", "requestID", "licenseVersion", "resourceSlug"} {
				if _, ok := data[f]; !ok {
					t.Errorf("data lacks %s: %s", f, h.body)
				}
			}
			if data["resourceType"] != "WEBHOOK_ENDPOINT" || data["actorType"] != "API_KEY" {
				t.Errorf("resource %v by %v, want WEBHOOK_ENDPOINT by API_KEY", data["resourceType"], data["actorType"])
			}
			byType[m["type"].(string)+" "+data["resourceID"].(string)] = data
		}
		if _, ok := byType["webhook_endpoint.created "+watcher]; !ok {
			t.Errorf("the watcher did not hear its own creation: %v", keys(byType))
		}
		created := byType["webhook_endpoint.created "+other]
		updated := byType["webhook_endpoint.updated "+other]
		rotatedEv := byType["webhook_endpoint.secret_rotated "+other]
		deleted := byType["webhook_endpoint.deleted "+other]
		if created == nil || updated == nil || rotatedEv == nil || deleted == nil {
			t.Fatalf("missing events of the other endpoint: %v", keys(byType))
		}
		if created["before"] != nil || testenv.Str(created, "after.url") != "https://hooks.example.com/in" {
			t.Errorf("created: before %v after %v", created["before"], created["after"])
		}
		if testenv.Get(updated, "before.enabled") != true || testenv.Get(updated, "after.enabled") != false || testenv.Str(updated, "after.description") != "billing" {
			t.Errorf("updated: before %v after %v", updated["before"], updated["after"])
		}
		if testenv.Get(rotatedEv, "before.previousSecretExpiresAt") != nil || testenv.Str(rotatedEv, "after.previousSecretExpiresAt") == "" {
			t.Errorf("secret_rotated: before %v after %v", rotatedEv["before"], rotatedEv["after"])
		}
		if deleted["after"] != nil || testenv.Str(deleted, "before.id") != other {
			t.Errorf("deleted: before %v after %v", deleted["before"], deleted["after"])
		}
		for _, f := range []string{"secret", "previousSecret"} {
			if _, ok := testenv.Get(rotatedEv, "after").(map[string]any)[f]; ok {
				t.Errorf("after holds %s", f)
			}
		}
		// Seq orders them as they happened.
		if testenv.Num(created, "seq") >= testenv.Num(updated, "seq") || testenv.Num(updated, "seq") >= testenv.Num(deleted, "seq") {
			t.Errorf("seq out of order: %v %v %v", created["seq"], updated["seq"], deleted["seq"])
		}

		// Each delivery is recorded SUCCEEDED after one attempt.
		eventually(t, func() string {
			for _, d := range c.deliveries(key, watcher) {
				if d["status"] != "SUCCEEDED" || testenv.Num(d, "attempts") != 1 || testenv.Num(d, "responseStatus") != 204 || d["deliveredAt"] == nil {
					return "delivery not recorded as one successful attempt: " + jsonString(d)
				}
			}
			return ""
		})
		ds := c.deliveries(key, watcher)
		if len(ds) != 5 {
			t.Fatalf("%d deliveries recorded, want 5", len(ds))
		}
		if ds[0]["eventType"] != "webhook_endpoint.deleted" || ds[4]["eventType"] != "webhook_endpoint.created" {
			t.Errorf("deliveries are not newest first: %v ... %v", ds[0]["eventType"], ds[4]["eventType"])
		}

		// A test event: its own type, sent whatever the filter.
		id := testenv.Str(c.MustDo(key, qSendTest, map[string]any{"id": watcher}), "sendTestWebhook.eventID")
		h := rc.wait(t, 6)[5]
		if h.id() != id || h.decoded(t)["type"] != "webhook.test" {
			t.Fatalf("test delivery %s: %s", h.id(), h.body)
		}
		if err := swVerify(secret, h.header, h.body); err != nil {
			t.Fatal(err)
		}
		if testenv.Str(h.decoded(t), "data.endpointID") != watcher {
			t.Errorf("test data: %s", h.body)
		}
		ep := c.MustDo(key, qEndpoint, map[string]any{"id": watcher})
		if testenv.Str(ep, "node.lastSuccessAt") == "" || testenv.Num(ep, "node.consecutiveFailures") != 0 {
			t.Errorf("endpoint health: %v", ep)
		}
	})
}

func keys(m map[string]map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Bad endpoints are refused with the field named, and write nothing.
func TestWebhookEndpointInputIsChecked(t *testing.T) {
	t.Parallel()
	// Names resolve from a table: the test asks no DNS server.
	names := map[string][]netip.Addr{
		"hooks.example.com":    {netip.MustParseAddr("93.184.215.14")},
		"internal.example.com": {netip.MustParseAddr("93.184.215.14"), netip.MustParseAddr("192.168.1.20")},
	}
	lookup := func(_ context.Context, host string) ([]netip.Addr, error) {
		if ips, ok := names[host]; ok {
			return ips, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	forEachStoreWith(t, []testenv.Option{hooks(func(c *webhooks.Config) { c.AllowPrivate, c.LookupIP = false, lookup })}, func(t *testing.T, c client) {
		key := c.NewOrg("acme")
		for _, tc := range []struct {
			field string
			in    map[string]any
		}{
			{"url", map[string]any{"url": "ftp://hooks.example.com/"}},
			{"url", map[string]any{"url": "hooks.example.com/in"}},
			{"url", map[string]any{"url": "http://127.0.0.1:8080/in"}},
			{"url", map[string]any{"url": "http://[::1]/in"}},
			{"url", map[string]any{"url": "http://localhost:9000/in"}},
			{"url", map[string]any{"url": "http://10.1.2.3/in"}},
			{"url", map[string]any{"url": "http://169.254.169.254/latest/meta-data"}},
			{"url", map[string]any{"url": "http://[::ffff:192.168.0.1]/in"}},
			{"url", map[string]any{"url": "http://0.0.0.0/in"}},
			{"url", map[string]any{"url": "https://internal.example.com/in"}},
			{"url", map[string]any{"url": "https://" + strings.Repeat("a", 2100) + ".example.com/"}},
			{"eventTypes", map[string]any{"url": "https://hooks.example.com/", "eventTypes": []string{"license.exploded"}}},
			{"eventTypes", map[string]any{"url": "https://hooks.example.com/", "eventTypes": []string{"*"}}},
			{"eventTypes", map[string]any{"url": "https://hooks.example.com/", "eventTypes": []string{"nothing.*"}}},
			{"description", map[string]any{"url": "https://hooks.example.com/", "description": strings.Repeat("x", 1001)}},
		} {
			c.MustFailField(key, tc.field, qCreateEndpoint, map[string]any{"in": tc.in})
		}
		if n := testenv.Num(c.MustDo(key, `{ webhookEndpoints { totalCount } }`, nil), "webhookEndpoints.totalCount"); n != 0 {
			t.Fatalf("%v endpoints after refused creations", n)
		}
		d := c.MustDo(key, qCreateEndpoint, map[string]any{"in": map[string]any{"url": "https://hooks.example.com/in",
			"eventTypes": []string{"license.*", "webhook.test", "usage.threshold_crossed", "license.*"}}})
		id := testenv.Str(d, "createWebhookEndpoint.endpoint.id")
		if got := testenv.Get(d, "createWebhookEndpoint.endpoint.eventTypes"); jsonString(got) != `["license.*","webhook.test","usage.threshold_crossed"]` {
			t.Errorf("eventTypes %v", got)
		}
		c.MustFailField(key, "url", `mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: {url: "http://127.0.0.1/"}) { id } }`, map[string]any{"id": id})
		c.MustFailField(key, "until", `mutation($id: ID!) { replayWebhookEvents(endpointID: $id, since: "2026-01-02T00:00:00Z", until: "2026-01-01T00:00:00Z") }`, map[string]any{"id": id})
		c.MustFail(key, "NOT_FOUND", `mutation { sendTestWebhook(endpointID: "whe_01JD0000000000000000000000") { id } }`, nil)
		c.MustFail(key, "NOT_FOUND", `{ webhookDeliveries(endpointID: "whe_01JD0000000000000000000000") { totalCount } }`, nil)

		// Another organization sees none of it.
		other := c.NewOrg("other")
		c.MustFail(other, "NOT_FOUND", qSendTest, map[string]any{"id": id})
		c.MustFail(other, "NOT_FOUND", `mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }`, map[string]any{"id": id})
		c.MustFail(other, "NOT_FOUND", `mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }`, map[string]any{"id": id})
		if n := testenv.Num(c.MustDo(other, `{ webhookEndpoints { totalCount } }`, nil), "webhookEndpoints.totalCount"); n != 0 {
			t.Fatalf("another organization sees %v endpoints", n)
		}
	})
}

// A consumeUsage that crosses 80 % delivers exactly one
// usage.threshold_crossed webhook for that crossing; consumes before and
// after it (still under the limit) deliver none.
func TestWebhookThresholdCrossingIsDeliveredOnce(t *testing.T) {
	t.Parallel()
	forEachStoreWith(t, []testenv.Option{hooks(nil)}, func(t *testing.T, c client) {
		f := newFixture(t, c.Env, "acme") // api-calls: 100, 10 % overage
		rc := newHookReceiver(t, answerWith(http.StatusOK))
		hook, secret := c.endpoint(f.key, rc.URL, "usage.*")
		for i, n := range []float64{50, 35, 5, 4} {
			c.MustDo(f.key, consumeQ, map[string]any{"in": map[string]any{"instance": "eu-1", "entitlement": "api-calls", "amount": n, "idempotencyKey": "k" + strconv.Itoa(i)}})
		}
		// A replay of the crossing consume delivers nothing new either.
		c.MustDo(f.key, consumeQ, map[string]any{"in": map[string]any{"instance": "eu-1", "entitlement": "api-calls", "amount": 35, "idempotencyKey": "k1"}})
		// Deliveries are written with their events: the list is final now.
		ds := c.deliveries(f.key, hook)
		if len(ds) != 1 || ds[0]["eventType"] != "usage.threshold_crossed" {
			t.Fatalf("deliveries after four consumes and a replay: %v, want one usage.threshold_crossed", ds)
		}
		hits := rc.wait(t, 1)
		eventually(t, func() string {
			if d := c.delivery(f.key, hook, ds[0]["eventID"].(string)); d["status"] != "SUCCEEDED" {
				return fmt.Sprintf("delivery %v", d)
			}
			return ""
		})
		if got := rc.got(); len(got) != 1 {
			t.Fatalf("the receiver got %d requests, want 1", len(got))
		}
		if err := swVerify(secret, hits[0].header, hits[0].body); err != nil {
			t.Fatal(err)
		}
		body := hits[0].decoded(t)
		data, _ := body["data"].(map[string]any)
		after, _ := data["after"].(map[string]any)
		if body["type"] != "usage.threshold_crossed" || data["actorType"] != "SYSTEM" || after["threshold"] != "PERCENT_80" || after["usage"] != 85.0 || after["limit"] != 100.0 {
			t.Fatalf("crossing webhook: %s", hits[0].body)
		}
	})
}
