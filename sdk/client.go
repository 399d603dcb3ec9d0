package sdk

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/entitled/entitled/policy"
	"github.com/entitled/entitled/sdk/licensefile"
)

// Client decides in-process. It is safe for concurrent use; Close stops
// its goroutines.
type Client struct {
	cfg  Config
	base string // URL without the trailing slash; empty: offline only
	hc   *http.Client
	sc   *http.Client    // the stream's: hc without its Timeout
	own  *http.Transport // ours to close; nil when the caller gave HTTPClient
	now  func() time.Time

	trusted  *licensefile.JWKS // Config.JWKS; nil: fetched per issuer
	keysMu   sync.Mutex
	keys     map[string]*licensefile.JWKS // fetched, by issuer
	policies *licensefile.PolicyCache

	offline *view // Config.LicenseFile, verified; nil: none

	instMu    sync.Mutex
	instances atomic.Pointer[map[string]*instance] // copy on write under instMu
	loads     singleflight.Group

	streamDown    atomic.Bool
	lastEvent     atomic.Int64
	policyVersion atomic.Int64 // the last snapshot's, for INSTANCE_NOT_FOUND answers

	dirtyMu  sync.Mutex
	dirty    map[*instance]bool
	dirtyCh  chan struct{}
	subsMu   sync.Mutex
	subs     map[int]func(Event)
	nextSub  int
	rep      *reporter
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	closed   atomic.Bool
	closeMu  sync.Mutex
	isClosed bool
}

// instance is what the client holds of one instance.
type instance struct {
	slug    string
	view    atomic.Pointer[view] // nil until first loaded
	failing atomic.Bool          // the last attempt to reach the server for it failed
	want    atomic.Int64         // the stream revision a refetch was asked for
	refresh sync.Mutex           // one refetch at a time
	// loadErr is the last failed first load and until when it is
	// answered without trying again (so an outage does not make every
	// call wait for the server).
	loadErr atomic.Pointer[loadFailure]

	mu     sync.Mutex // guards meters
	meters map[string]*meter
	gen    atomic.Uint64 // bumped on every change of meters
	est    atomic.Pointer[estimate]
	dc     atomic.Pointer[decisions]
}

type loadFailure struct {
	err   error
	until time.Time
}

// view is one verified snapshot (or license file) of an instance, or the
// server's word that it does not exist. Immutable.
type view struct {
	file     *licensefile.File
	ds       *licensefile.Dataset
	source   Source
	armor    []byte
	etag     string
	revision int64
	cached   bool // from CacheDir, not yet confirmed by the server
	notFound bool
	iat, exp time.Time
	usage    map[string]usageBase // granted NUMBER entitlements
	// timeless: the policy reads the clock only through the facts' own
	// moments (no custom module mentions now or time), so a decision
	// holds between two of them (see decisions).
	timeless bool
	moments  []time.Time // the moments decisions may change at
}

// New returns a client. It does not reach the server: the first Allowed
// for an instance fetches its snapshot. It fails on a configuration that
// cannot work (no URL and no license file, a JWKS or license file that
// does not parse or verify).
func New(ctx context.Context, cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	c := &Client{cfg: cfg, now: cfg.Now, keys: map[string]*licensefile.JWKS{},
		policies: licensefile.NewPolicyCache(8), dirty: map[*instance]bool{}, dirtyCh: make(chan struct{}, 1),
		subs: map[int]func(Event){}}
	c.instances.Store(&map[string]*instance{})
	if cfg.URL != "" {
		if !strings.HasPrefix(cfg.URL, "http://") && !strings.HasPrefix(cfg.URL, "https://") {
			return nil, fmt.Errorf("%w: URL %q is not an http(s) URL", ErrInvalid, cfg.URL)
		}
		if cfg.APIKey == "" {
			return nil, fmt.Errorf("%w: APIKey is required with URL", ErrInvalid)
		}
		c.base = strings.TrimRight(cfg.URL, "/")
	} else if cfg.LicenseFile == "" {
		return nil, fmt.Errorf("%w: neither URL nor LicenseFile is set", ErrInvalid)
	}
	if cfg.JWKS != nil {
		k, err := licensefile.ParseJWKS(cfg.JWKS)
		if err != nil {
			return nil, fmt.Errorf("%w: JWKS: %w", ErrInvalid, err)
		}
		c.trusted = k
	} else if c.base == "" {
		return nil, fmt.Errorf("%w: JWKS is required without URL", ErrInvalid)
	}
	c.hc = cfg.HTTPClient
	if c.hc == nil {
		c.own = http.DefaultTransport.(*http.Transport).Clone()
		c.hc = &http.Client{Transport: c.own}
	}
	sc := *c.hc
	sc.Timeout = 0
	c.sc = &sc
	if cfg.CacheDir != "" {
		if err := os.MkdirAll(cfg.CacheDir, 0o700); err != nil {
			return nil, fmt.Errorf("cache dir: %w", err)
		}
	}
	c.ctx, c.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if cfg.LicenseFile != "" {
		if err := c.loadLicenseFile(ctx); err != nil {
			c.cancel()
			return nil, err
		}
	}
	rep, err := newReporter(c)
	if err != nil {
		c.cancel()
		return nil, err
	}
	c.rep = rep
	if c.base != "" {
		c.start(c.streamLoop)
		c.start(c.refreshLoop)
		c.start(c.refreshLoop)
		if cfg.UsageRefresh > 0 {
			c.start(c.tickLoop)
		}
		c.start(c.rep.loop)
	}
	return c, nil
}

