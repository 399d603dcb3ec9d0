package sdk

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/entitled/entitled/policy"
	"github.com/entitled/entitled/sdk/licensefile"
)

// errFatal marks answers that retrying cannot change (a bad key, a
// snapshot that does not verify): they are errors, not outages.
var errFatal = errors.New("entitled sdk: refused")

// maxBody bounds what is read of a snapshot or JWKS.
const maxBody = 16 << 20

// httpError is a non-2xx answer.
type httpError struct {
	status int
	code   string
	msg    string
	retry  time.Duration
}

func (e *httpError) Error() string {
	if e.code != "" {
		return fmt.Sprintf("HTTP %d %s: %s", e.status, e.code, e.msg)
	}
	return fmt.Sprintf("HTTP %d", e.status)
}

func (e *httpError) Is(target error) bool {
	switch target {
	case errFatal:
		return e.status == http.StatusUnauthorized || e.status == http.StatusForbidden || e.status == http.StatusBadRequest
	case ErrUnavailable:
		return e.status >= 500 || e.status == http.StatusTooManyRequests
	}
	return false
}

func readHTTPError(res *http.Response) *httpError {
	e := &httpError{status: res.StatusCode}
	var body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if json.Unmarshal(b, &body) == nil {
		e.code, e.msg = body.Code, body.Message
	}
	if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && s > 0 {
		e.retry = time.Duration(s) * time.Second
	}
	return e
}

// get sends an authorized GET.
func (c *Client) get(ctx context.Context, path string, hdr map[string]string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.APIKey)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return res, nil
}

// refetch asks the server for the instance's snapshot (conditionally when
// it holds one that is less than half through its life, or when
// conditional) and installs what comes back. Errors leave the view as it
// was and mark the instance failing.
func (c *Client) refetch(ctx context.Context, in *instance, conditional bool) error {
	in.refresh.Lock()
	defer in.refresh.Unlock()
	start := c.now()
	old := in.view.Load()
	hdr := map[string]string{}
	if old != nil && old.etag != "" && conditional && start.Before(old.iat.Add(old.exp.Sub(old.iat)/2)) {
		hdr["If-None-Match"] = old.etag
	}
	res, err := c.get(ctx, "/v1/sdk/snapshot?instance="+url.QueryEscape(in.slug), hdr)
	if err != nil {
		c.failed(in, err)
		return err
	}
	defer res.Body.Close()
	rev, _ := strconv.ParseInt(res.Header.Get("X-Entitled-Revision"), 10, 64)
	var next *view
	switch res.StatusCode {
	case http.StatusOK:
		armor, err := io.ReadAll(io.LimitReader(res.Body, maxBody))
		if err != nil {
			err = fmt.Errorf("%w: read snapshot: %w", ErrUnavailable, err)
			c.failed(in, err)
			return err
		}
		v, err := c.verify(ctx, armor, true)
		if err != nil {
			c.failed(in, err)
			return fmt.Errorf("%w: snapshot of %q: %w", errFatal, in.slug, err)
		}
		v.etag, v.revision = res.Header.Get("ETag"), rev
		next = v
		if old == nil || old.etag != v.etag || old.notFound || old.cached {
			c.storeCached(in.slug, v)
		}
	case http.StatusNotModified:
		if old == nil {
			return fmt.Errorf("%w: 304 without a snapshot", ErrUnavailable)
		}
		next = old
		if old.cached || rev > old.revision { // confirmed, or newer: a new view
			n := *old
			n.cached = false
			n.revision = max(n.revision, rev)
			next = &n
		}
	case http.StatusNotFound:
		next = &view{notFound: true, source: SourceLocal, revision: rev}
		c.removeCached(in.slug)
	default:
		err := readHTTPError(res)
		c.failed(in, err)
		if errors.Is(err, errFatal) {
			return fmt.Errorf("%w: snapshot of %q: %w", errFatal, in.slug, err)
		}
		return fmt.Errorf("%w: snapshot of %q: %w", ErrUnavailable, in.slug, err)
	}
	in.view.Store(next)
	if in.failing.Swap(false) {
		c.cfg.Logger.Info("entitled: server reachable again", "instance", in.slug)
	}
	if next.ds != nil && next.ds.Policies != nil {
		c.policyVersion.Store(int64(next.ds.Policies.Version))
	} else if next.ds != nil {
		c.policyVersion.Store(0)
	}
	in.settled(start)
	if old != nil && res.StatusCode != http.StatusNotModified {
		if changed := diff(old, next); len(changed) > 0 || old.notFound != next.notFound {
			c.emit(Event{Type: EventChanged, Instance: in.slug, Entitlements: changed})
		}
	}
	return nil
}

func (c *Client) failed(in *instance, err error) {
	if !in.failing.Swap(true) {
		c.cfg.Logger.Warn("entitled: cannot refresh snapshot", "instance", in.slug, "err", err)
	}
}

