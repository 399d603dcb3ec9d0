package metering

import (
	"sync"
	"sync/atomic"
	"testing"
)

// The grouper commits each row's calls in groups, one group of a row at a
// time, every call exactly once, and answers each call after its own
// group's commit. Run with -race.
func TestGrouperCommitsEachCallOnceOneGroupPerRowAtATime(t *testing.T) {
	var g grouper
	const rows, perRow = 4, 300
	var busy [rows]atomic.Int32
	var groups, committed atomic.Int64
	var mu sync.Mutex
	seen := map[*member]int{}
	var wg sync.WaitGroup
	for r := 0; r < rows; r++ {
		for i := 0; i < perRow; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m := &member{}
				k := rowKey{instanceID: string(rune('a' + r))}
				g.submit(k, m, func(batch []*member) {
					if busy[r].Add(1) != 1 {
						t.Errorf("row %d: two groups committing at once", r)
					}
					if len(batch) == 0 || len(batch) > MaxGroup {
						t.Errorf("group of %d", len(batch))
					}
					mu.Lock()
					for _, b := range batch {
						seen[b]++
						b.fresh = true // the outcome, set before done
					}
					mu.Unlock()
					groups.Add(1)
					committed.Add(int64(len(batch)))
					busy[r].Add(-1)
				})
				if !m.fresh {
					t.Errorf("answered before its group committed")
				}
			}()
		}
	}
	wg.Wait()
	if committed.Load() != rows*perRow || len(seen) != rows*perRow {
		t.Fatalf("committed %d calls (%d distinct), want %d", committed.Load(), len(seen), rows*perRow)
	}
	for m, n := range seen {
		if n != 1 {
			t.Fatalf("a call committed %d times (%p)", n, m)
		}
	}
	if len(g.rows) != 0 {
		t.Fatalf("%d idle rows left queued", len(g.rows))
	}
	t.Logf("%d calls in %d groups", committed.Load(), groups.Load())
}
