# Unit tests of the default rules: `opa test policy/rego` (also with custom
# modules loaded, e.g. `opa test policy/rego policy/examples`: the tests read
# data.entitled.base, the default rules' decision, which custom modules
# cannot change; decision_test.rego tests the entry point).
package entitled_test

import data.entitled

number_input := {
	"now": "2026-11-28T12:00:00Z",
	"organization": {"id": "o1", "slug": "acme"},
	"instance": {
		"id": "i1", "slug": "eu-prod-1", "name": "EU prod", "metadata": {},
		"startsAt": "2026-01-01T00:00:00Z", "expiresAt": "2027-01-01T00:00:00Z",
	},
	"license": {
		"id": "l1", "slug": "enterprise", "type": "PAID", "version": 3,
		"versionName": "v2.1", "isActive": true,
	},
	"entitlement": {
		"id": "e1", "slug": "api-calls", "type": "NUMBER", "meterType": "RAW_EVENT",
		"aggregationMethod": "SUM", "resetPeriod": "MONTH",
	},
	"grant": {"type": "number", "value": 100, "unlimited": false, "overagePercent": 10, "hardCap": 110},
	"usage": {"current": 42, "count": 7},
	"request": {"requested": 1, "context": {}},
}

# object.union merges recursively, so whole parts are replaced with json.patch.
boolean_input := json.patch(number_input, [
	{"op": "replace", "path": "/entitlement", "value": {"id": "e2", "slug": "sso", "type": "BOOLEAN"}},
	{"op": "replace", "path": "/grant", "value": {"type": "boolean", "value": true}},
	{"op": "remove", "path": "/usage"},
])

config_input := json.patch(number_input, [
	{"op": "replace", "path": "/entitlement", "value": {"id": "e3", "slug": "theme", "type": "CONFIG"}},
	{"op": "replace", "path": "/grant", "value": {"type": "object", "value": {"color": "blue"}}},
	{"op": "remove", "path": "/usage"},
])

reason := entitled.base.reason

test_number_allowed if {
	d := entitled.base with input as number_input
	d == {"allowed": true, "reason": "ALLOWED", "reasons": []}
}

test_boolean_allowed if reason == "ALLOWED" with input as boolean_input

test_config_allowed if reason == "ALLOWED" with input as config_input

test_instance_not_found if {
	d := entitled.base with input as {"now": "2026-11-28T12:00:00Z", "request": {"requested": 1, "context": {}}}
	d == {"allowed": false, "reason": "INSTANCE_NOT_FOUND", "reasons": ["instance not found"]}
}

test_instance_null_not_found if reason == "INSTANCE_NOT_FOUND" with input as object.union(number_input, {"instance": null})

test_entitlement_not_found if {
	d := entitled.base with input as object.remove(number_input, ["entitlement", "grant", "usage"])
	d.reason == "ENTITLEMENT_NOT_FOUND"
	d.reasons == ["entitlement not found"]
}

test_no_license if {
	d := entitled.base with input as object.union(number_input, {"license": null, "grant": null})
	d.reason == "NO_LICENSE"
	d.reasons == ["instance \"eu-prod-1\" has no license"]
}

test_license_inactive if {
	d := entitled.base with input as json.patch(number_input, [{"op": "replace", "path": "/license/isActive", "value": false}])
	d.reason == "LICENSE_INACTIVE"
	d.reasons == ["license \"enterprise\" is inactive"]
}

test_license_active_flag_missing_is_inactive if {
	reason == "LICENSE_INACTIVE" with input as json.patch(number_input, [{"op": "remove", "path": "/license/isActive"}])
}

test_not_started if {
	reason == "LICENSE_NOT_STARTED" with input as object.union(number_input, {"now": "2025-12-31T23:59:59Z"})
}

test_started_exactly_at_starts_at if {
	reason == "ALLOWED" with input as object.union(number_input, {"now": "2026-01-01T00:00:00Z"})
}

test_expired_exactly_at_expires_at if {
	d := entitled.base with input as object.union(number_input, {"now": "2027-01-01T00:00:00Z"})
	d.reason == "LICENSE_EXPIRED"
	d.reasons == ["license of instance \"eu-prod-1\" expired at 2027-01-01T00:00:00Z"]
}

test_one_second_before_expiry_allowed if {
	reason == "ALLOWED" with input as object.union(number_input, {"now": "2026-12-31T23:59:59Z"})
}

test_expiry_null_never_expires if {
	inp := json.patch(number_input, [
		{"op": "replace", "path": "/instance/expiresAt", "value": null},
		{"op": "replace", "path": "/now", "value": "2099-01-01T00:00:00Z"},
	])
	reason == "ALLOWED" with input as inp
}

