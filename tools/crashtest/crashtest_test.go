package main

import (
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/entitled/entitled/internal/testenv"
)

// The webhook mode, short: the real binary, SIGKILL with deliveries
// queued, in flight and waiting for retries; after the restart every
// event that committed reaches the receiver.
func TestWebhooksSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds entitled and runs it twice against PostgreSQL")
	}
	bin := filepath.Join(t.TempDir(), "entitled")
	if err := build(bin); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if err := runWebhooks(webhookConfig{
		pgURL: testenv.PostgresURL(), events: 400, workers: 8, killAfter: time.Second,
		addr: addr, bin: bin, settle: time.Minute,
	}); err != nil {
		t.Fatal(err)
	}
}
