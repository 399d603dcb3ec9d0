package metering

import (
	"testing"
	"time"
)

func TestNewerCounter(t *testing.T) {
	t0 := time.Unix(100, 0)
	t1 := t0.Add(time.Minute)
	for _, c := range []struct {
		a, b Counter
		want bool
	}{
		{Counter{Count: 5}, Counter{Count: 3}, true},
		{Counter{Count: 3}, Counter{Count: 5}, false},
		{Counter{Count: 3}, Counter{Count: 3}, false},
		{Counter{Count: 0, ResetAt: &t0}, Counter{Count: 9}, true},  // reset after a read
		{Counter{Count: 9}, Counter{Count: 0, ResetAt: &t0}, false}, // a read before the reset
		{Counter{Count: 1, ResetAt: &t1}, Counter{Count: 7, ResetAt: &t0}, true},
		{Counter{Count: 7, ResetAt: &t0}, Counter{Count: 1, ResetAt: &t1}, false},
		{Counter{Count: 4, ResetAt: &t0}, Counter{Count: 2, ResetAt: &t0}, true},
	} {
		if got := newer(&c.a, &c.b); got != c.want {
			t.Errorf("newer(%+v, %+v) = %v", c.a, c.b, got)
		}
	}
}
