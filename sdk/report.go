package sdk

import (
	"bufio"
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/entitled/entitled/policy"
)

// report is one buffered usage report, as the journal keeps it.
type report struct {
	seq         uint64
	Instance    string    `json:"instance"`
	Entitlement string    `json:"entitlement"`
	Value       float64   `json:"value"`
	Timestamp   time.Time `json:"timestamp"`
	Key         string    `json:"idempotencyKey"`
}

// reporter buffers reports (in memory and, with CacheDir, in a journal
// file) and sends them in batches.
type reporter struct {
	c       *Client
	mu      sync.Mutex
	pending []*report // by seq
	seq     uint64
	path    string   // the journal; "" without CacheDir
	journal *os.File // opened for appending
	changed chan struct{}
	kick    chan struct{}
	lastErr error
}

const journalName = "reports.jsonl"

func newReporter(c *Client) (*reporter, error) {
	r := &reporter{c: c, changed: make(chan struct{}), kick: make(chan struct{}, 1)}
	r.path = c.cachePath(journalName)
	if r.path == "" {
		return r, nil
	}
	if err := r.replay(); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(r.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("report journal: %w", err)
	}
	r.journal = f
	return r, nil
}

// replay loads the reports a previous process left unsent.
func (r *reporter) replay() error {
	f, err := os.Open(r.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("report journal: %w", err)
	}
	defer f.Close()
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var rp report
		if err := json.Unmarshal(sc.Bytes(), &rp); err != nil || rp.Key == "" || seen[rp.Key] {
			continue // a line cut short by a crash, or a duplicate
		}
		seen[rp.Key] = true
		r.seq++
		rp.seq = r.seq
		r.pending = append(r.pending, &rp)
		r.c.entry(rp.Instance).add(rp.Entitlement, use{seq: rp.seq, value: rp.Value, at: rp.Timestamp})
	}
	return sc.Err()
}

func (r *reporter) pendingCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}

func (r *reporter) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.journal == nil {
		return nil
	}
	err := r.journal.Sync()
	if cerr := r.journal.Close(); err == nil {
		err = cerr
	}
	r.journal = nil
	return err
}

func (r *reporter) wake() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Report records usage that already happened (reportUsage): it is
// buffered, written to CacheDir when set, and sent in batches with its
// idempotency key (generated when not given) and its timestamp (now, or
// At), retried until the server takes it. It counts in this client's
// NUMBER decisions at once. The error is for reports that are not
// recorded: a malformed argument, a closed client, no server, or a
// journal that cannot be written.
func (c *Client) Report(ctx context.Context, instance, entitlement string, value float64, opts ...UsageOption) error {
	if c.closed.Load() {
		return ErrClosed
	}
	if c.base == "" {
		return ErrNoServer
	}
	key, at, err := c.usageArgs(instance, entitlement, value, opts)
	if err != nil {
		return err
	}
	rp := &report{Instance: instance, Entitlement: entitlement, Value: value, Timestamp: at.UTC(), Key: key}
	if err := c.rep.add(rp); err != nil {
		return err
	}
	c.entry(instance).add(entitlement, use{seq: rp.seq, value: value, at: at})
	return nil
}

func (c *Client) usageArgs(instance, entitlement string, value float64, opts []UsageOption) (string, time.Time, error) {
	var key string
	at := c.now()
	for _, o := range opts {
		if o.key != "" {
			key = o.key
		}
		if !o.at.IsZero() {
			at = o.at
		}
	}
	switch {
	case instance == "":
		return "", at, fmt.Errorf("%w: instance is empty", ErrInvalid)
	case entitlement == "":
		return "", at, fmt.Errorf("%w: entitlement is empty", ErrInvalid)
	case len(key) > 255:
		return "", at, fmt.Errorf("%w: idempotency key: must be 1 to 255 characters", ErrInvalid)
	}
	if err := policy.Quantity(value); err != nil {
		return "", at, fmt.Errorf("%w: value: %w", ErrInvalid, err)
	}
	if key == "" {
		key = newKey()
	}
	return key, at, nil
}

// newKey is a random idempotency key.
func newKey() string {
	var b [16]byte
	_, _ = crand.Read(b[:])
	return "sdk-" + hex.EncodeToString(b[:])
}

func (r *reporter) add(rp *report) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.journal != nil {
		line, err := json.Marshal(rp)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		if _, err := r.journal.Write(append(line, '\n')); err != nil {
			return fmt.Errorf("report journal: %w", err)
		}
	}
	r.seq++
	rp.seq = r.seq
	r.pending = append(r.pending, rp)
	if len(r.pending) >= r.c.cfg.ReportBatch {
		r.wake()
	}
	return nil
}

