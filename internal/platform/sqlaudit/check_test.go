package sqlaudit

import (
	"regexp"
	"strings"
	"testing"

	entmigrate "github.com/entitled/entitled/ent/migrate"
)

var tables = FromSchema(entmigrate.Tables)

func TestTenantTablesComeFromTheSchema(t *testing.T) {
	for _, name := range []string{"licenses", "instances", "usage_counters", "usage_events", "audit_events", "webhook_deliveries", "signing_keys"} {
		if tables[name] != Column {
			t.Errorf("%s: distribution column %q, want %q", name, tables[name], Column)
		}
	}
	if tables["audit_heads"] != "id" || tables["organizations"] != "id" {
		t.Errorf("audit_heads and organizations are keyed by the organization's id: %v", tables)
	}
	if _, ok := tables["atlas_schema_revisions"]; ok {
		t.Error("the migrations' revision table is not a tenant table")
	}
}

func TestCheck(t *testing.T) {
	for _, c := range []struct {
		name, q string
		ok      bool
	}{
		{"ent select", `SELECT "licenses"."id", "licenses"."slug" FROM "licenses" WHERE "licenses"."organization_id" = $1 AND "licenses"."slug" = $2 LIMIT 2`, true},
		{"ent select without the tenant", `SELECT "licenses"."id" FROM "licenses" WHERE "licenses"."slug" = $1`, false},
		{"ent update by id", `UPDATE "licenses" SET "name" = $1 WHERE "licenses"."id" = $2 AND "licenses"."organization_id" = $3`, true},
		{"update by id only", `UPDATE "licenses" SET "name" = $1 WHERE "id" = $2`, false},
		{"raw update unqualified", `UPDATE usage_counters SET count = $1 WHERE organization_id = $2 AND instance_id = $3`, true},
		{"reversed equality", `SELECT 1 FROM usage_counters WHERE $1 = organization_id`, true},
		{"literal", `SELECT 1 FROM instances WHERE organization_id = 'org_1'`, true},
		{"insert with the column", `INSERT INTO "instances" ("id", "name", "organization_id") VALUES ($1, $2, $3) RETURNING "id"`, true},
		{"insert without the column", `INSERT INTO instances (id, name) VALUES ($1, $2)`, false},
		{"multi-row insert", `INSERT INTO usage_events (id, organization_id) VALUES ($1, $2), ($3, $4) ON CONFLICT (organization_id, idempotency_key) DO NOTHING`, true},
		{"copy with the column", `COPY "usage_events" ("id", "organization_id", "value") FROM STDIN`, true},
		{"copy without the column", `COPY "usage_events" ("id", "value") FROM STDIN`, false},
		{"join on the organization", `SELECT i.id FROM instances i JOIN licenses l ON l.id = i.license_id AND l.organization_id = i.organization_id WHERE i.organization_id = $1`, true},
		{"join without the organization", `SELECT i.id FROM instances i JOIN licenses l ON l.id = i.license_id WHERE i.organization_id = $1`, false},
		{"join with alias AS", `SELECT t1.id FROM "instances" AS "t1" JOIN "licenses" AS "t2" ON "t2"."organization_id" = "t1"."organization_id" WHERE "t1"."organization_id" = $1`, true},
		{"joined but never pinned", `SELECT i.id FROM instances i JOIN licenses l ON l.organization_id = i.organization_id`, false},
		{"subquery without the tenant", `SELECT "instances"."id" FROM "instances" WHERE "instances"."organization_id" = $1 AND "instances"."license_id" IN (SELECT "licenses"."id" FROM "licenses" WHERE "licenses"."slug" = $2)`, false},
		{"subquery with the tenant", `SELECT "instances"."id" FROM "instances" WHERE "instances"."organization_id" = $1 AND "instances"."license_id" IN (SELECT "licenses"."id" FROM "licenses" WHERE "licenses"."organization_id" = $2 AND "licenses"."slug" = $3)`, true},
		{"same table twice, one predicate", `SELECT id FROM licenses WHERE licenses.organization_id = $1 AND id IN (SELECT licenses.id FROM licenses WHERE licenses.slug = $2)`, false},
		{"any of several organizations", `SELECT id, updated_at FROM organizations WHERE id = ANY($1)`, false},
		{"organization by id", `SELECT updated_at FROM organizations WHERE id = $1 FOR UPDATE`, true},
		{"audit head by organization", `UPDATE audit_heads SET seq = seq + 1 WHERE id = $1 RETURNING seq, hash`, true},
		{"organization_id in a subquery list", `SELECT id FROM instances WHERE organization_id IN (SELECT id FROM organizations WHERE slug = $1)`, false},
		{"not a tenant table", `SELECT version FROM atlas_schema_revisions ORDER BY version`, true},
		{"no table", `SELECT pg_notify($1, $2)`, true},
		{"comment and quotes", `-- a comment
SELECT "a""b" FROM /* x */ instances WHERE organization_id = $1 AND name = 'it''s'`, true},
		{"for update is no table", `SELECT updated_at FROM "webhook_endpoints" WHERE "webhook_endpoints"."organization_id" = $1 FOR UPDATE`, true},
		{"on conflict do update", `INSERT INTO usage_counters (id, organization_id, instance_id) VALUES ($1, $2, $3) ON CONFLICT (organization_id, instance_id) DO UPDATE SET count = usage_counters.count + 1 RETURNING count`, true},
		{"delete", `DELETE FROM "license_entitlements" WHERE "license_entitlements"."id" = $1`, false},
	} {
		got := Check(c.q, tables)
		if (len(got) == 0) != c.ok {
			t.Errorf("%s: Check = %q, want ok=%v\n  %s", c.name, got, c.ok, c.q)
		}
	}
}

