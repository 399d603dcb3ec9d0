package webhooks

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"entgo.io/ent/dialect"

	"github.com/entitled/entitled/ent"
	"github.com/entitled/entitled/internal/events"
	"github.com/entitled/entitled/internal/platform/store"
	"github.com/entitled/entitled/internal/tenant"
)

// Error kinds of a failed attempt (WebhookDelivery.errorKind).
const (
	KindTimeout    = "TIMEOUT"
	KindConnection = "CONNECTION"
	KindDNS        = "DNS"
	KindTLS        = "TLS"
	KindBlocked    = "BLOCKED"
	KindHTTPStatus = "HTTP_STATUS"
)

// Delivery statuses.
const (
	statusSucceeded = "SUCCEEDED"
	statusFailed    = "FAILED"
	statusGaveUp    = "GAVE_UP"
)

// claimed is a delivery this process holds the lease of.
type claimed struct {
	id, org, endpoint, eventID, payload string
	attempts                            int
}

// dispatch looks for due deliveries whenever woken (a commit, a
// notification, a send that finished), when a known retry falls due, and
// on the poll backstop, until ctx ends.
func (s *Service) dispatch(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-timer.C:
		}
		s.fill(ctx)
		timer.Reset(s.nextPoll())
	}
}

// nextPoll is how long the dispatcher may sleep: Poll while work may be
// pending, IdlePoll otherwise, and never past a known due time.
func (s *Service) nextPoll() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	wait := s.cfg.IdlePoll
	if now.Before(s.activeUntil) {
		wait = s.cfg.Poll
	}
	if !s.due.IsZero() {
		wait = max(min(wait, s.due.Sub(now)), time.Millisecond)
	}
	return wait
}

// lease is how long a claim holds: past the request timeout, so that a
// live sender always records before anyone else may take the delivery.
func (s *Service) lease() time.Duration { return 2*s.cfg.Timeout + 5*time.Second }

// fill claims due deliveries up to the free slots and starts their sends.
func (s *Service) fill(ctx context.Context) {
	s.mu.Lock()
	if !s.due.IsZero() && !s.due.After(s.cfg.Now()) {
		s.due = time.Time{}
	}
	s.mu.Unlock()
	for range 16 { // bounded work per wake; the next wake goes on
		free, fullEP, fullOrg := s.capacity()
		if free <= 0 {
			return
		}
		limit := max(2*free, 8)
		cands, err := s.candidates(ctx, limit, fullEP, fullOrg)
		if err != nil {
			if ctx.Err() == nil {
				s.cfg.Log.Warn("webhooks: look for due deliveries", "err", err)
			}
			return
		}
		ids := s.choose(cands, free)
		if len(ids) > 0 {
			got, err := s.claim(ctx, ids)
			if err != nil {
				if ctx.Err() == nil {
					s.cfg.Log.Warn("webhooks: claim deliveries", "err", err)
				}
				return
			}
			for _, d := range got {
				s.start(ctx, d)
			}
		}
		if len(cands) < limit {
			// Everything due now was seen: learn when the next falls due.
			s.findNextDue(ctx)
			return
		}
	}
}

// candidate is a due delivery another process may also be looking at.
type candidate struct{ id, endpoint, org string }

// capacity is how many more sends may start, and the endpoints and
// organizations already at their caps.
func (s *Service) capacity() (int, []string, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var eps, orgs []string
	for id, n := range s.perEP {
		if n >= s.cfg.PerEndpoint {
			eps = append(eps, id)
		}
	}
	for id, n := range s.perOrg {
		if n >= s.cfg.PerOrg {
			orgs = append(orgs, id)
		}
	}
	return s.cfg.MaxInFlight - s.inFlight, eps, orgs
}

