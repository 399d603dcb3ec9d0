// Package auth issues and verifies API keys, creates organizations, and
// turns a bearer credential into the tenant.Viewer every request carries.
// Secrets are random, shown once, and stored only as SHA-256 hashes.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"

	entsql "entgo.io/ent/dialect/sql"

	"github.com/entitled/entitled/ent"
	"github.com/entitled/entitled/ent/apikey"
	"github.com/entitled/entitled/ent/organization"
	"github.com/entitled/entitled/internal/apperr"
	"github.com/entitled/entitled/internal/events"
	"github.com/entitled/entitled/internal/platform/changefeed"
	"github.com/entitled/entitled/internal/platform/store"
	"github.com/entitled/entitled/internal/tenant"
	"github.com/entitled/entitled/internal/validate"
)

// SecretPrefix starts every API key secret, so leaked keys are easy to spot.
const SecretPrefix = "etk_"

// cacheTTL bounds how long a verified key is trusted without a database
// read. Revocations do not wait for it: they travel on the change feed
// (tens of milliseconds); it is the last resort should a process miss one
// and its backstop too.
const cacheTTL = 5 * time.Minute

// Bounds of the credential caches.
const (
	// maxKeys bounds the verified keys remembered.
	maxKeys = 100_000
	// maxRefused bounds the refused credentials remembered (by hash), so a
	// flood of bad keys costs one lookup each at most once per refusedTTL.
	maxRefused = 10_000
	refusedTTL = 10 * time.Second
	// MinOperatorToken is the shortest operator token accepted.
	MinOperatorToken = 32
	// Failed authentications from one client address are limited to
	// failRate a second (bursts of failBurst); past it the address is
	// refused with RATE_LIMITED before any lookup. maxClients bounds the
	// addresses tracked.
	failRate   = 5
	failBurst  = 20
	maxClients = 10_000
)

// Service issues and verifies credentials.
type Service struct {
	db  *ent.Client
	sql *sql.DB
	// dialect is the SQL dialect of sql.
	dialect string
	log     *slog.Logger
	feed    *changefeed.Feed
	events  *events.Log
	now     func() time.Time
	// operatorHash is the SHA-256 of the operator token (nil: none), so
	// comparing a credential with it takes the same time whatever either
	// length.
	operatorHash []byte

	mu    sync.RWMutex
	cache map[string]cachedKey
	// gen counts invalidations of cached keys (this process's revocations
	// and those the change feed brings): a lookup that started before one
	// does not cache what it read.
	gen     uint64
	refused *lru.Cache[string, time.Time]
	clients *lru.Cache[string, *rate.Limiter]

	// usedMu guards used: when keys last authenticated (lastused.go).
	usedMu sync.Mutex
	used   lastUsed
	// usedWG counts the running writers of used.
	usedWG sync.WaitGroup
}

type cachedKey struct {
	viewer tenant.Viewer
	// fresh is until when the key is trusted without a read; expires is
	// the key's own expiry (zero: none).
	fresh, expires time.Time
}

// New returns the auth service. feed carries key changes between
// processes and says how current this process is; log records key
// changes in the organization's event log. operatorToken may be empty (no
// operator); otherwise it must be at least MinOperatorToken characters.
func New(db *store.DB, feed *changefeed.Feed, log *events.Log, now func() time.Time, operatorToken string) (*Service, error) {
	s := &Service{db: db.Client, sql: db.SQL, dialect: db.Dialect, log: slog.Default(), feed: feed, events: log, now: now,
		cache: map[string]cachedKey{}, used: lastUsed{noted: map[usedKey]time.Time{}, pending: map[usedKey]time.Time{}}}
	if operatorToken != "" {
		if len(operatorToken) < MinOperatorToken {
			return nil, fmt.Errorf("ENTITLED_OPERATOR_TOKEN is %d characters; use at least %d random characters (e.g. openssl rand -hex 32)", len(operatorToken), MinOperatorToken)
		}
		sum := sha256.Sum256([]byte(operatorToken))
		s.operatorHash = sum[:]
	}
	refused, err := lru.New[string, time.Time](maxRefused)
	if err != nil {
		return nil, err
	}
	s.refused = refused
	if s.clients, err = lru.New[string, *rate.Limiter](maxClients); err != nil {
		return nil, err
	}
	return s, nil
}

func hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

