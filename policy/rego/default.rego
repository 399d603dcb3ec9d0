# The default rules of entitled: data.entitled.base is the decision they
# give, before custom rules (see decision.rego for the entry point).
#
# Input: the policy input document of docs/policies.md (now,
# organization, instance, license, entitlement, grant, usage, request).
# Missing facts are absent or null. Every check fails closed: a missing or
# malformed fact refuses, it never falls through to allowed. input.now is
# required; without it a bounded instance is refused as not started.
#
# The slugs asked are not in the input (the Decision echoes them), so the
# not-found messages do not name them.
#
# Rules, first failing one gives the reason:
#   INSTANCE_NOT_FOUND     input.instance absent or null
#   ENTITLEMENT_NOT_FOUND  input.entitlement absent or null
#   NO_LICENSE             input.license absent or null
#   LICENSE_INACTIVE       license.isActive is not true
#   LICENSE_NOT_STARTED    now < instance.startsAt
#   LICENSE_EXPIRED        now >= instance.expiresAt (null: never expires)
#   NOT_ENTITLED           no grant for the entitlement
# then by entitlement type:
#   BOOLEAN  grant.value true, else FEATURE_DISABLED
#   NUMBER   unlimited passes; else usage.current (0 when absent) +
#            request.requested (1 when absent or null) <= grant.hardCap
#            (value * (100 + overagePercent) / 100 when absent), else
#            LIMIT_EXCEEDED
#   CONFIG   allowed
#
# Evaluation cost matters (one evaluation per question): the common shape is
# checked by one rule (valid) with few rule lookups and no function calls;
# the ordered, exact chain (checked) only runs for refusals and unusual
# shapes. Both must agree; rego/default_test.rego and
# policy/testdata/cases.yaml cover both.
package entitled

allowed := {"allowed": true, "reason": "ALLOWED", "reasons": []}

# The default rules' decision: {"allowed", "reason", "reasons"}.
base := allowed if {
	valid
	type_allows
} else := type_refusal if {
	valid
} else := checked

# Fast path: every check before the type-specific one passes.
valid if {
	is_object(input.instance)
	is_object(input.entitlement)
	input.license.isActive == true
	is_object(input.grant)
	time.parse_rfc3339_ns(input.instance.startsAt) <= now_ns
	unexpired
}

type_refusal := {
	"allowed": false, "reason": "FEATURE_DISABLED",
	"reasons": [sprintf("feature %q is disabled by license %q", [label(input.entitlement), label(input.license)])],
} if {
	input.entitlement.type == "BOOLEAN"
} else := {
	"allowed": false, "reason": "LIMIT_EXCEEDED",
	"reasons": [sprintf("usage %v + requested %v exceeds hard cap %v", [usage_current, requested, hard_cap])],
} if {
	input.entitlement.type == "NUMBER"
	is_number(hard_cap)
} else := checked

