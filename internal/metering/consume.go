package metering

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
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
	id := newID("ue")
	key := id
	if in.IdempotencyKey != nil {
		key = *in.IdempotencyKey
	}
	var out *policy.Decision
	var stored *Counter
	defer s.metrics.UsageWrite(metrics.UsageConsume, time.Now())
	err = tx(ctx, s, func(tx *sql.Tx) error {
		q := s.prepared(tx)
		c, err := s.lockCounter(ctx, q, t, start)
		if err != nil {
			return err
		}
		before := c.Value(t.method())
		c.Add(amount, now)
		after := c.Value(t.method())
		res := *d
		if !t.grant.Unlimited && after > t.grant.HardCap {
			res.Allowed = false
			res.Reason = policy.ReasonLimitExceeded
			res.Reasons = []string{fmt.Sprintf("usage %s + requested %s exceeds hard cap %s", fmtFloat(before), fmtFloat(amount), fmtFloat(t.grant.HardCap))}
			setFigures(&res, t, before)
			out = &res
			return nil // nothing recorded; the transaction only created an empty counter
		}
		if err := s.storeCounter(ctx, q, t, start, c); err != nil {
			return err
		}
		stored = c
		setFigures(&res, t, after)
		record, err := json.Marshal(&res)
		if err != nil {
			return err
		}
		inserted, err := s.insertEvent(ctx, q, event{id: id, t: t, kind: string(usageevent.KindCONSUME), value: amount, ts: now, start: start, key: key, hash: hash, aggregate: after, result: string(record)})
		if err != nil {
			return err
		}
		if !inserted {
			return errReplay
		}
		out = &res
		return s.thresholds(ctx, q, t, start, end, after)
	})
	if errors.Is(err, errReplay) {
		d, _, err := s.replayConsume(ctx, t.orgID, key, hash)
		return d, err
	}
	if err == nil {
		if stored != nil {
			s.remember(t.inst.Instance.ID, t.ent.ID, start, stored)
		}
		s.metrics.Consume(out.Allowed)
	}
	return out, err
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
		return nil, true, &apperr.Error{Code: apperr.Conflict, Field: "idempotencyKey", Message: fmt.Sprintf("idempotency key %q was already used with a different request", key)}
	}
	b, err := json.Marshal(ev.result)
	if err != nil {
		return nil, true, err
	}
	var d policy.Decision
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, true, fmt.Errorf("decode replayed decision: %w", err)
	}
	return &d, true, nil
}
