-- Modify "instances" table
ALTER TABLE "instances" DROP CONSTRAINT "instances_licenses_instances";
-- Modify "expiry_notices" table
ALTER TABLE "expiry_notices" DROP CONSTRAINT "expiry_notices_instances_expiry_notices";
-- Modify "issued_license_files" table
ALTER TABLE "issued_license_files" DROP CONSTRAINT "issued_license_files_instances_license_files";
-- Modify "license_entitlements" table
ALTER TABLE "license_entitlements" DROP CONSTRAINT "license_entitlements_entitlements_grants", DROP CONSTRAINT "license_entitlements_licenses_entitlements";
-- Modify "license_versions" table
ALTER TABLE "license_versions" DROP CONSTRAINT "license_versions_licenses_versions";
-- Modify "policy_revisions" table
ALTER TABLE "policy_revisions" DROP CONSTRAINT "policy_revisions_org_policies_revisions";
-- Modify "threshold_events" table
ALTER TABLE "threshold_events" DROP CONSTRAINT "threshold_events_entitlements_threshold_events", DROP CONSTRAINT "threshold_events_instances_threshold_events";
-- Modify "usage_counters" table
ALTER TABLE "usage_counters" DROP CONSTRAINT "usage_counters_entitlements_usage_counters", DROP CONSTRAINT "usage_counters_instances_usage_counters";
-- Modify "usage_events" table
ALTER TABLE "usage_events" DROP CONSTRAINT "usage_events_entitlements_usage_events", DROP CONSTRAINT "usage_events_instances_usage_events";
-- Modify "webhook_deliveries" table
ALTER TABLE "webhook_deliveries" DROP CONSTRAINT "webhook_deliveries_webhook_endpoints_deliveries";
-- Drop index "api_keys_secret_hash_key" from table: "api_keys"
DROP INDEX "api_keys_secret_hash_key";
-- Modify "api_keys" table
ALTER TABLE "api_keys" DROP CONSTRAINT "api_keys_pkey", ADD PRIMARY KEY ("organization_id", "id");
-- Create index "api_keys_id" to table: "api_keys"
CREATE INDEX "api_keys_id" ON "api_keys" ("id");
-- Create index "apikey_organization_id_secret_hash" to table: "api_keys"
CREATE UNIQUE INDEX "apikey_organization_id_secret_hash" ON "api_keys" ("organization_id", "secret_hash");
-- Create index "apikey_secret_hash" to table: "api_keys"
CREATE INDEX "apikey_secret_hash" ON "api_keys" ("secret_hash");
-- Modify "signing_keys" table
ALTER TABLE "signing_keys" DROP CONSTRAINT "signing_keys_pkey", ADD PRIMARY KEY ("organization_id", "id");
-- Create index "signing_keys_id" to table: "signing_keys"
CREATE INDEX "signing_keys_id" ON "signing_keys" ("id");
-- Modify "licenses" table
ALTER TABLE "licenses" DROP CONSTRAINT "licenses_pkey", ADD PRIMARY KEY ("organization_id", "id");
-- Create index "licenses_id" to table: "licenses"
CREATE INDEX "licenses_id" ON "licenses" ("id");
-- Modify "audit_events" table
ALTER TABLE "audit_events" DROP CONSTRAINT "audit_events_pkey", ADD PRIMARY KEY ("organization_id", "id");
-- Modify "instances" table
ALTER TABLE "instances" DROP CONSTRAINT "instances_pkey", ADD PRIMARY KEY ("organization_id", "id");
-- Create index "instances_id" to table: "instances"
CREATE INDEX "instances_id" ON "instances" ("id");
-- Drop index "expirynotice_instance_id_expires_at_days" from table: "expiry_notices"
DROP INDEX "expirynotice_instance_id_expires_at_days";
-- Modify "expiry_notices" table
ALTER TABLE "expiry_notices" DROP CONSTRAINT "expiry_notices_pkey", ADD PRIMARY KEY ("organization_id", "id");
-- Create index "expiry_notices_id" to table: "expiry_notices"
CREATE INDEX "expiry_notices_id" ON "expiry_notices" ("id");
-- Create index "expirynotice_organization_id_instance_id_expires_at_days" to table: "expiry_notices"
CREATE UNIQUE INDEX "expirynotice_organization_id_instance_id_expires_at_days" ON "expiry_notices" ("organization_id", "instance_id", "expires_at", "days");
-- Modify "issued_license_files" table
ALTER TABLE "issued_license_files" DROP CONSTRAINT "issued_license_files_pkey", ADD PRIMARY KEY ("organization_id", "id");
-- Create index "issued_license_files_id" to table: "issued_license_files"
CREATE INDEX "issued_license_files_id" ON "issued_license_files" ("id");
-- Modify "entitlements" table
ALTER TABLE "entitlements" DROP CONSTRAINT "entitlements_pkey", ADD PRIMARY KEY ("organization_id", "id");
-- Create index "entitlements_id" to table: "entitlements"
CREATE INDEX "entitlements_id" ON "entitlements" ("id");
-- Drop index "licenseentitlement_license_id_entitlement_id" from table: "license_entitlements"
DROP INDEX "licenseentitlement_license_id_entitlement_id";
-- Modify "license_entitlements" table
ALTER TABLE "license_entitlements" DROP CONSTRAINT "license_entitlements_pkey", ADD PRIMARY KEY ("organization_id", "id");
-- Create index "license_entitlements_id" to table: "license_entitlements"
CREATE INDEX "license_entitlements_id" ON "license_entitlements" ("id");
-- Create index "licenseentitlement_organization_id_license_id_entitlement_id" to table: "license_entitlements"
CREATE UNIQUE INDEX "licenseentitlement_organization_id_license_id_entitlement_id" ON "license_entitlements" ("organization_id", "license_id", "entitlement_id");
-- Drop index "licenseversion_license_id_version" from table: "license_versions"
DROP INDEX "licenseversion_license_id_version";
-- Modify "license_versions" table
ALTER TABLE "license_versions" DROP CONSTRAINT "license_versions_pkey", ADD PRIMARY KEY ("organization_id", "id");
-- Create index "license_versions_id" to table: "license_versions"
CREATE INDEX "license_versions_id" ON "license_versions" ("id");
-- Create index "licenseversion_organization_id_license_id_version" to table: "license_versions"
CREATE UNIQUE INDEX "licenseversion_organization_id_license_id_version" ON "license_versions" ("organization_id", "license_id", "version");
-- Modify "org_policies" table
ALTER TABLE "org_policies" DROP CONSTRAINT "org_policies_pkey", ADD PRIMARY KEY ("organization_id", "id");
-- Create index "org_policies_id" to table: "org_policies"
CREATE INDEX "org_policies_id" ON "org_policies" ("id");
-- Drop index "policyrevision_policy_id_version" from table: "policy_revisions"
DROP INDEX "policyrevision_policy_id_version";
-- Modify "policy_revisions" table
ALTER TABLE "policy_revisions" DROP CONSTRAINT "policy_revisions_pkey", ADD PRIMARY KEY ("organization_id", "id");
-- Create index "policy_revisions_id" to table: "policy_revisions"
CREATE INDEX "policy_revisions_id" ON "policy_revisions" ("id");
-- Create index "policyrevision_organization_id_policy_id_version" to table: "policy_revisions"
CREATE UNIQUE INDEX "policyrevision_organization_id_policy_id_version" ON "policy_revisions" ("organization_id", "policy_id", "version");
-- Drop index "thresholdevent_instance_id_entitlement_id_period_start_kind" from table: "threshold_events"
DROP INDEX "thresholdevent_instance_id_entitlement_id_period_start_kind";
-- Modify "threshold_events" table
ALTER TABLE "threshold_events" DROP CONSTRAINT "threshold_events_pkey", ADD PRIMARY KEY ("organization_id", "id");
-- Create index "threshold_events_id" to table: "threshold_events"
CREATE INDEX "threshold_events_id" ON "threshold_events" ("id");
-- Create index "thresholdevent_org_instance_entitlement_period_kind" to table: "threshold_events"
CREATE UNIQUE INDEX "thresholdevent_org_instance_entitlement_period_kind" ON "threshold_events" ("organization_id", "instance_id", "entitlement_id", "period_start", "kind");
-- Drop index "usagecounter_instance_id_entitlement_id_period_start" from table: "usage_counters"
DROP INDEX "usagecounter_instance_id_entitlement_id_period_start";
-- Modify "usage_counters" table
ALTER TABLE "usage_counters" DROP CONSTRAINT "usage_counters_pkey", ADD PRIMARY KEY ("organization_id", "id");
-- Create index "usage_counters_id" to table: "usage_counters"
CREATE INDEX "usage_counters_id" ON "usage_counters" ("id");
-- Create index "usagecounter_org_instance_entitlement_period" to table: "usage_counters"
CREATE UNIQUE INDEX "usagecounter_org_instance_entitlement_period" ON "usage_counters" ("organization_id", "instance_id", "entitlement_id", "period_start");
-- Modify "usage_events" table
ALTER TABLE "usage_events" DROP CONSTRAINT "usage_events_pkey", ADD PRIMARY KEY ("organization_id", "id");
-- Modify "webhook_endpoints" table
ALTER TABLE "webhook_endpoints" DROP CONSTRAINT "webhook_endpoints_pkey", ADD PRIMARY KEY ("organization_id", "id");
-- Create index "webhook_endpoints_id" to table: "webhook_endpoints"
CREATE INDEX "webhook_endpoints_id" ON "webhook_endpoints" ("id");
-- Modify "webhook_deliveries" table
ALTER TABLE "webhook_deliveries" DROP CONSTRAINT "webhook_deliveries_pkey", ADD PRIMARY KEY ("organization_id", "id");
-- Create index "webhook_deliveries_id" to table: "webhook_deliveries"
CREATE INDEX "webhook_deliveries_id" ON "webhook_deliveries" ("id");
-- Modify "instances" table
ALTER TABLE "instances" ADD CONSTRAINT "instances_licenses_instances" FOREIGN KEY ("organization_id", "license_id") REFERENCES "licenses" ("organization_id", "id") ON UPDATE NO ACTION ON DELETE RESTRICT;
-- Modify "expiry_notices" table
ALTER TABLE "expiry_notices" ADD CONSTRAINT "expiry_notices_instances_expiry_notices" FOREIGN KEY ("organization_id", "instance_id") REFERENCES "instances" ("organization_id", "id") ON UPDATE NO ACTION ON DELETE CASCADE;
-- Modify "issued_license_files" table
ALTER TABLE "issued_license_files" ADD CONSTRAINT "issued_license_files_instances_license_files" FOREIGN KEY ("organization_id", "instance_id") REFERENCES "instances" ("organization_id", "id") ON UPDATE NO ACTION ON DELETE CASCADE;
-- Modify "license_entitlements" table
ALTER TABLE "license_entitlements" ADD CONSTRAINT "license_entitlements_entitlements_grants" FOREIGN KEY ("organization_id", "entitlement_id") REFERENCES "entitlements" ("organization_id", "id") ON UPDATE NO ACTION ON DELETE RESTRICT, ADD CONSTRAINT "license_entitlements_licenses_entitlements" FOREIGN KEY ("organization_id", "license_id") REFERENCES "licenses" ("organization_id", "id") ON UPDATE NO ACTION ON DELETE CASCADE;
-- Modify "license_versions" table
ALTER TABLE "license_versions" ADD CONSTRAINT "license_versions_licenses_versions" FOREIGN KEY ("organization_id", "license_id") REFERENCES "licenses" ("organization_id", "id") ON UPDATE NO ACTION ON DELETE CASCADE;
-- Modify "policy_revisions" table
ALTER TABLE "policy_revisions" ADD CONSTRAINT "policy_revisions_org_policies_revisions" FOREIGN KEY ("organization_id", "policy_id") REFERENCES "org_policies" ("organization_id", "id") ON UPDATE NO ACTION ON DELETE CASCADE;
-- Modify "threshold_events" table
ALTER TABLE "threshold_events" ADD CONSTRAINT "threshold_events_entitlements_threshold_events" FOREIGN KEY ("organization_id", "entitlement_id") REFERENCES "entitlements" ("organization_id", "id") ON UPDATE NO ACTION ON DELETE RESTRICT, ADD CONSTRAINT "threshold_events_instances_threshold_events" FOREIGN KEY ("organization_id", "instance_id") REFERENCES "instances" ("organization_id", "id") ON UPDATE NO ACTION ON DELETE CASCADE;
-- Modify "usage_counters" table
ALTER TABLE "usage_counters" ADD CONSTRAINT "usage_counters_entitlements_usage_counters" FOREIGN KEY ("organization_id", "entitlement_id") REFERENCES "entitlements" ("organization_id", "id") ON UPDATE NO ACTION ON DELETE RESTRICT, ADD CONSTRAINT "usage_counters_instances_usage_counters" FOREIGN KEY ("organization_id", "instance_id") REFERENCES "instances" ("organization_id", "id") ON UPDATE NO ACTION ON DELETE CASCADE;
-- Modify "usage_events" table
ALTER TABLE "usage_events" ADD CONSTRAINT "usage_events_entitlements_usage_events" FOREIGN KEY ("organization_id", "entitlement_id") REFERENCES "entitlements" ("organization_id", "id") ON UPDATE NO ACTION ON DELETE RESTRICT, ADD CONSTRAINT "usage_events_instances_usage_events" FOREIGN KEY ("organization_id", "instance_id") REFERENCES "instances" ("organization_id", "id") ON UPDATE NO ACTION ON DELETE CASCADE;
-- Modify "webhook_deliveries" table
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_webhook_endpoints_deliveries" FOREIGN KEY ("organization_id", "endpoint_id") REFERENCES "webhook_endpoints" ("organization_id", "id") ON UPDATE NO ACTION ON DELETE CASCADE;
