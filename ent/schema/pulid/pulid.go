// Package pulid makes the opaque, prefixed, time-sortable identifiers that
// every entity carries ("lic_01JD..."). The prefix tells which type an ID
// names, so node(id) resolves without probing tables: the prefix → table map
// is generated from the Annotation every Mixin carries (template/pulid.tmpl
// writes ent.IDToTable).
package pulid

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"

	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/mixin"
	"github.com/oklog/ulid/v2"
)

// generator makes monotonic ULIDs. ulid's monotonic entropy is not safe for
// concurrent use, hence the mutex; ms is the previous ID's time, so a clock
// that steps back does not break the order either.
type generator struct {
	mu      sync.Mutex
	entropy *ulid.MonotonicEntropy
	ms      uint64
}

var ids = &generator{entropy: ulid.Monotonic(rand.Reader, 0)}

// next returns a ULID that sorts after every one this generator made before,
// for the millisecond now (or the previous ID's, if the clock went back).
func (g *generator) next(now uint64) ulid.ULID {
	g.mu.Lock()
	defer g.mu.Unlock()
	ms := max(now, g.ms)
	id, err := ulid.New(ms, g.entropy)
	if errors.Is(err, ulid.ErrMonotonicOverflow) {
		// The 80 random bits ran out within one millisecond (practically
		// never): borrow the next millisecond, which starts afresh.
		ms++
		id, err = ulid.New(ms, g.entropy)
	}
	if err != nil {
		panic(fmt.Sprintf("pulid: %v", err)) // only a broken crypto/rand or the year 10889
	}
	g.ms = ms
	return id
}

// New returns prefix + "_" + a 26-character monotonic ULID (48-bit
// millisecond time, 80 random bits, incremented within a millisecond) in
// Crockford base32. IDs made by this process sort in the order they were
// made, within a millisecond too.
func New(prefix string) string {
	return prefix + "_" + ids.next(ulid.Now()).String()
}

// Prefix returns the type prefix of id, or "" when it has none.
func Prefix(id string) string {
	i := strings.IndexByte(id, '_')
	if i <= 0 {
		return ""
	}
	return id[:i]
}

// Annotation records the ID prefix of a type for code generation.
type Annotation struct{ Prefix string }

// Name implements schema.Annotation.
func (Annotation) Name() string { return "PULID" }

// Mixin gives a type a prefixed string ID.
type Mixin struct {
	mixin.Schema
	prefix string
}

// MixinWithPrefix returns the ID mixin for a type with the given prefix.
func MixinWithPrefix(prefix string) Mixin { return Mixin{prefix: prefix} }

// Fields implements ent.Mixin.
func (m Mixin) Fields() []ent.Field {
	p := m.prefix
	return []ent.Field{
		field.String("id").Immutable().NotEmpty().MaxLen(64).
			DefaultFunc(func() string { return New(p) }),
	}
}

// Annotations implements ent.Mixin.
func (m Mixin) Annotations() []schema.Annotation {
	return []schema.Annotation{Annotation{Prefix: m.prefix}}
}
