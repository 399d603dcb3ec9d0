package metering

import (
	"github.com/entitled/entitled/ent/entitlement"
	"time"
)

// Counter is what every aggregation needs for one period.
type Counter struct {
	Count    int64
	Sum      float64
	Min      *float64
	Max      *float64
	Latest   *float64
	LatestAt *time.Time
	// ResetAt, when set, is when resetUsage started the period afresh:
	// reports dated before it do not count.
	ResetAt *time.Time
}

// Add folds one report into the counter. LATEST keeps the report with the
// latest timestamp: a late-arriving older report does not override it (a
// report with an equal timestamp, arriving later, does).
func (c *Counter) Add(value float64, at time.Time) {
	if c.ResetAt != nil && at.Before(*c.ResetAt) {
		return // before a reset: in the ledger, not in the period's usage
	}
	c.Count++
	c.Sum += value
	if c.Min == nil || value < *c.Min {
		v := value
		c.Min = &v
	}
	if c.Max == nil || value > *c.Max {
		v := value
		c.Max = &v
	}
	if c.LatestAt == nil || !at.Before(*c.LatestAt) {
		v, t := value, at
		c.Latest, c.LatestAt = &v, &t
	}
}

// Value is the counter under an aggregation method. A period without
// reports is 0 for every method (MIN and MAX have no implicit zero once a
// report exists).
func (c *Counter) Value(method string) float64 {
	if c == nil || c.Count == 0 {
		return 0
	}
	switch method {
	case string(entitlement.AggregationMethodCOUNT):
		return float64(c.Count)
	case string(entitlement.AggregationMethodAVERAGE):
		return c.Sum / float64(c.Count)
	case string(entitlement.AggregationMethodMAX):
		return *c.Max
	case string(entitlement.AggregationMethodMIN):
		return *c.Min
	case string(entitlement.AggregationMethodLATEST):
		return *c.Latest
	default: // SUM
		return c.Sum
	}
}
