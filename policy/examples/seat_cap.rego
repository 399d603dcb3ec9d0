# Example 4: a CONFIG-driven cap.
#
# A CONFIG entitlement (here "seats") carries {"maxUsers": 50} in its grant
# value. The application asks about that entitlement with the number of
# seats it wants in the request context:
#
#   allowed(instance: "eu-prod-1", entitlement: "seats", context: {seats: 51})
#
# and this module denies when context.seats exceeds maxUsers. (A decision
# carries the grant of the entitlement asked about only, so a cap held by
# one CONFIG entitlement is enforced by asking about that entitlement; it
# cannot be read while asking about another one.)
package entitled.custom.seat_cap

deny contains msg if {
	input.entitlement.type == "CONFIG"
	max_users := input.grant.value.maxUsers
	is_number(max_users)
	seats := input.request.context.seats
	is_number(seats)
	seats > max_users
	msg := sprintf("%v seats requested, but %q allows at most %v (maxUsers)", [seats, input.entitlement.slug, max_users])
}
