package testenv

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"testing"

	entmigrate "github.com/entitled/entitled/ent/migrate"
	"github.com/entitled/entitled/internal/platform/sqlaudit"
)

// statementAudit records the statements of PostgreSQL servers while a
// package runs under RunWithStatementAudit.
var statementAudit atomic.Pointer[sqlaudit.Recorder]

// RunWithStatementAudit runs a test package (m.Run, from its TestMain)
// with every SQL statement its PostgreSQL servers send recorded — ent's,
// metering's raw SQL, the change feed's, background jobs' — and then audits them: a statement on a tenant table without its
// organization (sqlaudit.Check) that sqlaudit.Allowlist does not cover
// fails the run, listed with the test that sent it first (also when a
// test failed). It returns the exit code.
func RunWithStatementAudit(m *testing.M) int {
	rec := sqlaudit.NewRecorder()
	statementAudit.Store(rec)
	code := m.Run()
	statementAudit.Store(nil)
	return max(code, report(os.Stderr, rec))
}

func report(w io.Writer, rec *sqlaudit.Recorder) int {
	if rec.Len() == 0 {
		return 0
	}
	findings, tenant := rec.Audit(sqlaudit.FromSchema(entmigrate.Tables), sqlaudit.Allowlist)
	if len(findings) == 0 {
		if testing.Verbose() {
			fmt.Fprintf(w, "statement audit: %d distinct statements, %d on tenant tables, each names its organization or is allowlisted\n", rec.Len(), tenant)
		}
		return 0
	}
	fmt.Fprintf(w, "statement audit: %d of %d statements on tenant tables do not name their organization (add the predicate, or an exemption with its reason to sqlaudit.Allowlist):\n\n", len(findings), tenant)
	for _, f := range findings {
		fmt.Fprintf(w, "  %s\n\n", f)
	}
	fmt.Fprintln(w, "FAIL: statement audit")
	return 1
}
