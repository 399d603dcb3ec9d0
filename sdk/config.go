package sdk

import (
	"errors"
	"log/slog"
	"net/http"
	"time"
)

// Config configures a Client. Only URL and APIKey are needed online;
// offline, LicenseFile and JWKS.
type Config struct {
	// URL is the entitled server's base URL, e.g. http://entitled:8080.
	// Empty: offline only (decisions from LicenseFile; Report and Consume
	// fail with ErrNoServer).
	URL string
	// APIKey is an API key with CHECK (or ADMIN) scope.
	APIKey string
	// CacheDir, when set, keeps the last good snapshot of each instance,
	// the keys fetched from the server and the reports not yet sent, so
	// that a process restarted during an outage still decides and loses
	// no report. Created (0700) when missing. One process per directory.
	CacheDir string
	// LicenseFile is the path of a license file (docs/offline.md), the
	// fallback once a snapshot has expired and the server cannot be
	// reached.
	LicenseFile string
	// JWKS are the trusted public keys (a JWKS document, as the server
	// serves at /v1/orgs/{slug}/jwks.json). Nil with URL set: the keys
	// are fetched from URL (see docs/sdk.md, "Trust").
	JWKS []byte
	// UsageRefresh is how often held snapshots are refetched (a
	// conditional GET: 304 when nothing changed) to learn other clients'
	// usage; default 5 s, negative: never (the stream still triggers
	// refetches).
	UsageRefresh time.Duration
	// HTTPClient sends every request (default: a client of its own, whose
	// idle connections Close closes). Its Timeout, if any, is not applied
	// to the event stream.
	HTTPClient *http.Client
	// Logger receives what goes wrong in the background (default: none).
	Logger *slog.Logger

	// RequestTimeout bounds each request the client makes on its own
	// (snapshot, keys, report batches); default 10 s.
	RequestTimeout time.Duration
	// ReportInterval is how often buffered reports are sent; default 1 s.
	ReportInterval time.Duration
	// ReportBatch is the most reports sent in one reportUsageBatch;
	// default 500, at most 5000.
	ReportBatch int
	// RetryMin and RetryMax bound the exponential backoff (with jitter)
	// of retried report batches and stream reconnects; default 250 ms
	// and 30 s.
	RetryMin, RetryMax time.Duration
	// StreamIdleTimeout: a stream that sent nothing (not even its 15 s
	// heartbeat) for this long is reconnected; default 45 s.
	StreamIdleTimeout time.Duration
	// CloseTimeout bounds the attempt Close makes to send buffered
	// reports; default 5 s, negative: none (they stay in CacheDir).
	CloseTimeout time.Duration
	// Now is the clock (default time.Now), for tests.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.UsageRefresh == 0 {
		c.UsageRefresh = 5 * time.Second
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 10 * time.Second
	}
	if c.ReportInterval <= 0 {
		c.ReportInterval = time.Second
	}
	if c.ReportBatch <= 0 {
		c.ReportBatch = 500
	}
	c.ReportBatch = min(c.ReportBatch, maxBatch)
	if c.RetryMin <= 0 {
		c.RetryMin = 250 * time.Millisecond
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 30 * time.Second
	}
	c.RetryMax = max(c.RetryMax, c.RetryMin)
	if c.StreamIdleTimeout <= 0 {
		c.StreamIdleTimeout = 45 * time.Second
	}
	if c.CloseTimeout == 0 {
		c.CloseTimeout = 5 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// maxBatch is reportUsageBatch's limit (graph/usage.graphqls).
const maxBatch = 5000

// Source says where a decision was made.
type Source string

// Sources of decisions.
const (
	// SourceLocal: in this process, from the instance's snapshot.
	SourceLocal Source = "LOCAL"
	// SourceOffline: in this process, from Config.LicenseFile.
	SourceOffline Source = "OFFLINE"
	// SourceServer: by the server (Consume's answer).
	SourceServer Source = "SERVER"
)

// Decision is the answer to Allowed, with the fields of the server's
// Decision (graph/decisions.graphqls) plus where it was made.
type Decision struct {
	Allowed bool
	Reason  string   // ALLOWED, LIMIT_EXCEEDED, DENIED_BY_POLICY, ... (policy.Reason*)
	Reasons []string // human-readable, custom rule messages included; never nil
	// Instance and Entitlement are the slugs asked.
	Instance    string
	Entitlement string
	// Value is the grant's structured value {"type": ..., "value": ...};
	// nil when not entitled. Read-only (shared between decisions).
	Value map[string]any
	// Usage, Limit, HardCap and Remaining are set for NUMBER grants only
	// (HardCap and Remaining nil when unlimited). Usage is the
	// snapshot's plus what this client reported or consumed since.
	Usage, Limit, HardCap, Remaining *float64
	LicenseVersion                   *int // nil without a license
	PolicyVersion                    int  // 0: the default policy only
	EvaluatedAt                      time.Time
	// Source is LOCAL (snapshot) or OFFLINE (license file); SERVER for
	// Consume.
	Source Source
	// Stale is true when the facts may be out of date: the server could
	// not be reached since they were fetched (or they came from CacheDir
	// and are not yet confirmed).
	Stale bool
}

// AllowedOption is an option of Allowed and Decisions.
type AllowedOption struct {
	requested *float64
	context   map[string]any
}

// Requested is the amount asked for (NUMBER entitlements; default 1).
func Requested(n float64) AllowedOption { return AllowedOption{requested: &n} }

// Context is the request context custom policies read as
// input.request.context.
func Context(m map[string]any) AllowedOption { return AllowedOption{context: m} }

// UsageOption is an option of Consume and Report.
type UsageOption struct {
	key string
	at  time.Time
}

// IdempotencyKey names a report or consumption: the server counts a key
// once however often it is sent (1 to 255 characters). Without one, the
// client generates one, so its own retries count once.
func IdempotencyKey(k string) UsageOption { return UsageOption{key: k} }

// At is when the reported usage happened (Report; default now).
func At(t time.Time) UsageOption { return UsageOption{at: t} }

// Errors of the client. Match with errors.Is.
var (
	// ErrClosed: the client was closed.
	ErrClosed = errors.New("entitled sdk: client closed")
	// ErrNoServer: Report or Consume on a client without URL.
	ErrNoServer = errors.New("entitled sdk: no server configured")
	// ErrUnavailable: the server could not be reached (or failed) and
	// nothing is known to decide from.
	ErrUnavailable = errors.New("entitled sdk: server unavailable")
	// ErrUnknownInstance: the instance does not exist (Decisions), or
	// an offline client's license file is for another instance.
	ErrUnknownInstance = errors.New("entitled sdk: unknown instance")
	// ErrInvalid: a malformed argument; nothing was done.
	ErrInvalid = errors.New("entitled sdk: invalid argument")
	// ErrRejected: the server refused the request (a GraphQL error that
	// retrying cannot fix); see the message.
	ErrRejected = errors.New("entitled sdk: rejected by the server")
)

// EventType is the kind of an Event.
type EventType string

// Event types.
const (
	// EventChanged: an instance's facts changed (a new snapshot).
	EventChanged EventType = "CHANGED"
	// EventStale: the server cannot be reached; decisions are Stale.
	EventStale EventType = "STALE"
	// EventFresh: the server can be reached again.
	EventFresh EventType = "FRESH"
)

// Event is what OnChange callbacks receive.
type Event struct {
	Type EventType
	// Instance is the instance whose facts changed (EventChanged).
	Instance string
	// Entitlements are the entitlement slugs whose facts changed (all of
	// them when the policies changed).
	Entitlements []string
}
