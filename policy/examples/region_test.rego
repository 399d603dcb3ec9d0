# Tests of region.rego: `opa test policy/rego policy/examples`.
package entitled.custom_test.region

import data.entitled
import data.entitled.custom.region

base_input := {
	"now": "2026-11-25T12:00:00Z",
	"organization": {"id": "o1", "slug": "acme"},
	"instance": {
		"id": "i1", "slug": "eu-prod-1", "name": "EU prod", "metadata": {"region": "eu"},
		"startsAt": "2026-01-01T00:00:00Z", "expiresAt": null,
	},
	"license": {"id": "l1", "slug": "enterprise", "type": "PAID", "version": 3, "versionName": "v2.1", "isActive": true},
	"entitlement": {"id": "e2", "slug": "sso", "type": "BOOLEAN"},
	"grant": {"type": "boolean", "value": true},
	"request": {"requested": 1, "context": {}},
}

in_region(r) := json.patch(base_input, [{"op": "replace", "path": "/instance/metadata", "value": {"region": r}}])

test_allowed_region if {
	d := entitled.decision with input as base_input
	d.reason == "ALLOWED"
}

test_other_region_denied if {
	d := entitled.decision with input as in_region("apac")
	d.allowed == false
	d.reason == "DENIED_BY_POLICY"
	d.reasons == [`instance "eu-prod-1" is in region apac, which is not allowed (allowed: eu, us)`]
}

test_missing_region_denied if {
	d := entitled.decision with input as json.patch(base_input, [{"op": "replace", "path": "/instance/metadata", "value": {}}])
	d.reasons == [`instance "eu-prod-1" has no region in its metadata`]
}

test_config_value_overrides_the_list if {
	inp := json.patch(in_region("apac"), [
		{"op": "replace", "path": "/entitlement", "value": {"id": "e3", "slug": "regions", "type": "CONFIG"}},
		{"op": "replace", "path": "/grant", "value": {"type": "object", "value": {"allowedRegions": ["apac"]}}},
	])
	entitled.decision.reason == "ALLOWED" with input as inp
	region.allowed_regions == {"apac"} with input as inp
}

test_deny_wins_over_a_default_refusal if {
	inp := json.patch(in_region("apac"), [{"op": "replace", "path": "/grant/value", "value": false}])
	entitled.base.reason == "FEATURE_DISABLED" with input as inp
	entitled.decision.reason == "DENIED_BY_POLICY" with input as inp
}

test_unknown_instance_stays_not_found if {
	entitled.decision.reason == "INSTANCE_NOT_FOUND" with input as object.remove(base_input, ["instance"])
}
