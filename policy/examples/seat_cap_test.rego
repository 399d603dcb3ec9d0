# Tests of seat_cap.rego: `opa test policy/rego policy/examples`.
package entitled.custom_test.seat_cap

import data.entitled

seats(n) := {
	"now": "2026-11-25T12:00:00Z",
	"organization": {"id": "o1", "slug": "acme"},
	"instance": {
		"id": "i1", "slug": "eu-prod-1", "name": "EU prod", "metadata": {"region": "eu"},
		"startsAt": "2026-01-01T00:00:00Z", "expiresAt": null,
	},
	"license": {"id": "l1", "slug": "enterprise", "type": "PAID", "version": 3, "versionName": "v2.1", "isActive": true},
	"entitlement": {"id": "e3", "slug": "seats", "type": "CONFIG"},
	"grant": {"type": "object", "value": {"maxUsers": 50}},
	"request": {"requested": 1, "context": {"seats": n}},
}

test_within_cap_allowed if {
	entitled.decision.reason == "ALLOWED" with input as seats(50)
}

test_over_cap_denied if {
	d := entitled.decision with input as seats(51)
	d.allowed == false
	d.reason == "DENIED_BY_POLICY"
	d.reasons == [`51 seats requested, but "seats" allows at most 50 (maxUsers)`]
}

test_no_seats_in_context_unchanged if {
	entitled.decision.reason == "ALLOWED" with input as json.patch(seats(1), [{"op": "replace", "path": "/request/context", "value": {}}])
}

test_config_without_max_users_unchanged if {
	inp := json.patch(seats(1000), [{"op": "replace", "path": "/grant/value", "value": {"color": "blue"}}])
	entitled.decision.reason == "ALLOWED" with input as inp
}
