# Tests of grace_period.rego: `opa test policy/rego policy/examples`.
package entitled.custom_test.grace_period

import data.entitled
import data.entitled.custom.grace_period

# Expired two days ago (expiresAt 2026-11-23, now 2026-11-25, a Wednesday).
expired := {
	"now": "2026-11-25T12:00:00Z",
	"organization": {"id": "o1", "slug": "acme"},
	"instance": {
		"id": "i1", "slug": "eu-prod-1", "name": "EU prod", "metadata": {"region": "eu"},
		"startsAt": "2026-01-01T00:00:00Z", "expiresAt": "2026-11-23T12:00:00Z",
	},
	"license": {"id": "l1", "slug": "enterprise", "type": "PAID", "version": 3, "versionName": "v2.1", "isActive": true},
	"entitlement": {"id": "e2", "slug": "sso", "type": "BOOLEAN"},
	"grant": {"type": "boolean", "value": true},
	"request": {"requested": 1, "context": {}},
}

test_expired_paid_license_is_granted if {
	d := entitled.decision with input as expired
	d.allowed == true
	d.reason == "GRANTED_BY_POLICY"
	d.reasons == [`license "enterprise" expired at 2026-11-23T12:00:00Z: grace period of 14 days, 12 left`]
}

test_default_refuses_without_the_module if {
	entitled.base.reason == "LICENSE_EXPIRED" with input as expired
}

test_grace_ends_after_14_days if {
	inp := object.union(expired, {"now": "2026-12-07T12:00:00Z"})
	d := entitled.decision with input as inp
	d.reason == "LICENSE_EXPIRED"
	count(grace_period.grant) == 0 with input as inp
}

test_last_second_of_grace if {
	d := entitled.decision with input as object.union(expired, {"now": "2026-12-07T11:59:59Z"})
	d.reason == "GRANTED_BY_POLICY"
}

test_trial_license_gets_no_grace if {
	d := entitled.decision with input as object.union(expired, {"license": {"type": "TRIAL"}})
	d.reason == "LICENSE_EXPIRED"
}

test_inactive_license_is_not_lifted if {
	d := entitled.decision with input as object.union(expired, {"license": {"isActive": false}})
	d.reason == "LICENSE_INACTIVE"
}

test_valid_license_unchanged if {
	d := entitled.decision with input as object.union(expired, {"instance": {"expiresAt": null}})
	d.reason == "ALLOWED"
}
