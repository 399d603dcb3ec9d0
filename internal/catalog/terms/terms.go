// Package terms holds the shape of a license version's snapshot: what the
// license granted at that version, one Term per linked entitlement. It is a
// leaf (the ent schema stores it as JSON, so it cannot live in catalog,
// which imports ent); the rules for link values live with the grant in
// package policy.
package terms

// Term is one granted entitlement inside a license version snapshot.
type Term struct {
	EntitlementID   string         `json:"entitlementID"`
	EntitlementSlug string         `json:"entitlementSlug"`
	EntitlementType string         `json:"entitlementType"`
	Value           map[string]any `json:"value"`
	OveragePercent  *float64       `json:"overagePercent,omitempty"`
	// The metering of a NUMBER entitlement at that version (changing it
	// changes what the license grants).
	MeterType         *string `json:"meterType,omitempty"`
	AggregationMethod *string `json:"aggregationMethod,omitempty"`
	ResetPeriod       *string `json:"resetPeriod,omitempty"`
}
