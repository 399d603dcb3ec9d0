package apitest

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sseEvent is one server-sent event as an EventSource would see it, or a
// comment line (Comment set).
type sseEvent struct {
	Event, ID, Data string
	Comment         string
	At              time.Time // when it was read
}

func (e sseEvent) rev(t testing.TB) int64 {
	t.Helper()
	n, err := strconv.ParseInt(e.ID, 10, 64)
	if err != nil {
		t.Fatalf("event %s has id %q: %v", e.Event, e.ID, err)
	}
	return n
}

// payload decodes an event's data.
func (e sseEvent) payload(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(e.Data), &m); err != nil {
		t.Fatalf("event %s data %q: %v", e.Event, e.Data, err)
	}
	return m
}

// sseStream is an open GET /v1/sdk/stream.
type sseStream struct {
	t      testing.TB
	res    *http.Response
	cancel context.CancelFunc
	first  string // the first line the server wrote
	events chan sseEvent
	ended  chan struct{} // closed at EOF or a read error
	r      *bufio.Reader
}

// openStream connects to the SDK stream with key and extra headers; it
// returns the response (its body closed) when the status is not 200.
func openStream(t testing.TB, baseURL, key, query string, header map[string]string) (*sseStream, *http.Response) {
	t.Helper()
	return openStreamPaused(t, baseURL, key, query, header, false)
}

// openStreamPaused is openStream that, when paused, reads nothing after
// the first line (a slow reader) until drain.
func openStreamPaused(t testing.TB, baseURL, key, query string, header map[string]string, paused bool) (*sseStream, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/v1/sdk/stream"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("open stream: %v", err)
	}
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		cancel()
		res.Body = io.NopCloser(strings.NewReader(string(b)))
		return nil, res
	}
	s := &sseStream{t: t, res: res, cancel: cancel, events: make(chan sseEvent, 10_000), ended: make(chan struct{})}
	r := bufio.NewReader(res.Body)
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("stream's first line: %v", err)
	}
	s.first = line
	s.r = r
	if !paused {
		go s.read(r)
	}
	t.Cleanup(s.Close)
	return s, res
}

// drain reads a paused stream to its end and returns how many bytes it
// read; it fails the test when the stream does not end within wait.
func (s *sseStream) drain(wait time.Duration) int {
	s.t.Helper()
	done := make(chan int, 1)
	go func() {
		n, _ := io.Copy(io.Discard, s.r)
		done <- int(n)
	}()
	select {
	case n := <-done:
		return n
	case <-time.After(wait):
		s.t.Fatalf("the stream did not end within %s", wait)
		return 0
	}
}

func (s *sseStream) read(r *bufio.Reader) {
	defer close(s.ended)
	var cur sseEvent
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if cur.Event != "" || cur.Data != "" {
				cur.At = time.Now()
				s.events <- cur
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, ":"):
			s.events <- sseEvent{Comment: strings.TrimSpace(line[1:]), At: time.Now()}
		default:
			k, v, _ := strings.Cut(line, ":")
			v = strings.TrimPrefix(v, " ")
			switch k {
			case "event":
				cur.Event = v
			case "id":
				cur.ID = v
			case "data":
				cur.Data += v
			}
		}
	}
}

// Close disconnects.
func (s *sseStream) Close() {
	s.cancel()
	s.res.Body.Close()
}

// next is the next event (comments skipped); it fails the test when none
// comes within wait (a hang guard).
func (s *sseStream) next(wait time.Duration) sseEvent {
	s.t.Helper()
	return s.await("an event", wait, func(e sseEvent) bool { return e.Comment == "" })
}

// comment waits for a comment line.
func (s *sseStream) comment(wait time.Duration) sseEvent {
	s.t.Helper()
	return s.await("a comment", wait, func(e sseEvent) bool { return e.Comment != "" })
}

// await returns the next of the stream's events that want takes, skipping
// the others; it fails the test when the stream ends first (after what it
// had sent is read) or none comes within wait.
func (s *sseStream) await(what string, wait time.Duration, want func(sseEvent) bool) sseEvent {
	s.t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case e := <-s.events:
			if want(e) {
				return e
			}
		case <-s.ended:
			select {
			case e := <-s.events:
				if want(e) {
					return e
				}
				continue
			default:
			}
			s.t.Fatalf("the stream ended while %s was expected", what)
		case <-timeout:
			s.t.Fatalf("no %s within %s", strings.TrimPrefix(strings.TrimPrefix(what, "an "), "a "), wait)
		}
	}
}

// waitEnd waits for the server to end the stream, failing past wait.
func (s *sseStream) waitEnd(wait time.Duration) {
	s.t.Helper()
	select {
	case <-s.ended:
	case <-time.After(wait):
		s.t.Fatalf("the stream is still open after %s", wait)
	}
}

// hello reads the stream's first event, which must be hello.
func (s *sseStream) hello() int64 {
	s.t.Helper()
	if s.first != "retry: 1000\n" {
		s.t.Fatalf("the stream's first line is %q, want retry: 1000", s.first)
	}
	e := s.next(5 * time.Second)
	if e.Event != "hello" {
		s.t.Fatalf("first event %+v, want hello", e)
	}
	p := e.payload(s.t)
	if jsonNum(p["revision"]) != float64(e.rev(s.t)) || p["organization"] == nil {
		s.t.Fatalf("hello %s", e.Data)
	}
	return e.rev(s.t)
}

// change waits for a change event of the kind (other kinds fail) and
// returns it.
func (s *sseStream) change(kind string, wait time.Duration) sseEvent {
	s.t.Helper()
	e := s.next(wait)
	if e.Event != "change" || e.payload(s.t)["kind"] != kind {
		s.t.Fatalf("got %s %s, want a change of kind %s", e.Event, e.Data, kind)
	}
	return e
}