// diff lists the entitlements whose facts differ between two views (all
// of them when the instance, license or policies changed).
func diff(a, b *view) []string {
	slugs := map[string]bool{}
	for _, v := range []*view{a, b} {
		if v.ds != nil {
			for _, e := range v.ds.Entitlements {
				slugs[e.Slug] = true
			}
		}
	}
	all := a.ds == nil || b.ds == nil || !reflect.DeepEqual(a.ds.Instance, b.ds.Instance) ||
		!reflect.DeepEqual(a.ds.License, b.ds.License) || !reflect.DeepEqual(a.ds.Policies, b.ds.Policies)
	var out []string
	for s := range slugs {
		if all || !reflect.DeepEqual(entOf(a.ds, s), entOf(b.ds, s)) || !reflect.DeepEqual(a.ds.Usage[s], b.ds.Usage[s]) {
			out = append(out, s)
		}
	}
	return sortedStrings(out)
}

func entOf(ds *licensefile.Dataset, slug string) *licensefile.Entitlement {
	for i := range ds.Entitlements {
		if ds.Entitlements[i].Slug == slug {
			return &ds.Entitlements[i]
		}
	}
	return nil
}

// verify parses and verifies an armored snapshot or license file with
// the trusted keys (Config.JWKS, else the issuer's keys from the server
// or CacheDir; fetched again once for an unknown kid when online).
func (c *Client) verify(ctx context.Context, armor []byte, online bool) (*view, error) {
	f, err := licensefile.Parse(armor)
	if err != nil {
		return nil, err
	}
	now := c.now()
	keys := c.trusted
	var iss string
	if keys == nil {
		if iss, err = issuer(f); err != nil {
			return nil, err
		}
		if keys, err = c.issuerKeys(ctx, iss, false, online); err != nil {
			return nil, err
		}
	}
	err = f.VerifyCached(keys, now, c.policies)
	if errors.Is(err, licensefile.ErrUnknownKey) && c.trusted == nil && online {
		if keys, err = c.issuerKeys(ctx, iss, true, online); err != nil {
			return nil, err
		}
		err = f.VerifyCached(keys, now, c.policies)
	}
	if err != nil {
		return nil, err
	}
	ds := f.Dataset()
	if iss != "" && ds.Iss != iss {
		return nil, fmt.Errorf("snapshot issuer %q is not %q", ds.Iss, iss)
	}
	v := &view{file: f, ds: ds, source: SourceLocal, armor: armor, iat: ds.Iat, exp: ds.Exp, usage: bases(ds)}
	v.timeless, v.moments = moments(ds)
	return v, nil
}

// issuer reads the (not yet verified) dataset's iss, to know whose keys
// to fetch; Verify then checks the signature over it.
func issuer(f *licensefile.File) (string, error) {
	raw, err := base64.StdEncoding.DecodeString(f.Envelope().Enc)
	if err != nil {
		return "", err
	}
	var ds struct {
		Iss string `json:"iss"`
	}
	if err := json.Unmarshal(raw, &ds); err != nil || ds.Iss == "" {
		return "", fmt.Errorf("snapshot without issuer: %v", err)
	}
	return ds.Iss, nil
}

