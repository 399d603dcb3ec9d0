package licensefile

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"sync"

	"github.com/entitled/entitled/policy"
)

// PolicyCache keeps the compiled policies of verified files so that files
// carrying the same policies (the same issuer, version and modules) share
// one prepared query: compiling is the expensive part of Verify, and a
// prepared query is safe for concurrent use. It holds the most recently
// used entries up to its size. The zero value is not usable; use
// NewPolicyCache. A nil *PolicyCache compiles every time.
type PolicyCache struct {
	mu      sync.Mutex
	size    int
	entries map[string]*policy.Prepared
	order   []string // least recently used first
}

// NewPolicyCache returns a cache of at most size compiled policy sets
// (size < 1: 8).
func NewPolicyCache(size int) *PolicyCache {
	if size < 1 {
		size = 8
	}
	return &PolicyCache{size: size, entries: map[string]*policy.Prepared{}}
}

// policyKey names a file's policies: issuer, version and every module's
// name and source.
func policyKey(iss string, ps *Policies) string {
	h := sha256.New()
	h.Write([]byte(iss))
	h.Write([]byte{0})
	names := make([]string, 0, len(ps.Modules))
	for name := range ps.Modules {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		h.Write([]byte(name))
		h.Write([]byte{0})
		h.Write([]byte(ps.Modules[name]))
		h.Write([]byte{0})
	}
	var v [8]byte
	for i := range v {
		v[i] = byte(ps.Version >> (8 * i))
	}
	h.Write(v[:])
	return hex.EncodeToString(h.Sum(nil))
}

// compile returns the prepared policy of ps, from the cache when it has
// it. The default policy alone is always shared.
func (c *PolicyCache) compile(iss string, ps *Policies) (*policy.Prepared, error) {
	if c == nil || ps == nil || (ps.Version == 0 && len(ps.Modules) == 0) {
		return compile(ps)
	}
	key := policyKey(iss, ps)
	c.mu.Lock()
	if p, ok := c.entries[key]; ok {
		c.touch(key)
		c.mu.Unlock()
		return p, nil
	}
	c.mu.Unlock()
	p, err := compile(ps)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if q, ok := c.entries[key]; ok { // compiled meanwhile by another Verify
		c.touch(key)
		return q, nil
	}
	c.entries[key] = p
	c.order = append(c.order, key)
	for len(c.order) > c.size {
		delete(c.entries, c.order[0])
		c.order = c.order[1:]
	}
	return p, nil
}

// touch moves key to the most recently used end; under mu.
func (c *PolicyCache) touch(key string) {
	for i, k := range c.order {
		if k == key {
			copy(c.order[i:], c.order[i+1:])
			c.order[len(c.order)-1] = key
			return
		}
	}
}

// Len is the number of compiled policy sets held.
func (c *PolicyCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
