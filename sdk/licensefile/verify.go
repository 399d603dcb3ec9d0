package licensefile

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/entitled/entitled/policy"
)

// ClockSkew is how far the clock may be before a file's iat (the issuer's
// and the instance's clocks differ a little); further is ErrClock.
const ClockSkew = 5 * time.Minute

// evalTimeout bounds one evaluation with custom modules (the server's
// default); this package's tests lengthen it for a loaded machine.
var evalTimeout = policy.DefaultEvalTimeout

// verified is a file's dataset prepared for Decide: the parts of the
// input document built once (their terms too), the compiled policy.
type verified struct {
	ds       *Dataset
	prepared *policy.Prepared
	org      *policy.Org
	inst     *policy.Instance
	lic      *policy.License
	ents     map[string]*entry // by slug
	iat, exp time.Time
	// expired is the reason an expired file's decisions give.
	expired string
}

// entry is one entitlement of the file with its grant and usage.
type entry struct {
	ent   *policy.Entitlement
	grant *policy.Grant // nil: not granted
	usage *policy.Usage // granted NUMBER only; nil: absent
}

func (f *File) state() *verified { return f.ok.Load() }

// Verify checks the file against the trusted keys and the clock (now),
// then decodes the signed dataset and prepares it for Decide. See VerifyAt.
func (f *File) Verify(jwks *JWKS) error { return f.VerifyAt(jwks, time.Now()) }

// VerifyAt checks, in order: the file's kid names a key of jwks (never a
// key from the file; ErrUnknownKey otherwise); the Ed25519 signature of
// SigningPrefix + enc verifies with it (ErrSignature); the dataset decodes
// and is consistent (ErrBase64, ErrJSON, ErrDataset); now is not more than
// ClockSkew before iat (ErrClock); the file's custom modules compile
// (ErrPolicy). An expired file verifies: its decisions are refused with
// LICENSE_FILE_EXPIRED. A failed Verify leaves the file unverified, even
// if an earlier one succeeded.
func (f *File) VerifyAt(jwks *JWKS, now time.Time) error { return f.VerifyCached(jwks, now, nil) }

// VerifyCached is VerifyAt taking the file's compiled policy from cache
// when another file carrying the same policies was verified with it (nil:
// compile for this file alone). Package sdk verifies a new snapshot of an
// instance every time its facts change; with a cache, every snapshot of a
// policy version shares one prepared query.
func (f *File) VerifyCached(jwks *JWKS, now time.Time, cache *PolicyCache) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ok.Store(nil)
	pub, err := jwks.key(f.env.Kid)
	if err != nil {
		return err
	}
	if !ed25519.Verify(pub, SignedBytes(f.env.Enc), f.sig) {
		return errf(CodeSignature, nil, "bad signature: it does not verify with key %q (the file was changed after it was signed, or its envelope holds another file's dataset)", f.env.Kid)
	}
	if f.built == nil {
		v, err := prepare(f.env.Enc, cache)
		if err != nil {
			return err
		}
		f.built = v
	}
	if err := checkClock(f.built, now); err != nil {
		return err
	}
	f.ok.Store(f.built)
	return nil
}

func checkClock(v *verified, now time.Time) error {
	if now.Before(v.iat.Add(-ClockSkew)) {
		return errf(CodeClock, nil, "the clock (%s) is more than %v before the file's issue time %s: set the clock right",
			now.UTC().Format(time.RFC3339), ClockSkew, v.iat.Format(time.RFC3339))
	}
	return nil
}

