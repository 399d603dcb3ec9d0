package policy

import (
	"os"
	"testing"
	"time"
)

// TestMain lengthens the default deadline for functional tests: on a loaded
// machine a 25 ms wall-clock deadline can pass before a goroutine gets a
// CPU. The deadline tests set theirs explicitly.
func TestMain(m *testing.M) {
	defaultEvalTimeout = 5 * time.Second
	os.Exit(m.Run())
}
