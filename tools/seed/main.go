// Command seed fills a running entitled with a benchmark tenant through
// GraphQL, then writes the request bodies the load generator rotates
// through.
//
// It creates -entitlements entitlements (BOOLEAN, NUMBER and CONFIG in
// turn), one default license granting all of them, and -instances
// instances on that license, in batched documents of -batch aliased
// mutations. It then reads the facts back (viewer, entitlements, licenses,
// instances) and writes, for -pairs random instance × entitlement pairs in
// the same order:
//
//	gql.jsonl   GraphQL bodies: allowed(instance, entitlement, requested: 1)
//	door.jsonl  OPA-door bodies: {"input": {"instance", "entitlement", "requested": 1}}
//	opa.jsonl   stock-OPA bodies: {"input": <the policy input document of docs/policies.md>}
//
// The stock-OPA documents are built with policy.InputJSON from the same
// facts the server caches, so the stock server evaluates what the embedded
// engine evaluates. NUMBER grants carry the usage fact the server reads
// from its counters: zero in the current period (metering.Period), as a
// freshly seeded tenant has no reports. Do not point -skip-create at a
// tenant with usage reports.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/entitled/entitled/internal/metering"
	"github.com/entitled/entitled/policy"
)

// AllowedQuery selects every Decision field, as the OPA door returns them.
const AllowedQuery = `query Allowed($i: String!, $e: String!) { allowed(instance: $i, entitlement: $e, requested: 1) { allowed reason reasons instance entitlement value usage limit hardCap remaining licenseVersion policyVersion evaluatedAt } }`

func main() {
	base := flag.String("url", "http://127.0.0.1:8080", "entitled base URL (loopback only)")
	key := flag.String("key", os.Getenv("ENTITLED_KEY"), "admin API key (default $ENTITLED_KEY)")
	nEnt := flag.Int("entitlements", 20, "entitlements to create")
	nInst := flag.Int("instances", 50, "instances to create")
	batch := flag.Int("batch", 50, "mutations per GraphQL document")
	workers := flag.Int("workers", 2, "concurrent documents while creating instances")
	pairs := flag.Int("pairs", 2000, "instance × entitlement pairs to write")
	out := flag.String("out", ".", "directory for gql.jsonl, door.jsonl, opa.jsonl")
	seed := flag.Uint64("seed", 1, "random seed for the pairs")
	skip := flag.Bool("skip-create", false, "only read the facts and write the bodies")
	flag.Parse()
	if err := run(*base, *key, *nEnt, *nInst, *batch, *workers, *pairs, *out, *seed, *skip); err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		os.Exit(1)
	}
}

type client struct {
	url  string
	key  string
	http *http.Client
}

type gqlError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

// do posts one document and decodes its data into out.
func (c *client) do(query string, vars map[string]any, out any) error {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, c.url+"/graphql", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.key)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var r struct {
		Data   json.RawMessage `json:"data"`
		Errors []gqlError      `json:"errors"`
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(&r); err != nil {
		return fmt.Errorf("HTTP %d: %w", resp.StatusCode, err)
	}
	if len(r.Errors) > 0 {
		return fmt.Errorf("graphql: %s (%v)", r.Errors[0].Message, r.Errors[0].Extensions)
	}
	if out == nil {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(r.Data))
	d.UseNumber()
	return d.Decode(out)
}

func run(base, key string, nEnt, nInst, batch, workers, pairs int, out string, seed uint64, skip bool) error {
	u, err := url.Parse(base)
	if err != nil || u.Hostname() == "" {
		return fmt.Errorf("bad -url %q", base)
	}
	if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-url must be a loopback address, got %q", u.Hostname())
	}
	if key == "" {
		return errors.New("-key (or ENTITLED_KEY) is required")
	}
	batch = max(1, min(batch, 200))
	workers = max(1, workers)
	c := &client{url: strings.TrimRight(base, "/"), key: key, http: &http.Client{
		Timeout:   5 * time.Minute,
		Transport: &http.Transport{MaxIdleConnsPerHost: workers + 1},
	}}
	if !skip {
		if err := create(c, nEnt, nInst, batch, workers); err != nil {
			return err
		}
	}
	t0 := time.Now()
	f, err := fetch(c)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "seed: read %d entitlements, %d licenses, %d instances in %s\n",
		len(f.ents), len(f.lics), len(f.insts), time.Since(t0).Round(time.Millisecond))
	return writeBodies(f, pairs, out, seed)
}

