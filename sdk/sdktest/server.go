// Package sdktest is a fake entitled server for tests of software that
// uses package sdk: it speaks the SDK's protocol (docs/sdk.md) from facts
// the test sets — signed snapshots with ETags and 304s, the event stream
// with revisions, Last-Event-ID and resync, the organization's JWKS, and
// the GraphQL reportUsageBatch and consumeUsage mutations with
// idempotency keys — and can be taken down and brought back to simulate
// an outage. It decides nothing itself beyond consumeUsage's hard cap.
package sdktest

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/entitled/entitled/policy"
	"github.com/entitled/entitled/sdk/licensefile"
)

// APIKey is the key the fake accepts.
const APIKey = "etk_sdktest"

// Instance is one instance's facts: what its snapshot signs.
type Instance struct {
	Instance     *policy.Instance
	License      *policy.License // nil: no license
	Entitlements []licensefile.Granted
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	*httptest.Server
	Org *policy.Org
	TTL time.Duration // snapshot lifetime (default 24 h)
	Now func() time.Time

	mu        sync.Mutex
	kid       string
	priv      ed25519.PrivateKey
	jwks      licensefile.JWKS
	instances map[string]*Instance
	policies  *licensefile.Policies
	usage     map[[2]string]*policy.Usage
	keys      map[string]string    // idempotency key -> body
	times     map[string]time.Time // idempotency key -> the report's timestamp
	revision  int64
	history   []event
	streams   map[int]chan string
	nextID    int
	down      bool
	closing   bool
	failNext  int // GraphQL requests to answer 503

	// Counters.
	SnapshotGets atomic.Int64 // snapshot requests answered 200
	NotModified  atomic.Int64 // snapshot requests answered 304
	Reports      atomic.Int64 // reports counted (replays excluded)
	Replays      atomic.Int64 // reports answered as replays
	StreamConns  atomic.Int64 // stream connections accepted
	JWKSGets     atomic.Int64
}

type event struct {
	rev  int64
	text string
}

// NewServer starts a fake for organization org (slug) with one signing key.
func NewServer(org string) *Server {
	s := &Server{Org: &policy.Org{ID: "org-" + org, Slug: org}, TTL: 24 * time.Hour, Now: time.Now,
		instances: map[string]*Instance{}, usage: map[[2]string]*policy.Usage{}, keys: map[string]string{}, times: map[string]time.Time{},
		streams: map[int]chan string{}, revision: 1}
	s.RotateKey()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/sdk/snapshot", s.snapshot)
	mux.HandleFunc("GET /v1/sdk/stream", s.stream)
	mux.HandleFunc("GET /v1/orgs/{slug}/jwks.json", s.jwksHandler)
	mux.HandleFunc("POST /graphql", s.graphql)
	s.Server = httptest.NewServer(mux)
	return s
}

// Close ends the streams and shuts the server down.
func (s *Server) Close() {
	s.mu.Lock()
	s.closing = true
	for id, ch := range s.streams {
		close(ch)
		delete(s.streams, id)
	}
	s.mu.Unlock()
	s.Server.Close()
}

// RotateKey makes a new signing key current (the old ones still verify).
func (s *Server) RotateKey() licensefile.JWK {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kid = fmt.Sprintf("k%d", len(s.jwks.Keys)+1)
	s.priv = priv
	k := licensefile.PublicJWK(s.kid, pub)
	s.jwks.Keys = append(s.jwks.Keys, k)
	return k
}

// JWKS is the organization's JWKS document.
func (s *Server) JWKS() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, _ := json.Marshal(s.jwks)
	return b
}

// Set creates or replaces an instance's facts and sends the change.
func (s *Server) Set(in Instance) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := in
	s.instances[in.Instance.Slug] = &cp
	s.changeLocked("instance", in.Instance.Slug)
}

// Delete removes an instance and sends the change.
func (s *Server) Delete(slug string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.instances, slug)
	s.changeLocked("instance", slug)
}

// SetPolicies replaces the organization's custom modules (nil: none) and
// sends a policy change.
func (s *Server) SetPolicies(p *licensefile.Policies) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.policies = p
	s.changeLocked("policy", "")
}

