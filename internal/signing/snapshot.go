package signing

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/entitled/entitled/ent"
	"github.com/entitled/entitled/ent/signingkey"
	"github.com/entitled/entitled/internal/platform/store"
	"github.com/entitled/entitled/internal/tenant"
)

// DefaultSnapshotTTL is an SDK snapshot's lifetime when
// ENTITLED_SDK_SNAPSHOT_TTL does not name one.
const DefaultSnapshotTTL = 24 * time.Hour

// maxSnapshots bounds the cache of signed snapshots.
const maxSnapshots = 10_000

// Snapshot is an instance's signed dataset for the SDK
// (GET /v1/sdk/snapshot): a license file of its current facts, policies
// included, that expires after the snapshot lifetime.
type Snapshot struct {
	// ETag names the facts, iat and exp aside: the same facts have the
	// same ETag, whenever and by whichever key they are signed.
	ETag string
	// Certificate is the armored license file; empty when NotModified.
	Certificate string
	// NotModified: the caller already holds these facts (unchanged
	// said so for the ETag), so nothing was signed.
	NotModified bool
}

type snapshotKey struct{ org, instance, facts, kid string }

type signedSnapshot struct {
	cert string
	exp  time.Time
}

// snapshots caches signed snapshots per (instance, facts, key), so an
// SDK fleet asking for the same facts costs one signature per half
// lifetime. Snapshots are not stored or audited: they are frequent, and
// what they say is already in the log as the changes that made the facts.
type snapshots struct {
	mu sync.Mutex
	m  map[snapshotKey]signedSnapshot
}

func (c *snapshots) get(k snapshotKey, fresh time.Time) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.m[k]
	if !ok || !s.exp.After(fresh) {
		return "", false
	}
	return s.cert, true
}

func (c *snapshots) put(k snapshotKey, s signedSnapshot, fresh time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[snapshotKey]signedSnapshot{}
	}
	if len(c.m) >= maxSnapshots {
		for k, s := range c.m {
			if !s.exp.After(fresh) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= maxSnapshots {
			clear(c.m)
		}
	}
	c.m[k] = s
}

// Snapshot signs the current facts of the caller's organization's
// instance with the given slug for the SDK, with the snapshot lifetime.
// unchanged reports whether the caller holds the facts of an ETag
// already; then nothing is signed. A signed snapshot is reused while more
// than half its lifetime remains and the facts and current key are the
// same. Nothing is stored and no event recorded.
func (s *Service) Snapshot(ctx context.Context, slug string, unchanged func(etag string) bool) (*Snapshot, error) {
	ds, hash, err := s.dataset(ctx, slug, s.snapshotTTL, true)
	if err != nil {
		return nil, err
	}
	out := &Snapshot{ETag: `"` + hash + `"`}
	if unchanged != nil && unchanged(out.ETag) {
		out.NotModified = true
		return out, nil
	}
	row, err := s.db.SigningKey.Query().Where(signingkey.StatusEQ(signingkey.StatusCURRENT)).
		Order(ent.Desc(signingkey.FieldCreatedAt)).First(ctx)
	var k *Key
	switch {
	case ent.IsNotFound(err):
		// The organization's first signature: make its first key (an
		// audited change, once).
		if err := store.WithTx(ctx, s.db, func(tx *ent.Tx) error {
			k, err = s.current(ctx, tx)
			return err
		}); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("read current signing key: %w", err)
	}
	kid := ""
	if k != nil {
		kid = k.Kid()
	} else {
		kid = row.Kid
	}
	key := snapshotKey{org: tenant.FromContext(ctx).OrgID, instance: ds.Instance.ID, facts: hash, kid: kid}
	fresh := ds.Iat.Add(s.snapshotTTL / 2)
	if cert, ok := s.signed.get(key, fresh); ok {
		out.Certificate = cert
		return out, nil
	}
	if k == nil {
		if k, err = s.sealer.OpenKey(row.SealedPrivateKey, row.Kid, KeyAAD(row.OrganizationID, row.Kid)); err != nil {
			return nil, err
		}
	}
	if out.Certificate, err = k.Sign(ds); err != nil {
		return nil, err
	}
	s.signed.put(key, signedSnapshot{cert: out.Certificate, exp: ds.Exp}, fresh)
	return out, nil
}
