# Entry point: data.entitled.decision IS the decision object
#
#   {"allowed": bool, "reason": "ENUM", "reasons": [string, ...]}
#
# It is the default rules' decision (data.entitled.base, default.rego)
# combined with custom rules. Organizations add modules under
# `package entitled.custom` (or any package below it) that define
# `deny contains msg if {...}` and/or `grant contains msg if {...}`; they may
# read input and data.entitled.base.
#   - INSTANCE_NOT_FOUND and ENTITLEMENT_NOT_FOUND stand: nothing overrides
#     them.
#   - Any deny message refuses: DENIED_BY_POLICY, reasons = the messages.
#   - Else any grant message lifts a default refusal: GRANTED_BY_POLICY,
#     reasons = the messages.
#   - Else the default decision.
# Messages are sorted; non-string messages are rendered by the caller.
#
# This module gathers deny/grant sets at any depth with walk, which is what a
# stock `opa run --server policy/rego` evaluates. The embedded engine (Go
# package policy) compiles a generated equivalent instead: `decision := base`
# when an organization has no custom modules, else one rule per custom
# deny/grant rule, so the default path never walks.
package entitled

decision := base if {
	not_overridable[base.reason]
} else := {"allowed": false, "reason": "DENIED_BY_POLICY", "reasons": sort(custom_deny)} if {
	count(custom_deny) > 0
} else := {"allowed": true, "reason": "GRANTED_BY_POLICY", "reasons": sort(custom_grant)} if {
	base.allowed == false
	count(custom_grant) > 0
} else := base

not_overridable := {"INSTANCE_NOT_FOUND", "ENTITLEMENT_NOT_FOUND"}

custom_deny contains msg if {
	walk(data.entitled.custom, [path, value])
	path[count(path) - 1] == "deny"
	is_set(value)
	some msg in value
}

custom_grant contains msg if {
	walk(data.entitled.custom, [path, value])
	path[count(path) - 1] == "grant"
	is_set(value)
	some msg in value
}
