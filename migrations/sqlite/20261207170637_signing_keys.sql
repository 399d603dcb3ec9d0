-- Create "issued_license_files" table
CREATE TABLE `issued_license_files` (`id` text NOT NULL, `kid` text NOT NULL, `issued_at` datetime NOT NULL, `expires_at` datetime NOT NULL, `issued_by_id` text NULL, `issued_by_name` text NULL, `include_policies` bool NOT NULL DEFAULT (false), `certificate` text NOT NULL, `sha256` text NOT NULL, `facts_sha256` text NOT NULL, `instance_id` text NOT NULL, `organization_id` text NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `issued_license_files_instances_license_files` FOREIGN KEY (`instance_id`) REFERENCES `instances` (`id`) ON DELETE CASCADE, CONSTRAINT `issued_license_files_organizations_organization` FOREIGN KEY (`organization_id`) REFERENCES `organizations` (`id`) ON DELETE NO ACTION);
-- Create index "issuedlicensefile_instance_id_issued_at" to table: "issued_license_files"
CREATE INDEX `issuedlicensefile_instance_id_issued_at` ON `issued_license_files` (`instance_id`, `issued_at`);
-- Create "signing_keys" table
CREATE TABLE `signing_keys` (`id` text NOT NULL, `kid` text NOT NULL, `algorithm` text NOT NULL DEFAULT ('EdDSA'), `public_key` text NOT NULL, `sealed_private_key` text NOT NULL, `status` text NOT NULL DEFAULT ('CURRENT'), `created_at` datetime NOT NULL, `retired_at` datetime NULL, `organization_id` text NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `signing_keys_organizations_organization` FOREIGN KEY (`organization_id`) REFERENCES `organizations` (`id`) ON DELETE NO ACTION);
-- Create index "signingkey_organization_id_kid" to table: "signing_keys"
CREATE UNIQUE INDEX `signingkey_organization_id_kid` ON `signing_keys` (`organization_id`, `kid`);
-- Create index "signingkey_organization_id_status" to table: "signing_keys"
CREATE INDEX `signingkey_organization_id_status` ON `signing_keys` (`organization_id`, `status`);
