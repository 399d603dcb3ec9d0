package policy

import (
	"math"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Facts are everything known about one question. Parts are pointers: nil
// means missing. Parts other than Usage and Request are meant to be shared
// from caches and must not be modified once their Term has been built.
type Facts struct {
	// Now is the evaluation time; zero means the Service clock.
	Now time.Time
	// InstanceSlug and EntitlementSlug are what was asked.
	InstanceSlug    string
	EntitlementSlug string

	Org         *Org
	Instance    *Instance
	License     *License
	Entitlement *Entitlement
	Grant       *Grant
	Usage       *Usage
	Request     *Request
}

// memo builds a part's term once.
type memo struct {
	once sync.Once
	term *ast.Term
}

func (m *memo) get(build func() *ast.Term) *ast.Term {
	m.once.Do(func() { m.term = build() })
	return m.term
}

// Org is input.organization. Use by pointer.
type Org struct {
	ID   string
	Slug string
	memo memo
}

// Term returns {"id", "slug"}, built once.
func (o *Org) Term() *ast.Term {
	return o.memo.get(func() *ast.Term {
		return ast.ObjectTerm(
			ast.Item(kID, ast.StringTerm(o.ID)),
			ast.Item(kSlug, ast.StringTerm(o.Slug)),
		)
	})
}

// Instance is input.instance. Use by pointer.
type Instance struct {
	ID       string
	Slug     string
	Name     string
	Metadata map[string]any // JSON object; nil is {}
	StartsAt time.Time      // zero: null
	// ExpiresAt nil: null (never expires).
	ExpiresAt *time.Time
	memo      memo
}

// Term returns {"id","slug","name","metadata","startsAt","expiresAt"}, built
// once. Metadata that cannot be converted becomes {} (it came from a JSON
// column, so this does not happen in practice).
func (i *Instance) Term() *ast.Term {
	return i.memo.get(func() *ast.Term {
		md := ast.NewTerm(ast.NewObject())
		if len(i.Metadata) > 0 {
			if v, err := ast.InterfaceToValue(i.Metadata); err == nil {
				md = ast.NewTerm(v)
			}
		}
		var expires *ast.Term
		if i.ExpiresAt != nil {
			expires = timeTerm(*i.ExpiresAt)
		} else {
			expires = ast.NullTerm()
		}
		return ast.ObjectTerm(
			ast.Item(kID, ast.StringTerm(i.ID)),
			ast.Item(kSlug, ast.StringTerm(i.Slug)),
			ast.Item(kName, ast.StringTerm(i.Name)),
			ast.Item(kMetadata, md),
			ast.Item(kStartsAt, timeTerm(i.StartsAt)),
			ast.Item(kExpiresAt, expires),
		)
	})
}

// License is input.license. Use by pointer.
type License struct {
	ID          string
	Slug        string
	Type        string // COMMUNITY | TRIAL | DEVELOPMENT | PAID
	Version     int
	VersionName string // empty: null
	IsActive    bool
	memo        memo
}

// Term returns {"id","slug","type","version","versionName","isActive"},
// built once.
func (l *License) Term() *ast.Term {
	return l.memo.get(func() *ast.Term {
		vn := ast.NullTerm()
		if l.VersionName != "" {
			vn = ast.StringTerm(l.VersionName)
		}
		return ast.ObjectTerm(
			ast.Item(kID, ast.StringTerm(l.ID)),
			ast.Item(kSlug, ast.StringTerm(l.Slug)),
			ast.Item(kType, ast.StringTerm(l.Type)),
			ast.Item(kVersion, ast.IntNumberTerm(l.Version)),
			ast.Item(kVersionName, vn),
			ast.Item(kIsActive, ast.BooleanTerm(l.IsActive)),
		)
	})
}

// Entitlement is input.entitlement. Use by pointer.
type Entitlement struct {
	ID   string
	Slug string
	Type string // BOOLEAN | NUMBER | CONFIG
	// NUMBER only; empty: absent.
	MeterType         string
	AggregationMethod string
	ResetPeriod       string
	memo              memo
}

// Term returns {"id","slug","type"} plus the NUMBER-only fields that are
// set, built once.
func (e *Entitlement) Term() *ast.Term {
	return e.memo.get(func() *ast.Term {
		items := make([][2]*ast.Term, 0, 6)
		items = append(items,
			ast.Item(kID, ast.StringTerm(e.ID)),
			ast.Item(kSlug, ast.StringTerm(e.Slug)),
			ast.Item(kType, ast.StringTerm(e.Type)),
		)
		for _, kv := range []struct {
			k *ast.Term
			v string
		}{{kMeterType, e.MeterType}, {kAggregationMethod, e.AggregationMethod}, {kResetPeriod, e.ResetPeriod}} {
			if kv.v != "" {
				items = append(items, ast.Item(kv.k, ast.StringTerm(kv.v)))
			}
		}
		return ast.ObjectTerm(items...)
	})
}

// Usage is input.usage: the current period's counter. Per request.
type Usage struct {
	Current float64 // the aggregated value of the period
	Count   int64   // number of reports in the period
	// PeriodStart and PeriodEnd: zero means absent (resetPeriod NONE).
	PeriodStart time.Time
	PeriodEnd   time.Time
}

func (u *Usage) term() *ast.Term {
	items := make([][2]*ast.Term, 0, 4)
	items = append(items,
		ast.Item(kCurrent, numberTerm(u.Current)),
		ast.Item(kCount, ast.IntNumberTerm(int(u.Count))),
	)
	if !u.PeriodStart.IsZero() {
		items = append(items, ast.Item(kPeriodStart, timeTerm(u.PeriodStart)))
	}
	if !u.PeriodEnd.IsZero() {
		items = append(items, ast.Item(kPeriodEnd, timeTerm(u.PeriodEnd)))
	}
	return ast.ObjectTerm(items...)
}

// Request is input.request. Per request.
type Request struct {
	Requested *float64       // nil: 1
	Context   map[string]any // nil: {}
}

// Keys of the input document, shared.
var (
	kNow          = ast.StringTerm("now")
	kOrganization = ast.StringTerm("organization")
	kInstance     = ast.StringTerm("instance")
	kLicense      = ast.StringTerm("license")
	kEntitlement  = ast.StringTerm("entitlement")
	kGrant        = ast.StringTerm("grant")
	kUsage        = ast.StringTerm("usage")
	kRequest      = ast.StringTerm("request")

	kID                = ast.StringTerm("id")
	kSlug              = ast.StringTerm("slug")
	kName              = ast.StringTerm("name")
	kMetadata          = ast.StringTerm("metadata")
	kStartsAt          = ast.StringTerm("startsAt")
	kExpiresAt         = ast.StringTerm("expiresAt")
	kType              = ast.StringTerm("type")
	kVersion           = ast.StringTerm("version")
	kVersionName       = ast.StringTerm("versionName")
	kIsActive          = ast.StringTerm("isActive")
	kMeterType         = ast.StringTerm("meterType")
	kAggregationMethod = ast.StringTerm("aggregationMethod")
	kResetPeriod       = ast.StringTerm("resetPeriod")
	kValue             = ast.StringTerm("value")
	kUnlimited         = ast.StringTerm("unlimited")
	kOveragePercent    = ast.StringTerm("overagePercent")
	kHardCap           = ast.StringTerm("hardCap")
	kCurrent           = ast.StringTerm("current")
	kCount             = ast.StringTerm("count")
	kPeriodStart       = ast.StringTerm("periodStart")
	kPeriodEnd         = ast.StringTerm("periodEnd")
	kRequested         = ast.StringTerm("requested")
	kContext           = ast.StringTerm("context")
)

// timeTerm formats t as RFC 3339 in UTC; the zero time is null.
func timeTerm(t time.Time) *ast.Term {
	if t.IsZero() {
		return ast.NullTerm()
	}
	return ast.StringTerm(t.UTC().Format(time.RFC3339Nano))
}

// numberTerm renders integral values as integers; NaN and ±Inf are null.
func numberTerm(f float64) *ast.Term {
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0):
		return ast.NullTerm()
	case f == math.Trunc(f) && math.Abs(f) < 1<<53:
		return ast.IntNumberTerm(int(f))
	}
	return ast.FloatNumberTerm(f)
}