// Usage is the counted usage of an instance's entitlement.
func (s *Server) Usage(instance, entitlement string) policy.Usage {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.usage[[2]string{instance, entitlement}]; u != nil {
		return *u
	}
	return policy.Usage{}
}

// ReportedAt is the timestamp of the report counted under an
// idempotency key (false: none counted).
func (s *Server) ReportedAt(key string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.times[key]
	return t, ok
}

// SetDown takes the server down (every request 503, streams cut) or
// brings it back.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
	if down {
		for id, ch := range s.streams {
			close(ch)
			delete(s.streams, id)
		}
	}
}

// FailGraphQL makes the next n GraphQL requests fail with 503.
func (s *Server) FailGraphQL(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = n
}

// Snapshot signs the current snapshot of an instance, as the server would
// serve it (also usable as a license file).
func (s *Server) Snapshot(slug string, ttl time.Duration) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	armor, _, err := s.signLocked(slug, ttl)
	return armor, err
}

func (s *Server) isDown(w http.ResponseWriter) bool {
	s.mu.Lock()
	down := s.down || s.closing
	s.mu.Unlock()
	if down {
		http.Error(w, `{"code":"UNAVAILABLE","message":"down"}`, http.StatusServiceUnavailable)
	}
	return down
}

func authorized(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("Authorization") != "Bearer "+APIKey {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"code":"UNAUTHENTICATED","message":"bad key"}`))
		return false
	}
	return true
}

// changeLocked records and broadcasts a change event; under mu.
func (s *Server) changeLocked(kind, slug string) {
	s.revision++
	data := map[string]any{"revision": s.revision, "kind": kind, "ids": []string{}, "slugs": []string{}}
	if slug != "" {
		data["slugs"] = []string{slug}
	}
	b, _ := json.Marshal(data)
	text := fmt.Sprintf("event: change\nid: %d\ndata: %s\n\n", s.revision, b)
	s.history = append(s.history, event{s.revision, text})
	for _, ch := range s.streams {
		select {
		case ch <- text:
		default: // slow reader: dropped
		}
	}
}

func (s *Server) signLocked(slug string, ttl time.Duration) (armor, etag string, err error) {
	in := s.instances[slug]
	if in == nil {
		return "", "", fmt.Errorf("no instance %q", slug)
	}
	now := s.Now().UTC().Truncate(time.Second)
	f := licensefile.Facts{Org: s.Org, Instance: in.Instance, License: in.License, Policies: s.policies,
		IssuedAt: now, ExpiresAt: now.Add(ttl)}
	for _, g := range in.Entitlements {
		if g.Grant != nil && g.Entitlement.Type == policy.EntitlementNumber {
			u := s.usage[[2]string{slug, g.Entitlement.Slug}]
			if u == nil {
				u = &policy.Usage{}
			}
			cp := *u
			g.Usage = &cp
		}
		f.Entitlements = append(f.Entitlements, g)
	}
	ds, err := licensefile.NewDataset(f)
	if err != nil {
		return "", "", err
	}
	bare := *ds
	bare.Iat, bare.Exp = time.Time{}, time.Time{}
	b, _ := bare.Encode()
	sum := sha256.Sum256(b)
	armor, err = licensefile.Sign(ds, s.kid, s.priv)
	return armor, `"` + hex.EncodeToString(sum[:]) + `"`, err
}

func (s *Server) snapshot(w http.ResponseWriter, r *http.Request) {
	if s.isDown(w) || !authorized(w, r) {
		return
	}
	slug := r.URL.Query().Get("instance")
	s.mu.Lock()
	rev := s.revision
	if s.instances[slug] == nil {
		s.mu.Unlock()
		w.Header().Set("X-Entitled-Revision", strconv.FormatInt(rev, 10))
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"code":"NOT_FOUND","message":"instance not found"}`))
		return
	}
	armor, etag, err := s.signLocked(slug, s.TTL)
	s.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "private, no-cache")
	w.Header().Set("X-Entitled-Revision", strconv.FormatInt(rev, 10))
	if r.Header.Get("If-None-Match") == etag {
		s.NotModified.Add(1)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	s.SnapshotGets.Add(1)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(armor))
}

