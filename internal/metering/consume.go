package metering

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/entitled/entitled/ent/usageevent"
	"time"

	"github.com/entitled/entitled/internal/apperr"
	"github.com/entitled/entitled/internal/platform/metrics"
	"github.com/entitled/entitled/policy"
)

// ConsumeInput is a check-and-record request.
type ConsumeInput struct {
	Instance       string
	Entitlement    string
	Amount         *float64 // default 1
	IdempotencyKey *string
}

func (in *ConsumeInput) hash(amount float64) string {
	return hashOf("consume", in.Instance, in.Entitlement, fmtFloat(amount))
}

// Decider is the decision the consume step asks first.
type Decider interface {
	Allowed(ctx context.Context, q policy.Question) (*policy.Decision, error)
}

// Consume records amount only if the policy allows it and the period's
// aggregate stays within the hard cap; it returns the decision. Under any
// concurrency, what is consumed never exceeds the cap: the check and the
// write happen under the counter's lock.
func (s *Service) Consume(ctx context.Context, dec Decider, in ConsumeInput) (*policy.Decision, error) {
	amount := 1.0
	if in.Amount != nil {
		amount = *in.Amount
	}
	if err := policy.Quantity(amount); err != nil {
		return nil, apperr.Invalid("amount", "%s", err)
	}
	if err := checkKey("idempotencyKey", in.IdempotencyKey); err != nil {
		return nil, err
	}
	_, t, err := s.resolve(ctx, in.Instance, in.Entitlement, "")
	if err != nil {
		return nil, err
	}
	hash := in.hash(amount)
	if in.IdempotencyKey != nil {
		if d, ok, err := s.replayConsume(ctx, t.orgID, *in.IdempotencyKey, hash); ok || err != nil {
			return d, err
		}
	}
	d, err := dec.Allowed(ctx, policy.Question{Instance: in.Instance, Entitlement: in.Entitlement, Requested: &amount})
	if err != nil {
		return nil, err
	}
	if !d.Allowed {
		s.metrics.Consume(false)
		return d, nil // refused by the rules: nothing recorded
	}
	now := s.now().UTC()
	start, end, err := Period(t.ent.ResetPeriod, now)
	if err != nil {
		return nil, err
	}
	m := &member{op: opConsume, t: t, start: start, end: end, ts: now, value: amount, hash: hash, id: newID("ue"), allowed: d}
	m.key = m.id
	if in.IdempotencyKey != nil {
		m.key, m.keyed = *in.IdempotencyKey, true
	}
	defer s.metrics.UsageWrite(metrics.UsageConsume, time.Now())
	if err := s.submit(ctx, m); err != nil {
		return nil, err
	}
	s.metrics.Consume(m.decision.Allowed && m.fresh)
	return m.decision, nil
}

func setFigures(d *policy.Decision, t target, usage float64) {
	u := usage
	d.Usage = &u
	if t.grant.Limited() {
		rem := t.grant.Remaining(usage)
		d.Remaining = &rem
	}
}

// replayConsume returns the decision first given for a key; ok is false
// when the key is new.
func (s *Service) replayConsume(ctx context.Context, orgID, key, hash string) (*policy.Decision, bool, error) {
	ev, err := s.ledgerRow(ctx, orgID, key)
	if err != nil || ev == nil {
		return nil, false, err
	}
	if ev.hash != hash || ev.kind != string(usageevent.KindCONSUME) {
		return nil, true, keyConflict(key, "was already used with a different request")
	}
	d, err := decisionOf(ev)
	return d, true, err
}

// decisionOf is the decision a consume's ledger row recorded.
func decisionOf(ev *ledgerRow) (*policy.Decision, error) {
	b, err := json.Marshal(ev.result)
	if err != nil {
		return nil, err
	}
	var d policy.Decision
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("decode replayed decision: %w", err)
	}
	return &d, nil
}
