# Example 3: a weekend burst allowance.
#
# On Saturdays and Sundays (UTC, from input.now) a NUMBER entitlement may go
# up to 20% over its hard cap: the default LIMIT_EXCEEDED refusal is lifted
# while usage + requested stays within hardCap * 1.2.
package entitled.custom.weekend_burst

burst_percent := 20

weekend := {"Saturday", "Sunday"}

grant contains msg if {
	data.entitled.base.reason == "LIMIT_EXCEEDED"
	time.weekday(time.parse_rfc3339_ns(input.now)) in weekend
	cap := input.grant.hardCap
	is_number(cap)
	burst_cap := (cap * (100 + burst_percent)) / 100
	used := object.get(input, ["usage", "current"], 0)
	asked := object.get(input, ["request", "requested"], 1)
	used + asked <= burst_cap
	msg := sprintf("weekend burst: usage %v + requested %v is within %v (hard cap %v + %v%%)", [
		used, asked, burst_cap, cap, burst_percent,
	])
}
