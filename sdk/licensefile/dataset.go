package licensefile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/entitled/entitled/policy"
)

// Dataset is what a license file signs: what one instance is granted, with
// the same facts and shapes as the policy input document (docs/policies.md)
// plus who issued it for whom and when:
//
//	{"iss": <organization slug>, "sub": <instance slug>, "iat", "exp",
//	 "organization", "instance", "license",
//	 "entitlements": [{<entitlement>, "grant": {...}}],
//	 "usage": {<entitlement slug>: {<usage at issue>}},
//	 "policies": {"version", "modules": {<file>: <source>}}}
//
// Times are RFC 3339 in UTC. License is null for an instance without one.
// An entitlement whose grant is null is known but not granted (decided
// NOT_ENTITLED, as the server does); an entitlement the file does not list
// is decided ENTITLEMENT_NOT_FOUND. Usage holds NUMBER entitlements'
// counters at issue. Policies is null when the file carries no custom
// modules: decisions then run the default policy alone.
type Dataset struct {
	Iss          string           `json:"iss"`
	Sub          string           `json:"sub"`
	Iat          time.Time        `json:"iat"`
	Exp          time.Time        `json:"exp"`
	Organization Organization     `json:"organization"`
	Instance     Instance         `json:"instance"`
	License      *License         `json:"license"`
	Entitlements []Entitlement    `json:"entitlements"`
	Usage        map[string]Usage `json:"usage"`
	Policies     *Policies        `json:"policies"`
}

// Organization is input.organization.
type Organization struct {
	ID   string `json:"id"`
	Slug string `json:"slug"`
}

// Instance is input.instance. StartsAt and ExpiresAt nil are null.
type Instance struct {
	ID        string         `json:"id"`
	Slug      string         `json:"slug"`
	Name      string         `json:"name"`
	Metadata  map[string]any `json:"metadata"`
	StartsAt  *time.Time     `json:"startsAt"`
	ExpiresAt *time.Time     `json:"expiresAt"`
}

// License is input.license. VersionName nil is null.
type License struct {
	ID          string  `json:"id"`
	Slug        string  `json:"slug"`
	Type        string  `json:"type"`
	Version     int     `json:"version"`
	VersionName *string `json:"versionName"`
	IsActive    bool    `json:"isActive"`
}

// Entitlement is input.entitlement with what the license grants for it
// (input.grant; nil: not granted). The NUMBER-only fields are absent for
// BOOLEAN and CONFIG.
type Entitlement struct {
	ID                string `json:"id"`
	Slug              string `json:"slug"`
	Type              string `json:"type"`
	MeterType         string `json:"meterType,omitempty"`
	AggregationMethod string `json:"aggregationMethod,omitempty"`
	ResetPeriod       string `json:"resetPeriod,omitempty"`
	Grant             *Grant `json:"grant"`
}

// Grant is input.grant: number grants carry {"type", "value", "unlimited",
// "overagePercent", "hardCap"} (hardCap null when unlimited), boolean and
// object grants {"type", "value"}.
type Grant struct {
	Type           string   `json:"type"`
	Value          any      `json:"value"`
	Unlimited      bool     `json:"unlimited"`
	OveragePercent float64  `json:"overagePercent"`
	HardCap        *float64 `json:"hardCap"`
}

// MarshalJSON renders the grant in input.grant's shape for its type.
func (g Grant) MarshalJSON() ([]byte, error) {
	if g.Type != policy.GrantNumber {
		return json.Marshal(struct {
			Type  string `json:"type"`
			Value any    `json:"value"`
		}{g.Type, g.Value})
	}
	type plain Grant
	return json.Marshal(plain(g))
}

// Usage is input.usage: a NUMBER entitlement's counter at issue. The period
// bounds are absent when the entitlement never resets.
type Usage struct {
	Current     float64    `json:"current"`
	Count       int64      `json:"count"`
	PeriodStart *time.Time `json:"periodStart,omitempty"`
	PeriodEnd   *time.Time `json:"periodEnd,omitempty"`
}

// Policies are the organization's active custom modules at issue, with the
// policy version they make.
type Policies struct {
	Version int               `json:"version"`
	Modules map[string]string `json:"modules"`
}

// Granted is one entitlement given to NewDataset: the entitlement, what
// the license grants for it (nil: known but not granted) and, for a
// granted NUMBER entitlement, its usage at issue.
type Granted struct {
	Entitlement *policy.Entitlement
	Grant       *policy.Grant
	Usage       *policy.Usage
}