func (s *Server) jwksHandler(w http.ResponseWriter, r *http.Request) {
	if s.isDown(w) {
		return
	}
	if r.PathValue("slug") != s.Org.Slug {
		http.Error(w, `{"code":"NOT_FOUND"}`, http.StatusNotFound)
		return
	}
	s.JWKSGets.Add(1)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(s.JWKS())
}

func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	if s.isDown(w) || !authorized(w, r) {
		return
	}
	fl, _ := w.(http.Flusher)
	last, _ := strconv.ParseInt(r.Header.Get("Last-Event-ID"), 10, 64)
	ch := make(chan string, 256)
	s.mu.Lock()
	id := s.nextID
	s.nextID++
	s.streams[id] = ch
	hello := fmt.Sprintf("retry: 1000\n\nevent: hello\nid: %d\ndata: {\"revision\":%d,\"organization\":%q}\n\n", s.revision, s.revision, s.Org.Slug)
	var replay []string
	if last > 0 {
		for _, e := range s.history {
			if e.rev > last {
				replay = append(replay, e.text)
			}
		}
	}
	s.mu.Unlock()
	s.StreamConns.Add(1)
	defer func() {
		s.mu.Lock()
		delete(s.streams, id)
		s.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(hello))
	for _, t := range replay {
		_, _ = w.Write([]byte(t))
	}
	if fl != nil {
		fl.Flush()
	}
	ping := time.NewTicker(time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case t, ok := <-ch:
			if !ok {
				return
			}
			_, _ = w.Write([]byte(t))
		case <-ping.C:
			_, _ = w.Write([]byte(": ping\n\n"))
		}
		if fl != nil {
			fl.Flush()
		}
	}
}

// gqlReq is a GraphQL request.
type gqlReq struct {
	Query     string         `json:"query"`
	Variables map[string]any `json:"variables"`
}

type reportInput struct {
	Instance       string     `json:"instance"`
	Entitlement    string     `json:"entitlement"`
	Value          float64    `json:"value"`
	Timestamp      *time.Time `json:"timestamp"`
	IdempotencyKey string     `json:"idempotencyKey"`
}

func gqlError(w http.ResponseWriter, code, field, msg string) {
	w.Header().Set("Content-Type", "application/json")
	ext := map[string]any{"code": code}
	if field != "" {
		ext["field"] = field
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"data": nil, "errors": []any{map[string]any{"message": msg, "extensions": ext}}})
}

func (s *Server) graphql(w http.ResponseWriter, r *http.Request) {
	if s.isDown(w) || !authorized(w, r) {
		return
	}
	s.mu.Lock()
	if s.failNext > 0 {
		s.failNext--
		s.mu.Unlock()
		http.Error(w, `{"errors":[{"message":"overloaded","extensions":{"code":"UNAVAILABLE"}}]}`, http.StatusServiceUnavailable)
		return
	}
	s.mu.Unlock()
	var req gqlReq
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		gqlError(w, "BAD_USER_INPUT", "", "bad JSON")
		return
	}
	switch {
	case strings.Contains(req.Query, "reportUsageBatch"):
		s.reportBatch(w, req)
	case strings.Contains(req.Query, "consumeUsage"):
		s.consume(w, req)
	default:
		gqlError(w, "BAD_USER_INPUT", "", "the fake knows reportUsageBatch and consumeUsage only")
	}
}

// numberGrant is the granted NUMBER entitlement of an instance, or an
// error naming the field.
func (s *Server) numberGrant(instance, entitlement string) (*licensefile.Granted, string) {
	in := s.instances[instance]
	if in == nil {
		return nil, "instance"
	}
	for i := range in.Entitlements {
		g := &in.Entitlements[i]
		if g.Entitlement.Slug == entitlement && g.Grant != nil && g.Entitlement.Type == policy.EntitlementNumber {
			return g, ""
		}
	}
	return nil, "entitlement"
}

func (s *Server) count(instance, entitlement string, value float64) {
	k := [2]string{instance, entitlement}
	u := s.usage[k]
	if u == nil {
		u = &policy.Usage{}
		s.usage[k] = u
	}
	u.Current += value
	u.Count++
}