func (c *Client) start(f func()) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
}

// loadLicenseFile reads, parses and verifies Config.LicenseFile.
func (c *Client) loadLicenseFile(ctx context.Context) error {
	raw, err := os.ReadFile(c.cfg.LicenseFile)
	if err != nil {
		return fmt.Errorf("license file: %w", err)
	}
	v, err := c.verify(ctx, raw, c.base != "")
	if err != nil {
		return fmt.Errorf("license file %s: %w", c.cfg.LicenseFile, err)
	}
	v.source = SourceOffline
	c.offline = v
	return nil
}

// Close stops the client: it tries to send buffered reports (for at most
// CloseTimeout; what is not sent stays in CacheDir), ends the stream and
// every goroutine it started, and closes its own idle connections.
// Calls after Close fail with ErrClosed. Close is idempotent.
func (c *Client) Close() error {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.isClosed {
		return nil
	}
	c.isClosed = true
	var err error
	if c.base != "" && c.cfg.CloseTimeout > 0 && c.rep.pendingCount() > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.CloseTimeout)
		err = c.Flush(ctx)
		cancel()
	}
	c.closed.Store(true)
	c.cancel()
	c.wg.Wait()
	if cerr := c.rep.close(); err == nil {
		err = cerr
	}
	if c.own != nil {
		c.own.CloseIdleConnections()
	}
	return err
}

// Allowed answers, in-process, may the instance use the entitlement now?
// The first call for an instance fetches its snapshot (once, however many
// calls wait for it); later calls decide locally. The error is for
// questions that get no decision: a malformed argument (ErrInvalid), a
// closed client, or an instance of which nothing is known while the
// server cannot be reached (ErrUnavailable). An instance the server does
// not know is decided INSTANCE_NOT_FOUND, an entitlement the snapshot does
// not list ENTITLEMENT_NOT_FOUND, as the server does.
func (c *Client) Allowed(ctx context.Context, instance, entitlement string, opts ...AllowedOption) (Decision, error) {
	q := licensefile.Question{Entitlement: entitlement}
	for i := range opts {
		if opts[i].requested != nil {
			q.Requested = opts[i].requested
		}
		if opts[i].context != nil {
			q.Context = opts[i].context
		}
	}
	in, err := c.instance(ctx, instance)
	if err != nil {
		return Decision{}, err
	}
	q.Now = c.now()
	return c.decide(in, q)
}

