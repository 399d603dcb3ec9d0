package decision

import (
	"context"
	"sort"

	"github.com/entitled/entitled/internal/apperr"
	"github.com/entitled/entitled/internal/custompolicy"
	"github.com/entitled/entitled/internal/platform/store"
	"github.com/entitled/entitled/policy"
)

// Explain decides one question and lists the rules that fired. It costs
// more than Allowed, so the ordinary path never does it.
func (s *Service) Explain(ctx context.Context, q policy.Question) (*policy.Decision, error) {
	return s.with(ctx, q, nil)
}

// EvaluateWith decides one question with a draft policy set instead of
// the active one.
func (s *Service) EvaluateWith(ctx context.Context, q policy.Question, draft *custompolicy.Set) (*policy.Decision, error) {
	return s.with(ctx, q, draft)
}

// with decides one question with the draft, or explained with the active
// policies when draft is nil.
func (s *Service) with(ctx context.Context, q policy.Question, draft *custompolicy.Set) (*policy.Decision, error) {
	v, err := s.lookup(ctx, q.Instance)
	if err != nil {
		return nil, err
	}
	var decide func(context.Context, *policy.Facts) (policy.Decision, error)
	if draft != nil {
		decide = draft.Decide
	} else {
		cur, err := s.policies.For(ctx, v.snap.Org.ID, v.snap.PolicyVersion)
		if err != nil {
			return nil, err
		}
		decide = cur.DecideExplained
	}
	f, stale, err := s.facts(ctx, v, q)
	if err != nil {
		if store.IsUnavailable(err) {
			return nil, err
		}
		d := failed(f, err)
		return &d, nil
	}
	d := s.evaluate(ctx, v.snap, f, decide)
	d.Stale = !stale.IsZero()
	return &d, nil
}

// Change is a decision a draft changes.
type Change struct {
	Instance    string
	Entitlement string
	Before      *policy.Decision
	After       *policy.Decision
}

// PreviewPage is one page of a preview.
type PreviewPage struct {
	Changes     []*Change
	Evaluated   int
	EndCursor   *string
	HasNextPage bool
}

// MaxPreviewInstances bounds one preview page; DefaultPreviewInstances is
// its size when first is not given (or given as null).
const (
	MaxPreviewInstances     = 200
	DefaultPreviewInstances = 50
)

// Preview evaluates a draft against a page of the organization's instances
// × all its entitlements, next to the active policies, and returns the
// decisions whose verdict differs (allowed, reason or reasons).
func (s *Service) Preview(ctx context.Context, draft *custompolicy.Set, firstArg *int, afterArg *string) (*PreviewPage, error) {
	first, after := DefaultPreviewInstances, ""
	if firstArg != nil {
		first = *firstArg
	}
	if afterArg != nil {
		after = *afterArg
	}
	if first <= 0 || first > MaxPreviewInstances {
		return nil, apperr.Invalid("first", "must be between 1 and %d", MaxPreviewInstances)
	}
	snap, err := s.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	cur, err := s.policies.For(ctx, snap.Org.ID, snap.PolicyVersion)
	if err != nil {
		return nil, err
	}
	insts, more, err := s.cache.Instances(ctx, snap, after, first)
	if err != nil {
		return nil, err
	}
	ents := make([]string, 0, len(snap.Entitlements))
	for slug := range snap.Entitlements {
		ents = append(ents, slug)
	}
	sort.Strings(ents)
	page := &PreviewPage{Changes: []*Change{}, HasNextPage: more}
	for _, inst := range insts {
		for _, e := range ents {
			q := policy.Question{Instance: inst.Instance.Slug, Entitlement: e}
			// One gathering of facts (one usage read), two evaluations.
			f, _, err := s.facts(ctx, view{snap: snap, inst: inst}, q)
			var before, afterD policy.Decision
			switch {
			case store.IsUnavailable(err):
				return nil, err
			case err != nil:
				before = failed(f, err)
				afterD = before
			default:
				before = s.evaluate(ctx, snap, f, cur.Decide)
				afterD = s.evaluate(ctx, snap, f, draft.Decide)
			}
			page.Evaluated++
			if policy.Changed(before, afterD) {
				page.Changes = append(page.Changes, &Change{Instance: q.Instance, Entitlement: e, Before: &before, After: &afterD})
			}
		}
	}
	if n := len(insts); n > 0 {
		c := insts[n-1].Instance.Slug
		page.EndCursor = &c
	}
	return page, nil
}
