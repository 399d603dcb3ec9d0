// Package pulid makes the opaque, prefixed, time-sortable identifiers that
// every entity carries ("lic_01JD..."). The prefix tells which type an ID
// names, so node(id) resolves without probing tables.
package pulid

import (
	"crypto/rand"
	"encoding/binary"
	"strings"
	"sync"
	"time"

	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/mixin"
)

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// last is the previous ID's time and randomness, so IDs made in the same
// millisecond by this process still sort in the order they were made.
var last struct {
	sync.Mutex
	ms uint64
	hi uint16 // top 16 of the 80 random bits
	lo uint64 // low 64 of them
}

// New returns prefix + "_" + a 26-character monotonic ULID (48-bit
// millisecond time, 80 random bits, incremented within a millisecond) in
// Crockford base32.
func New(prefix string) string {
	var b [16]byte
	ms := uint64(time.Now().UnixMilli())
	last.Lock()
	if ms <= last.ms {
		ms = last.ms
		last.lo++
		if last.lo == 0 {
			last.hi++
		}
	} else {
		var r [10]byte
		_, _ = rand.Read(r[:])
		last.ms = ms
		last.hi = binary.BigEndian.Uint16(r[:2])
		last.lo = binary.BigEndian.Uint64(r[2:]) >> 1 // room to increment
	}
	binary.BigEndian.PutUint64(b[:8], ms<<16|uint64(last.hi))
	binary.BigEndian.PutUint64(b[8:], last.lo)
	last.Unlock()
	var sb strings.Builder
	sb.Grow(len(prefix) + 27)
	sb.WriteString(prefix)
	sb.WriteByte('_')
	// 128 bits → 26 base32 digits, most significant first (2 leading pad bits).
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	for i := 25; i >= 0; i-- {
		shift := uint(i * 5)
		var v uint64
		switch {
		case shift >= 64:
			v = hi >> (shift - 64)
		case shift+5 > 64:
			v = lo>>shift | hi<<(64-shift)
		default:
			v = lo >> shift
		}
		sb.WriteByte(crockford[v&31])
	}
	return sb.String()
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
