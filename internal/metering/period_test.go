package metering

import (
	"testing"
	"time"
)

func TestPeriodBoundaries(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct{ period, t, start, end string }{
		{"HOUR", "2026-11-28T12:59:59.999Z", "2026-11-28T12:00:00Z", "2026-11-28T13:00:00Z"},
		{"HOUR", "2026-11-28T13:00:00Z", "2026-11-28T13:00:00Z", "2026-11-28T14:00:00Z"},
		{"DAY", "2026-12-31T23:59:59Z", "2026-12-31T00:00:00Z", "2027-01-01T00:00:00Z"},
		{"WEEK", "2026-11-29T23:00:00Z", "2026-11-23T00:00:00Z", "2026-11-30T00:00:00Z"}, // Sunday
		{"WEEK", "2026-11-30T00:00:00Z", "2026-11-30T00:00:00Z", "2026-12-07T00:00:00Z"}, // Monday
		{"WEEK", "2027-01-01T10:00:00Z", "2026-12-28T00:00:00Z", "2027-01-04T00:00:00Z"}, // ISO week across years
		{"MONTH", "2024-02-29T12:00:00Z", "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z"},
		{"YEAR", "2026-11-28T12:00:00+05:00", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		{"DAY", "2026-11-28T23:30:00-02:00", "2026-11-29T00:00:00Z", "2026-11-30T00:00:00Z"}, // UTC, not local
	}
	for _, c := range cases {
		s, e, err := Period(c.period, at(c.t))
		if err != nil || !s.Equal(at(c.start)) || !e.Equal(at(c.end)) {
			t.Errorf("%s %s: got [%s, %s) %v, want [%s, %s)", c.period, c.t, s, e, err, c.start, c.end)
		}
	}
	if s, e, _ := Period("NONE", at("2026-11-28T12:00:00Z")); !s.Equal(Epoch) || !e.IsZero() {
		t.Errorf("NONE: [%s, %s)", s, e)
	}
	if _, _, err := Period("FORTNIGHT", time.Now()); err == nil {
		t.Error("unknown period accepted")
	}
}

func TestAggregations(t *testing.T) {
	base := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	var c Counter
	// Out of order: the report at +2s arrives before the one at +1s.
	c.Add(-5, base.Add(2*time.Second))
	c.Add(10, base.Add(1*time.Second))
	c.Add(0.1, base)
	want := map[string]float64{"COUNT": 3, "SUM": 5.1, "AVERAGE": 5.1 / 3, "MAX": 10, "MIN": -5, "LATEST": -5}
	for m, v := range want {
		if got := c.Value(m); got != v {
			t.Errorf("%s = %v, want %v", m, got, v)
		}
	}
	var only Counter
	only.Add(7, base)
	if only.Value("MIN") != 7 || only.Value("MAX") != 7 {
		t.Errorf("one report: MIN %v MAX %v, want 7 (no implicit zero)", only.Value("MIN"), only.Value("MAX"))
	}
	var empty *Counter
	if empty.Value("SUM") != 0 {
		t.Error("empty counter not 0")
	}
}
