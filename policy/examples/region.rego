# Example 2: a region restriction read from instance.metadata.region.
#
# Every decision is denied unless the instance's metadata names a region
# in the allowed list. The list is a constant here; when the entitlement
# asked about is a CONFIG one whose value carries "allowedRegions", that
# list applies instead (a decision carries the grant of the entitlement
# asked about only, so the CONFIG value is seen when asking about it).
package entitled.custom.region

default_allowed := {"eu", "us"}

allowed_regions := {r | some r in input.grant.value.allowedRegions} if {
	input.entitlement.type == "CONFIG"
	is_array(input.grant.value.allowedRegions)
} else := default_allowed

deny contains msg if {
	region := input.instance.metadata.region
	not region in allowed_regions
	msg := sprintf("instance %q is in region %v, which is not allowed (allowed: %v)", [
		input.instance.slug, region, concat(", ", sort(allowed_regions)),
	])
}

deny contains msg if {
	is_object(input.instance)
	not has_region
	msg := sprintf("instance %q has no region in its metadata", [input.instance.slug])
}

has_region if is_string(input.instance.metadata.region)
