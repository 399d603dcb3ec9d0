package tracing

import (
	"context"
	"testing"
)

func TestFromEnv(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want string
		err  bool
	}{
		{env: nil, want: ""},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, want: "http://collector:4318/v1/traces"},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://c.example/otlp/"}, want: "https://c.example/otlp/v1/traces"},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/custom", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://other:4318"}, want: "http://c:4318/custom"},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, want: ""},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, want: "http://c:4318/v1/traces"},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, err: true},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, err: true},
	} {
		got, err := FromEnv(func(k string) string { return c.env[k] })
		if (err != nil) != c.err || got.EndpointURL != c.want {
			t.Errorf("%v: got %q, %v; want %q (error %v)", c.env, got.EndpointURL, err, c.want, c.err)
		}
	}
	if got := (Config{EndpointURL: "https://u:secret@c:4318/v1/traces"}).Endpoint(); got != "https://u:xxxxx@c:4318/v1/traces" {
		t.Errorf("Endpoint() = %q", got)
	}
}

// Tracing off, the provider is nil and every span below the edge is the
// context's own non-recording span: no allocation.
func TestOffCostsNothing(t *testing.T) {
	p, err := New(context.Background(), Config{})
	if err != nil || p != nil {
		t.Fatalf("New(off) = %v, %v", p, err)
	}
	ctx := context.Background()
	if n := testing.AllocsPerRun(1000, func() {
		c, span := Start(ctx, "decision")
		if c != ctx || span.IsRecording() {
			t.Fatal("a span was started with tracing off")
		}
		_ = Fail(span, nil)
		span.End()
		_ = TraceID(c)
	}); n != 0 {
		t.Fatalf("%v allocations per span with tracing off", n)
	}
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkStartOff is what a span costs with tracing off.
func BenchmarkStartOff(b *testing.B) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, span := Start(ctx, "decision")
		if span.IsRecording() {
			b.Fatal("recording")
		}
		span.End()
	}
}
