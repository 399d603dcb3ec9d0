// Package sdkstream is the SDK's change stream, GET /v1/sdk/stream: a
// server-sent-events stream of an organization's changes (instances,
// licenses, entitlements, their links, policies), each numbered with the
// organization's revision, resumable with Last-Event-ID
// (docs/sdk-protocol.md is the wire protocol).
//
// One Hub per process fans the change feed out: the feed calls Apply for
// every committed change, this process's and every other replica's, and
// the hub hands it to the streams of its organization, each through a
// bounded buffer (a stream that does not keep up is ended, not buffered
// without end). Nothing polls per connection.
//
// The revision is the organization's event-log sequence (internal/events):
// every change appends an event, with a gapless per-organization seq, in
// the transaction of the change, and the change feed reads that seq in the
// same transaction (changefeed.Config.Revision), so a change's revision is
// its event's seq. It only grows, across replicas and restarts, because
// the log's head is one row in the database; and because the events stay
// in the database, a stream resumed at any revision replays exactly the
// changes after it from the log (until retention pruned them; then the
// stream says resync). The feed's own counter (Change.Stamp) also grows,
// but nothing stored maps a stamp back to the changes after it.
package sdkstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/entitled/entitled/internal/apperr"
	"github.com/entitled/entitled/internal/events"
	"github.com/entitled/entitled/internal/platform/changefeed"
	"github.com/entitled/entitled/internal/tenant"
)

// Defaults of Config.
const (
	// DefaultHeartbeat is how often an idle stream sends a comment.
	DefaultHeartbeat = 15 * time.Second
	// DefaultStreamsPerKey is ENTITLED_SDK_STREAMS_PER_KEY's default.
	DefaultStreamsPerKey = 16
	// DefaultBuffer is how many changes a stream may have queued.
	DefaultBuffer = 256
	// DefaultMaxReplay is how many changes a resumed stream replays at
	// most; further behind, it is told to resync.
	DefaultMaxReplay = 1000
	// writeTimeout bounds one write to a stream's connection.
	writeTimeout = 10 * time.Second
	// retryAfter is what a refused stream is told to wait, in seconds.
	retryAfter = "5"
)

// Config configures a hub.
type Config struct {
	// Heartbeat is the period of the ": ping" comment (0: DefaultHeartbeat).
	Heartbeat time.Duration
	// StreamsPerKey bounds the concurrent streams of one API key
	// (0: DefaultStreamsPerKey).
	StreamsPerKey int
	// Buffer bounds each stream's queue of changes (0: DefaultBuffer).
	Buffer int
	// MaxReplay bounds a resumed stream's replay (0: DefaultMaxReplay).
	MaxReplay int
	Logger    *slog.Logger
	// Authenticator checks a stream's key again when the key changed
	// (revoked: the stream ends). Nil: streams are not checked again.
	Authenticator Authenticator
}

// Authenticator turns a bearer credential, from a client address, into a
// viewer (internal/auth).
type Authenticator interface {
	Authenticate(ctx context.Context, credential, client string) (tenant.Viewer, error)
}

// Hub fans an organization's changes out to its streams.
type Hub struct {
	cfg Config
	log *events.Log
	db  events.Queryer

	mu sync.Mutex
	// applied is, per organization, the highest revision whose change this
	// process applied (its caches dropped what it changed).
	applied map[string]int64
	// recent are, per organization, the last revisions applied: the feed
	// may deliver a change twice (its own, heard back after a cache load
	// lowered the feed's counter), and a repeat is not sent again.
	recent  map[string]*revisions
	streams map[string]map[*stream]struct{}
	perKey  map[string]int
	closed  bool
}

// stream is one connected SDK.
type stream struct {
	org, key string
	changes  chan changefeed.Change
	// recheck asks for the key to be authenticated again.
	recheck chan struct{}
	// gone is closed when the stream must end: dropped for falling
	// behind, its key changed, or the hub closed.
	gone     chan struct{}
	goneOnce sync.Once
	why      string
}

