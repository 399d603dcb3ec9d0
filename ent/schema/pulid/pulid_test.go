package pulid

import (
	"crypto/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
)

func TestNewIsPrefixedUniqueAndSortable(t *testing.T) {
	a := New("lic")
	time.Sleep(2 * time.Millisecond)
	b := New("lic")
	if a == b || len(a) != 30 || Prefix(a) != "lic" || !strings.HasPrefix(a, "lic_") {
		t.Fatalf("bad ids %q %q", a, b)
	}
	if !(a < b) {
		t.Fatalf("ids not time-sortable: %q !< %q", a, b)
	}
	if Prefix("nounderscore") != "" || Prefix("_x") != "" {
		t.Fatal("Prefix accepted an unprefixed id")
	}
}

func TestIDIsAULID(t *testing.T) {
	before := ulid.Now()
	id := New("ue")
	after := ulid.Now()
	u, err := ulid.ParseStrict(strings.TrimPrefix(id, "ue_"))
	if err != nil {
		t.Fatalf("%q: %v", id, err)
	}
	if u.String() != id[len("ue_"):] {
		t.Fatalf("%q does not round-trip: %s", id, u)
	}
	if u.Time() < before || u.Time() > after {
		t.Fatalf("%q has time %d, want within [%d, %d]", id, u.Time(), before, after)
	}
}

func TestIDsSortInCreationOrderWithinAMillisecond(t *testing.T) {
	prev := New("x")
	sameMS := 0
	for i := 0; i < 10000; i++ {
		id := New("x")
		if id <= prev {
			t.Fatalf("id %d: %q does not sort after %q", i, id, prev)
		}
		if id[2:12] == prev[2:12] { // the 10 time characters
			sameMS++
		}
		prev = id
	}
	if sameMS == 0 {
		t.Fatal("no two ids shared a millisecond: the test proved nothing")
	}
}

func TestIDsSortAfterTheClockStepsBack(t *testing.T) {
	g := &generator{entropy: ulid.Monotonic(rand.Reader, 0)}
	a := g.next(1_000_000)
	b := g.next(999_000) // the clock went back a second
	c := g.next(1_000_000)
	if !(a.Compare(b) < 0 && b.Compare(c) < 0) {
		t.Fatalf("not monotonic: %s %s %s", a, b, c)
	}
}

func TestConcurrentIDsAreUnique(t *testing.T) {
	const workers, each = 8, 2000
	var mu sync.Mutex
	seen := make(map[string]bool, workers*each)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]string, 0, each)
			prev := ""
			for i := 0; i < each; i++ {
				id := New("c")
				if id <= prev {
					t.Errorf("%q does not sort after %q made before it", id, prev)
					return
				}
				prev = id
				mine = append(mine, id)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range mine {
				if seen[id] {
					t.Errorf("duplicate id %q", id)
				}
				seen[id] = true
			}
		}()
	}
	wg.Wait()
}