func (s *Server) reportBatch(w http.ResponseWriter, req gqlReq) {
	raw, _ := json.Marshal(req.Variables["inputs"])
	var inputs []reportInput
	if err := json.Unmarshal(raw, &inputs); err != nil {
		gqlError(w, "BAD_USER_INPUT", "inputs", err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, in := range inputs {
		if _, field := s.numberGrant(in.Instance, in.Entitlement); field != "" {
			gqlError(w, "BAD_USER_INPUT", fmt.Sprintf("inputs[%d].%s", i, field), "not a granted NUMBER entitlement")
			return
		}
		body, _ := json.Marshal([]any{in.Instance, in.Entitlement, in.Value, in.Timestamp})
		if prev, ok := s.keys[in.IdempotencyKey]; ok && in.IdempotencyKey != "" && prev != string(body) {
			gqlError(w, "CONFLICT", fmt.Sprintf("inputs[%d].idempotencyKey", i), "key reused with another body")
			return
		}
	}
	results := make([]any, len(inputs))
	changed := map[string]bool{}
	for i, in := range inputs {
		body, _ := json.Marshal([]any{in.Instance, in.Entitlement, in.Value, in.Timestamp})
		replayed := false
		if _, ok := s.keys[in.IdempotencyKey]; ok && in.IdempotencyKey != "" {
			replayed = true
			s.Replays.Add(1)
		} else {
			if in.IdempotencyKey != "" {
				s.keys[in.IdempotencyKey] = string(body)
				if in.Timestamp != nil {
					s.times[in.IdempotencyKey] = *in.Timestamp
				}
			}
			s.count(in.Instance, in.Entitlement, in.Value)
			s.Reports.Add(1)
			changed[in.Instance] = true
		}
		results[i] = map[string]any{"replayed": replayed}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"reportUsageBatch": map[string]any{"results": results}}})
}

func (s *Server) consume(w http.ResponseWriter, req gqlReq) {
	raw, _ := json.Marshal(req.Variables["input"])
	var in struct {
		Instance       string   `json:"instance"`
		Entitlement    string   `json:"entitlement"`
		Amount         *float64 `json:"amount"`
		IdempotencyKey string   `json:"idempotencyKey"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		gqlError(w, "BAD_USER_INPUT", "input", err.Error())
		return
	}
	amount := 1.0
	if in.Amount != nil {
		amount = *in.Amount
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g, field := s.numberGrant(in.Instance, in.Entitlement)
	if field != "" {
		gqlError(w, "BAD_USER_INPUT", field, "not a granted NUMBER entitlement")
		return
	}
	k := [2]string{in.Instance, in.Entitlement}
	cur := 0.0
	if u := s.usage[k]; u != nil {
		cur = u.Current
	}
	_, seen := s.keys[in.IdempotencyKey]
	allowed := g.Grant.Unlimited || cur+amount <= g.Grant.HardCap
	if seen {
		allowed = true
	} else if allowed {
		if in.IdempotencyKey != "" {
			s.keys[in.IdempotencyKey] = "consume"
		}
		s.count(in.Instance, in.Entitlement, amount)
		cur += amount
		s.Reports.Add(1)
	}
	reason := "ALLOWED"
	if !allowed {
		reason = "LIMIT_EXCEEDED"
	}
	d := map[string]any{"allowed": allowed, "reason": reason, "reasons": []string{}, "instance": in.Instance,
		"entitlement": in.Entitlement, "value": g.Grant.Raw, "usage": cur, "limit": g.Grant.Number,
		"policyVersion": 0, "evaluatedAt": s.Now().UTC(), "stale": false}
	if !g.Grant.Unlimited {
		d["hardCap"] = g.Grant.HardCap
		d["remaining"] = g.Grant.Remaining(cur)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"consumeUsage": d}})
}

// Change sends a change event of kind with optional slugs without
// changing facts (to test a client's reaction).
func (s *Server) Change(kind, slug string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.changeLocked(kind, slug)
}

// Grant is a grant for an Instance's entitlements: value as the GraphQL
// API takes it ({"type": "number", "value": 100}); overage 0 for none. A
// value that is not a grant fails the test.
func Grant(t testing.TB, value map[string]any, overage float64) *policy.Grant {
	t.Helper()
	var o *float64
	if overage != 0 {
		o = &overage
	}
	g, err := policy.NewGrant(value, o)
	if err != nil {
		t.Fatalf("sdktest.Grant(%v): %v", value, err)
	}
	return g
}
