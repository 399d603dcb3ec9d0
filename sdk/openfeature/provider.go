// Package openfeature is an OpenFeature provider
// (github.com/open-feature/go-sdk/openfeature) over an sdk.Client: flags
// are entitlements, decided in-process.
//
// The targeting key is the instance slug, the flag key the entitlement
// slug. Booleans are Allowed; objects (and strings) a CONFIG grant's
// value; floats and ints a NUMBER grant's Remaining (+Inf and MaxInt64
// when unlimited). Reasons: STATIC for the default rules' answers,
// TARGETING_MATCH when a custom policy decided (DENIED_BY_POLICY,
// GRANTED_BY_POLICY), CACHED when the answer is stale, ERROR with
// FLAG_NOT_FOUND for an entitlement the instance's organization does not
// have, TARGETING_KEY_MISSING without a targeting key and GENERAL for an
// unknown instance or when nothing is known to decide from. Flag metadata
// carries reason, allowed, limit, remaining, usage, hardCap,
// licenseVersion, policyVersion, source and stale. The evaluation
// context's other attributes are the request context custom policies read
// (input.request.context); a numeric "requested" attribute is the amount
// asked for. Changes from the stream are PROVIDER_CONFIGURATION_CHANGED
// events naming the changed flags; an outage PROVIDER_STALE, the end of
// it PROVIDER_READY. Track reports usage: the event name is the
// entitlement, the details' value the amount (1 when zero), an
// "idempotencyKey" attribute the report's key. docs/sdk.md has an
// example.
package openfeature

import (
	"context"
	"errors"
	"math"
	"sync"

	of "github.com/open-feature/go-sdk/openfeature"

	"github.com/entitled/entitled/policy"
	"github.com/entitled/entitled/sdk"
)

// Name is the provider's name in its metadata.
const Name = "entitled"

// Provider is the OpenFeature provider. Shutdown does not close the
// client: its owner does.
type Provider struct {
	c       *sdk.Client
	events  chan of.Event
	onTrack func(error)

	mu     sync.Mutex
	remove func()
}

// Option configures a Provider.
type Option func(*Provider)

// WithTrackErrors calls fn with every error of Track (which returns
// none): a malformed report, a closed client.
func WithTrackErrors(fn func(error)) Option { return func(p *Provider) { p.onTrack = fn } }

// NewProvider returns a provider deciding with c.
func NewProvider(c *sdk.Client, opts ...Option) *Provider {
	p := &Provider{c: c, events: make(chan of.Event, 64)}
	for _, o := range opts {
		o(p)
	}
	p.remove = c.OnChange(p.forward)
	return p
}

var (
	_ of.FeatureProvider = (*Provider)(nil)
	_ of.StateHandler    = (*Provider)(nil)
	_ of.EventHandler    = (*Provider)(nil)
	_ of.Tracker         = (*Provider)(nil)
)

// Metadata names the provider.
func (p *Provider) Metadata() of.Metadata { return of.Metadata{Name: Name} }

// Hooks: none.
func (p *Provider) Hooks() []of.Hook { return nil }

// Init does nothing: the client is ready once made.
func (p *Provider) Init(of.EvaluationContext) error { return nil }

// Shutdown stops forwarding the client's events.
func (p *Provider) Shutdown() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.remove != nil {
		p.remove()
		p.remove = nil
	}
}

// EventChannel carries the provider's events.
func (p *Provider) EventChannel() <-chan of.Event { return p.events }

func (p *Provider) forward(e sdk.Event) {
	ev := of.Event{ProviderName: Name}
	switch e.Type {
	case sdk.EventChanged:
		ev.EventType = of.ProviderConfigChange
		ev.Message = "entitlements of instance " + e.Instance + " changed"
		ev.FlagChanges = e.Entitlements
		ev.EventMetadata = map[string]any{"instance": e.Instance}
	case sdk.EventStale:
		ev.EventType = of.ProviderStale
		ev.Message = "the entitled server cannot be reached; answers are cached"
	case sdk.EventFresh:
		ev.EventType = of.ProviderReady
		ev.Message = "the entitled server can be reached again"
	default:
		return
	}
	select {
	case p.events <- ev:
	default: // nobody reads: dropped rather than block the client
	}
}