// create writes the tenant: entitlements, the default license and its
// links, then the instances.
func create(c *client, nEnt, nInst, batch, workers int) error {
	t0 := time.Now()
	entIDs := make([]string, nEnt)
	entTypes := make([]string, nEnt)
	for lo := 0; lo < nEnt; lo += batch {
		var doc strings.Builder
		doc.WriteString("mutation {")
		for i := lo; i < min(lo+batch, nEnt); i++ {
			var extra string
			switch i % 3 {
			case 0:
				entTypes[i] = "BOOLEAN"
			case 1:
				entTypes[i] = "NUMBER"
				if i%2 == 1 {
					extra = ", resetPeriod: MONTH"
				}
			case 2:
				entTypes[i] = "CONFIG"
			}
			fmt.Fprintf(&doc, ` e%d: createEntitlement(input: {name: "Entitlement %d", slug: "ent-%04d", type: %s%s}) { id }`,
				i, i, i, entTypes[i], extra)
		}
		doc.WriteString(" }")
		var res map[string]struct{ ID string }
		if err := c.do(doc.String(), nil, &res); err != nil {
			return fmt.Errorf("create entitlements: %w", err)
		}
		for i := lo; i < min(lo+batch, nEnt); i++ {
			entIDs[i] = res[fmt.Sprintf("e%d", i)].ID
		}
	}
	var lic struct{ CreateLicense struct{ ID string } }
	if err := c.do(`mutation { createLicense(input: {name: "Bench", slug: "bench", type: PAID, versionName: "bench-1", isDefault: true}) { id } }`, nil, &lic); err != nil {
		return fmt.Errorf("create license: %w", err)
	}
	licID := lic.CreateLicense.ID
	// Links bump the license version one by one: sequential documents.
	for lo := 0; lo < nEnt; lo += batch {
		var doc strings.Builder
		doc.WriteString("mutation {")
		for i := lo; i < min(lo+batch, nEnt); i++ {
			var value string
			switch entTypes[i] {
			case "BOOLEAN":
				value = fmt.Sprintf(`{type: "boolean", value: %t}`, i%9 != 0 || i == 0)
			case "NUMBER":
				if i%4 == 1 {
					value = `{type: "number", value: 1000000}, overagePercent: 10`
				} else {
					value = `{type: "number", value: -1}`
				}
			case "CONFIG":
				value = fmt.Sprintf(`{type: "object", value: {tier: "gold", seats: %d, regions: ["eu", "us"]}}`, i)
			}
			fmt.Fprintf(&doc, ` l%d: setLicenseEntitlement(input: {licenseID: %q, entitlementID: %q, value: %s}) { id }`,
				i, licID, entIDs[i], value)
		}
		doc.WriteString(" }")
		if err := c.do(doc.String(), nil, nil); err != nil {
			return fmt.Errorf("link entitlements: %w", err)
		}
	}
	fmt.Fprintf(os.Stderr, "seed: %d entitlements and the default license in %s\n", nEnt, time.Since(t0).Round(time.Millisecond))

	t0 = time.Now()
	jobs := make(chan int)
	errc := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lo := range jobs {
				var doc strings.Builder
				doc.WriteString("mutation {")
				for i := lo; i < min(lo+batch, nInst); i++ {
					fmt.Fprintf(&doc, ` i%d: createInstance(input: {name: "Instance %d", slug: "inst-%05d", metadata: {region: "%s", tier: %d}}) { id }`,
						i, i, i, []string{"eu", "us", "ap"}[i%3], i%4)
				}
				doc.WriteString(" }")
				if err := c.do(doc.String(), nil, nil); err != nil {
					errc <- fmt.Errorf("create instances %d..: %w", lo, err)
					return
				}
			}
		}()
	}
	var ferr error