// Facts are what NewDataset signs: the instance's facts as the server's
// decisions see them (package policy's parts), the moments of issue and
// expiry, and the custom modules (nil: none).
type Facts struct {
	Org          *policy.Org
	Instance     *policy.Instance
	License      *policy.License // nil: the instance has no license
	Entitlements []Granted
	Policies     *Policies
	IssuedAt     time.Time
	ExpiresAt    time.Time
}

// NewDataset builds the dataset of a license file from the facts the
// server decides with, so that a decision from the file sees the same
// input document. Times are kept in UTC; iat and exp to the second.
func NewDataset(f Facts) (*Dataset, error) {
	switch {
	case f.Org == nil:
		return nil, errors.New("license file dataset: no organization")
	case f.Instance == nil:
		return nil, errors.New("license file dataset: no instance")
	case f.IssuedAt.IsZero() || !f.ExpiresAt.After(f.IssuedAt):
		return nil, fmt.Errorf("license file dataset: expiry %v is not after issue %v", f.ExpiresAt, f.IssuedAt)
	}
	ds := &Dataset{
		Iss:          f.Org.Slug,
		Sub:          f.Instance.Slug,
		Iat:          f.IssuedAt.UTC().Truncate(time.Second),
		Exp:          f.ExpiresAt.UTC().Truncate(time.Second),
		Organization: Organization{ID: f.Org.ID, Slug: f.Org.Slug},
		Instance: Instance{
			ID: f.Instance.ID, Slug: f.Instance.Slug, Name: f.Instance.Name,
			Metadata: f.Instance.Metadata,
			StartsAt: utcPtr(f.Instance.StartsAt), ExpiresAt: nil,
		},
		Entitlements: make([]Entitlement, 0, len(f.Entitlements)),
		Usage:        map[string]Usage{},
		Policies:     f.Policies,
	}
	if ds.Instance.Metadata == nil {
		ds.Instance.Metadata = map[string]any{}
	}
	if f.Instance.ExpiresAt != nil {
		ds.Instance.ExpiresAt = utcPtr(*f.Instance.ExpiresAt)
	}
	if l := f.License; l != nil {
		ds.License = &License{ID: l.ID, Slug: l.Slug, Type: l.Type, Version: l.Version, IsActive: l.IsActive}
		if l.VersionName != "" {
			vn := l.VersionName
			ds.License.VersionName = &vn
		}
	}
	seen := map[string]bool{}
	for _, g := range f.Entitlements {
		e := g.Entitlement
		if e == nil {
			return nil, errors.New("license file dataset: an entitlement is nil")
		}
		if seen[e.Slug] {
			return nil, fmt.Errorf("license file dataset: entitlement %q twice", e.Slug)
		}
		seen[e.Slug] = true
		de := Entitlement{ID: e.ID, Slug: e.Slug, Type: e.Type,
			MeterType: e.MeterType, AggregationMethod: e.AggregationMethod, ResetPeriod: e.ResetPeriod}
		if g.Grant != nil {
			if f.License == nil {
				return nil, fmt.Errorf("license file dataset: entitlement %q has a grant but the instance has no license", e.Slug)
			}
			de.Grant = fromPolicyGrant(g.Grant)
		}
		ds.Entitlements = append(ds.Entitlements, de)
		if u := g.Usage; u != nil && g.Grant != nil && e.Type == policy.EntitlementNumber {
			du := Usage{Current: u.Current, Count: u.Count}
			if !u.PeriodStart.IsZero() {
				du.PeriodStart = utcPtr(u.PeriodStart)
			}
			if !u.PeriodEnd.IsZero() {
				du.PeriodEnd = utcPtr(u.PeriodEnd)
			}
			ds.Usage[e.Slug] = du
		}
	}
	sort.Slice(ds.Entitlements, func(i, j int) bool { return ds.Entitlements[i].Slug < ds.Entitlements[j].Slug })
	return ds, nil
}

func fromPolicyGrant(g *policy.Grant) *Grant {
	out := &Grant{Type: g.Type, Value: g.Raw["value"]}
	if g.Type == policy.GrantNumber {
		out.Unlimited, out.OveragePercent = g.Unlimited, g.OveragePercent
		if !g.Unlimited {
			hc := g.HardCap
			out.HardCap = &hc
		}
	}
	return out
}

func utcPtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// Encode renders the dataset as the JSON a file signs (no HTML escaping,
// so Rego's < and > stay as they are).
func (ds *Dataset) Encode() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ds); err != nil {
		return nil, fmt.Errorf("license file dataset: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
