package pulid

import (
	"testing"
	"time"
)

func TestNewIsPrefixedUniqueAndSortable(t *testing.T) {
	a := New("lic")
	time.Sleep(2 * time.Millisecond)
	b := New("lic")
	if a == b || len(a) != 30 || Prefix(a) != "lic" {
		t.Fatalf("bad ids %q %q", a, b)
	}
	if !(a < b) {
		t.Fatalf("ids not time-sortable: %q !< %q", a, b)
	}
	if Prefix("nounderscore") != "" || Prefix("_x") != "" {
		t.Fatal("Prefix accepted an unprefixed id")
	}
}

func TestIDsSortInCreationOrderWithinAMillisecond(t *testing.T) {
	prev := New("x")
	for i := 0; i < 10000; i++ {
		id := New("x")
		if id <= prev {
			t.Fatalf("id %d: %q does not sort after %q", i, id, prev)
		}
		prev = id
	}
}