test_missing_now_fails_closed if {
	d := entitled.base with input as object.remove(number_input, ["now"])
	d.allowed == false
	d.reason == "LICENSE_NOT_STARTED"
}

test_not_entitled if {
	d := entitled.base with input as object.remove(number_input, ["grant"])
	d.reason == "NOT_ENTITLED"
	d.reasons == ["license \"enterprise\" does not grant entitlement \"api-calls\""]
}

test_feature_disabled if {
	d := entitled.base with input as json.patch(boolean_input, [{"op": "replace", "path": "/grant/value", "value": false}])
	d.reason == "FEATURE_DISABLED"
	d.reasons == ["feature \"sso\" is disabled by license \"enterprise\""]
}

test_soft_limit_within_overage if {
	reason == "ALLOWED" with input as json.patch(number_input, [{"op": "replace", "path": "/usage/current", "value": 105}])
}

test_hard_cap_reached if {
	d := entitled.base with input as json.patch(number_input, [{"op": "replace", "path": "/usage/current", "value": 110}])
	d.reason == "LIMIT_EXCEEDED"
	d.reasons == ["usage 110 + requested 1 exceeds hard cap 110"]
}

test_requested_defaults_to_one if {
	inp := json.patch(number_input, [
		{"op": "replace", "path": "/usage/current", "value": 109},
		{"op": "remove", "path": "/request/requested"},
	])
	reason == "ALLOWED" with input as inp
	reason == "LIMIT_EXCEEDED" with input as json.patch(inp, [{"op": "replace", "path": "/usage/current", "value": 110}])
}

test_requested_larger_than_remaining if {
	reason == "LIMIT_EXCEEDED" with input as json.patch(number_input, [{"op": "replace", "path": "/request/requested", "value": 69}])
	reason == "ALLOWED" with input as json.patch(number_input, [{"op": "replace", "path": "/request/requested", "value": 68}])
}

test_usage_absent_counts_zero if {
	inp := json.patch(object.remove(number_input, ["usage"]), [{"op": "replace", "path": "/request/requested", "value": 110}])
	reason == "ALLOWED" with input as inp
}

test_hard_cap_computed_when_absent if {
	inp := json.patch(number_input, [
		{"op": "remove", "path": "/grant/hardCap"},
		{"op": "replace", "path": "/usage/current", "value": 109},
	])
	reason == "ALLOWED" with input as inp
	reason == "LIMIT_EXCEEDED" with input as json.patch(inp, [{"op": "replace", "path": "/usage/current", "value": 110}])
}

test_unlimited if {
	inp := json.patch(number_input, [
		{"op": "replace", "path": "/grant", "value": {"type": "number", "value": -1, "unlimited": true, "overagePercent": 0, "hardCap": null}},
		{"op": "replace", "path": "/usage/current", "value": 1e12},
	])
	reason == "ALLOWED" with input as inp
}

test_number_without_numeric_value_refused if {
	d := entitled.base with input as json.patch(number_input, [{"op": "replace", "path": "/grant", "value": {"type": "number", "value": "lots"}}])
	d.reason == "LIMIT_EXCEEDED"
	d.reasons == ["entitlement \"api-calls\" has no numeric limit"]
}

test_unknown_entitlement_type_not_entitled if {
	reason == "NOT_ENTITLED" with input as json.patch(number_input, [{"op": "replace", "path": "/entitlement/type", "value": "BOGUS"}])
}

test_starts_at_null_no_lower_bound if {
	inp := json.patch(number_input, [
		{"op": "replace", "path": "/instance/startsAt", "value": null},
		{"op": "replace", "path": "/now", "value": "1999-01-01T00:00:00Z"},
	])
	reason == "ALLOWED" with input as inp
}

test_requested_null_defaults_to_one if {
	inp := json.patch(number_input, [
		{"op": "replace", "path": "/usage/current", "value": 110},
		{"op": "replace", "path": "/request/requested", "value": null},
	])
	d := entitled.base with input as inp
	d.reasons == ["usage 110 + requested 1 exceeds hard cap 110"]
}

# The fast path (base) and the ordered chain (checked) agree.
test_fast_path_agrees_with_chain if {
	over := json.patch(number_input, [{"op": "replace", "path": "/usage/current", "value": 500}])
	disabled := json.patch(boolean_input, [{"op": "replace", "path": "/grant/value", "value": false}])
	every inp in [number_input, boolean_input, config_input, over, disabled] {
		b := entitled.base with input as inp
		c := entitled.checked with input as inp
		b == c
	}
}
