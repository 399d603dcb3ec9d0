# Unit tests of the entry point (custom deny/grant): `opa test policy/rego`.
# number_input is defined in default_test.rego (same package).
package entitled_test

import data.entitled

# Custom rules. `with data.entitled.custom as ...` stands in for custom modules.

test_custom_deny_wins if {
	d := entitled.decision with input as number_input
		with data.entitled.custom as {"eu": {"deny": {"region blocked"}, "grant": {"vip"}}}
	d == {"allowed": false, "reason": "DENIED_BY_POLICY", "reasons": ["region blocked"]}
}

test_custom_deny_nested_and_top_level if {
	d := entitled.decision with input as number_input
		with data.entitled.custom as {"deny": {"b"}, "x": {"y": {"deny": {"a"}}}}
	d.reasons == ["a", "b"]
}

test_custom_grant_lifts_refusal if {
	inp := json.patch(number_input, [{"op": "replace", "path": "/usage/current", "value": 500}])
	d := entitled.decision with input as inp with data.entitled.custom as {"vip": {"grant": {"vip customer"}}}
	d == {"allowed": true, "reason": "GRANTED_BY_POLICY", "reasons": ["vip customer"]}
}

test_custom_grant_on_allowed_keeps_allowed if {
	d := entitled.decision with input as number_input with data.entitled.custom as {"grant": {"vip"}}
	d.reason == "ALLOWED"
}

test_custom_grant_cannot_conjure_instance if {
	d := entitled.decision with input as {"request": {"requested": 1, "context": {}}}
		with data.entitled.custom as {"grant": {"anything"}, "deny": {"no"}}
	d.reason == "INSTANCE_NOT_FOUND"
}

test_custom_grant_cannot_conjure_entitlement if {
	d := entitled.decision with input as object.remove(number_input, ["entitlement"])
		with data.entitled.custom as {"grant": {"anything"}}
	d.reason == "ENTITLEMENT_NOT_FOUND"
}

test_custom_non_set_ignored if {
	d := entitled.decision with input as number_input with data.entitled.custom as {"deny": "not a set"}
	d.reason == "ALLOWED"
}

# Without custom rules the decision is the default rules' decision.
test_no_custom_rules_decision_is_base if {
	over := json.patch(number_input, [{"op": "replace", "path": "/usage/current", "value": 500}])
	every inp in [number_input, boolean_input, config_input, over, {}] {
		d := entitled.decision with input as inp with data.entitled.custom as {}
		b := entitled.base with input as inp
		d == b
	}
}
