// Package webhooks is where an organization's events leave the process:
// the endpoints it registers (URL, event filter, signing secret), the
// outbox rows written beside each event in the event's own transaction,
// and the dispatcher that POSTs them, signed per Standard Webhooks, until
// the receiver answers 2xx or the retry schedule runs out.
//
// At least once: a delivery row exists exactly when its event committed,
// and it stays due until an attempt is recorded, so a crash or a restart
// loses none. Never twice at once: an attempt is made only by the process
// that claimed the row with a lease (UPDATE ... SKIP LOCKED on
// PostgreSQL), and the lease outlives the request timeout. Never in the
// way: sends run on the dispatcher's own goroutines, at most a few at a
// time per endpoint and per organization, so a slow or dead receiver
// holds only its own slots, never the API or other receivers.
//
// No server-side request forgery: a URL is http(s), and an address that
// is loopback, private, link-local, unspecified or multicast is refused
// when the endpoint is saved and again when connecting (on the address
// actually dialled, so DNS rebinding is caught), unless the deployment
// allows private receivers. Redirects are not followed.
package webhooks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"entgo.io/ent/dialect"

	"github.com/entitled/entitled/ent/schema/pulid"
	"github.com/entitled/entitled/internal/events"
	"github.com/entitled/entitled/internal/platform/metrics"
	"github.com/entitled/entitled/internal/platform/store"
)

// Channel is the PostgreSQL notification channel that wakes every
// process's dispatcher when deliveries were queued.
const Channel = "entitled_webhooks"

// Defaults of Config.
const (
	// DefaultTimeout bounds one attempt (connect, send, answer).
	DefaultTimeout = 15 * time.Second
	// Poll periods while work may be pending: SQLite wakes in process,
	// so its backstop is for transactions without a commit hook;
	// PostgreSQL hears other processes through NOTIFY.
	DefaultPollSQLite   = 250 * time.Millisecond
	DefaultPollPostgres = time.Second
	// DefaultIdlePoll is the backstop while nothing is known to be
	// pending (a lost notification, a replica that died with retries
	// it had scheduled).
	DefaultIdlePoll = 10 * time.Second
	// Caps on sends in flight in one process.
	DefaultMaxInFlight = 64
	DefaultPerOrg      = 16
	DefaultPerEndpoint = 4
	// SecretOverlap is how long a rotated-out secret keeps signing.
	SecretOverlap = 24 * time.Hour
	// MaxReplay bounds the events one replayWebhookEvents call queues.
	MaxReplay = 10000
	// maxExcerpt bounds the stored start of a receiver's answer.
	maxExcerpt = 2 << 10
	// activeWindow is how long after a sign of work the dispatcher polls
	// at Poll rather than IdlePoll.
	activeWindow = 5 * time.Second
)

// DefaultRetrySchedule is ENTITLED_WEBHOOK_RETRY_SCHEDULE's default: the
// waits after the first, second, ... failed attempt; past the last, the
// delivery GAVE_UP.
var DefaultRetrySchedule = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute,
	2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// ParseSchedule reads a retry schedule: comma-separated positive
// durations ("5s,5m,30m").
func ParseSchedule(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, part := range strings.Split(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%q is not a positive duration such as 5s or 10m", strings.TrimSpace(part))
		}
		out = append(out, d)
	}
	return out, nil
}

// Config is how the service delivers.
type Config struct {
	// RetrySchedule is the wait after each failed attempt (nil:
	// DefaultRetrySchedule).
	RetrySchedule []time.Duration
	// Timeout bounds one attempt (0: DefaultTimeout).
	Timeout time.Duration
	// Poll is the backstop period while deliveries may be pending (0:
	// DefaultPollSQLite or DefaultPollPostgres), IdlePoll the one while
	// none is known to be (0: DefaultIdlePoll).
	Poll, IdlePoll time.Duration
	// AllowPrivate lets endpoints reach loopback, private and link-local
	// addresses (ENTITLED_WEBHOOK_ALLOW_PRIVATE: self-hosted receivers).
	AllowPrivate bool
	// MaxInFlight, PerOrg and PerEndpoint cap the sends in flight in
	// this process, in all, per organization and per endpoint (0: the
	// defaults).
	MaxInFlight, PerOrg, PerEndpoint int
	// LookupIP resolves a host name (nil: the system resolver). Tests
	// answer differently at save and at connect to play DNS rebinding.
	LookupIP func(ctx context.Context, host string) ([]netip.Addr, error)
	Now      func() time.Time
	Log      *slog.Logger
	Metrics  *metrics.Registry
}

