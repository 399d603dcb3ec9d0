package metering

import (
	"fmt"
	"github.com/entitled/entitled/ent/entitlement"
	"time"
)

// Epoch is the period start of entitlements that never reset.
var Epoch = time.Unix(0, 0).UTC()

// Period returns the UTC calendar window [start, end) of the given reset
// period that t falls in. For NONE the window is [Epoch, zero): it never
// ends. Weeks are ISO weeks, starting on Monday.
func Period(resetPeriod string, t time.Time) (start, end time.Time, err error) {
	t = t.UTC()
	switch resetPeriod {
	case "", string(entitlement.ResetPeriodNONE):
		return Epoch, time.Time{}, nil
	case string(entitlement.ResetPeriodHOUR):
		start = t.Truncate(time.Hour)
		return start, start.Add(time.Hour), nil
	case string(entitlement.ResetPeriodDAY):
		start = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 0, 1), nil
	case string(entitlement.ResetPeriodWEEK):
		day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		offset := (int(day.Weekday()) + 6) % 7 // Monday = 0
		start = day.AddDate(0, 0, -offset)
		return start, start.AddDate(0, 0, 7), nil
	case string(entitlement.ResetPeriodMONTH):
		start = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 1, 0), nil
	case string(entitlement.ResetPeriodYEAR):
		start = time.Date(t.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(1, 0, 0), nil
	}
	return time.Time{}, time.Time{}, fmt.Errorf("unknown reset period %q", resetPeriod)
}

// Previous returns the start of the period before the one starting at start.
func Previous(resetPeriod string, start time.Time) time.Time {
	switch resetPeriod {
	case string(entitlement.ResetPeriodHOUR):
		return start.Add(-time.Hour)
	case string(entitlement.ResetPeriodDAY):
		return start.AddDate(0, 0, -1)
	case string(entitlement.ResetPeriodWEEK):
		return start.AddDate(0, 0, -7)
	case string(entitlement.ResetPeriodMONTH):
		return start.AddDate(0, -1, 0)
	case string(entitlement.ResetPeriodYEAR):
		return start.AddDate(-1, 0, 0)
	}
	return start
}
