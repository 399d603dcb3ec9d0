package main

import (
	"strings"
	"testing"
	"time"
)

func TestLoadConfig(t *testing.T) {
	env := map[string]string{}
	get := func(k string) string { return env[k] }
	c, err := loadConfig(get)
	if err != nil || c.addr != ":8080" || c.databaseURL != "sqlite://entitled.db" || c.sample != 1 || c.auditRetention != 0 {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	env["ENTITLED_POLICY_TIMEOUT"] = "40ms"
	env["ENTITLED_DECISION_LOG_SAMPLE"] = "0.25"
	env["ENTITLED_STALE_LIMIT"] = "2m"
	env["ENTITLED_RESYNC_INTERVAL"] = "5s"
	env["ENTITLED_AUDIT_RETENTION"] = "90d"
	if c.snapshotTTL != 24*time.Hour || c.streamsPerKey != 16 {
		t.Fatalf("SDK defaults: %v %d", c.snapshotTTL, c.streamsPerKey)
	}
	env["ENTITLED_SDK_SNAPSHOT_TTL"] = "2h"
	env["ENTITLED_SDK_STREAMS_PER_KEY"] = "3"
	if c, err = loadConfig(get); err != nil || c.snapshotTTL != 2*time.Hour || c.streamsPerKey != 3 {
		t.Fatalf("SDK overrides: %v %d %v", c.snapshotTTL, c.streamsPerKey, err)
	}
	if c, err = loadConfig(get); err != nil || c.policyTimeout != 40*time.Millisecond || c.sample != 0.25 || c.staleLimit != 2*time.Minute || c.resync != 5*time.Second || c.auditRetention != 90*24*time.Hour {
		t.Fatalf("overrides: %+v %v", c, err)
	}
	if c.webhooks.RetrySchedule != nil || c.webhooks.Timeout != 0 || c.webhooks.AllowPrivate {
		t.Fatalf("webhook defaults (nil and zero: the service's): %+v", c.webhooks)
	}
	env["ENTITLED_WEBHOOK_RETRY_SCHEDULE"] = "1s, 1m"
	env["ENTITLED_WEBHOOK_TIMEOUT"] = "3s"
	env["ENTITLED_WEBHOOK_ALLOW_PRIVATE"] = "true"
	if c, err = loadConfig(get); err != nil || len(c.webhooks.RetrySchedule) != 2 || c.webhooks.RetrySchedule[1] != time.Minute || c.webhooks.Timeout != 3*time.Second || !c.webhooks.AllowPrivate {
		t.Fatalf("webhook overrides: %+v %v", c.webhooks, err)
	}
	for k, bad := range map[string]string{"ENTITLED_POLICY_TIMEOUT": "soon", "ENTITLED_DECISION_LOG_SAMPLE": "2", "ENTITLED_LOG_LEVEL": "LOUD", "ENTITLED_STALE_LIMIT": "-1s", "ENTITLED_RESYNC_INTERVAL": "often", "ENTITLED_AUDIT_RETENTION": "-3d",
		"ENTITLED_WEBHOOK_RETRY_SCHEDULE": "5s,,1m", "ENTITLED_WEBHOOK_TIMEOUT": "0s", "ENTITLED_WEBHOOK_ALLOW_PRIVATE": "maybe",
		"ENTITLED_SDK_SNAPSHOT_TTL": "-1h", "ENTITLED_SDK_STREAMS_PER_KEY": "0"} {
		env2 := map[string]string{k: bad}
		if _, err := loadConfig(func(k string) string { return env2[k] }); err == nil {
			t.Errorf("%s=%s accepted", k, bad)
		}
	}
}

func TestPolicyInputSchemaCommand(t *testing.T) {
	var out, errb strings.Builder
	if code := executeTo([]string{"policy", "input-schema"}, &out, &errb); code != 0 || !strings.Contains(out.String(), `"$schema"`) {
		t.Fatalf("exit %d: %s %s", code, out.String(), errb.String())
	}
	for _, args := range [][]string{{"bogus"}, {"policy", "bogus"}, {"--bogus"}, {"migrate", "status", "--nope"}, {"keys", "create", "--org"}} {
		out.Reset()
		errb.Reset()
		if code := executeTo(args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
		if msg := errb.String(); strings.Count(msg, "\n") != 1 || !strings.Contains(msg, "entitled --help") {
			t.Errorf("%v: want a one-line hint, got %q", args, msg)
		}
	}
}
