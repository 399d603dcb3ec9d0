package sqlaudit

import (
	"fmt"
	"slices"
	"strings"
)

// Tables maps each tenant table to its distribution column: the column
// holding the organization's id (organization_id; id for a table whose
// rows are keyed by the organization itself).
type Tables map[string]string

// Column is the distribution column of tenant tables.
const Column = "organization_id"

// keywords end a table reference: a word among them after a table name is
// not its alias.
var keywords = map[string]bool{
	"where": true, "join": true, "inner": true, "left": true, "right": true, "full": true, "outer": true,
	"cross": true, "natural": true, "lateral": true, "on": true, "using": true, "group": true, "order": true,
	"limit": true, "offset": true, "set": true, "values": true, "returning": true, "for": true, "union": true,
	"except": true, "intersect": true, "having": true, "window": true, "default": true, "select": true,
	"from": true, "as": true, "do": true, "only": true, "stdin": true, "with": true, "of": true, "skip": true,
	"nowait": true, "overriding": true, "fetch": true, "and": true, "or": true, "not": true, "is": true,
}

// ref is one mention of a tenant table.
type ref struct {
	table, qualifier, column string
	// insert: the table is written by INSERT or COPY; its column list
	// must name the distribution column.
	insert   bool
	hasOrgIn bool
}

// operand is one side of an equality.
type operand struct {
	pin       bool // a parameter or a literal
	qualifier string
	column    string // "" when neither a pin nor a column
}

// Check reports what statement q lacks for distribution by organization:
// every mention of a tenant table must be matched by an equality of its
// distribution column — to a parameter or literal, or to another tenant
// table's distribution column (a join on the organization) — and at least
// one such equality must pin the statement to a parameter or literal; an
// INSERT or COPY into a tenant table must list the column. It returns nil
// for a statement that touches no tenant table.
//
// Limits (it tokenizes; it does not parse): an equality counts wherever it
// is (WHERE, ON, a subquery, even an UPDATE's SET); mentions of one table
// under one name are matched by count of the equalities naming it, and
// unqualified equalities are shared among the mentions of their column;
// an OR that makes the equality optional is not noticed; a table reached
// only through a view or a function is not seen; a CTE named like a
// tenant table is taken for it.
func Check(q string, tables Tables) []string {
	ts := fold(tokenize(q))
	refs := findRefs(ts, tables)
	if len(refs) == 0 {
		return nil
	}
	type key struct{ qualifier, column string }
	have := map[key]int{}
	unqualified := map[string]int{}
	pinned := false
	distCols := map[string]bool{}
	for _, c := range tables {
		distCols[c] = true
	}
	for i, t := range ts {
		if !t.is("=") {
			continue
		}
		l, r := operandBefore(ts, i), operandAfter(ts, i+1)
		for _, side := range [][2]operand{{l, r}, {r, l}} {
			col, other := side[0], side[1]
			if col.column == "" || !distCols[col.column] {
				continue
			}
			if !other.pin && (other.column == "" || !distCols[other.column]) {
				continue
			}
			if other.pin {
				pinned = true
			}
			if col.qualifier == "" {
				unqualified[col.column]++
			} else {
				have[key{col.qualifier, col.column}]++
			}
		}
	}
	var out []string
	need := map[key]int{}
	for _, r := range refs {
		if r.insert {
			if !r.hasOrgIn {
				out = append(out, fmt.Sprintf("%s is written without its %s", r.table, r.column))
			}
			continue
		}
		need[key{r.qualifier, r.column}]++
	}
	keys := make([]key, 0, len(need))
	for k := range need {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int { return strings.Compare(a.qualifier, b.qualifier) })
	for _, k := range keys {
		missing := need[k] - have[k]
		for missing > 0 && unqualified[k.column] > 0 {
			missing--
			unqualified[k.column]--
		}
		if missing > 0 {
			out = append(out, fmt.Sprintf("%s has no equality on %s.%s", tableOf(refs, k.qualifier), k.qualifier, k.column))
		}
	}
	if len(need) > 0 && len(out) == 0 && !pinned {
		out = append(out, "no equality pins the organization to a parameter or literal")
	}
	return out
}

func tableOf(refs []ref, qualifier string) string {
	for _, r := range refs {
		if r.qualifier == qualifier {
			return r.table
		}
	}
	return qualifier
}

// findRefs lists the mentions of tenant tables.
func findRefs(ts []token, tables Tables) []ref {
	var out []ref
	for i := 0; i < len(ts); i++ {
		t := ts[i]
		if t.k != word {
			continue
		}
		switch t.s {
		case "from", "join", "update", "into", "copy":
		default:
			continue
		}
		insert := t.s == "copy" || t.s == "into" && i > 0 && ts[i-1].is("insert")
		j := i + 1
		for {
			if j >= len(ts) || !ts[j].ident() || ts[j].k == word && keywords[ts[j].s] {
				break
			}
			name := ts[j].s
			j++
			if j+1 < len(ts) && ts[j].is(".") && ts[j+1].ident() { // schema.table
				name = ts[j+1].s
				j += 2
			}
			qualifier := name
			if j < len(ts) && ts[j].is("as") && j+1 < len(ts) && ts[j+1].ident() {
				qualifier = ts[j+1].s
				j += 2
			} else if j < len(ts) && (ts[j].k == quoted || ts[j].k == word && !keywords[ts[j].s]) {
				qualifier = ts[j].s
				j++
			}
			if col, ok := tables[name]; ok {
				r := ref{table: name, qualifier: qualifier, column: col, insert: insert}
				if insert {
					r.hasOrgIn = listNames(ts, j, col)
				}
				out = append(out, r)
			}
			if t.s != "from" || j >= len(ts) || !ts[j].is(",") {
				break
			}
			j++
		}
	}
	return out
}

// listNames reports whether the parenthesised column list at ts[j] names
// col.
func listNames(ts []token, j int, col string) bool {
	if j >= len(ts) || !ts[j].is("(") {
		return false
	}
	for j++; j < len(ts) && !ts[j].is(")"); j++ {
		if ts[j].ident() && ts[j].s == col {
			return true
		}
	}
	return false
}

func isPin(t token) bool { return t.k == param || t.k == str || t.k == number }

// operandAfter reads the operand starting at ts[i].
func operandAfter(ts []token, i int) operand {
	if i >= len(ts) {
		return operand{}
	}
	if isPin(ts[i]) {
		return operand{pin: true}
	}
	if !ts[i].ident() || ts[i].k == word && keywords[ts[i].s] {
		return operand{}
	}
	if i+2 < len(ts) && ts[i+1].is(".") && ts[i+2].ident() {
		if i+3 < len(ts) && (ts[i+3].is("(") || ts[i+3].is(".")) {
			return operand{}
		}
		return operand{qualifier: ts[i].s, column: ts[i+2].s}
	}
	if i+1 < len(ts) && ts[i+1].is("(") {
		return operand{} // a function call
	}
	return operand{column: ts[i].s}
}

// operandBefore reads the operand ending at ts[i-1].
func operandBefore(ts []token, i int) operand {
	if i < 1 {
		return operand{}
	}
	p := ts[i-1]
	if isPin(p) {
		return operand{pin: true}
	}
	if !p.ident() || p.k == word && keywords[p.s] {
		return operand{}
	}
	if i >= 3 && ts[i-2].is(".") && ts[i-3].ident() {
		return operand{qualifier: ts[i-3].s, column: p.s}
	}
	return operand{column: p.s}
}