// candidates are due, unleased deliveries of enabled endpoints, oldest
// due first, leaving out endpoints and organizations at their caps (so a
// backlog at one receiver never hides the others' deliveries).
func (s *Service) candidates(ctx context.Context, limit int, fullEP, fullOrg []string) ([]candidate, error) {
	now := s.cfg.Now().UTC()
	args := []any{now, true}
	q := `SELECT d.id, d.endpoint_id, d.organization_id FROM webhook_deliveries d
JOIN webhook_endpoints e ON e.organization_id = d.organization_id AND e.id = d.endpoint_id
WHERE d.status IN ('PENDING', 'FAILED') AND d.next_attempt_at <= $1
  AND (d.lease_until IS NULL OR d.lease_until <= $1) AND e.enabled = $2`
	if len(fullEP) > 0 {
		q += ` AND d.endpoint_id NOT IN (` + params(len(args)+1, len(fullEP)) + `)`
		args = append(args, anys(fullEP)...)
	}
	if len(fullOrg) > 0 {
		q += ` AND d.organization_id NOT IN (` + params(len(args)+1, len(fullOrg)) + `)`
		args = append(args, anys(fullOrg)...)
	}
	q += ` ORDER BY d.next_attempt_at LIMIT ` + strconv.Itoa(limit)
	rows, err := s.db.SQL.QueryContext(ctx, s.rebind(q), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []candidate
	for rows.Next() {
		var c candidate
		if err := rows.Scan(&c.id, &c.endpoint, &c.org); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// choose picks, among candidates, at most free deliveries that fit the
// per-endpoint and per-organization caps.
func (s *Service) choose(cands []candidate, free int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ep, org := map[string]int{}, map[string]int{}
	var ids []string
	for _, c := range cands {
		if len(ids) == free {
			break
		}
		if s.perEP[c.endpoint]+ep[c.endpoint] >= s.cfg.PerEndpoint || s.perOrg[c.org]+org[c.org] >= s.cfg.PerOrg {
			continue
		}
		ep[c.endpoint]++
		org[c.org]++
		ids = append(ids, c.id)
	}
	return ids
}

// claim takes the leases of the deliveries that are still due and
// unleased: on PostgreSQL rows another process is claiming are skipped,
// not waited for, and a row claimed since it was seen fails the
// condition when locked; on SQLite the statement runs alone. Each
// delivery is claimed by one process at a time.
func (s *Service) claim(ctx context.Context, ids []string) ([]claimed, error) {
	now := s.cfg.Now().UTC()
	args := append([]any{now.Add(s.lease()), s.owner, now}, anys(ids)...)
	due := `id IN (` + params(4, len(ids)) + `) AND status IN ('PENDING', 'FAILED') AND next_attempt_at <= $3 AND (lease_until IS NULL OR lease_until <= $3)`
	q := `UPDATE webhook_deliveries SET lease_until = $1, lease_owner = $2 WHERE ` + due
	if s.db.Dialect == dialect.Postgres {
		q = `UPDATE webhook_deliveries SET lease_until = $1, lease_owner = $2
WHERE id IN (SELECT id FROM webhook_deliveries WHERE ` + due + ` FOR UPDATE SKIP LOCKED)`
	}
	q += ` RETURNING id, organization_id, endpoint_id, event_id, payload, attempts`
	rows, err := s.db.SQL.QueryContext(ctx, s.rebind(q), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []claimed
	for rows.Next() {
		var d claimed
		if err := rows.Scan(&d.id, &d.org, &d.endpoint, &d.eventID, &d.payload, &d.attempts); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// findNextDue learns when the earliest delivery not due yet falls due,
// or the earliest lease runs out (a sender that died), to wake for it.
func (s *Service) findNextDue(ctx context.Context) {
	now := s.cfg.Now().UTC()
	for _, col := range []string{"next_attempt_at", "lease_until"} {
		var t sql.NullTime
		err := s.db.SQL.QueryRowContext(ctx, s.rebind(`SELECT d.`+col+` FROM webhook_deliveries d
JOIN webhook_endpoints e ON e.organization_id = d.organization_id AND e.id = d.endpoint_id
WHERE d.status IN ('PENDING', 'FAILED') AND e.enabled = $2 AND d.`+col+` > $1
ORDER BY d.`+col+` LIMIT 1`), now, true).Scan(&t)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			if ctx.Err() == nil {
				s.cfg.Log.Warn("webhooks: find the next due delivery", "err", err)
			}
			return
		}
		if t.Valid {
			s.dueAt(t.Time)
		}
	}
}

// start counts a claimed delivery in flight and sends it.
func (s *Service) start(ctx context.Context, d claimed) {
	s.mu.Lock()
	s.inFlight++
	s.perEP[d.endpoint]++
	s.perOrg[d.org]++
	s.mu.Unlock()
	s.sends.Add(1)
	go func() {
		defer func() {
			s.mu.Lock()
			s.inFlight--
			if s.perEP[d.endpoint]--; s.perEP[d.endpoint] == 0 {
				delete(s.perEP, d.endpoint)
			}
			if s.perOrg[d.org]--; s.perOrg[d.org] == 0 {
				delete(s.perOrg, d.org)
			}
			s.mu.Unlock()
			s.sends.Done()
			s.kick() // a slot is free
		}()
		s.send(ctx, d)
	}()
}

// target is what a send needs of its endpoint.
type target struct {
	url     string
	enabled bool
	secrets []string
	// sealErr: a stored secret does not open with this master key.
	sealErr error
}

func (s *Service) target(ctx context.Context, org, id string) (*target, error) {
	var t target
	var secret string
	var prev sql.NullString
	var prevUntil sql.NullTime
	err := s.db.SQL.QueryRowContext(ctx, s.rebind(`SELECT url, enabled, secret, previous_secret, previous_secret_expires_at FROM webhook_endpoints WHERE organization_id = $1 AND id = $2`), org, id).
		Scan(&t.url, &t.enabled, &secret, &prev, &prevUntil)
	if err != nil {
		return nil, err
	}
	stored := []string{secret}
	if prev.Valid && prev.String != "" && prevUntil.Valid && prevUntil.Time.After(s.cfg.Now()) {
		stored = append(stored, prev.String)
	}
	for _, v := range stored {
		plain, err := s.openSecret(org, id, v)
		if err != nil {
			// A failed attempt, not a read error: it follows the retry
			// schedule instead of being retried at every poll.
			t.sealErr = err
			break
		}
		t.secrets = append(t.secrets, plain)
	}
	return &t, nil
}

// send makes one attempt and records it.
func (s *Service) send(ctx context.Context, d claimed) {
	t, err := s.target(ctx, d.org, d.endpoint)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return // the endpoint was deleted, and its deliveries with it
	case err != nil:
		if ctx.Err() == nil {
			s.cfg.Log.Warn("webhooks: read endpoint", "endpoint", d.endpoint, "err", err)
		}
		s.unlease(d)
		return
	case !t.enabled:
		s.unlease(d)
		return
	}
	out := s.attempt(ctx, t, d)
	if ctx.Err() != nil {
		// Stopping: the attempt was cut, not answered; leave it due.
		s.unlease(d)
		return
	}
	if err := s.record(d, out); err != nil && !errors.Is(err, errLeaseLost) {
		s.cfg.Log.Warn("webhooks: record a delivery attempt", "delivery", d.id, "err", err)
	}
}

// outcome is what one attempt got.
type outcome struct {
	status  int // the answer's status; 0: no answer
	excerpt *string
	err     string
	kind    string
	took    time.Duration
}

func (o outcome) ok() bool { return o.status >= 200 && o.status < 300 }

// attempt POSTs the delivery, signed with every secret in use.
func (s *Service) attempt(ctx context.Context, t *target, d claimed) outcome {
	ts := s.cfg.Now().Unix()
	if t.sealErr != nil {
		return outcome{err: "the endpoint's secret cannot be read: " + t.sealErr.Error(), kind: KindConnection}
	}
	sig, err := signatures(t.secrets, d.eventID, ts, []byte(d.payload))
	if err != nil {
		return outcome{err: "the endpoint's secret cannot sign: " + err.Error(), kind: KindConnection}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, strings.NewReader(d.payload))
	if err != nil {
		return outcome{err: "the endpoint's URL cannot be requested", kind: KindConnection}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "entitled-webhooks/1")
	req.Header.Set("webhook-id", d.eventID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", sig)
	began := time.Now()
	res, err := s.client.Do(req)
	if err != nil {
		return outcome{err: describe(err), kind: classify(err), took: time.Since(began)}
	}
	defer res.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(res.Body, maxExcerpt))
	// Read a little more so the connection can be reused; never much.
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	out := outcome{status: res.StatusCode, took: time.Since(began)}
	if len(head) > 0 {
		text := excerpt(head)
		out.excerpt = &text
	}
	if !out.ok() {
		out.kind = KindHTTPStatus
		out.err = "the receiver answered " + res.Status
		if res.StatusCode >= 300 && res.StatusCode < 400 {
			out.err += " (redirects are not followed)"
		}
	}
	return out
}

// excerpt is the start of an answer as text any column holds.
func excerpt(b []byte) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "")
	for len(s) > maxExcerpt || !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// classify names why an attempt got no answer.
func classify(err error) string {
	var dnsErr *net.DNSError
	var blockErr *blockedError
	var certErr *tls.CertificateVerificationError
	var headerErr tls.RecordHeaderError
	var authErr x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalidErr x509.CertificateInvalidError
	var netErr net.Error
	switch {
	case errors.As(err, &blockErr):
		return KindBlocked
	case errors.As(err, &dnsErr):
		return KindDNS
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return KindTimeout
	case errors.As(err, &certErr), errors.As(err, &headerErr), errors.As(err, &authErr),
		errors.As(err, &hostErr), errors.As(err, &invalidErr), strings.Contains(err.Error(), "tls: "):
		return KindTLS
	}
	return KindConnection
}

// describe is an attempt's error for the delivery log: the transport's
// own words, without the request line Go puts in front.
func describe(err error) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	msg := err.Error()
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr):
		// Without the resolver's address: the deployment's, not the
		// receiver's.
		msg = "lookup " + dnsErr.Name + ": " + dnsErr.Err
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(msg, "Client.Timeout"):
		msg = "no answer within the timeout"
	}
	if len(msg) > 500 {
		msg = msg[:500]
	}
	return strings.ToValidUTF8(msg, "")
}

