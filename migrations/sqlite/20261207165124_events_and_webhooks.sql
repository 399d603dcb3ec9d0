-- Add column "changed_by_type" to table: "license_versions"
ALTER TABLE `license_versions` ADD COLUMN `changed_by_type` text NULL;
-- Add column "changed_by_id" to table: "license_versions"
ALTER TABLE `license_versions` ADD COLUMN `changed_by_id` text NULL;
-- Add column "changed_by_name" to table: "license_versions"
ALTER TABLE `license_versions` ADD COLUMN `changed_by_name` text NULL;
-- Create "audit_events" table
CREATE TABLE `audit_events` (`id` text NOT NULL, `seq` integer NOT NULL, `action` text NOT NULL, `resource_type` text NOT NULL, `resource_id` text NOT NULL, `resource_slug` text NULL, `actor_type` text NOT NULL, `actor_id` text NULL, `actor_name` text NULL, `before` json NULL, `after` json NULL, `license_version` integer NULL, `request_id` text NULL, `occurred_at` datetime NOT NULL, `prev_hash` text NOT NULL, `hash` text NOT NULL, `organization_id` text NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `audit_events_organizations_organization` FOREIGN KEY (`organization_id`) REFERENCES `organizations` (`id`) ON DELETE NO ACTION);
-- Create index "auditevent_organization_id_seq" to table: "audit_events"
CREATE UNIQUE INDEX `auditevent_organization_id_seq` ON `audit_events` (`organization_id`, `seq`);
-- Create index "auditevent_organization_id_occurred_at" to table: "audit_events"
CREATE INDEX `auditevent_organization_id_occurred_at` ON `audit_events` (`organization_id`, `occurred_at`);
-- Create index "auditevent_organization_id_resource_id" to table: "audit_events"
CREATE INDEX `auditevent_organization_id_resource_id` ON `audit_events` (`organization_id`, `resource_id`);
-- Create index "auditevent_organization_id_action" to table: "audit_events"
CREATE INDEX `auditevent_organization_id_action` ON `audit_events` (`organization_id`, `action`);
-- Create "audit_heads" table
CREATE TABLE `audit_heads` (`id` text NOT NULL, `seq` integer NOT NULL DEFAULT (0), `hash` text NOT NULL, `pruned_seq` integer NOT NULL DEFAULT (0), `pruned_hash` text NOT NULL, PRIMARY KEY (`id`));
-- Create "expiry_notices" table
CREATE TABLE `expiry_notices` (`id` text NOT NULL, `expires_at` datetime NOT NULL, `days` integer NOT NULL, `created_at` datetime NOT NULL, `organization_id` text NOT NULL, `instance_id` text NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `expiry_notices_organizations_organization` FOREIGN KEY (`organization_id`) REFERENCES `organizations` (`id`) ON DELETE NO ACTION, CONSTRAINT `expiry_notices_instances_expiry_notices` FOREIGN KEY (`instance_id`) REFERENCES `instances` (`id`) ON DELETE CASCADE);
-- Create index "expirynotice_instance_id_expires_at_days" to table: "expiry_notices"
CREATE UNIQUE INDEX `expirynotice_instance_id_expires_at_days` ON `expiry_notices` (`instance_id`, `expires_at`, `days`);
-- Create "webhook_deliveries" table
CREATE TABLE `webhook_deliveries` (`id` text NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `event_id` text NOT NULL, `event_type` text NOT NULL, `payload` text NOT NULL, `status` text NOT NULL DEFAULT ('PENDING'), `attempts` integer NOT NULL DEFAULT (0), `response_status` integer NULL, `response_body` text NULL, `last_error` text NULL, `error_kind` text NULL, `duration_ms` integer NULL, `next_attempt_at` datetime NULL, `delivered_at` datetime NULL, `lease_until` datetime NULL, `lease_owner` text NULL, `organization_id` text NOT NULL, `endpoint_id` text NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `webhook_deliveries_organizations_organization` FOREIGN KEY (`organization_id`) REFERENCES `organizations` (`id`) ON DELETE NO ACTION, CONSTRAINT `webhook_deliveries_webhook_endpoints_deliveries` FOREIGN KEY (`endpoint_id`) REFERENCES `webhook_endpoints` (`id`) ON DELETE CASCADE);
-- Create index "webhookdelivery_status_next_attempt_at" to table: "webhook_deliveries"
CREATE INDEX `webhookdelivery_status_next_attempt_at` ON `webhook_deliveries` (`status`, `next_attempt_at`);
-- Create index "webhookdelivery_endpoint_id_created_at" to table: "webhook_deliveries"
CREATE INDEX `webhookdelivery_endpoint_id_created_at` ON `webhook_deliveries` (`endpoint_id`, `created_at`);
-- Create index "webhookdelivery_organization_id_event_id" to table: "webhook_deliveries"
CREATE INDEX `webhookdelivery_organization_id_event_id` ON `webhook_deliveries` (`organization_id`, `event_id`);
-- Create "webhook_endpoints" table
CREATE TABLE `webhook_endpoints` (`id` text NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `url` text NOT NULL, `description` text NULL, `event_types` json NULL, `enabled` bool NOT NULL DEFAULT (true), `disabled_reason` text NULL, `secret` text NOT NULL, `previous_secret` text NULL, `previous_secret_expires_at` datetime NULL, `last_success_at` datetime NULL, `last_failure_at` datetime NULL, `consecutive_failures` integer NOT NULL DEFAULT (0), `organization_id` text NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `webhook_endpoints_organizations_organization` FOREIGN KEY (`organization_id`) REFERENCES `organizations` (`id`) ON DELETE NO ACTION);
