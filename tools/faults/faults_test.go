package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/entitled/entitled/internal/testenv"
)

// The suite's short form: three replicas, every fault, under load; no
// report lost or counted twice, every change within a second.
func TestFaultsShort(t *testing.T) {
	if testing.Short() {
		t.Skip("builds entitled and runs three replicas for about 20 s")
	}
	var out bytes.Buffer
	err := run(config{
		pgURL:            testenv.PostgresURL(),
		phase:            3 * time.Second,
		outage:           4 * time.Second,
		reporters:        4,
		propagationLimit: time.Second,
	}, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
}
