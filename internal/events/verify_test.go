package events

import (
	"testing"
	"time"
)

// SQLite hands back a DATETIME column as time.Time, but should a column
// come back as text, each form a driver writes reads as the same instant.
func TestScanTimeReadsSQLiteText(t *testing.T) {
	want := time.Date(2026, 3, 3, 23, 36, 7, 123456000, time.UTC)
	for _, s := range []string{
		"2026-03-03 23:36:07.123456 +0000 UTC",
		"2026-03-03 23:36:07.123456+00:00",
		"2026-03-03T23:36:07.123456Z",
		"2026-03-03 23:36:07.123456",
	} {
		for _, v := range []any{s, []byte(s)} {
			got, err := scanTime(v)
			if err != nil || !got.Equal(want) || got.Location() != time.UTC {
				t.Errorf("scanTime(%q) = %v, %v", s, got, err)
			}
		}
	}
	if _, err := scanTime(42); err == nil {
		t.Error("scanTime(42) must fail")
	}
}