// record stores an attempt's outcome and the endpoint's health, in one
// transaction, if this process still holds the lease. A 410 Gone
// disables the endpoint (an event of the log, by the system); any other
// failure is retried on the schedule until it runs out.
func (s *Service) record(d claimed, o outcome) error {
	ctx, cancel := context.WithTimeout(tenant.OrgContext(context.Background(), d.org), 10*time.Second)
	defer cancel()
	now := s.cfg.Now().UTC()
	attempts := d.attempts + 1
	status := statusFailed
	var next, delivered *time.Time
	switch {
	case o.ok():
		status, delivered = statusSucceeded, &now
	case o.status == http.StatusGone:
		status = statusGaveUp
	case attempts <= len(s.cfg.RetrySchedule):
		t := now.Add(s.cfg.RetrySchedule[attempts-1])
		next = &t
	default:
		status = statusGaveUp
	}
	var lastErr, kind *string
	if !o.ok() {
		lastErr, kind = &o.err, &o.kind
	}
	var respStatus *int
	if o.status != 0 {
		respStatus = &o.status
	}
	ms := int(o.took.Milliseconds())
	err := store.WithTx(ctx, s.db.Client, func(tx *ent.Tx) error {
		// The endpoint's row before the delivery's: the order deleting
		// an endpoint (and its deliveries) takes them in.
		if err := s.health(ctx, tx, d, o, now); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, s.rebind(`UPDATE webhook_deliveries SET
	status = $1, attempts = $2, response_status = $3, response_body = $4, last_error = $5, error_kind = $6,
	duration_ms = $7, next_attempt_at = $8, delivered_at = COALESCE($9, delivered_at),
	lease_until = NULL, lease_owner = NULL, updated_at = $10
WHERE organization_id = $11 AND id = $12 AND lease_owner = $13`),
			status, attempts, respStatus, o.excerpt, lastErr, kind, ms, next, delivered, now, d.org, d.id, s.owner)
		if err != nil {
			return fmt.Errorf("record the attempt: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return errLeaseLost
		}
		if o.status == http.StatusGone {
			return s.disable(ctx, tx, d.endpoint)
		}
		return nil
	})
	if err == nil {
		s.cfg.Metrics.WebhookDelivery(strings.ToLower(status))
		if next != nil {
			s.dueAt(*next)
		}
	}
	return err
}

