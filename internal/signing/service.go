package signing

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"time"

	"entgo.io/ent/dialect"

	"github.com/entitled/entitled/ent"
	"github.com/entitled/entitled/ent/instance"
	"github.com/entitled/entitled/ent/issuedlicensefile"
	"github.com/entitled/entitled/ent/organization"
	"github.com/entitled/entitled/ent/signingkey"
	"github.com/entitled/entitled/internal/apperr"
	"github.com/entitled/entitled/internal/custompolicy"
	"github.com/entitled/entitled/internal/events"
	"github.com/entitled/entitled/internal/facts"
	"github.com/entitled/entitled/internal/metering"
	"github.com/entitled/entitled/internal/platform/store"
	"github.com/entitled/entitled/internal/tenant"
	"github.com/entitled/entitled/policy"
	"github.com/entitled/entitled/sdk/licensefile"
)

// DefaultTTL is a license file's lifetime when the caller names none
// (30 days, as docs/offline.md says).
const DefaultTTL = 720 * time.Hour

// MinTTL is the shortest lifetime a file may be issued for.
const MinTTL = time.Hour

// Service keeps organizations' signing keys and issues license files.
type Service struct {
	db       *ent.Client
	dialect  string
	sealer   *Sealer
	events   *events.Log
	facts    *facts.Cache
	usage    *metering.Service
	policies *custompolicy.Service
	now      func() time.Time
	// snapshotTTL is an SDK snapshot's lifetime; signed caches them.
	snapshotTTL time.Duration
	signed      snapshots
}

// New returns the signing service; master seals the private keys at rest,
// and SDK snapshots live for snapshotTTL (0: DefaultSnapshotTTL).
func New(db *store.DB, master MasterKey, log *events.Log, cache *facts.Cache, usage *metering.Service, policies *custompolicy.Service, now func() time.Time, snapshotTTL time.Duration) (*Service, error) {
	sealer, err := NewSealer(master)
	if err != nil {
		return nil, err
	}
	if snapshotTTL <= 0 {
		snapshotTTL = DefaultSnapshotTTL
	}
	return &Service{db: db.Client, dialect: db.Dialect, sealer: sealer, events: log, facts: cache, usage: usage, policies: policies, now: now, snapshotTTL: snapshotTTL}, nil
}

// Keys lists the caller's organization's keys, the current one first,
// then the retired ones newest first.
func (s *Service) Keys(ctx context.Context) ([]*ent.SigningKey, error) {
	ks, err := s.db.SigningKey.Query().Order(ent.Desc(signingkey.FieldCreatedAt), ent.Desc(signingkey.FieldID)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	sort.SliceStable(ks, func(i, j int) bool {
		return ks[i].Status == signingkey.StatusCURRENT && ks[j].Status != signingkey.StatusCURRENT
	})
	return ks, nil
}

// JWKS renders the public keys of the organization with the given slug
// (no authentication: they are public) and the body's ETag. An unknown
// organization is NOT_FOUND.
func (s *Service) JWKS(ctx context.Context, orgSlug string) (body []byte, etag string, err error) {
	sys := tenant.SystemContext(ctx)
	org, err := s.db.Organization.Query().Where(organization.Slug(orgSlug)).Only(sys)
	if err != nil {
		return nil, "", store.Translate(err, "organization")
	}
	ks, err := s.Keys(tenant.OrgContext(sys, org.ID))
	if err != nil {
		return nil, "", err
	}
	jwks := make([]licensefile.JWK, 0, len(ks))
	for _, k := range ks {
		pub, err := PublicKeyFromText(k.PublicKey)
		if err != nil {
			return nil, "", fmt.Errorf("signing key %s: %w", k.Kid, err)
		}
		jwks = append(jwks, licensefile.PublicJWK(k.Kid, pub))
	}
	return RenderJWKS(jwks)
}

// Rotate makes a new current key for the caller's organization and
// retires the previous one, which keeps verifying.
func (s *Service) Rotate(ctx context.Context) (*ent.SigningKey, error) {
	var out *ent.SigningKey
	err := store.WithTx(ctx, s.db, func(tx *ent.Tx) error {
		if err := s.lockOrg(ctx, tx); err != nil {
			return err
		}
		old, err := tx.SigningKey.Query().Where(signingkey.StatusEQ(signingkey.StatusCURRENT)).All(ctx)
		if err != nil {
			return fmt.Errorf("read current signing key: %w", err)
		}
		now := s.now().UTC()
		for _, k := range old {
			if _, err := tx.SigningKey.UpdateOne(k).SetStatus(signingkey.StatusRETIRED).SetRetiredAt(now).Save(ctx); err != nil {
				return fmt.Errorf("retire signing key %s: %w", k.Kid, err)
			}
		}
		row, _, err := s.create(ctx, tx, "signing_key.rotated", old)
		out = row
		return err
	})
	if err != nil {
		return nil, err
	}
	return store.Unwrap(out, nil)
}

// lockOrg serialises key changes of the caller's organization: on
// PostgreSQL it holds the organization's row lock (SQLite transactions
// already hold the write lock), so two first uses make one key.
func (s *Service) lockOrg(ctx context.Context, tx *ent.Tx) error {
	if s.dialect != dialect.Postgres {
		return nil
	}
	orgID := tenant.FromContext(ctx).OrgID
	if _, err := tx.Organization.Query().Where(organization.ID(orgID)).ForUpdate().Only(tenant.SystemContext(ctx)); err != nil {
		return fmt.Errorf("lock organization for signing keys: %w", err)
	}
	return nil
}

// create stores a new current key and records it (action
// signing_key.created or signing_key.rotated; retired: the keys it
// replaces).
func (s *Service) create(ctx context.Context, tx *ent.Tx, action string, retired []*ent.SigningKey) (*ent.SigningKey, *Key, error) {
	orgID := tenant.FromContext(ctx).OrgID
	if orgID == "" {
		return nil, nil, apperr.Forbiddenf("signing keys belong to an organization")
	}
	k, err := Generate(nil)
	if err != nil {
		return nil, nil, err
	}
	sealed, err := s.sealer.SealKey(k, KeyAAD(orgID, k.Kid()))
	if err != nil {
		return nil, nil, err
	}
	row, err := tx.SigningKey.Create().SetKid(k.Kid()).SetAlgorithm(Algorithm).SetPublicKey(k.PublicKeyText()).
		SetSealedPrivateKey(sealed).SetStatus(signingkey.StatusCURRENT).SetCreatedAt(s.now().UTC()).Save(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("store signing key: %w", err)
	}
	c := events.Change{Action: action, ResourceType: "SIGNING_KEY", ResourceID: row.ID, ResourceSlug: row.Kid, After: keyEvent(row)}
	if len(retired) > 0 {
		c.Before = map[string]any{"retired": kids(retired)}
	}
	if _, err := s.events.Append(ctx, tx, c); err != nil {
		return nil, nil, err
	}
	return row, k, nil
}

// keyEvent is a key as its audit events show it: public facts only.
func keyEvent(k *ent.SigningKey) map[string]any {
	return map[string]any{"id": k.ID, "kid": k.Kid, "algorithm": k.Algorithm, "publicKey": k.PublicKey,
		"status": k.Status.String(), "createdAt": k.CreatedAt.UTC().Format(time.RFC3339Nano)}
}

func kids(ks []*ent.SigningKey) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.Kid
	}
	return out
}

