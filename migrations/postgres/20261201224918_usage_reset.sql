-- Modify "usage_counters" table
ALTER TABLE "usage_counters" ADD COLUMN "reset_at" timestamptz NULL;