// evaluate decides flag for the targeting key and maps the outcome.
func (p *Provider) evaluate(ctx context.Context, flag string, flat of.FlattenedContext) (sdk.Decision, of.ProviderResolutionDetail, bool) {
	instance, _ := flat[of.TargetingKey].(string)
	if instance == "" {
		return sdk.Decision{}, errDetail(of.NewTargetingKeyMissingResolutionError("the targeting key (the instance slug) is missing")), false
	}
	var opts []sdk.AllowedOption
	reqCtx := map[string]any{}
	for k, v := range flat {
		if k == of.TargetingKey {
			continue
		}
		if k == "requested" {
			if n, ok := toFloat(v); ok {
				opts = append(opts, sdk.Requested(n))
				continue
			}
		}
		reqCtx[k] = v
	}
	if len(reqCtx) > 0 {
		opts = append(opts, sdk.Context(reqCtx))
	}
	d, err := p.c.Allowed(ctx, instance, flag, opts...)
	switch {
	case errors.Is(err, sdk.ErrInvalid):
		return d, errDetail(of.NewInvalidContextResolutionError(err.Error())), false
	case err != nil:
		return d, errDetail(of.NewGeneralResolutionError(err.Error())), false
	case d.Reason == policy.ReasonInstanceNotFound:
		return d, errDetail(of.NewGeneralResolutionError("instance " + instance + " not found")), false
	case d.Reason == policy.ReasonEntitlementNotFound:
		return d, errDetail(of.NewFlagNotFoundResolutionError("entitlement " + flag + " not found")), false
	}
	out := of.ProviderResolutionDetail{Reason: of.StaticReason, FlagMetadata: metadata(d)}
	switch {
	case d.Stale:
		out.Reason = of.CachedReason
	case d.Reason == policy.ReasonDeniedByPolicy || d.Reason == policy.ReasonGrantedByPolicy:
		out.Reason = of.TargetingMatchReason
	}
	if d.Allowed {
		out.Variant = "allowed"
	} else {
		out.Variant = "refused"
	}
	return d, out, true
}

func errDetail(e of.ResolutionError) of.ProviderResolutionDetail {
	return of.ProviderResolutionDetail{ResolutionError: e, Reason: of.ErrorReason}
}

func metadata(d sdk.Decision) of.FlagMetadata {
	m := of.FlagMetadata{"reason": d.Reason, "allowed": d.Allowed, "policyVersion": d.PolicyVersion,
		"source": string(d.Source), "stale": d.Stale}
	for k, v := range map[string]*float64{"limit": d.Limit, "remaining": d.Remaining, "usage": d.Usage, "hardCap": d.HardCap} {
		if v != nil {
			m[k] = *v
		}
	}
	if d.LicenseVersion != nil {
		m["licenseVersion"] = *d.LicenseVersion
	}
	return m
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case int32:
		return float64(n), true
	}
	return 0, false
}

// grantType is the type of the decision's grant value: "boolean",
// "number", "object" ("" without a grant).
func grantType(d sdk.Decision) string {
	t, _ := d.Value["type"].(string)
	return t
}

// BooleanEvaluation: Allowed.
func (p *Provider) BooleanEvaluation(ctx context.Context, flag string, def bool, flat of.FlattenedContext) of.BoolResolutionDetail {
	d, res, ok := p.evaluate(ctx, flag, flat)
	if !ok {
		return of.BoolResolutionDetail{Value: def, ProviderResolutionDetail: res}
	}
	return of.BoolResolutionDetail{Value: d.Allowed, ProviderResolutionDetail: res}
}