func (s *stream) end(why string) {
	s.goneOnce.Do(func() {
		s.why = why
		close(s.gone)
	})
}

// New returns a hub reading replays from db through the event log.
func New(log *events.Log, db events.Queryer, cfg Config) *Hub {
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.StreamsPerKey <= 0 {
		cfg.StreamsPerKey = DefaultStreamsPerKey
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = DefaultBuffer
	}
	if cfg.MaxReplay <= 0 {
		cfg.MaxReplay = DefaultMaxReplay
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Hub{cfg: cfg, log: log, db: db, applied: map[string]int64{}, recent: map[string]*revisions{},
		streams: map[string]map[*stream]struct{}{}, perKey: map[string]int{}}
}

// Apply hands a committed change to its organization's streams; the
// change feed calls it (serialised) after the caches applied the change.
// It never blocks: a stream whose queue is full is ended.
func (h *Hub) Apply(c changefeed.Change) {
	if c.Org == "" {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if c.Rev > 0 {
		r := h.recent[c.Org]
		if r == nil {
			r = &revisions{}
			h.recent[c.Org] = r
		}
		if !r.add(c.Rev) {
			return // applied already
		}
	}
	if c.Rev > h.applied[c.Org] {
		h.applied[c.Org] = c.Rev
	}
	for s := range h.streams[c.Org] {
		if c.Kind == changefeed.KindAPIKey {
			// A changed key's streams check it again (a revoked key's
			// streams end). Key changes are not sent.
			for _, id := range c.IDs {
				if id == s.key {
					select {
					case s.recheck <- struct{}{}:
					default:
					}
				}
			}
			continue
		}
		select {
		case s.changes <- c:
		default:
			h.drop(s, "it fell behind")
		}
	}
}

// revisions remembers the last revisions applied of an organization.
type revisions struct {
	ring [64]int64
	next int
}

// add records rev; false when it is among the last ones recorded.
func (r *revisions) add(rev int64) bool {
	for _, x := range r.ring {
		if x == rev {
			return false
		}
	}
	r.ring[r.next] = rev
	r.next = (r.next + 1) % len(r.ring)
	return true
}

// Revision is the highest revision of the organization whose change this
// process applied: facts read after it reflect every change up to it
// (changes applied out of order make the streams resync). It is 0 for an
// organization that changed nothing since this process started: a lower
// bound is always safe, only costing an SDK a conditional refetch.
func (h *Hub) Revision(orgID string) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.applied[orgID]
}

// Close ends every stream and refuses new ones (shutdown: streams must
// not hold the server's graceful stop; the SDKs reconnect elsewhere).
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for _, ss := range h.streams {
		for s := range ss {
			s.end("the server is shutting down")
		}
	}
}

// drop ends s and unregisters it; h.mu is held.
func (h *Hub) drop(s *stream, why string) {
	s.end(why)
	h.remove(s)
}

// remove unregisters s (once); h.mu is held.
func (h *Hub) remove(s *stream) {
	ss := h.streams[s.org]
	if _, ok := ss[s]; !ok {
		return
	}
	delete(ss, s)
	if len(ss) == 0 {
		delete(h.streams, s.org)
	}
	if h.perKey[s.key]--; h.perKey[s.key] <= 0 {
		delete(h.perKey, s.key)
	}
}

