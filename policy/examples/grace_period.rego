# Example 1: a grace period of 14 days after a PAID license expires.
#
# The default rules refuse with LICENSE_EXPIRED from expiresAt on. This
# module grants instead for 14 days when the license is PAID, so customers
# whose renewal is late keep working. It reads data.entitled.base (the
# default decision) so that it lifts that refusal only: an inactive license,
# a missing grant or a disabled feature stay refused.
#
# Note: the default rules stop at the first failing rule, so while a
# license is expired they do not check the limits; a grant lifts the whole
# refusal. Add a usage check here if limits must hold during the grace
# period.
package entitled.custom.grace_period

grace_days := 14

day_ns := ((24 * 60) * 60) * 1000000000

grant contains msg if {
	data.entitled.base.reason == "LICENSE_EXPIRED"
	input.license.type == "PAID"
	expired := time.parse_rfc3339_ns(input.instance.expiresAt)
	now := time.parse_rfc3339_ns(input.now)
	end := expired + (grace_days * day_ns)
	now < end
	msg := sprintf("license %q expired at %s: grace period of %d days, %d left", [
		input.license.slug, input.instance.expiresAt, grace_days, ceil((end - now) / day_ns),
	])
}