// current returns the organization's current key, making the first one
// on first use.
func (s *Service) current(ctx context.Context, tx *ent.Tx) (*Key, error) {
	if err := s.lockOrg(ctx, tx); err != nil {
		return nil, err
	}
	row, err := tx.SigningKey.Query().Where(signingkey.StatusEQ(signingkey.StatusCURRENT)).
		Order(ent.Desc(signingkey.FieldCreatedAt)).First(ctx)
	if ent.IsNotFound(err) {
		_, k, err := s.create(ctx, tx, "signing_key.created", nil)
		return k, err
	}
	if err != nil {
		return nil, fmt.Errorf("read current signing key: %w", err)
	}
	return s.sealer.OpenKey(row.SealedPrivateKey, row.Kid, KeyAAD(row.OrganizationID, row.Kid))
}

// IssueInput is what issueLicenseFile asks for.
type IssueInput struct {
	InstanceID      string
	TTL             *string // a Go duration; nil: DefaultTTL
	IncludePolicies bool
}

// ParseTTL reads a file's lifetime: a Go duration of at least MinTTL
// (nil or empty: DefaultTTL).
func ParseTTL(ttl *string) (time.Duration, error) {
	if ttl == nil || *ttl == "" {
		return DefaultTTL, nil
	}
	d, err := time.ParseDuration(*ttl)
	if err != nil {
		return 0, apperr.Invalid("ttl", "not a duration such as 720h: %q", *ttl)
	}
	if d < MinTTL {
		return 0, apperr.Invalid("ttl", "at least %s", MinTTL)
	}
	return d, nil
}

// Issue signs the instance's current facts with the organization's
// current key and records the file.
func (s *Service) Issue(ctx context.Context, in IssueInput) (*ent.IssuedLicenseFile, error) {
	ttl, err := ParseTTL(in.TTL)
	if err != nil {
		return nil, err
	}
	inst, err := s.db.Instance.Query().Where(instance.ID(in.InstanceID)).Only(ctx)
	if err != nil {
		return nil, store.Translate(err, "instance")
	}
	return s.issue(ctx, inst.Slug, ttl, in.IncludePolicies)
}

// ForInstance is GET /v1/license-file: the latest file of the instance
// (with slug) for its current facts, policies included, while more than
// half its lifetime remains; else a new one with DefaultTTL.
func (s *Service) ForInstance(ctx context.Context, slug string) (*ent.IssuedLicenseFile, error) {
	ds, hash, err := s.dataset(ctx, slug, DefaultTTL, true)
	if err != nil {
		return nil, err
	}
	f, err := s.db.IssuedLicenseFile.Query().Where(
		issuedlicensefile.InstanceID(ds.Instance.ID),
		issuedlicensefile.FactsSha256(hash),
		issuedlicensefile.IncludePolicies(true),
		issuedlicensefile.ExpiresAtGT(s.now().Add(DefaultTTL/2)),
	).Order(ent.Desc(issuedlicensefile.FieldIssuedAt)).First(ctx)
	if err == nil {
		return f, nil
	}
	if !ent.IsNotFound(err) {
		return nil, fmt.Errorf("find license file: %w", err)
	}
	return s.sign(ctx, ds, hash, true)
}