// subscribe registers a stream of the viewer's organization, within its
// key's limit.
func (h *Hub) subscribe(v tenant.Viewer) (*stream, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, &apperr.Error{Code: apperr.Unavailable, Message: "the server is shutting down; connect again"}
	}
	if h.perKey[v.KeyID] >= h.cfg.StreamsPerKey {
		return nil, &apperr.Error{Code: apperr.RateLimited, Message: fmt.Sprintf("at most %d streams per API key are open at once", h.cfg.StreamsPerKey)}
	}
	s := &stream{org: v.OrgID, key: v.KeyID, changes: make(chan changefeed.Change, h.cfg.Buffer),
		recheck: make(chan struct{}, 1), gone: make(chan struct{})}
	if h.streams[s.org] == nil {
		h.streams[s.org] = map[*stream]struct{}{}
	}
	h.streams[s.org][s] = struct{}{}
	h.perKey[s.key]++
	return s, nil
}

func (h *Hub) unsubscribe(s *stream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.remove(s)
}

// kinds maps the event log's resource types to the stream's kinds: the
// changes a replay sends.
var kinds = map[string]changefeed.Kind{
	"INSTANCE":            changefeed.KindInstance,
	"LICENSE":             changefeed.KindLicense,
	"ENTITLEMENT":         changefeed.KindEntitlement,
	"LICENSE_ENTITLEMENT": changefeed.KindLink,
	"POLICY":              changefeed.KindPolicy,
}

var replayTypes = func() []string {
	out := make([]string, 0, len(kinds))
	for t := range kinds {
		out = append(out, t)
	}
	return out
}()

// replayed is a logged change as the stream sends it.
func replayed(e events.Entry) changefeed.Change {
	c := changefeed.Change{Kind: kinds[e.ResourceType], IDs: []string{e.ResourceID}, Rev: e.Seq}
	if c.Kind == changefeed.KindInstance && e.ResourceSlug != "" {
		c.Slugs = []string{e.ResourceSlug}
	}
	return c
}

// lastEventID reads the revision a stream resumes after: the
// Last-Event-ID header, else the lastEventId query parameter.
func lastEventID(r *http.Request) (int64, bool, error) {
	v := strings.TrimSpace(r.Header.Get("Last-Event-ID"))
	if v == "" {
		v = r.URL.Query().Get("lastEventId")
	}
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, false, apperr.Invalid("Last-Event-ID", "a revision (a whole number of at least 0), got %q", v)
	}
	return n, true, nil
}

// writeError answers a refused stream as the other plain endpoints do.
func writeError(w http.ResponseWriter, status int, code apperr.Code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"code": string(code), "message": msg})
	_, _ = w.Write(b)
}

// ServeHTTP serves one stream to an authenticated CHECK or ADMIN key
// (httpapi.CheckKey in front of it): hello, the replay a Last-Event-ID
// asks for (or resync), then every change until the client leaves, falls
// behind, or the hub closes.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v := tenant.FromContext(r.Context())
	after, resume, err := lastEventID(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, apperr.BadUserInput, err.Error())
		return
	}
	s, err := h.subscribe(v)
	if err != nil {
		ae, _ := apperr.As(err)
		w.Header().Set("Retry-After", retryAfter)
		if ae != nil && ae.Code == apperr.RateLimited {
			writeError(w, http.StatusTooManyRequests, apperr.RateLimited, ae.Message)
		} else {
			writeError(w, http.StatusServiceUnavailable, apperr.Unavailable, err.Error())
		}
		return
	}
	defer h.unsubscribe(s)
	// Registered first, read second: a change committed meanwhile is both
	// queued and in what is read, and the queued copy then resyncs.
	tail, err := h.tail(r.Context(), v.OrgID, after, resume)
	if err != nil {
		h.cfg.Logger.WarnContext(r.Context(), "sdk stream: read the event log", "err", err)
		w.Header().Set("Retry-After", retryAfter)
		writeError(w, http.StatusServiceUnavailable, apperr.Unavailable, "the database does not answer; try again shortly")
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	out := &writer{w: w, rc: rc, last: tail.Head}
	out.raw("retry: 1000\n\n")
	out.event("hello", tail.Head, map[string]any{"revision": tail.Head, "organization": v.OrgSlug})
	switch {
	case !resume:
	case !tail.Complete:
		out.event("resync", tail.Head, map[string]any{"revision": tail.Head})
	default:
		for _, e := range tail.Entries {
			out.change(replayed(e))
		}
	}
	out.flush()
	beat := time.NewTicker(h.cfg.Heartbeat)
	defer beat.Stop()
	for out.err == nil {
		select {
		case <-r.Context().Done():
			return
		case <-s.gone:
			h.cfg.Logger.DebugContext(r.Context(), "sdk stream ended", "why", s.why)
			return
		case c := <-s.changes:
			out.live(c)
			for more := true; more && out.err == nil; {
				select {
				case c := <-s.changes:
					out.live(c)
				default:
					more = false
				}
			}
			out.flush()
		case <-beat.C:
			out.raw(": ping\n\n")
			out.flush()
		case <-s.recheck:
			if !h.stillValid(r) {
				h.cfg.Logger.DebugContext(r.Context(), "sdk stream ended: its API key is no longer valid")
				return
			}
		}
	}
	if !errors.Is(out.err, context.Canceled) {
		h.cfg.Logger.DebugContext(r.Context(), "sdk stream: write", "err", out.err)
	}
}