# The rules in order. Every message is defined whatever the facts, so that
# no branch can fall through to the next one.
checked := {
	"allowed": false, "reason": "INSTANCE_NOT_FOUND",
	"reasons": ["instance not found"],
} if {
	not instance_found
} else := {
	"allowed": false, "reason": "ENTITLEMENT_NOT_FOUND",
	"reasons": ["entitlement not found"],
} if {
	not entitlement_found
} else := {
	"allowed": false, "reason": "NO_LICENSE",
	"reasons": [sprintf("instance %q has no license", [label(input.instance)])],
} if {
	not license_found
} else := {
	"allowed": false, "reason": "LICENSE_INACTIVE",
	"reasons": [sprintf("license %q is inactive", [label(input.license)])],
} if {
	not license_active
} else := {
	"allowed": false, "reason": "LICENSE_NOT_STARTED",
	"reasons": ["input.now is missing or not an RFC 3339 time"],
} if {
	not now_ns
} else := {
	"allowed": false, "reason": "LICENSE_NOT_STARTED",
	"reasons": [sprintf("license of instance %q starts at %v", [label(input.instance), input.instance.startsAt])],
} if {
	not started
} else := {
	"allowed": false, "reason": "LICENSE_EXPIRED",
	"reasons": [sprintf("license of instance %q expired at %v", [label(input.instance), input.instance.expiresAt])],
} if {
	not unexpired
} else := {
	"allowed": false, "reason": "NOT_ENTITLED",
	"reasons": [sprintf("license %q does not grant entitlement %q", [label(input.license), label(input.entitlement)])],
} if {
	not grant_found
} else := allowed if {
	type_allows
} else := {
	"allowed": false, "reason": "FEATURE_DISABLED",
	"reasons": [sprintf("feature %q is disabled by license %q", [label(input.entitlement), label(input.license)])],
} if {
	input.entitlement.type == "BOOLEAN"
} else := {
	"allowed": false, "reason": "LIMIT_EXCEEDED",
	"reasons": [sprintf("usage %v + requested %v exceeds hard cap %v", [usage_current, requested, hard_cap])],
} if {
	input.entitlement.type == "NUMBER"
	is_number(hard_cap)
} else := {
	"allowed": false, "reason": "LIMIT_EXCEEDED",
	"reasons": [sprintf("entitlement %q has no numeric limit", [label(input.entitlement)])],
} if {
	input.entitlement.type == "NUMBER"
} else := {
	"allowed": false, "reason": "NOT_ENTITLED",
	"reasons": [sprintf("entitlement %q has unknown type %v", [label(input.entitlement), object.get(input.entitlement, "type", null)])],
}

# Note: `not is_object(input.x)` would be undefined, not true, when input.x
# is absent (OPA hoists the ref out of the negation), hence these rules.
instance_found if is_object(input.instance)

entitlement_found if is_object(input.entitlement)

license_found if is_object(input.license)

grant_found if is_object(input.grant)

license_active if input.license.isActive == true

# Time: nanoseconds since the epoch; instants compare across offsets.
now_ns := time.parse_rfc3339_ns(input.now)

started if now_ns >= time.parse_rfc3339_ns(input.instance.startsAt)

# startsAt absent or null: no lower bound.
started if not is_string(object.get(input.instance, "startsAt", null))

# expiresAt absent or null: never expires. Exactly at expiresAt is expired.
unexpired if input.instance.expiresAt == null

unexpired if now_ns < time.parse_rfc3339_ns(input.instance.expiresAt)

unexpired if not is_string(object.get(input.instance, "expiresAt", null))

# The type-specific rule (indexed on input.entitlement.type).
type_allows if {
	input.entitlement.type == "BOOLEAN"
	input.grant.value == true
}

type_allows if input.entitlement.type == "CONFIG"

type_allows if {
	input.entitlement.type == "NUMBER"
	input.grant.unlimited == true
}

# The shape package decision builds: hardCap present, usage and requested
# numbers or absent.
type_allows if {
	input.entitlement.type == "NUMBER"
	object.get(input, ["usage", "current"], 0) + object.get(input, ["request", "requested"], 1) <= input.grant.hardCap
}

type_allows if {
	input.entitlement.type == "NUMBER"
	input.grant.value == -1
}

# Any other shape: nulls, hardCap absent.
type_allows if {
	input.entitlement.type == "NUMBER"
	usage_current + requested <= hard_cap
}

# Usage absent (no report yet) counts as 0.
usage_current := x if {
	x := input.usage.current
	x != null
} else := 0

# requested defaults to 1.
requested := x if {
	x := input.request.requested
	x != null
} else := 1

hard_cap := x if {
	x := input.grant.hardCap
	is_number(x)
} else := x if {
	v := input.grant.value
	is_number(v)
	x := (v * (100 + overage_percent)) / 100
}

overage_percent := x if {
	x := input.grant.overagePercent
	is_number(x)
} else := 0

label(x) := x.slug if is_string(x.slug)

else := "?"
