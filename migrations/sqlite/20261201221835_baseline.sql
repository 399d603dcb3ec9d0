-- Create "api_keys" table
CREATE TABLE `api_keys` (`id` text NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `name` text NOT NULL, `prefix` text NOT NULL, `secret_hash` text NOT NULL, `scopes` json NOT NULL, `expires_at` datetime NULL, `revoked_at` datetime NULL, `organization_id` text NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `api_keys_organizations_organization` FOREIGN KEY (`organization_id`) REFERENCES `organizations` (`id`) ON DELETE NO ACTION);
-- Create index "api_keys_secret_hash_key" to table: "api_keys"
CREATE UNIQUE INDEX `api_keys_secret_hash_key` ON `api_keys` (`secret_hash`);
-- Create "entitlements" table
CREATE TABLE `entitlements` (`id` text NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `name` text NOT NULL, `slug` text NOT NULL, `description` text NOT NULL DEFAULT (''), `type` text NOT NULL, `meter_type` text NULL, `aggregation_method` text NULL, `reset_period` text NULL, `organization_id` text NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `entitlements_organizations_organization` FOREIGN KEY (`organization_id`) REFERENCES `organizations` (`id`) ON DELETE NO ACTION);
-- Create index "entitlement_organization_id_slug" to table: "entitlements"
CREATE UNIQUE INDEX `entitlement_organization_id_slug` ON `entitlements` (`organization_id`, `slug`);
-- Create "instances" table
CREATE TABLE `instances` (`id` text NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `name` text NOT NULL, `slug` text NOT NULL, `starts_at` datetime NOT NULL, `expires_at` datetime NULL, `metadata` json NULL, `organization_id` text NOT NULL, `license_id` text NULL, PRIMARY KEY (`id`), CONSTRAINT `instances_organizations_organization` FOREIGN KEY (`organization_id`) REFERENCES `organizations` (`id`) ON DELETE NO ACTION, CONSTRAINT `instances_licenses_instances` FOREIGN KEY (`license_id`) REFERENCES `licenses` (`id`) ON DELETE RESTRICT);
-- Create index "instance_organization_id_slug" to table: "instances"
CREATE UNIQUE INDEX `instance_organization_id_slug` ON `instances` (`organization_id`, `slug`);
-- Create index "instance_license_id" to table: "instances"
CREATE INDEX `instance_license_id` ON `instances` (`license_id`);
-- Create "licenses" table
CREATE TABLE `licenses` (`id` text NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `name` text NOT NULL, `slug` text NOT NULL, `type` text NOT NULL, `version` integer NOT NULL DEFAULT (1), `version_name` text NULL, `is_active` bool NOT NULL DEFAULT (true), `is_default` bool NOT NULL DEFAULT (false), `description` text NOT NULL DEFAULT (''), `organization_id` text NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `licenses_organizations_organization` FOREIGN KEY (`organization_id`) REFERENCES `organizations` (`id`) ON DELETE NO ACTION);
-- Create index "license_organization_id_slug" to table: "licenses"
CREATE UNIQUE INDEX `license_organization_id_slug` ON `licenses` (`organization_id`, `slug`);
-- Create index "license_one_default_per_org" to table: "licenses"
CREATE UNIQUE INDEX `license_one_default_per_org` ON `licenses` (`organization_id`) WHERE is_default;
-- Create "license_entitlements" table
CREATE TABLE `license_entitlements` (`id` text NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `value` json NOT NULL, `overage_percent` real NULL, `entitlement_id` text NOT NULL, `license_id` text NOT NULL, `organization_id` text NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `license_entitlements_entitlements_grants` FOREIGN KEY (`entitlement_id`) REFERENCES `entitlements` (`id`) ON DELETE RESTRICT, CONSTRAINT `license_entitlements_licenses_entitlements` FOREIGN KEY (`license_id`) REFERENCES `licenses` (`id`) ON DELETE CASCADE, CONSTRAINT `license_entitlements_organizations_organization` FOREIGN KEY (`organization_id`) REFERENCES `organizations` (`id`) ON DELETE NO ACTION);
-- Create index "licenseentitlement_license_id_entitlement_id" to table: "license_entitlements"
CREATE UNIQUE INDEX `licenseentitlement_license_id_entitlement_id` ON `license_entitlements` (`license_id`, `entitlement_id`);
-- Create "license_versions" table
CREATE TABLE `license_versions` (`id` text NOT NULL, `version` integer NOT NULL, `license_type` text NOT NULL, `is_active` bool NOT NULL, `terms` json NOT NULL, `change` text NOT NULL DEFAULT (''), `created_at` datetime NOT NULL, `license_id` text NOT NULL, `organization_id` text NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `license_versions_licenses_versions` FOREIGN KEY (`license_id`) REFERENCES `licenses` (`id`) ON DELETE CASCADE, CONSTRAINT `license_versions_organizations_organization` FOREIGN KEY (`organization_id`) REFERENCES `organizations` (`id`) ON DELETE NO ACTION);
-- Create index "licenseversion_license_id_version" to table: "license_versions"
CREATE UNIQUE INDEX `licenseversion_license_id_version` ON `license_versions` (`license_id`, `version`);
-- Create "org_policies" table
CREATE TABLE `org_policies` (`id` text NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `name` text NOT NULL, `module` text NOT NULL, `tests` text NULL DEFAULT (''), `version` integer NOT NULL DEFAULT (1), `active` bool NOT NULL DEFAULT (false), `last_test_result` json NULL, `organization_id` text NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `org_policies_organizations_organization` FOREIGN KEY (`organization_id`) REFERENCES `organizations` (`id`) ON DELETE NO ACTION);
-- Create index "orgpolicy_organization_id_name" to table: "org_policies"
CREATE UNIQUE INDEX `orgpolicy_organization_id_name` ON `org_policies` (`organization_id`, `name`);
-- Create "organizations" table
CREATE TABLE `organizations` (`id` text NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `name` text NOT NULL, `slug` text NOT NULL, `policy_version` integer NOT NULL DEFAULT (0), PRIMARY KEY (`id`));
-- Create index "organizations_slug_key" to table: "organizations"
CREATE UNIQUE INDEX `organizations_slug_key` ON `organizations` (`slug`);
-- Create "policy_revisions" table
CREATE TABLE `policy_revisions` (`id` text NOT NULL, `version` integer NOT NULL, `module` text NOT NULL, `active` bool NOT NULL, `created_at` datetime NOT NULL, `policy_id` text NOT NULL, `organization_id` text NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `policy_revisions_org_policies_revisions` FOREIGN KEY (`policy_id`) REFERENCES `org_policies` (`id`) ON DELETE CASCADE, CONSTRAINT `policy_revisions_organizations_organization` FOREIGN KEY (`organization_id`) REFERENCES `organizations` (`id`) ON DELETE NO ACTION);
-- Create index "policyrevision_policy_id_version" to table: "policy_revisions"
CREATE UNIQUE INDEX `policyrevision_policy_id_version` ON `policy_revisions` (`policy_id`, `version`);
-- Create "threshold_events" table
CREATE TABLE `threshold_events` (`id` text NOT NULL, `kind` text NOT NULL, `period_start` datetime NOT NULL, `usage` real NOT NULL, `limit` real NOT NULL, `hard_cap` real NOT NULL, `created_at` datetime NOT NULL, `entitlement_id` text NOT NULL, `instance_id` text NOT NULL, `organization_id` text NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `threshold_events_entitlements_threshold_events` FOREIGN KEY (`entitlement_id`) REFERENCES `entitlements` (`id`) ON DELETE RESTRICT, CONSTRAINT `threshold_events_instances_threshold_events` FOREIGN KEY (`instance_id`) REFERENCES `instances` (`id`) ON DELETE CASCADE, CONSTRAINT `threshold_events_organizations_organization` FOREIGN KEY (`organization_id`) REFERENCES `organizations` (`id`) ON DELETE NO ACTION);
-- Create index "thresholdevent_instance_id_entitlement_id_period_start_kind" to table: "threshold_events"
CREATE UNIQUE INDEX `thresholdevent_instance_id_entitlement_id_period_start_kind` ON `threshold_events` (`instance_id`, `entitlement_id`, `period_start`, `kind`);
-- Create index "thresholdevent_organization_id_created_at" to table: "threshold_events"
CREATE INDEX `thresholdevent_organization_id_created_at` ON `threshold_events` (`organization_id`, `created_at`);
-- Create "usage_counters" table
CREATE TABLE `usage_counters` (`id` text NOT NULL, `period_start` datetime NOT NULL, `count` integer NOT NULL DEFAULT (0), `sum` real NOT NULL DEFAULT (0), `min` real NULL, `max` real NULL, `latest` real NULL, `latest_at` datetime NULL, `updated_at` datetime NOT NULL, `entitlement_id` text NOT NULL, `instance_id` text NOT NULL, `organization_id` text NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `usage_counters_entitlements_usage_counters` FOREIGN KEY (`entitlement_id`) REFERENCES `entitlements` (`id`) ON DELETE RESTRICT, CONSTRAINT `usage_counters_instances_usage_counters` FOREIGN KEY (`instance_id`) REFERENCES `instances` (`id`) ON DELETE CASCADE, CONSTRAINT `usage_counters_organizations_organization` FOREIGN KEY (`organization_id`) REFERENCES `organizations` (`id`) ON DELETE NO ACTION);
-- Create index "usagecounter_instance_id_entitlement_id_period_start" to table: "usage_counters"
CREATE UNIQUE INDEX `usagecounter_instance_id_entitlement_id_period_start` ON `usage_counters` (`instance_id`, `entitlement_id`, `period_start`);
-- Create "usage_events" table
CREATE TABLE `usage_events` (`id` text NOT NULL, `kind` text NOT NULL, `value` real NOT NULL, `timestamp` datetime NOT NULL, `period_start` datetime NOT NULL, `recorded_at` datetime NOT NULL, `idempotency_key` text NOT NULL, `request_hash` text NOT NULL, `aggregate` real NOT NULL, `result` json NULL, `entitlement_id` text NOT NULL, `instance_id` text NOT NULL, `organization_id` text NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `usage_events_entitlements_usage_events` FOREIGN KEY (`entitlement_id`) REFERENCES `entitlements` (`id`) ON DELETE RESTRICT, CONSTRAINT `usage_events_instances_usage_events` FOREIGN KEY (`instance_id`) REFERENCES `instances` (`id`) ON DELETE CASCADE, CONSTRAINT `usage_events_organizations_organization` FOREIGN KEY (`organization_id`) REFERENCES `organizations` (`id`) ON DELETE NO ACTION);
-- Create index "usageevent_organization_id_idempotency_key" to table: "usage_events"
CREATE UNIQUE INDEX `usageevent_organization_id_idempotency_key` ON `usage_events` (`organization_id`, `idempotency_key`);
-- Create index "usageevent_instance_id_entitlement_id_timestamp" to table: "usage_events"
CREATE INDEX `usageevent_instance_id_entitlement_id_timestamp` ON `usage_events` (`instance_id`, `entitlement_id`, `timestamp`);
