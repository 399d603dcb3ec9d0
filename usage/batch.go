package usage

import (
	"context"
	"fmt"
	"strings"
	"time"

	"entgo.io/ent/dialect"

	"github.com/entitled/entitled/apperr"
	"github.com/entitled/entitled/ent"
)

type batchItem struct {
	in     *ReportInput
	t      target
	ts     time.Time
	start  time.Time
	end    time.Time
	hash   string
	key    string
	id     string
	result *ReportResult
	fresh  bool
}

type groupKey struct {
	instanceID, entitlementID string
	start                     time.Time
}

// ReportBatch records many reports in one transaction: all or nothing.
// Errors name the item ("inputs[3].value"). Replayed keys return their
// first results and count nothing again.
func (s *Service) ReportBatch(ctx context.Context, inputs []*ReportInput) ([]*ReportResult, error) {
	if len(inputs) == 0 {
		return []*ReportResult{}, nil
	}
	if len(inputs) > MaxBatch {
		return nil, apperr.Invalid("inputs", "at most %d reports per call, got %d", MaxBatch, len(inputs))
	}
	now := s.now()
	items := make([]batchItem, len(inputs))
	for i := range inputs {
		prefix := fmt.Sprintf("inputs[%d].", i)
		in := inputs[i]
		if in == nil {
			return nil, apperr.Invalid(prefix[:len(prefix)-1], "must not be null")
		}
		_, t, err := s.resolve(ctx, in.Instance, in.Entitlement, prefix)
		if err != nil {
			return nil, err
		}
		ts, err := in.validate(t, now, prefix)
		if err != nil {
			return nil, err
		}
		start, end, err := Period(t.ent.ResetPeriod, ts)
		if err != nil {
			return nil, err
		}
		it := batchItem{in: in, t: t, ts: ts, start: start, end: end, hash: in.hash(), id: newID("ue")}
		it.key = it.id
		if in.IdempotencyKey != nil {
			it.key = *in.IdempotencyKey
		}
		items[i] = it
	}
	orgID := items[0].t.orgID
	err := tx(ctx, s, func(tx *ent.Tx) error {
		// Keys seen before, in the ledger or earlier in this batch.
		known, err := s.knownKeys(ctx, tx, orgID, items)
		if err != nil {
			return err
		}
		firstInBatch := map[string]int{}
		groups := map[groupKey]*Counter{}
		var order []groupKey
		for i := range items {
			it := &items[i]
			if ev, ok := known[it.key]; ok {
				if ev.RequestHash != it.hash {
					return &apperr.Error{Code: apperr.Conflict, Field: fmt.Sprintf("inputs[%d].idempotencyKey", i), Message: fmt.Sprintf("idempotency key %q was already used with a different request", it.key)}
				}
				it.result = fromRecord(it.t, ev)
				continue
			}
			if j, ok := firstInBatch[it.key]; ok {
				if items[j].hash != it.hash {
					return &apperr.Error{Code: apperr.Conflict, Field: fmt.Sprintf("inputs[%d].idempotencyKey", i), Message: fmt.Sprintf("idempotency key %q is used twice in this batch with different requests", it.key)}
				}
				r := *items[j].result
				r.Replayed = true
				it.result = &r
				continue
			}
			firstInBatch[it.key] = i
			g := groupKey{it.t.inst.Instance.ID, it.t.ent.ID, it.start}
			c, ok := groups[g]
			if !ok {
				if c, err = s.lockCounter(ctx, tx, it.t, it.start); err != nil {
					return err
				}
				groups[g] = c
				order = append(order, g)
			}
			c.Add(it.in.Value, it.ts)
			it.result = result(it.t, c, it.start, it.end)
			it.fresh = true
		}
		last := map[groupKey]*batchItem{}
		for i := range items {
			if items[i].fresh {
				last[groupKey{items[i].t.inst.Instance.ID, items[i].t.ent.ID, items[i].start}] = &items[i]
			}
		}
		for _, g := range order {
			it := last[g]
			if err := s.storeCounter(ctx, tx, it.t, it.start, groups[g]); err != nil {
				return err
			}
			if err := s.thresholds(ctx, tx, it.t, it.start, groups[g].Value(it.t.method())); err != nil {
				return err
			}
		}
		return s.insertEvents(ctx, tx, items)
	})
	if err != nil {
		return nil, err
	}
	out := make([]*ReportResult, len(items))
	for i := range items {
		out[i] = items[i].result
	}
	return out, nil
}

// knownKeys reads the ledger rows of the batch's keys.
func (s *Service) knownKeys(ctx context.Context, tx *ent.Tx, orgID string, items []batchItem) (map[string]*ent.UsageEvent, error) {
	var keys []string
	for _, it := range items {
		if it.in.IdempotencyKey != nil {
			keys = append(keys, it.key)
		}
	}
	out := map[string]*ent.UsageEvent{}
	for len(keys) > 0 {
		n := min(len(keys), 500)
		evs, err := tx.UsageEvent.Query().Where(usageeventKeyIn(keys[:n])).All(ctx)
		if err != nil {
			return nil, fmt.Errorf("read idempotency keys: %w", err)
		}
		for _, ev := range evs {
			out[ev.IdempotencyKey] = ev
		}
		keys = keys[n:]
	}
	return out, nil
}

// insertEvents appends the batch's new reports in multi-row statements.
func (s *Service) insertEvents(ctx context.Context, tx *ent.Tx, items []batchItem) error {
	const cols = 13
	const perStmt = 400
	var fresh []*batchItem
	for i := range items {
		if items[i].fresh {
			fresh = append(fresh, &items[i])
		}
	}
	now := s.now().UTC()
	for len(fresh) > 0 {
		n := min(len(fresh), perStmt)
		var b strings.Builder
		b.WriteString(`INSERT INTO usage_events (id, organization_id, instance_id, entitlement_id, kind, value, "timestamp", period_start, recorded_at, idempotency_key, request_hash, aggregate, result) VALUES `)
		args := make([]any, 0, n*cols)
		for i, it := range fresh[:n] {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('(')
			for c := 0; c < cols; c++ {
				if c > 0 {
					b.WriteByte(',')
				}
				if s.dialect == dialect.Postgres {
					fmt.Fprintf(&b, "$%d", i*cols+c+1)
				} else {
					b.WriteByte('?')
				}
			}
			b.WriteByte(')')
			res, err := jsonString(it.result.record())
			if err != nil {
				return err
			}
			args = append(args, it.id, it.t.orgID, it.t.inst.Instance.ID, it.t.ent.ID, "REPORT", it.in.Value, it.ts, it.start.UTC(), now, it.key, it.hash, it.result.Usage.Value, res)
		}
		b.WriteString(" ON CONFLICT (organization_id, idempotency_key) DO NOTHING")
		r, err := tx.ExecContext(ctx, b.String(), args...)
		if err != nil {
			return fmt.Errorf("append usage events: %w", err)
		}
		if got, err := r.RowsAffected(); err != nil || got != int64(n) {
			// Another request used one of these keys at the same moment.
			return apperr.Conflictf("an idempotency key of this batch was used concurrently by another request; retry the batch")
		}
		fresh = fresh[n:]
	}
	return nil
}
