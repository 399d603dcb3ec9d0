package metering

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/entitled/entitled/internal/apperr"
	"github.com/entitled/entitled/internal/platform/metrics"
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
	var counters map[groupKey]*Counter
	defer s.metrics.UsageWrite(metrics.UsageBatch, time.Now())
	var err error
	for attempt := 1; attempt <= keyRaceAttempts; attempt++ {
		// A key committed meanwhile by another request (this batch retried
		// while its first attempt was in flight) fails the ledger write:
		// run again, the batch finds the key and replays it.
		if err = s.reportBatch(ctx, orgID, items, &counters); !errors.Is(err, errKeyRace) {
			break
		}
	}
	if errors.Is(err, errKeyRace) {
		err = apperr.Conflictf("an idempotency key of this batch is being used concurrently by other requests; retry the batch")
	}
	if err != nil {
		return nil, err
	}
	for g, c := range counters {
		s.remember(g.instanceID, g.entitlementID, g.start, c)
	}
	out := make([]*ReportResult, len(items))
	fresh := 0
	for i := range items {
		out[i] = items[i].result
		if items[i].fresh {
			fresh++
		}
	}
	s.metrics.Reports(fresh)
	return out, nil
}

// reportBatch is one attempt at a batch's transaction.
func (s *Service) reportBatch(ctx context.Context, orgID string, items []batchItem, counters *map[groupKey]*Counter) error {
	return tx(ctx, s, func(tx *sql.Tx) error {
		for i := range items {
			items[i].result, items[i].fresh = nil, false
		}
		q := s.prepared(tx)
		// Keys seen before, in the ledger or earlier in this batch.
		known, err := s.knownKeys(ctx, tx, orgID, items)
		if err != nil {
			return err
		}
		firstInBatch := map[string]int{}
		groups := map[groupKey]*Counter{}
		*counters = groups
		var order []groupKey
		for i := range items {
			it := &items[i]
			if ev, ok := known[it.key]; ok {
				if ev.hash != it.hash {
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
				if c, err = s.lockCounter(ctx, q, it.t, it.start); err != nil {
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
			if err := s.storeCounter(ctx, q, it.t, it.start, groups[g]); err != nil {
				return err
			}
			if err := s.thresholds(ctx, q, it.t, it.start, it.end, groups[g].Value(it.t.method())); err != nil {
				return err
			}
		}
		if err := s.insertEvents(ctx, tx, items); err != nil {
			return err
		}
		notes := make([]note, 0, len(order))
		for _, g := range order {
			notes = append(notes, noteOf(g.instanceID, g.entitlementID, g.start, groups[g]))
		}
		return s.notify(ctx, q, notes)
	})
}

// knownKeys reads the ledger rows of the batch's keys.
func (s *Service) knownKeys(ctx context.Context, tx *sql.Tx, orgID string, items []batchItem) (map[string]*ledgerRow, error) {
	var keys []string
	for _, it := range items {
		if it.in.IdempotencyKey != nil {
			keys = append(keys, it.key)
		}
	}
	return s.ledgerRows(ctx, tx, orgID, keys)
}