// Flush sends every report made before it and waits until the server has
// taken them (or refused one for good: it is logged and dropped), or ctx
// ends: then the reports are kept and retried, and the error says why.
func (c *Client) Flush(ctx context.Context) error {
	if c.base == "" {
		return nil
	}
	r := c.rep
	r.mu.Lock()
	target := r.seq
	r.mu.Unlock()
	r.wake()
	for {
		r.mu.Lock()
		done := len(r.pending) == 0 || r.pending[0].seq > target
		ch, last, n := r.changed, r.lastErr, len(r.pending)
		r.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("flush: %d reports not sent yet (kept, retried): %w (last error: %v)", n, ctx.Err(), last)
		case <-c.ctx.Done():
			return ErrClosed
		}
	}
}

// loop sends buffered reports every ReportInterval, or at once when woken.
func (r *reporter) loop() {
	t := time.NewTicker(r.c.cfg.ReportInterval)
	defer t.Stop()
	for {
		select {
		case <-r.c.ctx.Done():
			return
		case <-t.C:
		case <-r.kick:
		}
		r.drain()
	}
}

// drain sends until nothing is pending, backing off on retryable errors.
func (r *reporter) drain() {
	c := r.c
	delay := c.cfg.RetryMin
	for c.ctx.Err() == nil {
		r.mu.Lock()
		n := min(len(r.pending), c.cfg.ReportBatch)
		batch := append([]*report(nil), r.pending[:n]...)
		r.mu.Unlock()
		if n == 0 {
			return
		}
		err := r.send(batch)
		r.mu.Lock()
		r.lastErr = err
		r.mu.Unlock()
		if err == nil {
			delay = c.cfg.RetryMin
			continue
		}
		c.cfg.Logger.Warn("entitled: usage reports not sent; retrying", "reports", n, "in", delay, "err", err)
		select {
		case <-c.ctx.Done():
			return
		case <-r.kick:
		case <-time.After(jitter(delay)):
		}
		delay = min(2*delay, c.cfg.RetryMax)
	}
}

// jitter is d ± 20 %.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d))
}

var itemField = regexp.MustCompile(`^inputs\[(\d+)\]`)

const reportBatchMutation = `mutation ($inputs: [ReportUsageInput!]!) { reportUsageBatch(inputs: $inputs) { results { replayed } } }`

// send sends one batch. nil: every report in it was taken or dropped for
// good; an error: retry later.
func (r *reporter) send(batch []*report) error {
	c := r.c
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.RequestTimeout)
	defer cancel()
	var out struct {
		ReportUsageBatch struct {
			Results []struct {
				Replayed bool `json:"replayed"`
			} `json:"results"`
		} `json:"reportUsageBatch"`
	}
	err := c.graphql(ctx, reportBatchMutation, map[string]any{"inputs": batch}, &out)
	if err == nil {
		r.resolve(batch, c.now())
		return nil
	}
	var ge *gqlErrors
	if !errors.As(err, &ge) || ge.retryable() {
		return err
	}
	// Refused for good: drop the report the error names and send the
	// others again; without a name, find it by sending one at a time.
	if m := itemField.FindStringSubmatch(ge.errs[0].Extensions.Field); m != nil {
		if i, _ := strconv.Atoi(m[1]); i < len(batch) {
			c.cfg.Logger.Error("entitled: usage report refused; dropped", "instance", batch[i].Instance,
				"entitlement", batch[i].Entitlement, "idempotencyKey", batch[i].Key, "err", ge)
			r.resolve(batch[i:i+1], time.Time{})
			return nil
		}
	}
	if len(batch) == 1 {
		c.cfg.Logger.Error("entitled: usage report refused; dropped", "instance", batch[0].Instance,
			"entitlement", batch[0].Entitlement, "idempotencyKey", batch[0].Key, "err", ge)
		r.resolve(batch, time.Time{})
		return nil
	}
	for _, rp := range batch {
		if err := r.send([]*report{rp}); err != nil {
			return err
		}
	}
	return nil
}

