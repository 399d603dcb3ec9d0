package sdk

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// streamLoop keeps the event stream (GET /v1/sdk/stream) connected:
// reconnects with backoff, resumes with Last-Event-ID, and refetches
// (conditionally) every held snapshot on each connect, so nothing that
// changed while it was down is missed.
func (c *Client) streamLoop() {
	delay := c.cfg.RetryMin
	for c.ctx.Err() == nil {
		connected, retry, err := c.streamOnce()
		if c.ctx.Err() != nil {
			return
		}
		if !c.streamDown.Swap(true) {
			c.cfg.Logger.Warn("entitled: event stream down; decisions are stale until it is back", "err", err)
			c.emit(Event{Type: EventStale})
		}
		if connected {
			delay = c.cfg.RetryMin
		}
		wait := max(jitter(delay), retry)
		select {
		case <-c.ctx.Done():
			return
		case <-time.After(wait):
		}
		delay = min(2*delay, c.cfg.RetryMax)
	}
}

// streamOnce reads one connection of the stream until it breaks. connected
// is true once the server said hello; retry is a Retry-After.
func (c *Client) streamOnce() (connected bool, retry time.Duration, err error) {
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/sdk/stream", nil)
	if err != nil {
		return false, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.APIKey)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if id := c.lastEvent.Load(); id > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(id, 10))
	}
	res, err := c.sc.Do(req)
	if err != nil {
		return false, 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		e := readHTTPError(res)
		return false, e.retry, e
	}
	idle := time.AfterFunc(c.cfg.StreamIdleTimeout, cancel)
	defer idle.Stop()
	br := bufio.NewReaderSize(res.Body, 16<<10)
	var event, id string
	var data strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return connected, 0, err
		}
		idle.Reset(c.cfg.StreamIdleTimeout)
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if event == "hello" {
				connected = true
			}
			c.dispatch(event, id, data.String())
			event, id = "", ""
			data.Reset()
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue // heartbeat
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			event = value
		case "id":
			id = value
		case "data":
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(value)
		}
	}
}

// streamEvent is the data of hello, change and resync events.
type streamEvent struct {
	Revision int64    `json:"revision"`
	Kind     string   `json:"kind"`
	IDs      []string `json:"ids"`
	Slugs    []string `json:"slugs"`
}

func (c *Client) dispatch(event, id, data string) {
	if event == "" {
		return
	}
	var ev streamEvent
	_ = json.Unmarshal([]byte(data), &ev)
	if n, err := strconv.ParseInt(id, 10, 64); err == nil && n > ev.Revision {
		ev.Revision = n
	}
	if ev.Revision > c.lastEvent.Load() {
		c.lastEvent.Store(ev.Revision)
	}
	switch event {
	case "hello":
		if c.streamDown.Swap(false) {
			c.cfg.Logger.Info("entitled: event stream connected")
			c.emit(Event{Type: EventFresh})
		}
		c.markAll(0)
	case "resync":
		c.markAll(0)
	case "change":
		if ev.Kind == "instance" && len(ev.Slugs) > 0 {
			for _, s := range ev.Slugs {
				if in := c.held(s); in != nil {
					c.mark(in, ev.Revision)
				}
			}
			return
		}
		c.markAll(ev.Revision)
	}
}

// mark asks for a refetch of in, unless its snapshot is as recent as the
// change (revision; 0: always).
func (c *Client) mark(in *instance, revision int64) {
	if v := in.view.Load(); v != nil && revision > 0 && revision <= v.revision {
		return
	}
	for {
		w := in.want.Load()
		if revision <= w || in.want.CompareAndSwap(w, revision) {
			break
		}
	}
	c.dirtyMu.Lock()
	c.dirty[in] = true
	c.dirtyMu.Unlock()
	select {
	case c.dirtyCh <- struct{}{}:
	default:
	}
}

func (c *Client) markAll(revision int64) {
	for _, in := range c.all() {
		c.mark(in, revision)
	}
}

func (c *Client) takeDirty() *instance {
	c.dirtyMu.Lock()
	defer c.dirtyMu.Unlock()
	for in := range c.dirty {
		delete(c.dirty, in)
		if len(c.dirty) > 0 {
			select {
			case c.dirtyCh <- struct{}{}:
			default:
			}
		}
		return in
	}
	return nil
}

// refreshLoop refetches the instances marked dirty.
func (c *Client) refreshLoop() {
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.dirtyCh:
		}
		for in := c.takeDirty(); in != nil && c.ctx.Err() == nil; in = c.takeDirty() {
			c.refreshOne(in)
		}
	}
}

// refreshOne refetches in until its snapshot is at least as recent as
// the change it was marked for (a few tries: the stream may run ahead of
// the server's view of the facts).
func (c *Client) refreshOne(in *instance) {
	for try := 0; try < 3; try++ {
		ctx, cancel := context.WithTimeout(c.ctx, c.cfg.RequestTimeout)
		err := c.refetch(ctx, in, true)
		cancel()
		v := in.view.Load()
		if err != nil || v == nil || v.revision == 0 || v.revision >= in.want.Load() {
			return
		}
		select {
		case <-c.ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// tickLoop refetches every held snapshot every UsageRefresh: other
// clients' usage, and what the stream could not say while it was down.
func (c *Client) tickLoop() {
	t := time.NewTicker(c.cfg.UsageRefresh)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
			c.markAll(0)
		}
	}
}
