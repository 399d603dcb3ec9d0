package sqlaudit

// Allowlist is every family of statements that spans organizations, or
// that names its organization in a way the audit cannot read, each with
// its reason and what becomes of it on a database distributed by
// organization (docs/scaling.md). Each Match is a regular expression over
// the normalised statement (Normalize); keep it specific to one family.
var Allowlist = []Exemption{
	// Operator and start-up statements: they find the organization.
	{
		Match:  `^select organizations\.[a-z_., ]+ from organizations where organizations\.id in \(select api_keys\.organization_id from api_keys where api_keys\.secret_hash = \?\) limit \?$`,
		Reason: "authentication: an API key's hash is all a request brings, and it finds the organization (the result is cached per key). Distributed: a multi-shard lookup by the indexed hash, once per key and process; or a reference table of key hashes.",
	},
	{
		Match:  `^select organizations\.[a-z_., ]+ from organizations where organizations\.slug = \? limit \?$`,
		Reason: "an organization found by its slug (the public JWKS endpoint, the operator's keys create --org, createOrganization's uniqueness): the slug is what the caller has. Distributed: organizations stays a small reference table (or a slug → id reference table), read locally on every node.",
	},
	// The change feed's backstop.
	{
		Match:  `^select id, updated_at from organizations where id = any \(\?\)$`,
		Reason: "the change feed's resync compares the change counters of every organization this process caches, in one statement per pass (ENTITLED_RESYNC_INTERVAL). Distributed: a multi-shard read on the coordinator, a few times a minute.",
	},
	// Background jobs over every organization.
	{
		Match:  `^select i\.id, i\.organization_id, i\.slug, i\.name, i\.expires_at from instances i where i\.expires_at is not null and `,
		Reason: "the expiry scheduler lists instances of every organization that expire soon (one replica at a time, under an advisory lock); each notice is then written in its organization's transaction. Distributed: a multi-shard scan on the coordinator, or one per organization.",
	},
	{
		Match:  `^select id from audit_heads where seq > pruned_seq order by id$`,
		Reason: "audit retention lists the organizations with events to prune; each is then pruned in its own transaction (by organization_id). Distributed: a multi-shard read of one small row per organization.",
	},
	{
		Match:  `^select d\.(id, d\.endpoint_id, d\.organization_id|next_attempt_at|lease_until) from webhook_deliveries d join webhook_endpoints e on e\.organization_id = d\.organization_id and e\.id = d\.endpoint_id where `,
		Reason: "the webhook dispatcher picks due deliveries of every organization (fairly: capped per endpoint and per organization) and when to wake next; the join is on the organization, so it pushes down to each shard. Distributed: a multi-shard query per dispatch pass.",
	},
	{
		Match:  `^update webhook_deliveries set lease_until = \?, lease_owner = \? where id in \(select id from webhook_deliveries where id in \(\?\) and status in \(\?\) `,
		Reason: "the dispatcher leases the deliveries it picked, of several organizations, in one statement (FOR UPDATE SKIP LOCKED). Distributed: one lease statement per organization among the picked ones (each a single-shard update).",
	},
	{
		Match:  `^select id, organization_id, secret, previous_secret from webhook_endpoints where secret like \? or previous_secret like \?$`,
		Reason: "at start, webhook secrets an earlier release stored in the clear are found in every organization and sealed (webhooks.SealStoredSecrets); each row is then rewritten by its organization and id. It finds nothing once they are sealed. Distributed: a multi-shard scan once per start.",
	},
	// ent's own statements, whose organization the audit cannot see.
	{
		Match:  `^select [a-z_, ]+ from (licenses|entitlements|instances|license_entitlements|org_policies|api_keys|webhook_endpoints|webhook_deliveries|signing_keys) where id = \?$`,
		Reason: "ent reads a row back by id alone after its UPDATE (sqlgraph's update of one node), in the same transaction; the UPDATE itself was confined to the organization. ids are unique across organizations, and a plain index on id keeps it an index lookup. Distributed: a multi-shard lookup; the plan is ent's RETURNING on PostgreSQL, or a read-back with the organization.",
	},
	{
		Match:  `^select (count \(instances\.id\)|instances\.id) from instances where exists \(select licenses\.id from licenses where instances\.license_id = licenses\.id and licenses\.(slug|id) = \?\) and instances\.organization_id = \?`,
		Reason: "ent's filter through an edge (entgql's hasLicenseWith): the subquery on licenses has no organization of its own, but it only matches the license of an instance already confined to the organization, and the foreign key (organization_id, license_id) keeps that license in the same organization. Distributed: the subquery correlates on license_id, not on the distribution column: add licenses.organization_id = instances.organization_id (an ent step predicate) before moving.",
	},
	{
		Match:  `^select distinct [a-z_., ]+ from (licenses|entitlements) join \(select (license_id|entitlement_id) from (instances|license_entitlements) where id = \?\) as t1 on `,
		Reason: "ent's walk from one loaded row to its neighbour (inst.QueryLicense(), link.QueryEntitlement()): the inner subquery selects the loaded row by id, the outer query is confined to the organization, and the composite foreign key keeps both in one organization. Distributed: a single-row subquery by id on every shard; the plan is an ent step predicate on organization_id.",
	},
	{
		Match:  `^select licenses\.id, licenses\.slug, t1\.instances_count from licenses left join \(select instances\.license_id, count \(\*\) as instances_count from instances group by instances\.license_id\) as t1 on `,
		Reason: "entgql's ordering of licenses by INSTANCES_COUNT counts instances per license in a subquery without the organization; the outer query is confined, so only the organization's licenses get counts. Distributed: the grouped subquery scans every shard; the plan is an organization predicate in the count (an entgql order term of our own).",
	},
	// apitest's own reads of stored rows (not the server's).
	{
		Match:  `^select (organization_id, kid, sealed_private_key from signing_keys|sealed_private_key from signing_keys order by created_at limit \?)$`,
		Reason: "apitest reads the table directly to prove private keys are stored sealed, as an operator with database access would; the server never sends it.",
	},
}