// Service manages endpoints and delivers their events.
type Service struct {
	db     *store.DB
	events *events.Log
	sealer Sealer
	cfg    Config
	client *http.Client
	// owner names this process in the leases it takes.
	owner string
	// wake tells the dispatcher to look for due deliveries now.
	wake chan struct{}

	mu       sync.Mutex
	inFlight int
	perOrg   map[string]int
	perEP    map[string]int
	// activeUntil: until then the dispatcher polls at Poll.
	activeUntil time.Time
	// due is the earliest moment a delivery known to this process
	// becomes due (zero: none known).
	due time.Time

	stop    context.CancelFunc
	stopped chan struct{}
	sends   sync.WaitGroup
}

// Sealer encrypts secrets at rest (signing.Sealer, under the master key).
// A sealed value opens only with the aad it was sealed with.
type Sealer interface {
	Seal(plaintext, aad []byte) (string, error)
	Open(sealed string, aad []byte) ([]byte, error)
}

// New returns the service; Start runs its dispatcher. log records the
// endpoints' own changes; sealer encrypts their secrets at rest (nil: a
// service that only queues deliveries, as the operator's command line
// does; it cannot create, rotate or send).
func New(db *store.DB, log *events.Log, sealer Sealer, cfg Config) *Service {
	if cfg.RetrySchedule == nil {
		cfg.RetrySchedule = DefaultRetrySchedule
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPollSQLite
		if db.Dialect == dialect.Postgres {
			cfg.Poll = DefaultPollPostgres
		}
	}
	if cfg.IdlePoll <= 0 {
		cfg.IdlePoll = DefaultIdlePoll
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.PerOrg <= 0 {
		cfg.PerOrg = DefaultPerOrg
	}
	if cfg.PerEndpoint <= 0 {
		cfg.PerEndpoint = DefaultPerEndpoint
	}
	if cfg.LookupIP == nil {
		cfg.LookupIP = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return netResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	s := &Service{
		db: db, events: log, sealer: sealer, cfg: cfg,
		owner:  pulid.New("wdp"),
		wake:   make(chan struct{}, 1),
		perOrg: map[string]int{}, perEP: map[string]int{},
	}
	s.client = s.httpClient()
	return s
}

// Start runs the dispatcher until Stop.
func (s *Service) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.stop, s.stopped = cancel, make(chan struct{})
	go func() {
		defer close(s.stopped)
		s.dispatch(ctx)
	}()
}

// Stop ends the dispatcher: sends in flight are cut and their deliveries
// left due (another process, or the next start, sends them), and it
// returns when every goroutine is done.
func (s *Service) Stop() {
	if s.stop == nil {
		return
	}
	s.stop()
	<-s.stopped
	s.sends.Wait()
	s.client.CloseIdleConnections()
}

// InFlight is how many attempts this process is making now.
func (s *Service) InFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inFlight
}

// Hear is the PostgreSQL notification handler of Channel (any process
// queued deliveries; "" after a reconnect: some may have been missed).
func (s *Service) Hear(string) { s.kick() }

// kick wakes the dispatcher now.
func (s *Service) kick() {
	s.mu.Lock()
	s.activeUntil = s.cfg.Now().Add(activeWindow)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// expect says deliveries may become due soon without a wake (queued in
// a transaction that has no commit hook): the dispatcher polls at Poll
// for a while, starting now.
func (s *Service) expect() { s.kick() }

// dueAt records that a delivery becomes due at t, so the dispatcher wakes
// for it.
func (s *Service) dueAt(t time.Time) {
	s.mu.Lock()
	if s.due.IsZero() || t.Before(s.due) {
		s.due = t
	}
	s.mu.Unlock()
}

var errLeaseLost = errors.New("webhooks: the delivery's lease was taken over")