// issuerKeys returns the issuer's JWKS: held, else from CacheDir, else
// fetched (always fetched when refresh).
func (c *Client) issuerKeys(ctx context.Context, iss string, refresh, online bool) (*licensefile.JWKS, error) {
	c.keysMu.Lock()
	defer c.keysMu.Unlock()
	if k := c.keys[iss]; k != nil && !refresh {
		return k, nil
	}
	path := c.cachePath("jwks-" + url.PathEscape(iss) + ".json")
	if !refresh && path != "" {
		if raw, err := os.ReadFile(path); err == nil {
			if k, err := licensefile.ParseJWKS(raw); err == nil {
				c.keys[iss] = k
				return k, nil
			}
		}
	}
	if !online || c.base == "" {
		if k := c.keys[iss]; k != nil {
			return k, nil
		}
		return nil, fmt.Errorf("%w: no keys of %q known", ErrUnavailable, iss)
	}
	res, err := c.get(ctx, "/v1/orgs/"+url.PathEscape(iss)+"/jwks.json", nil)
	if err != nil {
		if k := c.keys[iss]; k != nil {
			return k, nil
		}
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("keys of %q: %w", iss, readHTTPError(res))
	}
	raw, err := io.ReadAll(io.LimitReader(res.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("%w: keys of %q: %w", ErrUnavailable, iss, err)
	}
	k, err := licensefile.ParseJWKS(raw)
	if err != nil {
		return nil, err
	}
	c.keys[iss] = k
	if path != "" {
		if err := writeFile(path, raw); err != nil {
			c.cfg.Logger.Warn("entitled: cannot cache keys", "err", err)
		}
	}
	return k, nil
}

// cachePath is name in CacheDir ("" without one).
func (c *Client) cachePath(name string) string {
	if c.cfg.CacheDir == "" {
		return ""
	}
	return filepath.Join(c.cfg.CacheDir, name)
}

func snapshotName(slug string) string { return "snapshot-" + url.PathEscape(slug) + ".json" }

// cachedSnapshot is a snapshot as CacheDir keeps it.
type cachedSnapshot struct {
	Instance string `json:"instance"`
	ETag     string `json:"etag"`
	Revision int64  `json:"revision"`
	Armor    string `json:"armor"`
}

func (c *Client) storeCached(slug string, v *view) {
	path := c.cachePath(snapshotName(slug))
	if path == "" {
		return
	}
	b, err := json.Marshal(cachedSnapshot{Instance: slug, ETag: v.etag, Revision: v.revision, Armor: string(v.armor)})
	if err == nil {
		err = writeFile(path, b)
	}
	if err != nil {
		c.cfg.Logger.Warn("entitled: cannot cache snapshot", "instance", slug, "err", err)
	}
}

func (c *Client) removeCached(slug string) {
	if path := c.cachePath(snapshotName(slug)); path != "" {
		_ = os.Remove(path)
	}
}

// loadCached reads and verifies again the instance's snapshot in CacheDir.
func (c *Client) loadCached(ctx context.Context, slug string) (*view, error) {
	path := c.cachePath(snapshotName(slug))
	if path == "" {
		return nil, os.ErrNotExist
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cs cachedSnapshot
	if err := json.Unmarshal(raw, &cs); err != nil {
		return nil, fmt.Errorf("cached snapshot %s: %w", path, err)
	}
	v, err := c.verify(ctx, []byte(cs.Armor), false)
	if err != nil {
		return nil, fmt.Errorf("cached snapshot %s: %w", path, err)
	}
	if v.ds.Sub != slug {
		return nil, fmt.Errorf("cached snapshot %s is of %q", path, v.ds.Sub)
	}
	v.etag, v.revision, v.cached = cs.ETag, cs.Revision, true
	return v, nil
}

// writeFile writes atomically (temporary file, rename), 0600.
func writeFile(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(b)
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		_ = os.Remove(tmp.Name())
	}
	return werr
}

// usageBase is a granted NUMBER entitlement's usage at issue and how it
// aggregates.
type usageBase struct {
	method string
	usage  policy.Usage
}

func bases(ds *licensefile.Dataset) map[string]usageBase {
	out := map[string]usageBase{}
	for _, e := range ds.Entitlements {
		if e.Grant == nil || e.Type != policy.EntitlementNumber {
			continue
		}
		b := usageBase{method: e.AggregationMethod}
		if u, ok := ds.Usage[e.Slug]; ok {
			b.usage = policy.Usage{Current: u.Current, Count: u.Count}
			if u.PeriodStart != nil {
				b.usage.PeriodStart = *u.PeriodStart
			}
			if u.PeriodEnd != nil {
				b.usage.PeriodEnd = *u.PeriodEnd
			}
		}
		out[e.Slug] = b
	}
	return out
}

// moments lists when a dataset's decisions may change with the clock, and
// whether that is all (no custom module mentions now or a time builtin).
func moments(ds *licensefile.Dataset) (bool, []time.Time) {
	if ds.Policies != nil {
		for _, src := range ds.Policies.Modules {
			if !clockFree(src) {
				return false, nil
			}
		}
	}
	ts := []time.Time{ds.Iat.Add(-licensefile.ClockSkew), ds.Exp}
	if ds.Instance.StartsAt != nil {
		ts = append(ts, *ds.Instance.StartsAt)
	}
	if ds.Instance.ExpiresAt != nil {
		ts = append(ts, *ds.Instance.ExpiresAt)
	}
	for _, u := range ds.Usage {
		if u.PeriodStart != nil {
			ts = append(ts, *u.PeriodStart)
		}
		if u.PeriodEnd != nil {
			ts = append(ts, *u.PeriodEnd)
		}
	}
	return true, ts
}

var (
	inputRef = regexp.MustCompile(`\binput\b`)
	dataRef  = regexp.MustCompile(`\bdata\b`)
	field    = regexp.MustCompile(`^\.[A-Za-z_]`)
)

// clockFree reports, conservatively, that a custom module cannot read the
// clock: it never says now or time., reads input only through plain
// fields (input.x, never input[...] or input as a whole), and data only
// under data.entitled.base and data.entitled.custom. The sandbox has no
// randomness or wall-clock builtins, so such a module decides the same for
// the same facts at any moment between their own.
func clockFree(src string) bool {
	if strings.Contains(src, "now") || strings.Contains(src, "time.") {
		return false
	}
	for _, loc := range inputRef.FindAllStringIndex(src, -1) {
		if !field.MatchString(src[loc[1]:]) {
			return false
		}
	}
	for _, loc := range dataRef.FindAllStringIndex(src, -1) {
		rest := src[loc[1]:]
		if !strings.HasPrefix(rest, ".entitled.base") && !strings.HasPrefix(rest, ".entitled.custom") {
			return false
		}
	}
	return true
}

func sortedStrings(s []string) []string {
	sort.Strings(s)
	return s
}
