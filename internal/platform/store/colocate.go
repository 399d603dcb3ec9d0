package store

import (
	"slices"

	"ariga.io/atlas/sql/migrate"
	atlas "ariga.io/atlas/sql/schema"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql/schema"

	entmigrate "github.com/entitled/entitled/ent/migrate"
)

// TenantColumn is the column every tenant table holds its organization
// in: the distribution column of a distributed PostgreSQL (Citus).
const TenantColumn = "organization_id"

// Schema is the schema the migrations of a dialect build: ent's
// (ent/migrate, generated from ent/schema), and on PostgreSQL the
// co-location that ent cannot declare through edges. There, every
// tenant table's primary key is (organization_id, id), and every foreign
// key between tenant tables is (organization_id, x_id) → (organization_id,
// id), so that no row can point at another organization's, and every key
// holds the distribution column as Citus requires. ids stay unique on
// their own (ULIDs with 80 random bits); a plain index on id keeps ent's read-back
// of an updated row (by id alone) an index lookup. SQLite is
// one process's file and keeps ent's tables as they are.
//
// It returns new tables (ent's are left alone); go generate writes the
// migrations from it, and the self-checks compare the database with it.
func Schema(drv string) []*schema.Table {
	if drv != dialect.Postgres {
		return entmigrate.Tables
	}
	return colocate(entmigrate.Tables)
}

// appendOnly are the tenant tables nothing updates or reads by id alone:
// the ledgers, written by raw SQL, which need no index on id beside the
// primary key.
var appendOnly = map[string]bool{"usage_events": true, "audit_events": true}

func colocate(tables []*schema.Table) []*schema.Table {
	copies := make(map[*schema.Table]*schema.Table, len(tables))
	out := make([]*schema.Table, len(tables))
	for i, t := range tables {
		c := *t
		out[i], copies[t] = &c, &c
	}
	for _, t := range out {
		org, ok := t.Column(TenantColumn)
		if !ok {
			continue
		}
		if len(t.PrimaryKey) == 1 {
			id := t.PrimaryKey[0]
			t.PrimaryKey = []*schema.Column{org, id}
			if !appendOnly[t.Name] {
				// ent reads a row back by id alone after updating it.
				t.Indexes = append(slices.Clone(t.Indexes), &schema.Index{Name: t.Name + "_id", Columns: []*schema.Column{id}})
			}
		}
		fks := make([]*schema.ForeignKey, len(t.ForeignKeys))
		for i, fk := range t.ForeignKeys {
			f := *fk
			f.RefTable = copies[fk.RefTable]
			if refOrg, ok := f.RefTable.Column(TenantColumn); ok && len(fk.Columns) == 1 {
				f.Columns = []*schema.Column{org, fk.Columns[0]}
				f.RefColumns = []*schema.Column{refOrg, fk.RefColumns[0]}
			}
			fks[i] = &f
		}
		t.ForeignKeys = fks
	}
	return out
}

// foreignKeysAroundKeys and fkOrder order a PostgreSQL migration so that
// keys can change under foreign keys: every foreign key dropped (or
// changed) is dropped first, and added back last, after every table's
// primary key and indexes have changed. Atlas plans a table's changes as
// one statement, and sorts statements by table, so it would drop
// licenses' primary key while instances' foreign key still depends on
// it. The diff hook splits each table's foreign-key changes into
// statements of their own; the formatter moves them to either end.
func foreignKeysAroundKeys(next schema.Differ) schema.Differ {
	return schema.DiffFunc(func(current, desired *atlas.Schema) ([]atlas.Change, error) {
		changes, err := next.Diff(current, desired)
		if err != nil {
			return nil, err
		}
		var drops, rest, adds []atlas.Change
		for _, c := range changes {
			m, ok := c.(*atlas.ModifyTable)
			if !ok {
				rest = append(rest, c)
				continue
			}
			var d, r, a []atlas.Change
			for _, tc := range m.Changes {
				switch tc := tc.(type) {
				case *atlas.DropForeignKey:
					d = append(d, tc)
				case *atlas.AddForeignKey:
					a = append(a, tc)
				case *atlas.ModifyForeignKey:
					d = append(d, &atlas.DropForeignKey{F: tc.From})
					a = append(a, &atlas.AddForeignKey{F: tc.To})
				default:
					r = append(r, tc)
				}
			}
			if len(d) > 0 {
				drops = append(drops, &atlas.ModifyTable{T: m.T, Changes: d})
			}
			if len(r) > 0 {
				rest = append(rest, &atlas.ModifyTable{T: m.T, Changes: r})
			}
			if len(a) > 0 {
				adds = append(adds, &atlas.ModifyTable{T: m.T, Changes: a})
			}
		}
		return append(append(drops, rest...), adds...), nil
	})
}

// fkOrder formats a plan with its foreign-key drops first and its
// foreign-key additions last (foreignKeysAroundKeys), the rest in
// Atlas's order.
type fkOrder struct{ migrate.Formatter }

func (f fkOrder) Format(p *migrate.Plan) ([]migrate.File, error) {
	cp := *p
	cp.Changes = slices.Clone(p.Changes)
	slices.SortStableFunc(cp.Changes, func(a, b *migrate.Change) int { return fkPhase(a) - fkPhase(b) })
	return f.Formatter.Format(&cp)
}

// fkPhase is 0 for a statement that only drops foreign keys, 2 for one
// that only adds them, 1 for the rest.
func fkPhase(c *migrate.Change) int {
	m, ok := c.Source.(*atlas.ModifyTable)
	if !ok || len(m.Changes) == 0 {
		return 1
	}
	drops, adds := true, true
	for _, tc := range m.Changes {
		switch tc.(type) {
		case *atlas.DropForeignKey:
			adds = false
		case *atlas.AddForeignKey:
			drops = false
		default:
			return 1
		}
	}
	switch {
	case drops:
		return 0
	case adds:
		return 2
	}
	return 1
}
