package main

import "testing"

func TestTracingIsConfiguredFromTheStandardVariables(t *testing.T) {
	env := map[string]string{}
	get := func(k string) string { return env[k] }
	if c, err := loadConfig(get); err != nil || c.tracing.EndpointURL != "" {
		t.Fatalf("tracing on by default: %+v %v", c.tracing, err)
	}
	env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://collector:4318"
	if c, err := loadConfig(get); err != nil || c.tracing.EndpointURL != "http://collector:4318/v1/traces" {
		t.Fatalf("OTEL_EXPORTER_OTLP_ENDPOINT: %+v %v", c.tracing, err)
	}
	env["OTEL_EXPORTER_OTLP_PROTOCOL"] = "grpc"
	if _, err := loadConfig(get); err == nil {
		t.Fatal("OTLP over gRPC accepted")
	}
}