// health updates the endpoint's last success or failure.
func (s *Service) health(ctx context.Context, tx *ent.Tx, d claimed, o outcome, now time.Time) error {
	q := `UPDATE webhook_endpoints SET last_failure_at = $1, consecutive_failures = consecutive_failures + 1 WHERE organization_id = $2 AND id = $3`
	if o.ok() {
		q = `UPDATE webhook_endpoints SET last_success_at = $1, consecutive_failures = 0 WHERE organization_id = $2 AND id = $3`
	}
	if _, err := tx.ExecContext(ctx, s.rebind(q), now, d.org, d.endpoint); err != nil {
		return fmt.Errorf("record the endpoint's health: %w", err)
	}
	return nil
}

// disable turns an endpoint off after its receiver answered 410 Gone,
// and records it as the system's change.
func (s *Service) disable(ctx context.Context, tx *ent.Tx, id string) error {
	ep, err := s.lock(ctx, tx, id)
	if err != nil {
		return err
	}
	if !ep.Enabled {
		return nil
	}
	after, err := tx.WebhookEndpoint.UpdateOne(ep).
		SetEnabled(false).
		SetDisabledReason("the receiver answered 410 Gone").
		Save(ctx)
	if err != nil {
		return store.Translate(err, what)
	}
	_, err = s.events.Append(ctx, tx, events.Change{
		Action: actionUpdated, ResourceType: resourceType, ResourceID: id,
		Before: events.Snapshot(ep), After: events.Snapshot(after), Actor: events.SystemActor,
	})
	return err
}

// unlease gives a claimed delivery back, due as it was.
func (s *Service) unlease(d claimed) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.db.SQL.ExecContext(ctx, s.rebind(`UPDATE webhook_deliveries SET lease_until = NULL, lease_owner = NULL WHERE organization_id = $1 AND id = $2 AND lease_owner = $3`), d.org, d.id, s.owner); err != nil {
		s.cfg.Log.Debug("webhooks: release a delivery's lease", "delivery", d.id, "err", err)
	}
}

// params is "$from, $from+1, ..." for n values.
func params(from, n int) string {
	var b bytes.Buffer
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(from+i))
	}
	return b.String()
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