// stillValid authenticates the stream's request again: false once its
// key is refused (revoked, expired). A database that does not answer
// keeps the stream.
func (h *Hub) stillValid(r *http.Request) bool {
	if h.cfg.Authenticator == nil {
		return true
	}
	cred := ""
	if _, rest, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok {
		cred = strings.TrimSpace(rest)
	}
	client, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		client = r.RemoteAddr
	}
	_, err = h.cfg.Authenticator.Authenticate(r.Context(), cred, client)
	ae, ok := apperr.As(err)
	return !ok || ae.Code != apperr.Unauthenticated
}

// tail is what a new stream starts from: the current revision, and after
// a Last-Event-ID the logged changes since.
func (h *Hub) tail(ctx context.Context, org string, after int64, resume bool) (events.Tail, error) {
	if !resume {
		head, err := h.log.Head(ctx, h.db, org)
		return events.Tail{Head: head, Complete: true}, err
	}
	return h.log.After(ctx, h.db, org, after, replayTypes, h.cfg.MaxReplay)
}

// writer writes one stream's events; the first error sticks.
type writer struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	last int64 // the highest revision sent
	err  error
}

func (o *writer) raw(s string) {
	if o.err != nil {
		return
	}
	// A stream outlives the server's WriteTimeout: each write has its own
	// deadline instead, so a connection that takes no bytes for
	// writeTimeout ends the stream. (While a handler runs, Go's server
	// keeps no read deadline.)
	_ = o.rc.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, o.err = o.w.Write([]byte(s))
}

func (o *writer) flush() {
	if o.err == nil {
		o.err = o.rc.Flush()
	}
}

func (o *writer) event(name string, id int64, data any) {
	b, _ := json.Marshal(data)
	o.raw("event: " + name + "\nid: " + strconv.FormatInt(id, 10) + "\ndata: " + string(b) + "\n\n")
}

// change sends a change with its revision.
func (o *writer) change(c changefeed.Change) {
	ids, slugs := c.IDs, c.Slugs
	if ids == nil {
		ids = []string{}
	}
	if slugs == nil {
		slugs = []string{}
	}
	o.event("change", c.Rev, map[string]any{"revision": c.Rev, "kind": string(c.Kind), "ids": ids, "slugs": slugs})
	o.last = max(o.last, c.Rev)
}

// live sends a change the feed delivered. One that does not advance the
// stream's revision (it came without one: a gap, a backstop resync, a
// failed commit; or after the stream's start or a later change, applied
// late) cannot be numbered in order: the client is told to resync.
func (o *writer) live(c changefeed.Change) {
	if c.Rev > o.last {
		o.change(c)
		return
	}
	o.event("resync", o.last, map[string]any{"revision": o.last})
}