// Decisions decides every entitlement the instance's license grants
// (sorted by slug), as the server's decisions query does without a list;
// an instance the server does not know is ErrUnknownInstance.
func (c *Client) Decisions(ctx context.Context, instance string, opts ...AllowedOption) ([]Decision, error) {
	in, err := c.instance(ctx, instance)
	if err != nil {
		return nil, err
	}
	v := c.current(in, c.now())
	if v.notFound {
		return nil, fmt.Errorf("%w: %q", ErrUnknownInstance, instance)
	}
	var out []Decision
	for _, e := range v.ds.Entitlements {
		if e.Grant == nil {
			continue
		}
		d, err := c.Allowed(ctx, instance, e.Slug, opts...)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// current is the view decisions use at now: the snapshot until its exp;
// past it, the license file when it is the instance's.
func (c *Client) current(in *instance, now time.Time) *view {
	v := in.view.Load()
	if v.source == SourceLocal && !v.notFound && !now.Before(v.exp) && c.offline != nil && c.offline.ds.Sub == in.slug {
		return c.offline
	}
	return v
}

func (c *Client) decide(in *instance, q licensefile.Question) (Decision, error) {
	v := c.current(in, q.Now)
	stale := v.cached || in.failing.Load() || c.streamDown.Load()
	if v.notFound {
		return c.notFound(in.slug, q, stale)
	}
	gen := in.gen.Load()
	cacheable := v.timeless && q.Context == nil
	var k dkey
	if cacheable {
		k = dkey{entitlement: q.Entitlement}
		if q.Requested != nil {
			k.requested, k.hasRequested = *q.Requested, true
		}
		if dc := in.dc.Load(); dc.holds(v, gen, q.Now) {
			if pd, ok := dc.m.Load(k); ok {
				d := fromPolicy(pd.(*policy.Decision), v.source, stale)
				d.EvaluatedAt = q.Now
				return d, nil
			}
		}
	}
	if u := in.estimate(v); u != nil {
		q.Usage = u[q.Entitlement]
	}
	pd, err := v.file.DecideQuestion(q)
	if err != nil {
		return Decision{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if cacheable && pd.Reason != policy.ReasonPolicyError {
		dc := in.dc.Load()
		if !dc.holds(v, gen, q.Now) {
			dc = newDecisions(v, gen, q.Now)
			in.dc.Store(dc)
		}
		if dc.n.Add(1) <= maxCached {
			dc.m.Store(k, &pd)
		}
	}
	return fromPolicy(&pd, v.source, stale), nil
}

// decisions remembers the decisions of one view and meter generation
// for questions without a request context, between two of the view's
// moments (instance start and expiry, snapshot iat and exp, usage
// periods): the default policy's verdict can change only at those, so a
// remembered decision is the one evaluating again would give. Views
// whose custom modules read the clock are never remembered.
type decisions struct {
	v          *view
	gen        uint64
	from, till time.Time // zero till: no later moment
	n          atomic.Int32
	m          sync.Map // dkey → *policy.Decision, read-only
}

type dkey struct {
	entitlement  string
	requested    float64
	hasRequested bool
}

// maxCached bounds the decisions remembered per view and generation
// (requested amounts vary).
const maxCached = 1024

func newDecisions(v *view, gen uint64, now time.Time) *decisions {
	d := &decisions{v: v, gen: gen}
	for _, t := range v.moments {
		if !t.After(now) {
			if t.After(d.from) {
				d.from = t
			}
		} else if d.till.IsZero() || t.Before(d.till) {
			d.till = t
		}
	}
	return d
}

func (d *decisions) holds(v *view, gen uint64, now time.Time) bool {
	return d != nil && d.v == v && d.gen == gen && !now.Before(d.from) && (d.till.IsZero() || now.Before(d.till))
}

// notFound is the server's answer for an instance it does not have.
func (c *Client) notFound(slug string, q licensefile.Question, stale bool) (Decision, error) {
	if q.Requested != nil {
		if err := policy.Quantity(*q.Requested); err != nil {
			return Decision{}, fmt.Errorf("%w: requested: %w", ErrInvalid, err)
		}
	}
	f := &policy.Facts{Now: q.Now, InstanceSlug: slug, EntitlementSlug: q.Entitlement,
		Request: &policy.Request{Requested: q.Requested, Context: q.Context}}
	pd, err := policy.Default().Decide(context.Background(), f)
	if err != nil {
		return Decision{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	pd.PolicyVersion = int(c.policyVersion.Load())
	return fromPolicy(&pd, SourceLocal, stale), nil
}

func fromPolicy(pd *policy.Decision, src Source, stale bool) Decision {
	return Decision{Allowed: pd.Allowed, Reason: pd.Reason, Reasons: pd.Reasons,
		Instance: pd.Instance, Entitlement: pd.Entitlement, Value: pd.Value,
		Usage: pd.Usage, Limit: pd.Limit, HardCap: pd.HardCap, Remaining: pd.Remaining,
		LicenseVersion: pd.LicenseVersion, PolicyVersion: pd.PolicyVersion, EvaluatedAt: pd.EvaluatedAt,
		Source: src, Stale: stale || pd.Stale}
}

// held returns the instance entry of slug, nil when none.
func (c *Client) held(slug string) *instance { return (*c.instances.Load())[slug] }

// entry returns the instance entry of slug, creating it.
func (c *Client) entry(slug string) *instance {
	if in := c.held(slug); in != nil {
		return in
	}
	c.instMu.Lock()
	defer c.instMu.Unlock()
	m := *c.instances.Load()
	if in := m[slug]; in != nil {
		return in
	}
	n := make(map[string]*instance, len(m)+1)
	for k, v := range m {
		n[k] = v
	}
	in := &instance{slug: slug, meters: map[string]*meter{}}
	n[slug] = in
	c.instances.Store(&n)
	return in
}

// all returns every instance entry that has a view.
func (c *Client) all() []*instance {
	m := *c.instances.Load()
	out := make([]*instance, 0, len(m))
	for _, in := range m {
		if in.view.Load() != nil {
			out = append(out, in)
		}
	}
	return out
}

// instance returns the entry of slug with a view, loading it on first use.
func (c *Client) instance(ctx context.Context, slug string) (*instance, error) {
	if in := c.held(slug); in != nil && in.view.Load() != nil {
		if c.closed.Load() {
			return nil, ErrClosed
		}
		return in, nil
	}
	if c.closed.Load() {
		return nil, ErrClosed
	}
	if slug == "" {
		return nil, fmt.Errorf("%w: instance is empty", ErrInvalid)
	}
	ch := c.loads.DoChan(slug, func() (any, error) { return c.load(slug) })
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*instance), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// load gives an instance its first view: the server's snapshot; when the
// server cannot be reached, the one in CacheDir, else the license file.
func (c *Client) load(slug string) (_ *instance, err error) {
	in := c.entry(slug)
	if in.view.Load() != nil {
		return in, nil
	}
	if c.base == "" {
		if c.offline != nil && c.offline.ds.Sub == slug {
			in.view.Store(c.offline)
			return in, nil
		}
		return nil, fmt.Errorf("%w: %q is not the license file's instance (%q)", ErrUnknownInstance, slug, c.offline.ds.Sub)
	}
	if f := in.loadErr.Load(); f != nil && c.now().Before(f.until) {
		return nil, f.err
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.RequestTimeout)
	defer cancel()
	if err = c.refetch(ctx, in, false); err == nil {
		in.loadErr.Store(nil)
		return in, nil
	}
	defer func() {
		if err != nil && in.view.Load() == nil {
			in.loadErr.Store(&loadFailure{err: err, until: c.now().Add(c.cfg.RetryMin)})
		}
	}()
	if errors.Is(err, errFatal) {
		return nil, err
	}
	if v, cerr := c.loadCached(ctx, slug); cerr == nil {
		c.cfg.Logger.Warn("entitled: server unreachable; deciding from the cached snapshot", "instance", slug, "err", err)
		in.failing.Store(true)
		in.view.CompareAndSwap(nil, v)
		return in, nil
	} else if !errors.Is(cerr, os.ErrNotExist) {
		c.cfg.Logger.Warn("entitled: cached snapshot unusable", "instance", slug, "err", cerr)
	}
	if c.offline != nil && c.offline.ds.Sub == slug {
		c.cfg.Logger.Warn("entitled: server unreachable; deciding from the license file", "instance", slug, "err", err)
		in.failing.Store(true)
		in.view.CompareAndSwap(nil, c.offline)
		return in, nil
	}
	return nil, fmt.Errorf("%w: no snapshot of %q: %w", ErrUnavailable, slug, err)
}

// OnChange registers fn to be called (from the client's goroutines; it
// must not block) on every Event; the returned func unregisters it.
func (c *Client) OnChange(fn func(Event)) (remove func()) {
	c.subsMu.Lock()
	defer c.subsMu.Unlock()
	id := c.nextSub
	c.nextSub++
	c.subs[id] = fn
	return func() {
		c.subsMu.Lock()
		defer c.subsMu.Unlock()
		delete(c.subs, id)
	}
}

func (c *Client) emit(e Event) {
	c.subsMu.Lock()
	fns := make([]func(Event), 0, len(c.subs))
	for _, fn := range c.subs {
		fns = append(fns, fn)
	}
	c.subsMu.Unlock()
	for _, fn := range fns {
		fn(e)
	}
}

// Stale reports whether the server could not be reached lately (the
// stream is down).
func (c *Client) Stale() bool { return c.streamDown.Load() }
