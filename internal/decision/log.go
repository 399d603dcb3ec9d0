package decision

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/entitled/entitled/internal/platform/metrics"
	"github.com/entitled/entitled/internal/platform/tracing"
	"github.com/entitled/entitled/policy"
)

// Log writes each sampled decision as one JSON line in the shape of
// OPA's decision log (decision_id, path, input, result, timestamp), plus
// the organization and, when the request is traced, its trace_id.
type Log struct {
	mu      sync.Mutex
	w       io.Writer
	sample  float64
	log     *slog.Logger
	metrics *metrics.Registry
}

// NewLog logs to w a fraction sample (0..1] of decisions.
func NewLog(w io.Writer, sample float64, log *slog.Logger, m *metrics.Registry) *Log {
	if sample <= 0 || sample > 1 {
		sample = 1
	}
	return &Log{w: w, sample: sample, log: log, metrics: m}
}

type logEntry struct {
	DecisionID   string            `json:"decision_id"`
	Path         string            `json:"path"`
	Input        json.RawMessage   `json:"input"`
	Result       policy.Decision   `json:"result"`
	Timestamp    time.Time         `json:"timestamp"`
	Organization string            `json:"organization"`
	Labels       map[string]string `json:"labels,omitempty"`
	// TraceID is the request's trace when tracing is on.
	TraceID string `json:"trace_id,omitempty"`
}

// Bounds of one decision-log line. Slugs, reasons and the request
// context come from callers, so a line is cut down to size rather than
// written as it came.
const (
	// maxLogString bounds each string of the line's result, and each
	// string of its input when the input is too large.
	maxLogString = 256
	// maxLogInput bounds the input document's JSON in a line.
	maxLogInput = 16 << 10
)

// Log writes one decision if it is sampled.
func (l *Log) Log(ctx context.Context, org *policy.Org, f *policy.Facts, d policy.Decision) {
	if l.sample < 1 && rand.Float64() >= l.sample {
		return
	}
	in, err := policy.InputJSON(f)
	if err != nil {
		l.dropped(ctx, "input", err)
		return
	}
	if len(in) > maxLogInput {
		in = shrinkInput(in)
	}
	d.Instance, d.Entitlement = truncate(d.Instance), truncate(d.Entitlement)
	if len(d.Reasons) > 0 {
		reasons := make([]string, len(d.Reasons))
		for i, r := range d.Reasons {
			reasons[i] = truncate(r)
		}
		d.Reasons = reasons
	}
	var id [16]byte
	_, _ = crand.Read(id[:])
	b, err := json.Marshal(logEntry{
		DecisionID:   hex.EncodeToString(id[:]),
		Path:         "entitled/decision",
		Input:        in,
		Result:       d,
		Timestamp:    d.EvaluatedAt.UTC(),
		Organization: org.Slug,
		TraceID:      tracing.TraceID(ctx),
	})
	if err != nil {
		l.dropped(ctx, "encode", err)
		return
	}
	b = append(b, '\n')
	l.mu.Lock()
	_, err = l.w.Write(b)
	l.mu.Unlock()
	if err != nil {
		l.dropped(ctx, "write", err)
	}
}

// dropped counts a line that could not be written, and says why.
func (l *Log) dropped(ctx context.Context, stage string, err error) {
	l.metrics.DecisionLogDropped()
	l.log.WarnContext(ctx, "decision log: line dropped", "stage", stage, "err", err)
}

// truncatedMark ends a string cut to maxLogString bytes.
const truncatedMark = "…[truncated]"

func truncate(s string) string {
	if len(s) <= maxLogString {
		return s
	}
	cut := maxLogString
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + truncatedMark
}

// shrinkInput cuts an oversize input document: every string to
// maxLogString, and the request context (or, failing that, the whole
// document) replaced by a note of its size when still too large.
func shrinkInput(in []byte) json.RawMessage {
	var doc map[string]any
	if err := json.Unmarshal(in, &doc); err != nil {
		return tooLarge(len(in))
	}
	var cut func(v any) any
	cut = func(v any) any {
		switch x := v.(type) {
		case string:
			return truncate(x)
		case map[string]any:
			out := make(map[string]any, len(x))
			for k, e := range x {
				out[truncate(k)] = cut(e)
			}
			return out
		case []any:
			for i, e := range x {
				x[i] = cut(e)
			}
		}
		return v
	}
	doc = cut(doc).(map[string]any)
	if b, err := json.Marshal(doc); err == nil && len(b) <= maxLogInput {
		return b
	}
	if req, ok := doc["request"].(map[string]any); ok {
		req["context"] = map[string]any{"_truncated": "the request context was too large to log"}
	}
	if b, err := json.Marshal(doc); err == nil && len(b) <= maxLogInput {
		return b
	}
	return tooLarge(len(in))
}

func tooLarge(n int) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"_truncated": fmt.Sprintf("an input document of %d bytes", n)})
	return b
}