// prepare decodes a signed dataset and builds what Decide needs.
func prepare(enc string, cache *PolicyCache) (*verified, error) {
	js, err := b64.DecodeString(enc)
	if err != nil {
		return nil, errf(CodeBase64, err, "bad base64 in enc")
	}
	ds := new(Dataset)
	dec := json.NewDecoder(bytes.NewReader(js))
	if err := dec.Decode(ds); err != nil {
		return nil, errf(CodeJSON, err, "bad JSON in the dataset")
	}
	if dec.More() {
		return nil, errf(CodeJSON, nil, "bad JSON in the dataset: data after the object")
	}
	switch {
	case ds.Iat.IsZero() || ds.Exp.IsZero():
		return nil, errf(CodeDataset, nil, "bad dataset: iat and exp are required")
	case !ds.Exp.After(ds.Iat):
		return nil, errf(CodeDataset, nil, "bad dataset: exp %s is not after iat %s", ds.Exp.Format(time.RFC3339), ds.Iat.Format(time.RFC3339))
	case ds.Instance.Slug == "" || ds.Sub != ds.Instance.Slug:
		return nil, errf(CodeDataset, nil, "bad dataset: sub %q is not the instance's slug %q", ds.Sub, ds.Instance.Slug)
	case ds.Organization.Slug == "" || ds.Iss != ds.Organization.Slug:
		return nil, errf(CodeDataset, nil, "bad dataset: iss %q is not the organization's slug %q", ds.Iss, ds.Organization.Slug)
	}
	v := &verified{
		ds:   ds,
		iat:  ds.Iat.UTC(),
		exp:  ds.Exp.UTC(),
		org:  &policy.Org{ID: ds.Organization.ID, Slug: ds.Organization.Slug},
		ents: make(map[string]*entry, len(ds.Entitlements)),
	}
	v.expired = fmt.Sprintf("license file of instance %q expired at %s", ds.Sub, v.exp.Format(time.RFC3339))
	in := ds.Instance
	v.inst = &policy.Instance{ID: in.ID, Slug: in.Slug, Name: in.Name, Metadata: in.Metadata}
	if in.StartsAt != nil {
		v.inst.StartsAt = *in.StartsAt
	}
	if in.ExpiresAt != nil {
		t := *in.ExpiresAt
		v.inst.ExpiresAt = &t
	}
	if l := ds.License; l != nil {
		v.lic = &policy.License{ID: l.ID, Slug: l.Slug, Type: l.Type, Version: l.Version, IsActive: l.IsActive}
		if l.VersionName != nil {
			v.lic.VersionName = *l.VersionName
		}
		v.lic.Term()
	}
	v.org.Term()
	v.inst.Term()
	for _, e := range ds.Entitlements {
		if _, dup := v.ents[e.Slug]; dup || e.Slug == "" {
			return nil, errf(CodeDataset, nil, "bad dataset: entitlement %q is empty or listed twice", e.Slug)
		}
		pe := &policy.Entitlement{ID: e.ID, Slug: e.Slug, Type: e.Type,
			MeterType: e.MeterType, AggregationMethod: e.AggregationMethod, ResetPeriod: e.ResetPeriod}
		pe.Term()
		en := &entry{ent: pe}
		if e.Grant != nil {
			if v.lic == nil {
				return nil, errf(CodeDataset, nil, "bad dataset: entitlement %q has a grant but the instance has no license", e.Slug)
			}
			g, err := grant(e)
			if err != nil {
				return nil, err
			}
			en.grant = g
			if u, ok := ds.Usage[e.Slug]; ok && e.Type == policy.EntitlementNumber {
				pu := &policy.Usage{Current: u.Current, Count: u.Count}
				if u.PeriodStart != nil {
					pu.PeriodStart = *u.PeriodStart
				}
				if u.PeriodEnd != nil {
					pu.PeriodEnd = *u.PeriodEnd
				}
				en.usage = pu
			}
		}
		v.ents[e.Slug] = en
	}
	p, err := cache.compile(ds.Iss, ds.Policies)
	if err != nil {
		return nil, err
	}
	v.prepared = p
	return v, nil
}

// grant rebuilds a file's grant with the server's one validator
// (policy.NewGrant), which also computes the hard cap; the file's own
// unlimited and hardCap must agree with it.
func grant(e Entitlement) (*policy.Grant, error) {
	fg := e.Grant
	raw := map[string]any{"type": fg.Type, "value": fg.Value}
	var overage *float64
	if fg.OveragePercent != 0 {
		o := fg.OveragePercent
		overage = &o
	}
	if _, err := policy.NormalizeGrant(e.Type, raw, overage); err != nil {
		return nil, errf(CodeDataset, err, "bad dataset: grant of entitlement %q", e.Slug)
	}
	g, err := policy.NewGrant(raw, overage)
	if err != nil {
		return nil, errf(CodeDataset, err, "bad dataset: grant of entitlement %q", e.Slug)
	}
	if g.Type == policy.GrantNumber {
		fileCap := -1.0
		if fg.HardCap != nil {
			fileCap = *fg.HardCap
		}
		wantCap := -1.0
		if !g.Unlimited {
			wantCap = g.HardCap
		}
		if fg.Unlimited != g.Unlimited || (fg.HardCap == nil) != g.Unlimited || fileCap != wantCap {
			return nil, errf(CodeDataset, nil, "bad dataset: grant of entitlement %q: unlimited %v, hardCap %v do not follow from value %v and overagePercent %v",
				e.Slug, fg.Unlimited, fg.HardCap, fg.Value, fg.OveragePercent)
		}
	}
	return g, nil
}

// compile prepares the default policy plus the file's custom modules; the
// default policy alone is shared.
func compile(ps *Policies) (*policy.Prepared, error) {
	if ps == nil || (ps.Version == 0 && len(ps.Modules) == 0) {
		return policy.Default(), nil
	}
	names := make([]string, 0, len(ps.Modules))
	for name := range ps.Modules {
		names = append(names, name)
	}
	sort.Strings(names)
	mods := make([]policy.Module, len(names))
	for i, name := range names {
		mods[i] = policy.Module{Name: name, Source: ps.Modules[name]}
	}
	opts := []policy.Option{policy.WithVersion(ps.Version)}
	if len(mods) > 0 {
		opts = append(opts, policy.WithEvalTimeout(evalTimeout))
	}
	p, err := policy.Compile(mods, opts...)
	if err != nil {
		return nil, errf(CodePolicy, err, "the file's custom policies (version %d) do not compile with this verifier's default policy", ps.Version)
	}
	return p, nil
}
