-- Drop index "api_keys_secret_hash_key" from table: "api_keys"
DROP INDEX `api_keys_secret_hash_key`;
-- Create index "apikey_organization_id_secret_hash" to table: "api_keys"
CREATE UNIQUE INDEX `apikey_organization_id_secret_hash` ON `api_keys` (`organization_id`, `secret_hash`);
-- Create index "apikey_secret_hash" to table: "api_keys"
CREATE INDEX `apikey_secret_hash` ON `api_keys` (`secret_hash`);
-- Drop index "licenseentitlement_license_id_entitlement_id" from table: "license_entitlements"
DROP INDEX `licenseentitlement_license_id_entitlement_id`;
-- Create index "licenseentitlement_organization_id_license_id_entitlement_id" to table: "license_entitlements"
CREATE UNIQUE INDEX `licenseentitlement_organization_id_license_id_entitlement_id` ON `license_entitlements` (`organization_id`, `license_id`, `entitlement_id`);
-- Drop index "licenseversion_license_id_version" from table: "license_versions"
DROP INDEX `licenseversion_license_id_version`;
-- Create index "licenseversion_organization_id_license_id_version" to table: "license_versions"
CREATE UNIQUE INDEX `licenseversion_organization_id_license_id_version` ON `license_versions` (`organization_id`, `license_id`, `version`);
-- Drop index "policyrevision_policy_id_version" from table: "policy_revisions"
DROP INDEX `policyrevision_policy_id_version`;
-- Create index "policyrevision_organization_id_policy_id_version" to table: "policy_revisions"
CREATE UNIQUE INDEX `policyrevision_organization_id_policy_id_version` ON `policy_revisions` (`organization_id`, `policy_id`, `version`);
-- Drop index "thresholdevent_instance_id_entitlement_id_period_start_kind" from table: "threshold_events"
DROP INDEX `thresholdevent_instance_id_entitlement_id_period_start_kind`;
-- Create index "thresholdevent_org_instance_entitlement_period_kind" to table: "threshold_events"
CREATE UNIQUE INDEX `thresholdevent_org_instance_entitlement_period_kind` ON `threshold_events` (`organization_id`, `instance_id`, `entitlement_id`, `period_start`, `kind`);
-- Drop index "usagecounter_instance_id_entitlement_id_period_start" from table: "usage_counters"
DROP INDEX `usagecounter_instance_id_entitlement_id_period_start`;
-- Create index "usagecounter_org_instance_entitlement_period" to table: "usage_counters"
CREATE UNIQUE INDEX `usagecounter_org_instance_entitlement_period` ON `usage_counters` (`organization_id`, `instance_id`, `entitlement_id`, `period_start`);
-- Drop index "expirynotice_instance_id_expires_at_days" from table: "expiry_notices"
DROP INDEX `expirynotice_instance_id_expires_at_days`;
-- Create index "expirynotice_organization_id_instance_id_expires_at_days" to table: "expiry_notices"
CREATE UNIQUE INDEX `expirynotice_organization_id_instance_id_expires_at_days` ON `expiry_notices` (`organization_id`, `instance_id`, `expires_at`, `days`);
