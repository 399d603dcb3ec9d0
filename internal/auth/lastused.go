package auth

import (
	"context"
	"fmt"
	"time"

	entsql "entgo.io/ent/dialect/sql"

	"github.com/entitled/entitled/ent/apikey"
)

// lastUsedEvery is how often, at most, this process writes a key's
// last_used_at. Authentication only notes the time in memory; a goroutine
// writes the noted times, so a request never waits for that write and a
// cached key costs no SQL.
const lastUsedEvery = time.Minute

// lastUsedTimeout bounds one batch of writes.
const lastUsedTimeout = 10 * time.Second

// lastUsed remembers when keys were last noted, and the noted times not yet
// written.
type lastUsed struct {
	noted    map[usedKey]time.Time
	pending  map[usedKey]time.Time
	flushing bool
}

// usedKey names a key with its organization: every statement on a tenant
// table names its organization (docs/scaling.md).
type usedKey struct{ org, id string }

// touch notes that key id authenticated a request at now, when its last
// note is a minute old or more, and starts the writer if it is idle.
func (s *Service) touch(org, id string, now time.Time) {
	if id == "" {
		return
	}
	k := usedKey{org, id}
	s.usedMu.Lock()
	if last, ok := s.used.noted[k]; ok && now.Sub(last) < lastUsedEvery && !now.Before(last) {
		s.usedMu.Unlock()
		return
	}
	if len(s.used.noted) >= maxKeys {
		clear(s.used.noted) // at worst one extra write per key
	}
	s.used.noted[k] = now
	s.used.pending[k] = now
	start := !s.used.flushing
	s.used.flushing = true
	s.usedMu.Unlock()
	if start {
		s.usedWG.Add(1)
		go func() {
			defer s.usedWG.Done()
			s.flushLoop()
		}()
	}
}

// flushLoop writes the pending times until none is left.
func (s *Service) flushLoop() {
	for {
		s.usedMu.Lock()
		batch := s.used.pending
		if len(batch) == 0 {
			s.used.flushing = false
			s.usedMu.Unlock()
			return
		}
		s.used.pending = map[usedKey]time.Time{}
		s.usedMu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), lastUsedTimeout)
		if err := s.writeLastUsed(ctx, batch); err != nil {
			s.log.Warn("recording when API keys were last used", "err", err, "keys", len(batch))
		}
		cancel()
	}
}

// FlushLastUsed waits for the writer, then writes what is still noted, so
// the times of the last requests are not lost at shutdown.
func (s *Service) FlushLastUsed(ctx context.Context) error {
	s.usedWG.Wait()
	s.usedMu.Lock()
	batch := s.used.pending
	s.used.pending = map[usedKey]time.Time{}
	s.usedMu.Unlock()
	return s.writeLastUsed(ctx, batch)
}

// writeLastUsed sets last_used_at, to the minute, of each key in batch
// whose stored time is older. It writes only that column: using a key is
// not a change of it (updated_at, the change feed and the event log stay
// as they are).
func (s *Service) writeLastUsed(ctx context.Context, batch map[usedKey]time.Time) error {
	for k, t := range batch {
		t = t.UTC().Truncate(time.Minute)
		b := entsql.Dialect(s.dialect)
		q, args := b.Update(apikey.Table).
			Set(apikey.FieldLastUsedAt, t).
			Where(entsql.And(
				entsql.EQ(apikey.FieldOrganizationID, k.org),
				entsql.EQ(apikey.FieldID, k.id),
				entsql.Or(entsql.IsNull(apikey.FieldLastUsedAt), entsql.LT(apikey.FieldLastUsedAt, t)),
			)).Query()
		if _, err := s.sql.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("set last_used_at of API key %s: %w", k.id, err)
		}
	}
	return nil
}
