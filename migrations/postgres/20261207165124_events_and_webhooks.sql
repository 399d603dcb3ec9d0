-- Modify "license_versions" table
ALTER TABLE "license_versions" ADD COLUMN "changed_by_type" character varying NULL, ADD COLUMN "changed_by_id" character varying NULL, ADD COLUMN "changed_by_name" character varying NULL;
-- Create "audit_heads" table
CREATE TABLE "audit_heads" ("id" character varying NOT NULL, "seq" bigint NOT NULL DEFAULT 0, "hash" character varying NOT NULL, "pruned_seq" bigint NOT NULL DEFAULT 0, "pruned_hash" character varying NOT NULL, PRIMARY KEY ("id"));
-- Create "audit_events" table
CREATE TABLE "audit_events" ("id" character varying NOT NULL, "seq" bigint NOT NULL, "action" character varying NOT NULL, "resource_type" character varying NOT NULL, "resource_id" character varying NOT NULL, "resource_slug" character varying NULL, "actor_type" character varying NOT NULL, "actor_id" character varying NULL, "actor_name" character varying NULL, "before" jsonb NULL, "after" jsonb NULL, "license_version" bigint NULL, "request_id" character varying NULL, "occurred_at" timestamptz NOT NULL, "prev_hash" character varying NOT NULL, "hash" character varying NOT NULL, "organization_id" character varying NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "audit_events_organizations_organization" FOREIGN KEY ("organization_id") REFERENCES "organizations" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION);
-- Create index "auditevent_organization_id_action" to table: "audit_events"
CREATE INDEX "auditevent_organization_id_action" ON "audit_events" ("organization_id", "action");
-- Create index "auditevent_organization_id_occurred_at" to table: "audit_events"
CREATE INDEX "auditevent_organization_id_occurred_at" ON "audit_events" ("organization_id", "occurred_at");
-- Create index "auditevent_organization_id_resource_id" to table: "audit_events"
CREATE INDEX "auditevent_organization_id_resource_id" ON "audit_events" ("organization_id", "resource_id");
-- Create index "auditevent_organization_id_seq" to table: "audit_events"
CREATE UNIQUE INDEX "auditevent_organization_id_seq" ON "audit_events" ("organization_id", "seq");
-- Create "expiry_notices" table
CREATE TABLE "expiry_notices" ("id" character varying NOT NULL, "expires_at" timestamptz NOT NULL, "days" bigint NOT NULL, "created_at" timestamptz NOT NULL, "organization_id" character varying NOT NULL, "instance_id" character varying NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "expiry_notices_instances_expiry_notices" FOREIGN KEY ("instance_id") REFERENCES "instances" ("id") ON UPDATE NO ACTION ON DELETE CASCADE, CONSTRAINT "expiry_notices_organizations_organization" FOREIGN KEY ("organization_id") REFERENCES "organizations" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION);
-- Create index "expirynotice_instance_id_expires_at_days" to table: "expiry_notices"
CREATE UNIQUE INDEX "expirynotice_instance_id_expires_at_days" ON "expiry_notices" ("instance_id", "expires_at", "days");
-- Create "webhook_endpoints" table
CREATE TABLE "webhook_endpoints" ("id" character varying NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "url" character varying NOT NULL, "description" character varying NULL, "event_types" jsonb NULL, "enabled" boolean NOT NULL DEFAULT true, "disabled_reason" character varying NULL, "secret" character varying NOT NULL, "previous_secret" character varying NULL, "previous_secret_expires_at" timestamptz NULL, "last_success_at" timestamptz NULL, "last_failure_at" timestamptz NULL, "consecutive_failures" bigint NOT NULL DEFAULT 0, "organization_id" character varying NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "webhook_endpoints_organizations_organization" FOREIGN KEY ("organization_id") REFERENCES "organizations" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION);
-- Create "webhook_deliveries" table
CREATE TABLE "webhook_deliveries" ("id" character varying NOT NULL, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, "event_id" character varying NOT NULL, "event_type" character varying NOT NULL, "payload" text NOT NULL, "status" character varying NOT NULL DEFAULT 'PENDING', "attempts" bigint NOT NULL DEFAULT 0, "response_status" bigint NULL, "response_body" character varying NULL, "last_error" character varying NULL, "error_kind" character varying NULL, "duration_ms" bigint NULL, "next_attempt_at" timestamptz NULL, "delivered_at" timestamptz NULL, "lease_until" timestamptz NULL, "lease_owner" character varying NULL, "organization_id" character varying NOT NULL, "endpoint_id" character varying NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "webhook_deliveries_organizations_organization" FOREIGN KEY ("organization_id") REFERENCES "organizations" ("id") ON UPDATE NO ACTION ON DELETE NO ACTION, CONSTRAINT "webhook_deliveries_webhook_endpoints_deliveries" FOREIGN KEY ("endpoint_id") REFERENCES "webhook_endpoints" ("id") ON UPDATE NO ACTION ON DELETE CASCADE);
-- Create index "webhookdelivery_endpoint_id_created_at" to table: "webhook_deliveries"
CREATE INDEX "webhookdelivery_endpoint_id_created_at" ON "webhook_deliveries" ("endpoint_id", "created_at");
-- Create index "webhookdelivery_organization_id_event_id" to table: "webhook_deliveries"
CREATE INDEX "webhookdelivery_organization_id_event_id" ON "webhook_deliveries" ("organization_id", "event_id");
-- Create index "webhookdelivery_status_next_attempt_at" to table: "webhook_deliveries"
CREATE INDEX "webhookdelivery_status_next_attempt_at" ON "webhook_deliveries" ("status", "next_attempt_at");
