# Tests of weekend_burst.rego: `opa test policy/rego policy/examples`.
package entitled.custom_test.weekend_burst

import data.entitled

saturday := "2026-11-28T12:00:00Z"

monday := "2026-11-30T12:00:00Z"

# 1000 API calls a month, 1100 used: over the hard cap.
over := {
	"now": saturday,
	"organization": {"id": "o1", "slug": "acme"},
	"instance": {
		"id": "i1", "slug": "eu-prod-1", "name": "EU prod", "metadata": {"region": "eu"},
		"startsAt": "2026-01-01T00:00:00Z", "expiresAt": null,
	},
	"license": {"id": "l1", "slug": "enterprise", "type": "PAID", "version": 3, "versionName": "v2.1", "isActive": true},
	"entitlement": {
		"id": "e1", "slug": "api-calls", "type": "NUMBER", "meterType": "RAW_EVENT",
		"aggregationMethod": "SUM", "resetPeriod": "MONTH",
	},
	"grant": {"type": "number", "value": 1000, "unlimited": false, "overagePercent": 0, "hardCap": 1000},
	"usage": {"current": 1100, "count": 1100},
	"request": {"requested": 1, "context": {}},
}

test_saturday_burst_granted if {
	d := entitled.decision with input as over
	d.allowed == true
	d.reason == "GRANTED_BY_POLICY"
	d.reasons == ["weekend burst: usage 1100 + requested 1 is within 1200 (hard cap 1000 + 20%)"]
}

test_sunday_burst_granted if {
	entitled.decision.reason == "GRANTED_BY_POLICY" with input as object.union(over, {"now": "2026-11-29T23:59:59Z"})
}

test_weekday_refused if {
	d := entitled.decision with input as object.union(over, {"now": monday})
	d.reason == "LIMIT_EXCEEDED"
}

test_burst_is_bounded if {
	entitled.decision.reason == "GRANTED_BY_POLICY" with input as object.union(over, {"usage": {"current": 1199}})
	entitled.decision.reason == "LIMIT_EXCEEDED" with input as object.union(over, {"usage": {"current": 1200}})
	entitled.decision.reason == "LIMIT_EXCEEDED" with input as object.union(over, {"request": {"requested": 101}})
}

test_within_limits_unchanged if {
	entitled.decision.reason == "ALLOWED" with input as object.union(over, {"usage": {"current": 10}})
}