// ObjectEvaluation: a CONFIG grant's value (the default when refused).
func (p *Provider) ObjectEvaluation(ctx context.Context, flag string, def any, flat of.FlattenedContext) of.InterfaceResolutionDetail {
	d, res, ok := p.evaluate(ctx, flag, flat)
	if !ok {
		return of.InterfaceResolutionDetail{Value: def, ProviderResolutionDetail: res}
	}
	if t := grantType(d); t != "" && t != "object" {
		return of.InterfaceResolutionDetail{Value: def, ProviderResolutionDetail: errDetail(
			of.NewTypeMismatchResolutionError("entitlement " + flag + " is not a CONFIG entitlement"))}
	}
	if !d.Allowed || d.Value == nil {
		return of.InterfaceResolutionDetail{Value: def, ProviderResolutionDetail: res}
	}
	return of.InterfaceResolutionDetail{Value: d.Value["value"], ProviderResolutionDetail: res}
}

// StringEvaluation: a CONFIG grant's value when it is a string.
func (p *Provider) StringEvaluation(ctx context.Context, flag string, def string, flat of.FlattenedContext) of.StringResolutionDetail {
	r := p.ObjectEvaluation(ctx, flag, def, flat)
	if r.ResolutionError != (of.ResolutionError{}) {
		return of.StringResolutionDetail{Value: def, ProviderResolutionDetail: r.ProviderResolutionDetail}
	}
	s, ok := r.Value.(string)
	if !ok {
		return of.StringResolutionDetail{Value: def, ProviderResolutionDetail: errDetail(
			of.NewTypeMismatchResolutionError("the value of " + flag + " is not a string"))}
	}
	return of.StringResolutionDetail{Value: s, ProviderResolutionDetail: r.ProviderResolutionDetail}
}

// remaining is a NUMBER grant's Remaining (+Inf unlimited; 0 when refused
// for another reason than the limit).
func (p *Provider) remaining(ctx context.Context, flag string, flat of.FlattenedContext) (float64, of.ProviderResolutionDetail, bool) {
	d, res, ok := p.evaluate(ctx, flag, flat)
	if !ok {
		return 0, res, false
	}
	if grantType(d) != "number" {
		if d.Value == nil { // not granted: nothing remains
			return 0, res, true
		}
		return 0, errDetail(of.NewTypeMismatchResolutionError("entitlement " + flag + " is not a NUMBER entitlement")), false
	}
	switch {
	case !d.Allowed && d.Reason != policy.ReasonLimitExceeded:
		return 0, res, true
	case d.Remaining == nil:
		return math.Inf(1), res, true
	}
	return *d.Remaining, res, true
}

// FloatEvaluation: a NUMBER grant's Remaining.
func (p *Provider) FloatEvaluation(ctx context.Context, flag string, def float64, flat of.FlattenedContext) of.FloatResolutionDetail {
	v, res, ok := p.remaining(ctx, flag, flat)
	if !ok {
		v = def
	}
	return of.FloatResolutionDetail{Value: v, ProviderResolutionDetail: res}
}

// IntEvaluation: a NUMBER grant's Remaining, rounded down.
func (p *Provider) IntEvaluation(ctx context.Context, flag string, def int64, flat of.FlattenedContext) of.IntResolutionDetail {
	v, res, ok := p.remaining(ctx, flag, flat)
	if !ok {
		return of.IntResolutionDetail{Value: def, ProviderResolutionDetail: res}
	}
	n := int64(math.MaxInt64)
	if v < math.MaxInt64 {
		n = int64(math.Floor(v))
	}
	return of.IntResolutionDetail{Value: n, ProviderResolutionDetail: res}
}

// Track reports usage of the entitlement named by the event.
func (p *Provider) Track(ctx context.Context, event string, evalCtx of.EvaluationContext, details of.TrackingEventDetails) {
	value := details.Value()
	if value == 0 {
		value = 1
	}
	var opts []sdk.UsageOption
	if k, ok := details.Attribute("idempotencyKey").(string); ok && k != "" {
		opts = append(opts, sdk.IdempotencyKey(k))
	}
	err := p.c.Report(ctx, evalCtx.TargetingKey(), event, value, opts...)
	if err != nil && p.onTrack != nil {
		p.onTrack(err)
	}
}
