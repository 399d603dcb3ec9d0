package sqlaudit

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"entgo.io/ent/dialect/sql/schema"
)

// FromSchema returns the tenant tables of a schema: every table with an
// organization_id column, and the tables keyed by the organization's id.
func FromSchema(tables []*schema.Table) Tables {
	out := Tables{}
	for _, t := range tables {
		for _, c := range t.Columns {
			if c.Name == Column {
				out[t.Name] = Column
			}
		}
	}
	for t, c := range keyedByOrganization {
		out[t] = c
	}
	return out
}

// keyedByOrganization lists the tables whose primary key is the
// organization's id: one row per organization, distributed by that key.
var keyedByOrganization = map[string]string{
	// The head of an organization's audit chain (its sequence and last
	// hash): the per-organization counter events take their seq from.
	"audit_heads": "id",
	// The organization itself; its change counter (updated_at) is bumped
	// in every change's transaction.
	"organizations": "id",
}

// Exemption is a family of statements that legitimately spans
// organizations (or that the audit cannot read as confined).
type Exemption struct {
	// Match is a regular expression over the normalised statement
	// (Normalize) that only this family matches.
	Match string
	// Reason says why it spans organizations and what becomes of it on
	// a distributed database.
	Reason string
}

// Exempt returns the exemption q falls under, if any.
func Exempt(q string, allow []Exemption) (Exemption, bool) {
	n := Normalize(q)
	for _, e := range allow {
		if regexp.MustCompile(e.Match).MatchString(n) {
			return e, true
		}
	}
	return Exemption{}, false
}

// Recorder collects distinct statements (by their normalised shape), with
// where each was first seen. It is safe for concurrent use.
type Recorder struct {
	mu   sync.Mutex
	raw  map[string]bool
	seen map[string]Seen
}

// Seen is a recorded statement.
type Seen struct {
	Statement string // as sent the first time
	By        string // the test that sent it first
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder {
	return &Recorder{raw: map[string]bool{}, seen: map[string]Seen{}}
}

// Record notes that by sent statement q.
func (r *Recorder) Record(by, q string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.raw[q] {
		return
	}
	r.raw[q] = true
	n := Normalize(q)
	if _, ok := r.seen[n]; !ok {
		r.seen[n] = Seen{Statement: q, By: by}
	}
}

// Len is the number of distinct statements recorded.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

// Finding is a recorded statement that fails Check and no exemption
// covers.
type Finding struct {
	Seen
	Normalized string
	Problems   []string
}

func (f Finding) String() string {
	return fmt.Sprintf("%s\n    (first sent by %s)\n    %s", f.Normalized, f.By, strings.Join(f.Problems, "\n    "))
}

// Audit checks every recorded statement, and returns the failing ones
// (sorted) and how many statements touched tenant tables.
func (r *Recorder) Audit(tables Tables, allow []Exemption) (findings []Finding, tenant int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for n, s := range r.seen {
		problems := Check(s.Statement, tables)
		if len(findRefs(fold(tokenize(s.Statement)), tables)) > 0 {
			tenant++
		}
		if len(problems) == 0 {
			continue
		}
		if _, ok := Exempt(s.Statement, allow); ok {
			continue
		}
		findings = append(findings, Finding{Seen: s, Normalized: n, Problems: problems})
	}
	slices.SortFunc(findings, func(a, b Finding) int { return strings.Compare(a.Normalized, b.Normalized) })
	return findings, tenant
}
