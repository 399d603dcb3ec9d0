package apitest

import (
	"os"
	"testing"

	"github.com/entitled/entitled/internal/testenv"
)

// TestMain audits every SQL statement the suite's PostgreSQL servers send
// (testenv.RunWithStatementAudit): each must name its organization, or be
// one of the allowlisted cross-organization statements.
func TestMain(m *testing.M) {
	os.Exit(testenv.RunWithStatementAudit(m))
}