// resolve removes reports from the buffer and the journal: taken by the
// server at (zero: dropped).
func (r *reporter) resolve(done []*report, at time.Time) {
	seqs := make(map[uint64]bool, len(done))
	type pair struct{ inst, ent string }
	by := map[pair]map[uint64]bool{}
	for _, rp := range done {
		seqs[rp.seq] = true
		p := pair{rp.Instance, rp.Entitlement}
		if by[p] == nil {
			by[p] = map[uint64]bool{}
		}
		by[p][rp.seq] = true
	}
	for p, s := range by {
		r.c.entry(p.inst).resolve(p.ent, s, at)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	kept := r.pending[:0]
	for _, rp := range r.pending {
		if !seqs[rp.seq] {
			kept = append(kept, rp)
		}
	}
	clear(r.pending[len(kept):])
	r.pending = kept
	if r.journal != nil {
		if err := r.rewrite(); err != nil {
			r.c.cfg.Logger.Error("entitled: cannot rewrite the report journal", "err", err)
		}
	}
	close(r.changed)
	r.changed = make(chan struct{})
}

// rewrite replaces the journal with the pending reports; under mu.
func (r *reporter) rewrite() error {
	var b bytes.Buffer
	for _, rp := range r.pending {
		line, err := json.Marshal(rp)
		if err != nil {
			return err
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	if err := writeFile(r.path, b.Bytes()); err != nil {
		return err
	}
	f, err := os.OpenFile(r.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	_ = r.journal.Close()
	r.journal = f
	return nil
}

const consumeMutation = `mutation ($input: ConsumeUsageInput!) { consumeUsage(input: $input) {
  allowed reason reasons instance entitlement value usage limit hardCap remaining
  licenseVersion policyVersion evaluatedAt stale } }`

// Consume is the server's exact check-and-consume (consumeUsage): it
// records amount only if usage stays within the hard cap, under any
// concurrency. Retryable failures are retried with the same idempotency
// key (generated when not given) while ctx allows. A consumption counts
// in this client's NUMBER decisions at once.
func (c *Client) Consume(ctx context.Context, instance, entitlement string, amount float64, opts ...UsageOption) (Decision, error) {
	if c.closed.Load() {
		return Decision{}, ErrClosed
	}
	if c.base == "" {
		return Decision{}, ErrNoServer
	}
	key, _, err := c.usageArgs(instance, entitlement, amount, opts)
	if err != nil {
		return Decision{}, err
	}
	vars := map[string]any{"input": map[string]any{"instance": instance, "entitlement": entitlement, "amount": amount, "idempotencyKey": key}}
	var out struct {
		ConsumeUsage Decision `json:"consumeUsage"`
	}
	delay := c.cfg.RetryMin
	for attempt := 1; ; attempt++ {
		rctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
		err = c.graphql(rctx, consumeMutation, vars, &out)
		cancel()
		var ge *gqlErrors
		if err == nil || (errors.As(err, &ge) && !ge.retryable()) || attempt == 3 {
			break
		}
		select {
		case <-ctx.Done():
			return Decision{}, fmt.Errorf("consume: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(jitter(delay)):
		}
		delay = min(2*delay, c.cfg.RetryMax)
	}
	if err != nil {
		return Decision{}, fmt.Errorf("consume: %w", err)
	}
	d := out.ConsumeUsage
	d.Source = SourceServer
	if d.Reasons == nil {
		d.Reasons = []string{}
	}
	if d.Allowed {
		c.entry(instance).add(entitlement, use{value: amount, at: c.now(), acked: c.now()})
	}
	return d, nil
}

// gqlError is one GraphQL error.
type gqlError struct {
	Message    string `json:"message"`
	Extensions struct {
		Code  string `json:"code"`
		Field string `json:"field"`
	} `json:"extensions"`
}

// gqlErrors is a GraphQL answer with errors.
type gqlErrors struct {
	status int
	errs   []gqlError
}

func (e *gqlErrors) Error() string {
	g := e.errs[0]
	s := fmt.Sprintf("%s: %s", g.Extensions.Code, g.Message)
	if g.Extensions.Field != "" {
		s += " (" + g.Extensions.Field + ")"
	}
	return s
}

func (e *gqlErrors) Is(target error) bool {
	switch target {
	case ErrRejected:
		return !e.retryable()
	case ErrUnavailable:
		return e.retryable()
	}
	return false
}

// retryable: the request may succeed later as it is. Keys that are
// refused are kept too: a key can be fixed, reports must not be lost.
func (e *gqlErrors) retryable() bool {
	if e.status >= 500 || e.status == http.StatusTooManyRequests {
		return true
	}
	switch e.errs[0].Extensions.Code {
	case "UNAVAILABLE", "RATE_LIMITED", "INTERNAL", "UNAUTHENTICATED", "FORBIDDEN", "":
		return true
	}
	return false
}

// graphql posts a GraphQL document and decodes data into out.
func (c *Client) graphql(ctx context.Context, query string, vars any, out any) error {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/graphql", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.cfg.APIKey)
	res, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, maxBody))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	var resp struct {
		Data   json.RawMessage `json:"data"`
		Errors []gqlError      `json:"errors"`
	}
	if err := json.Unmarshal(raw, &resp); err != nil {
		if res.StatusCode >= 500 || res.StatusCode == http.StatusTooManyRequests {
			return fmt.Errorf("%w: HTTP %d", ErrUnavailable, res.StatusCode)
		}
		return &gqlErrors{status: res.StatusCode, errs: []gqlError{{Message: fmt.Sprintf("HTTP %d: not a GraphQL answer", res.StatusCode)}}}
	}
	if len(resp.Errors) > 0 {
		return &gqlErrors{status: res.StatusCode, errs: resp.Errors}
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: HTTP %d", ErrUnavailable, res.StatusCode)
	}
	return json.Unmarshal(resp.Data, out)
}
