package sdk

import (
	"time"

	"github.com/entitled/entitled/policy"
)

// What this client consumed or reported, per instance and entitlement,
// until a snapshot is known to include it. A snapshot fetched by a
// request that started after the server acknowledged a report includes
// it; reports not yet acknowledged, or acknowledged while the snapshot
// was in flight, are added to the snapshot's usage (the latter may count
// twice until the next refetch: the estimate errs towards refusing).

// use is one local report or consumption.
type use struct {
	seq   uint64 // the report's sequence number; 0 for a consumption
	value float64
	at    time.Time
	acked time.Time // zero: not yet acknowledged by the server
}

type meter struct{ uses []use }

// estimate is the usage a view's NUMBER decisions use, for one
// generation of the meters.
type estimate struct {
	v   *view
	gen uint64
	m   map[string]*policy.Usage
}

// estimate returns the usage to decide v's NUMBER entitlements with (nil
// map or entry: the snapshot's own). Computed once per view and change.
func (in *instance) estimate(v *view) map[string]*policy.Usage {
	g := in.gen.Load()
	if g == 0 {
		return nil
	}
	if e := in.est.Load(); e != nil && e.v == v && e.gen == g {
		return e.m
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	g = in.gen.Load()
	m := make(map[string]*policy.Usage, len(in.meters))
	for slug, mt := range in.meters {
		b, ok := v.usage[slug]
		if !ok || len(mt.uses) == 0 {
			continue
		}
		u := fold(b, mt.uses)
		m[slug] = &u
	}
	in.est.Store(&estimate{v: v, gen: g, m: m})
	return m
}

// add records a local use.
func (in *instance) add(entitlement string, u use) {
	in.mu.Lock()
	defer in.mu.Unlock()
	mt := in.meters[entitlement]
	if mt == nil {
		mt = &meter{}
		in.meters[entitlement] = mt
	}
	mt.uses = append(mt.uses, u)
	in.gen.Add(1)
}

// resolve marks the reports of seqs acknowledged at (zero: dropped, they
// were refused and count nothing).
func (in *instance) resolve(entitlement string, seqs map[uint64]bool, at time.Time) {
	in.mu.Lock()
	defer in.mu.Unlock()
	mt := in.meters[entitlement]
	if mt == nil {
		return
	}
	kept := mt.uses[:0]
	for _, u := range mt.uses {
		if u.seq != 0 && seqs[u.seq] {
			if at.IsZero() {
				continue
			}
			u.acked = at
		}
		kept = append(kept, u)
	}
	clear(mt.uses[len(kept):])
	mt.uses = kept
	in.gen.Add(1)
}

// settled forgets the uses acknowledged before a refetch that started at
// start: its snapshot includes them.
func (in *instance) settled(start time.Time) {
	in.mu.Lock()
	defer in.mu.Unlock()
	changed := false
	for _, mt := range in.meters {
		kept := mt.uses[:0]
		for _, u := range mt.uses {
			if !u.acked.IsZero() && u.acked.Before(start) {
				changed = true
				continue
			}
			kept = append(kept, u)
		}
		clear(mt.uses[len(kept):])
		mt.uses = kept
	}
	if changed {
		in.gen.Add(1)
	}
}

// fold adds local uses to a snapshot's usage under the entitlement's
// aggregation method (the server's rules, internal/metering/aggregate.go): only uses
// dated within the snapshot's period count.
func fold(b usageBase, uses []use) policy.Usage {
	u := b.usage
	var n int64
	var sum, lo, hi, latest float64
	var latestAt time.Time
	for _, x := range uses {
		if !u.PeriodStart.IsZero() && x.at.Before(u.PeriodStart) {
			continue
		}
		if !u.PeriodEnd.IsZero() && !x.at.Before(u.PeriodEnd) {
			continue
		}
		if n == 0 || x.value < lo {
			lo = x.value
		}
		if n == 0 || x.value > hi {
			hi = x.value
		}
		if n == 0 || !x.at.Before(latestAt) {
			latest, latestAt = x.value, x.at
		}
		n++
		sum += x.value
	}
	if n == 0 {
		return u
	}
	switch b.method {
	case "COUNT":
		u.Current += float64(n)
	case "AVERAGE":
		u.Current = (u.Current*float64(u.Count) + sum) / float64(u.Count+n)
	case "MAX":
		if u.Count == 0 || hi > u.Current {
			u.Current = hi
		}
	case "MIN":
		if u.Count == 0 || lo < u.Current {
			u.Current = lo
		}
	case "LATEST":
		u.Current = latest
	default: // SUM
		u.Current += sum
	}
	u.Count += n
	return u
}