func newSecret() string {
	var b [25]byte
	_, _ = rand.Read(b[:])
	return SecretPrefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// Authenticate turns a bearer credential from a client address into a
// viewer. A client whose credentials keep failing is refused for a while
// (RATE_LIMITED with RetryAfter), but for keys already verified.
func (s *Service) Authenticate(ctx context.Context, credential, client string) (tenant.Viewer, error) {
	v, err := s.authenticate(ctx, credential, client)
	if ae, ok := apperr.As(err); ok && ae.Code == apperr.Unauthenticated {
		s.limiter(client).Allow() // counts the failure
	}
	return v, err
}

// limiter is the failure budget of a client address.
func (s *Service) limiter(client string) *rate.Limiter {
	if l, ok := s.clients.Get(client); ok {
		return l
	}
	l := rate.NewLimiter(failRate, failBurst)
	if prev, ok, _ := s.clients.PeekOrAdd(client, l); ok {
		return prev
	}
	return l
}

// throttled reports how long a client must wait, when it has spent its
// failure budget.
func (s *Service) throttled(client string) (time.Duration, bool) {
	l, ok := s.clients.Peek(client)
	if !ok {
		return 0, false
	}
	if tokens := l.Tokens(); tokens < 1 {
		return time.Duration((1 - tokens) / failRate * float64(time.Second)), true
	}
	return 0, false
}

func (s *Service) authenticate(ctx context.Context, credential, client string) (tenant.Viewer, error) {
	if credential == "" {
		return tenant.Viewer{}, apperr.Unauthenticatedf("missing credential: send Authorization: Bearer <api key>")
	}
	sum := sha256.Sum256([]byte(credential))
	if s.operatorHash != nil && subtle.ConstantTimeCompare(sum[:], s.operatorHash) == 1 {
		return tenant.Viewer{Operator: true}, nil
	}
	h := hex.EncodeToString(sum[:])
	now := s.now()
	s.mu.RLock()
	c, cached := s.cache[h]
	gen := s.gen
	s.mu.RUnlock()
	if cached && !c.expires.IsZero() && !now.Before(c.expires) {
		cached = false // expired by its own date: say so below
	}
	if cached && now.Before(c.fresh) {
		s.touch(c.viewer.OrgID, c.viewer.KeyID, now)
		return c.viewer, nil
	}
	if wait, ok := s.throttled(client); ok {
		return tenant.Viewer{}, &apperr.Error{Code: apperr.RateLimited, RetryAfter: wait,
			Message: "too many failed authentications from this address; try again later"}
	}
	if until, ok := s.refused.Peek(h); ok && now.Before(until) {
		return tenant.Viewer{}, apperr.Unauthenticatedf("invalid API key")
	}
	k, stamp, err := s.lookup(ctx, h)
	if ent.IsNotFound(err) {
		s.refused.Add(h, now.Add(refusedTTL))
		return tenant.Viewer{}, apperr.Unauthenticatedf("invalid API key")
	}
	if err != nil {
		if cached && store.IsUnavailable(err) && s.trusted(now) {
			// Fail static: a key known valid stays valid while the
			// database is away, within the stale limit.
			s.touch(c.viewer.OrgID, c.viewer.KeyID, now)
			return c.viewer, nil
		}
		return tenant.Viewer{}, store.Translate(fmt.Errorf("look up api key: %w", err), "API key")
	}
	if k.RevokedAt != nil {
		return tenant.Viewer{}, apperr.Unauthenticatedf("API key %q has been revoked", k.Name)
	}
	if k.ExpiresAt != nil && !now.Before(*k.ExpiresAt) {
		return tenant.Viewer{}, apperr.Unauthenticatedf("API key %q expired at %s", k.Name, k.ExpiresAt.UTC().Format(time.RFC3339))
	}
	v := tenant.Viewer{OrgID: k.OrganizationID, OrgSlug: k.Edges.Organization.Slug, KeyID: k.ID, KeyName: k.Name, Scopes: k.Scopes}
	entry := cachedKey{viewer: v, fresh: now.Add(cacheTTL)}
	if k.ExpiresAt != nil {
		entry.expires = *k.ExpiresAt
	}
	s.mu.Lock()
	kept := s.gen == gen // no invalidation since the lookup began
	if kept {
		if len(s.cache) >= maxKeys {
			for h, k := range s.cache {
				if !now.Before(k.fresh) {
					delete(s.cache, h)
				}
			}
			if len(s.cache) >= maxKeys {
				clear(s.cache) // refilled by the next lookups
			}
		}
		s.cache[h] = entry
	}
	s.mu.Unlock()
	if kept {
		s.feed.Observe(k.OrganizationID, stamp)
	}
	s.touch(k.OrganizationID, k.ID, now)
	return v, nil
}

// trusted reports whether keys verified earlier may still be trusted
// without a read: while the change feed is live (a revocation would have
// arrived), or for the stale limit after it was lost.
func (s *Service) trusted(now time.Time) bool {
	since := s.feed.StaleSince()
	return since.IsZero() || now.Sub(since) <= s.feed.StaleLimit()
}

// lookup reads the key with a secret hash and its organization. The
// organization's change counter is read first, so the key read is at
// least as new as the counter the feed is told.
func (s *Service) lookup(ctx context.Context, h string) (*ent.APIKey, time.Time, error) {
	sys := tenant.SystemContext(ctx)
	org, err := s.db.Organization.Query().
		Where(func(sel *entsql.Selector) {
			keys := entsql.Table(apikey.Table)
			sel.Where(entsql.In(sel.C(organization.FieldID),
				entsql.Select(keys.C(apikey.FieldOrganizationID)).From(keys).Where(entsql.EQ(keys.C(apikey.FieldSecretHash), h))))
		}).
		Only(sys)
	if err != nil {
		return nil, time.Time{}, err
	}
	k, err := s.db.APIKey.Query().Where(apikey.SecretHash(h), apikey.OrganizationID(org.ID)).Only(sys)
	if err != nil {
		return nil, time.Time{}, err
	}
	k.Edges.Organization = org
	return k, org.UpdatedAt, nil
}

// Apply drops cached keys a change made stale: the keys it names, or all
// of an organization's when anything of it may have changed.
func (s *Service) Apply(c changefeed.Change) {
	if c.Kind != changefeed.KindAPIKey && c.Kind != changefeed.KindAll {
		return
	}
	ids := map[string]bool{}
	for _, id := range c.IDs {
		ids[id] = true
	}
	s.mu.Lock()
	s.gen++
	for h, k := range s.cache {
		if k.viewer.OrgID == c.Org && (len(ids) == 0 || ids[k.viewer.KeyID]) {
			delete(s.cache, h)
		}
	}
	s.mu.Unlock()
}

// CreateKeyInput describes a new API key.
type CreateKeyInput struct {
	Name      string
	Scopes    []tenant.Scope
	ExpiresAt *time.Time
}

// Validate checks the input against the clock.
func (in CreateKeyInput) Validate(now time.Time) error {
	if err := validate.Name("name", in.Name); err != nil {
		return err
	}
	if len(in.Scopes) == 0 {
		return apperr.Invalid("scopes", "must name at least one of ADMIN, READ, CHECK")
	}
	for i, sc := range in.Scopes {
		if !sc.Valid() {
			return apperr.Invalid(fmt.Sprintf("scopes[%d]", i), "%q is not a scope; use ADMIN, READ or CHECK", sc)
		}
	}
	if in.ExpiresAt != nil && !in.ExpiresAt.After(now) {
		return apperr.Invalid("expiresAt", "must be in the future")
	}
	return nil
}

// CreateAPIKey issues a key in the caller's organization and returns it with
// its secret, which is never shown again.
func (s *Service) CreateAPIKey(ctx context.Context, in CreateKeyInput) (*ent.APIKey, string, error) {
	if err := in.Validate(s.now()); err != nil {
		return nil, "", err
	}
	var key *ent.APIKey
	var secret string
	err := s.tx(ctx, func(tx *ent.Tx) (*changefeed.Change, error) {
		var err error
		if key, secret, err = createKey(ctx, tx, "", in); err != nil {
			return nil, err
		}
		if err := s.record(ctx, tx, "api_key.created", "", nil, key); err != nil {
			return nil, err
		}
		return &changefeed.Change{Kind: changefeed.KindAPIKey, IDs: []string{key.ID}}, nil
	})
	if err != nil {
		return nil, "", err
	}
	return key.Unwrap(), secret, nil
}

// tx runs fn in a transaction of the caller's organization and publishes
// the change it returns, so every process hears of it.
func (s *Service) tx(ctx context.Context, fn func(tx *ent.Tx) (*changefeed.Change, error)) error {
	return changefeed.InTx(ctx, s.feed, tenant.FromContext(ctx).OrgID, func(ctx context.Context, fn func(*ent.Tx) error) error {
		return store.WithTx(ctx, s.db, fn)
	}, fn)
}

func createKey(ctx context.Context, tx *ent.Tx, orgID string, in CreateKeyInput) (*ent.APIKey, string, error) {
	secret := newSecret()
	c := tx.APIKey.Create().
		SetName(in.Name).
		SetPrefix(secret[:len(SecretPrefix)+6]).
		SetSecretHash(hash(secret)).
		SetScopes(dedupe(in.Scopes)).
		SetNillableExpiresAt(in.ExpiresAt)
	if orgID != "" {
		c.SetOrganizationID(orgID)
	}
	k, err := c.Save(ctx)
	if err != nil {
		return nil, "", store.Translate(err, "API key")
	}
	return k, secret, nil
}

// record appends the event of a key created (before nil) or changed, as
// the last write of the transaction; org "" is the caller's organization.
// The snapshot holds the key's prefix, never its secret or hash.
func (s *Service) record(ctx context.Context, tx *ent.Tx, action, org string, before, after *ent.APIKey) error {
	c := events.Change{Org: org, Action: action, ResourceType: "API_KEY", ResourceID: after.ID,
		Before: events.Snapshot(before), After: events.Snapshot(after)}
	_, err := s.events.Append(ctx, tx, c)
	return err
}

func dedupe(in []tenant.Scope) []tenant.Scope {
	out := make([]tenant.Scope, 0, len(in))
	seen := map[tenant.Scope]bool{}
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// RevokeAPIKey revokes a key of the caller's organization. It takes effect
// at once in this process, and in the others when the change feed brings
// it (at commit).
func (s *Service) RevokeAPIKey(ctx context.Context, id string) (*ent.APIKey, error) {
	var out *ent.APIKey
	err := s.tx(ctx, func(tx *ent.Tx) (*changefeed.Change, error) {
		k, err := tx.APIKey.Get(ctx, id)
		if err != nil {
			return nil, store.Translate(err, "API key")
		}
		out = k
		if k.RevokedAt != nil {
			return nil, nil
		}
		if out, err = tx.APIKey.UpdateOne(k).SetRevokedAt(s.now().UTC()).Save(ctx); err != nil {
			return nil, store.Translate(err, "API key")
		}
		if err := s.record(ctx, tx, "api_key.revoked", "", k, out); err != nil {
			return nil, err
		}
		return &changefeed.Change{Kind: changefeed.KindAPIKey, IDs: []string{k.ID}}, nil
	})
	if err != nil {
		return nil, err
	}
	return out.Unwrap(), nil
}

// CreateOrganization creates an organization with its first admin key.
func (s *Service) CreateOrganization(ctx context.Context, name, slug string) (*ent.Organization, *ent.APIKey, string, error) {
	if err := validate.Names(&name, &slug); err != nil {
		return nil, nil, "", err
	}
	var (
		org    *ent.Organization
		key    *ent.APIKey
		secret string
	)
	sys := tenant.SystemContext(ctx)
	err := store.WithTx(sys, s.db, func(tx *ent.Tx) error {
		var err error
		org, err = tx.Organization.Create().SetName(name).SetSlug(slug).Save(sys)
		if err != nil {
			if store.IsUniqueViolation(err) {
				return apperr.Conflictf("organization slug %q is taken", slug)
			}
			return store.Translate(err, "organization")
		}
		key, secret, err = createKey(sys, tx, org.ID, CreateKeyInput{Name: "initial admin key", Scopes: []tenant.Scope{tenant.ScopeAdmin}})
		if err != nil {
			return err
		}
		// The caller's context names the actor: the operator token, or
		// nobody (bootstrap: SYSTEM).
		return s.record(ctx, tx, "api_key.created", org.ID, nil, key)
	})
	if err != nil {
		return nil, nil, "", err
	}
	return org.Unwrap(), key.Unwrap(), secret, nil
}

// Bootstrap creates the "default" organization and an admin key when the
// database has no organization yet. It returns the secret to print, or ""
// when there was nothing to do.
func (s *Service) Bootstrap(ctx context.Context) (string, error) {
	n, err := s.db.Organization.Query().Count(tenant.SystemContext(ctx))
	if err != nil {
		return "", fmt.Errorf("count organizations: %w", err)
	}
	if n > 0 {
		return "", nil
	}
	_, _, secret, err := s.CreateOrganization(ctx, "Default", "default")
	if err != nil {
		if e, ok := apperr.As(err); ok && e.Code == apperr.Conflict {
			return "", nil // another process bootstrapped first
		}
		return "", err
	}
	return secret, nil
}