feed:
	for lo := 0; lo < nInst; lo += batch {
		select {
		case jobs <- lo:
		case ferr = <-errc:
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if ferr == nil {
		select {
		case ferr = <-errc:
		default:
		}
	}
	if ferr != nil {
		return ferr
	}
	el := time.Since(t0)
	fmt.Fprintf(os.Stderr, "seed: %d instances in %s (%.0f/s)\n", nInst, el.Round(time.Millisecond), float64(nInst)/el.Seconds())
	return nil
}

type pageInfo struct {
	HasNextPage bool
	EndCursor   *string
}

type factsRead struct {
	org   *policy.Org
	ents  []*policy.Entitlement
	lics  map[string]*licFacts
	insts []instFacts
}

type licFacts struct {
	lic    *policy.License
	grants map[string]*policy.Grant // by entitlement ID
}

type instFacts struct {
	inst  *policy.Instance
	licID string
}

// paginate runs a connection query page by page (500 a page, the cap).
func paginate(c *client, query, field string, each func(json.RawMessage) error) error {
	var after *string
	for {
		var res map[string]struct {
			PageInfo pageInfo
			Edges    []struct{ Node json.RawMessage }
		}
		if err := c.do(query, map[string]any{"after": after}, &res); err != nil {
			return fmt.Errorf("read %s: %w", field, err)
		}
		conn := res[field]
		for _, e := range conn.Edges {
			if err := each(e.Node); err != nil {
				return err
			}
		}
		if !conn.PageInfo.HasNextPage || conn.PageInfo.EndCursor == nil {
			return nil
		}
		after = conn.PageInfo.EndCursor
	}
}

func decodeNode(raw json.RawMessage, v any) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	return d.Decode(v)
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func fetch(c *client) (*factsRead, error) {
	f := &factsRead{lics: map[string]*licFacts{}}
	var v struct {
		Viewer struct {
			Organization struct{ ID, Slug string }
		}
	}
	if err := c.do(`{ viewer { organization { id slug } } }`, nil, &v); err != nil {
		return nil, err
	}
	f.org = &policy.Org{ID: v.Viewer.Organization.ID, Slug: v.Viewer.Organization.Slug}

	err := paginate(c, `query($after: Cursor) { entitlements(first: 500, after: $after) { pageInfo { hasNextPage endCursor } edges { node { id slug type meterType aggregationMethod resetPeriod } } } }`,
		"entitlements", func(raw json.RawMessage) error {
			var n struct {
				ID, Slug, Type                            string
				MeterType, AggregationMethod, ResetPeriod *string
			}
			if err := decodeNode(raw, &n); err != nil {
				return err
			}
			f.ents = append(f.ents, &policy.Entitlement{ID: n.ID, Slug: n.Slug, Type: n.Type,
				MeterType: str(n.MeterType), AggregationMethod: str(n.AggregationMethod), ResetPeriod: str(n.ResetPeriod)})
			return nil
		})
	if err != nil {
		return nil, err
	}

	err = paginate(c, `query($after: Cursor) { licenses(first: 500, after: $after) { pageInfo { hasNextPage endCursor } edges { node { id slug type version versionName isActive entitlements { value overagePercent entitlement { id } } } } } }`,
		"licenses", func(raw json.RawMessage) error {
			var n struct {
				ID, Slug, Type string
				Version        int
				VersionName    *string
				IsActive       bool
				Entitlements   []struct {
					Value          map[string]any
					OveragePercent *float64
					Entitlement    struct{ ID string }
				}
			}
			if err := decodeNode(raw, &n); err != nil {
				return err
			}
			lf := &licFacts{
				lic:    &policy.License{ID: n.ID, Slug: n.Slug, Type: n.Type, Version: n.Version, VersionName: str(n.VersionName), IsActive: n.IsActive},
				grants: map[string]*policy.Grant{},
			}
			for _, link := range n.Entitlements {
				g, err := policy.NewGrant(link.Value, link.OveragePercent)
				if err != nil {
					return fmt.Errorf("license %s grant %s: %w", n.Slug, link.Entitlement.ID, err)
				}
				lf.grants[link.Entitlement.ID] = g
			}
			f.lics[n.ID] = lf
			return nil
		})
	if err != nil {
		return nil, err
	}

	err = paginate(c, `query($after: Cursor) { instances(first: 500, after: $after) { pageInfo { hasNextPage endCursor } edges { node { id slug name metadata startsAt expiresAt license { id } } } } }`,
		"instances", func(raw json.RawMessage) error {
			var n struct {
				ID, Slug, Name string
				Metadata       map[string]any
				StartsAt       time.Time
				ExpiresAt      *time.Time
				License        *struct{ ID string }
			}
			if err := decodeNode(raw, &n); err != nil {
				return err
			}
			fi := instFacts{inst: &policy.Instance{ID: n.ID, Slug: n.Slug, Name: n.Name, Metadata: n.Metadata,
				StartsAt: n.StartsAt, ExpiresAt: n.ExpiresAt}}
			if n.License != nil {
				fi.licID = n.License.ID
			}
			f.insts = append(f.insts, fi)
			return nil
		})
	if err != nil {
		return nil, err
	}
	if len(f.ents) == 0 || len(f.insts) == 0 {
		return nil, errors.New("the tenant has no entitlements or no instances")
	}
	return f, nil
}

// writeBodies writes the three bodies files for the same random pairs.
func writeBodies(f *factsRead, pairs int, out string, seed uint64) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	files := map[string]*bufio.Writer{}
	var closers []*os.File
	for _, name := range []string{"gql.jsonl", "door.jsonl", "opa.jsonl"} {
		fh, err := os.Create(filepath.Join(out, name))
		if err != nil {
			return err
		}
		closers = append(closers, fh)
		files[name] = bufio.NewWriterSize(fh, 1<<20)
	}
	defer func() {
		for _, fh := range closers {
			fh.Close()
		}
	}()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	now := time.Now().UTC()
	one := 1.0
	for range pairs {
		in := f.insts[rng.IntN(len(f.insts))]
		ent := f.ents[rng.IntN(len(f.ents))]
		facts := &policy.Facts{
			Now:             now,
			InstanceSlug:    in.inst.Slug,
			EntitlementSlug: ent.Slug,
			Org:             f.org,
			Instance:        in.inst,
			Entitlement:     ent,
			Request:         &policy.Request{Requested: &one},
		}
		if lf := f.lics[in.licID]; lf != nil {
			facts.License = lf.lic
			facts.Grant = lf.grants[ent.ID]
		}
		if facts.Grant != nil && ent.Type == "NUMBER" {
			// As checks.Service reads it: the period's counter, none yet.
			start, end, err := metering.Period(ent.ResetPeriod, now)
			if err != nil {
				return err
			}
			facts.Usage = &policy.Usage{}
			if !end.IsZero() {
				facts.Usage.PeriodStart, facts.Usage.PeriodEnd = start, end
			}
		}
		doc, err := policy.InputJSON(facts)
		if err != nil {
			return err
		}
		gql, _ := json.Marshal(map[string]any{"query": AllowedQuery, "variables": map[string]string{"i": in.inst.Slug, "e": ent.Slug}})
		door, _ := json.Marshal(map[string]any{"input": map[string]any{"instance": in.inst.Slug, "entitlement": ent.Slug, "requested": 1}})
		fmt.Fprintf(files["gql.jsonl"], "%s\n", gql)
		fmt.Fprintf(files["door.jsonl"], "%s\n", door)
		fmt.Fprintf(files["opa.jsonl"], "{\"input\":%s}\n", doc)
	}
	for _, w := range files {
		if err := w.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "seed: wrote %d pairs to %s/{gql,door,opa}.jsonl\n", pairs, out)
	return nil
}