func TestNormalize(t *testing.T) {
	a := Normalize(`SELECT "id" FROM "instances" WHERE "organization_id" = $1 AND "id" IN ($2, $3, $4)`)
	b := Normalize(`SELECT "id" FROM "instances" WHERE "organization_id" = $1 AND "id" IN ($2)`)
	if a != b || a != "select id from instances where organization_id = ? and id in (?)" {
		t.Errorf("IN lists fold to one shape:\n%s\n%s", a, b)
	}
	c := Normalize(`INSERT INTO x (a, b) VALUES ($1, $2), ($3, $4), ($5, $6)`)
	if c != "insert into x (a, b) values (?)" {
		t.Errorf("multi-row VALUES fold: %s", c)
	}
}

// TestAuditFailsOnANewStatement feeds the audit a scratch statement on a
// tenant table without its organization, beside statements that pass and
// one the allowlist covers: the audit reports exactly the scratch one.
func TestAuditFailsOnANewStatement(t *testing.T) {
	rec := NewRecorder()
	rec.Record("TestGood", `SELECT "licenses"."id" FROM "licenses" WHERE "licenses"."organization_id" = $1`)
	rec.Record("TestAllowed", `SELECT id, updated_at FROM organizations WHERE id = ANY($1)`)
	allow := []Exemption{{Match: `^select id, updated_at from organizations where id = any \(\?\)$`, Reason: "test"}}
	if f, n := rec.Audit(tables, allow); len(f) != 0 || n != 2 {
		t.Fatalf("before the scratch statement: findings %v, tenant statements %d (want none, 2)", f, n)
	}
	scratch := `UPDATE "instances" SET "name" = $1 WHERE "instances"."slug" = $2`
	rec.Record("TestScratch", scratch)
	rec.Record("TestScratch", scratch) // recorded once
	f, n := rec.Audit(tables, allow)
	if len(f) != 1 || n != 3 {
		t.Fatalf("findings %v, tenant statements %d; want the scratch statement alone, 3", f, n)
	}
	if f[0].By != "TestScratch" || f[0].Statement != scratch || !strings.Contains(f[0].String(), "instances.organization_id") {
		t.Errorf("finding %+v does not name the statement, its test and what it lacks", f[0])
	}
	// The real allowlist does not cover it either.
	if e, ok := Exempt(scratch, Allowlist); ok {
		t.Errorf("the allowlist covers the scratch statement: %+v", e)
	}
}

func TestEveryExemptionHasAReason(t *testing.T) {
	for _, e := range Allowlist {
		if _, err := regexp.Compile(e.Match); err != nil || e.Match == "" {
			t.Errorf("exemption %q: %v", e.Match, err)
		}
		if len(strings.TrimSpace(e.Reason)) < 40 {
			t.Errorf("exemption %q needs its reason", e.Match)
		}
		// An exemption covers statements that Check refuses: one that
		// matched a confined statement would say nothing.
		if ok, _ := regexp.MatchString(e.Match, Normalize(`SELECT "licenses"."id" FROM "licenses" WHERE "licenses"."organization_id" = $1 AND "licenses"."id" = $2`)); ok {
			t.Errorf("exemption %q matches an ordinary confined statement", e.Match)
		}
	}
}
