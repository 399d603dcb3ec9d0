// Package tracing exports OpenTelemetry spans over OTLP/HTTP when an
// endpoint is configured, and costs nothing when none is.
//
// Only the HTTP edge is given the tracer provider (Provider.Handler wraps
// the mux in otelhttp, which continues an incoming W3C traceparent). Every
// other span is started with Start, which takes its tracer from the span
// already in the context: code below the edge needs no provider, nothing
// is global, and where there is no recording span (tracing off, or a
// trace not sampled) Start returns at once without allocating.
package tracing

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Scope is the instrumentation scope of entitled's own spans.
const Scope = "github.com/entitled/entitled"

// DefaultServiceName is service.name unless OTEL_SERVICE_NAME (or
// service.name in OTEL_RESOURCE_ATTRIBUTES) says otherwise.
const DefaultServiceName = "entitled"

// Config says where spans go. The zero Config is tracing off.
type Config struct {
	// EndpointURL is the OTLP/HTTP traces URL, such as
	// http://collector:4318/v1/traces. Empty: tracing is off.
	EndpointURL string
}

// Endpoint is the endpoint URL as logs may show it (no password).
func (c Config) Endpoint() string {
	u, err := url.Parse(c.EndpointURL)
	if err != nil {
		return ""
	}
	return u.Redacted()
}

// FromEnv reads the standard OpenTelemetry variables:
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (the traces URL as is) or else
// OTEL_EXPORTER_OTLP_ENDPOINT (a base URL, /v1/traces appended) turn
// tracing on; OTEL_SDK_DISABLED=true turns it off. The exporter and the
// SDK read the other variables themselves (OTEL_SERVICE_NAME,
// OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER and its _ARG,
// OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT, _COMPRESSION, _CERTIFICATE,
// OTEL_BSP_*). Only OTLP over HTTP is supported: a gRPC protocol is an
// error.
func FromEnv(getenv func(string) string) (Config, error) {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return Config{}, nil
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		switch p := strings.TrimSpace(getenv(name)); p {
		case "", "http/protobuf", "http/json":
		default:
			return Config{}, fmt.Errorf("%s=%q: entitled exports traces over OTLP/HTTP only (http/protobuf or http/json)", name, p)
		}
	}
	if raw := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")); raw != "" {
		u, err := endpoint("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raw)
		if err != nil {
			return Config{}, err
		}
		return Config{EndpointURL: u.String()}, nil
	}
	if raw := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_ENDPOINT")); raw != "" {
		u, err := endpoint("OTEL_EXPORTER_OTLP_ENDPOINT", raw)
		if err != nil {
			return Config{}, err
		}
		u.Path = path.Join("/", u.Path, "v1/traces")
		return Config{EndpointURL: u.String()}, nil
	}
	return Config{}, nil
}

func endpoint(name, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s=%q: want an http:// or https:// URL", name, raw)
	}
	return u, nil
}

// Provider is the tracer provider of a running server; a nil *Provider
// is tracing off.
type Provider struct {
	tp    *sdktrace.TracerProvider
	props propagation.TextMapPropagator
}

// New starts exporting to cfg's endpoint, in batches; with no endpoint it
// returns nil (tracing off).
func New(ctx context.Context, cfg Config) (*Provider, error) {
	if cfg.EndpointURL == "" {
		return nil, nil
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(cfg.EndpointURL))
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithAttributes(attribute.String("service.name", DefaultServiceName)),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
	)
	if err != nil {
		_ = exp.Shutdown(ctx)
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	// No WithSampler: the SDK honours OTEL_TRACES_SAMPLER (default
	// parentbased_always_on, so an incoming sampled traceparent is kept).
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return &Provider{
		tp:    tp,
		props: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}, nil
}

// Handler traces every request next (a ServeMux) serves but probes and
// scrapes: a server span named by method and matched route, continuing
// an incoming traceparent. Tracing off, it returns next itself.
func (p *Provider) Handler(next http.Handler) http.Handler {
	if p == nil {
		return next
	}
	return otelhttp.NewHandler(next, "http",
		otelhttp.WithTracerProvider(p.tp),
		otelhttp.WithPropagators(p.props),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()), // /metrics is prometheus's
		otelhttp.WithFilter(traced),
	)
}

// untraced are the paths of probes and scrapes, which would fill traces
// with nothing to see.
var untraced = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

func traced(r *http.Request) bool { return !untraced[r.URL.Path] }

// ForceFlush exports the spans ended so far.
func (p *Provider) ForceFlush(ctx context.Context) error {
	if p == nil {
		return nil
	}
	return p.tp.ForceFlush(ctx)
}

// Shutdown exports what is left and stops the exporter.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p == nil {
		return nil
	}
	return p.tp.Shutdown(ctx)
}

// Start starts a span under the recording span in ctx, from that span's
// tracer provider. When ctx holds no recording span it returns ctx and
// that (non-recording) span unchanged: no allocation, and End, SetStatus
// and SetAttributes on it do nothing. Callers guard attribute building
// with span.IsRecording().
func Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return ctx, parent
	}
	return parent.TracerProvider().Tracer(Scope).Start(ctx, name, opts...)
}

// Fail marks span failed when err is not nil, and returns err. The
// status carries no message: errors may quote what a tenant sent.
func Fail(span trace.Span, err error) error {
	if err != nil && span.IsRecording() {
		span.SetStatus(codes.Error, "error")
	}
	return err
}

// TraceID is the trace ID of the span in ctx, "" when there is none.
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.HasTraceID() {
		return ""
	}
	return sc.TraceID().String()
}
