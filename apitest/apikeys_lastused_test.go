package apitest

import (
	"context"
	"testing"
	"time"

	"github.com/entitled/entitled/internal/testenv"
)

// An API key's lastUsedAt is written coarsely: to the minute, at most once
// a minute per key, off the request path, without making the key look
// changed; a request with a cached key within the minute runs no SQL.
func TestAPIKeyLastUsedAt(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		t0 := time.Date(2026, 12, 8, 10, 0, 20, 0, time.UTC)
		c.SetNow(t0)
		admin := c.NewOrg("acme")
		read := c.NewKey(admin, "READ")
		flush := func() {
			t.Helper()
			if err := c.App.Auth.FlushLastUsed(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		// lastUsed is the READ key's lastUsedAt (zero: never) and updatedAt.
		lastUsed := func() (time.Time, string) {
			t.Helper()
			flush()
			d := c.MustDo(admin, `{ apiKeys { name lastUsedAt updatedAt } }`, nil)
			for _, k := range testenv.Get(d, "apiKeys").([]any) {
				if testenv.Str(k, "name") != "key READ" {
					continue
				}
				var at time.Time
				if s := testenv.Str(k, "lastUsedAt"); s != "" {
					var err error
					if at, err = time.Parse(time.RFC3339Nano, s); err != nil {
						t.Fatalf("lastUsedAt %q: %v", s, err)
					}
				}
				return at, testenv.Str(k, "updatedAt")
			}
			t.Fatalf("no READ key in %v", d)
			return time.Time{}, ""
		}

		at, updated := lastUsed()
		if !at.IsZero() {
			t.Fatalf("a key never used has lastUsedAt %v", at)
		}
		c.MustDo(read, `{ licenses { totalCount } }`, nil)
		at, updatedAfter := lastUsed()
		if want := t0.Truncate(time.Minute); !at.Equal(want) {
			t.Fatalf("lastUsedAt after a request at %v: %v, want %v", t0, at, want)
		}
		if updatedAfter != updated {
			t.Fatalf("using the key changed its updatedAt from %s to %s", updated, updatedAfter)
		}

		// Within the minute the cached key is neither read nor written.
		c.SetNow(t0.Add(30 * time.Second))
		least := int64(-1)
		for i := 0; i < 3; i++ {
			before := c.Queries.Load()
			c.MustDo(read, `{ __typename }`, nil)
			flush()
			if n := c.Queries.Load() - before; least < 0 || n < least {
				least = n
			}
		}
		if least != 0 {
			t.Fatalf("a request with a cached key ran %d SQL statements within the minute", least)
		}
		if at, _ := lastUsed(); !at.Equal(t0.Truncate(time.Minute)) {
			t.Fatalf("lastUsedAt moved within the minute: %v", at)
		}

		// A minute after the last write, the next request is recorded.
		c.SetNow(t0.Add(61 * time.Second))
		c.MustDo(read, `{ __typename }`, nil)
		if at, _ := lastUsed(); !at.Equal(t0.Add(time.Minute).Truncate(time.Minute)) {
			t.Fatalf("lastUsedAt a minute later: %v, want %v", at, t0.Add(time.Minute).Truncate(time.Minute))
		}
	})
}
