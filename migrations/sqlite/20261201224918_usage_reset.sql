-- Add column "reset_at" to table: "usage_counters"
ALTER TABLE `usage_counters` ADD COLUMN `reset_at` datetime NULL;
