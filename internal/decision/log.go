package decision

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/entitled/entitled/policy"
)

// Log writes each sampled decision as one JSON line in the shape of
// OPA's decision log (decision_id, path, input, result, timestamp), plus
// the organization.
type Log struct {
	mu     sync.Mutex
	w      io.Writer
	sample float64
	log    *slog.Logger
}

// NewLog logs to w a fraction sample (0..1] of decisions.
func NewLog(w io.Writer, sample float64, log *slog.Logger) *Log {
	if sample <= 0 || sample > 1 {
		sample = 1
	}
	return &Log{w: w, sample: sample, log: log}
}

type logEntry struct {
	DecisionID   string            `json:"decision_id"`
	Path         string            `json:"path"`
	Input        json.RawMessage   `json:"input"`
	Result       policy.Decision   `json:"result"`
	Timestamp    time.Time         `json:"timestamp"`
	Organization string            `json:"organization"`
	Labels       map[string]string `json:"labels,omitempty"`
}

// Log writes one decision if it is sampled.
func (l *Log) Log(ctx context.Context, org *policy.Org, f *policy.Facts, d policy.Decision) {
	if l.sample < 1 && rand.Float64() >= l.sample {
		return
	}
	in, err := policy.InputJSON(f)
	if err != nil {
		l.log.WarnContext(ctx, "decision log: input", "err", err)
		return
	}
	var id [16]byte
	_, _ = cryptoRead(id[:])
	b, err := json.Marshal(logEntry{
		DecisionID:   hex.EncodeToString(id[:]),
		Path:         "entitled/decision",
		Input:        in,
		Result:       d,
		Timestamp:    d.EvaluatedAt.UTC(),
		Organization: org.Slug,
	})
	if err != nil {
		l.log.WarnContext(ctx, "decision log: encode", "err", err)
		return
	}
	b = append(b, '\n')
	l.mu.Lock()
	_, _ = l.w.Write(b)
	l.mu.Unlock()
}

var cryptoRead = crand.Read