func (s *Service) issue(ctx context.Context, slug string, ttl time.Duration, includePolicies bool) (*ent.IssuedLicenseFile, error) {
	ds, hash, err := s.dataset(ctx, slug, ttl, includePolicies)
	if err != nil {
		return nil, err
	}
	return s.sign(ctx, ds, hash, includePolicies)
}

// sign signs a dataset with the current key, stores the file and records
// license_file.issued, in one transaction.
func (s *Service) sign(ctx context.Context, ds *licensefile.Dataset, hash string, includePolicies bool) (*ent.IssuedLicenseFile, error) {
	v := tenant.FromContext(ctx)
	var out *ent.IssuedLicenseFile
	err := store.WithTx(ctx, s.db, func(tx *ent.Tx) error {
		k, err := s.current(ctx, tx)
		if err != nil {
			return err
		}
		cert, err := k.Sign(ds)
		if err != nil {
			return err
		}
		sum := sha256.Sum256([]byte(cert))
		c := tx.IssuedLicenseFile.Create().SetInstanceID(ds.Instance.ID).SetKid(k.Kid()).
			SetIssuedAt(ds.Iat).SetExpiresAt(ds.Exp).SetIncludePolicies(includePolicies).
			SetCertificate(cert).SetSha256(hex.EncodeToString(sum[:])).SetFactsSha256(hash)
		if v.KeyID != "" {
			c.SetIssuedByID(v.KeyID).SetIssuedByName(v.KeyName)
		}
		f, err := c.Save(ctx)
		if err != nil {
			return fmt.Errorf("store license file: %w", err)
		}
		out = f
		_, err = s.events.Append(ctx, tx, events.Change{Action: "license_file.issued", ResourceType: "LICENSE_FILE",
			ResourceID: f.ID, ResourceSlug: ds.Sub, After: map[string]any{
				"id": f.ID, "kid": f.Kid, "instance": ds.Sub, "instanceID": ds.Instance.ID,
				"expiresAt": f.ExpiresAt.UTC().Format(time.RFC3339), "includePolicies": includePolicies,
			}})
		return err
	})
	if err != nil {
		return nil, err
	}
	return store.Unwrap(out, nil)
}

// dataset gathers the instance's current facts as decisions see them
// (the facts cache, grants, usage for granted NUMBER entitlements, the
// active custom modules) and the hash naming them, iat and exp aside.
func (s *Service) dataset(ctx context.Context, slug string, ttl time.Duration, includePolicies bool) (*licensefile.Dataset, string, error) {
	orgID := tenant.FromContext(ctx).OrgID
	if orgID == "" {
		return nil, "", apperr.Forbiddenf("license files belong to an organization")
	}
	snap, err := s.facts.Snapshot(ctx, orgID)
	if err != nil {
		return nil, "", err
	}
	inst, err := s.facts.Instance(ctx, snap, slug)
	if err != nil {
		return nil, "", err
	}
	if inst == nil {
		return nil, "", &apperr.Error{Code: apperr.NotFound, Field: "instance", Message: "instance not found"}
	}
	now := s.now().UTC()
	f := licensefile.Facts{Org: snap.Org, Instance: inst.Instance, IssuedAt: now, ExpiresAt: now.Add(ttl)}
	if lf := snap.Licenses[inst.LicenseID]; lf != nil {
		f.License = lf.License
	}
	slugs := make([]string, 0, len(snap.Entitlements))
	for sl := range snap.Entitlements {
		slugs = append(slugs, sl)
	}
	sort.Strings(slugs)
	for _, sl := range slugs {
		e := snap.Entitlements[sl]
		_, g := snap.Grant(inst, e)
		gr := licensefile.Granted{Entitlement: e, Grant: g}
		if g != nil && e.Type == policy.EntitlementNumber {
			u, _, err := s.usage.Current(ctx, orgID, inst.Instance.ID, e, now)
			if err != nil {
				return nil, "", fmt.Errorf("usage of %s for a license file: %w", sl, err)
			}
			gr.Usage = u
		}
		f.Entitlements = append(f.Entitlements, gr)
	}
	if includePolicies {
		version, mods, err := s.policies.Active(ctx, orgID)
		if err != nil {
			return nil, "", err
		}
		if len(mods) > 0 {
			f.Policies = &licensefile.Policies{Version: version, Modules: mods}
		}
	}
	ds, err := licensefile.NewDataset(f)
	if err != nil {
		return nil, "", err
	}
	// The facts' name: the dataset without its moments.
	bare := *ds
	bare.Iat, bare.Exp = time.Time{}, time.Time{}
	b, err := bare.Encode()
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(bytes.TrimSpace(b))
	return ds, hex.EncodeToString(sum[:]), nil
}
