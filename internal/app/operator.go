package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/entitled/entitled/ent"
	"github.com/entitled/entitled/ent/organization"
	"github.com/entitled/entitled/internal/auth"
	"github.com/entitled/entitled/internal/events"
	"github.com/entitled/entitled/internal/platform/changefeed"
	"github.com/entitled/entitled/internal/platform/store"
	"github.com/entitled/entitled/internal/tenant"
	"github.com/entitled/entitled/internal/webhooks"
)

// CreateKey issues an API key in the organization with the given slug, for
// an operator working on the database directly (entitled keys create): the
// way back in when every admin key of an organization is lost. It refuses a
// database whose schema is behind, and logs the action as the operator's.
func CreateKey(ctx context.Context, db *store.DB, log *slog.Logger, orgSlug string, in auth.CreateKeyInput) (*ent.APIKey, string, error) {
	st, err := db.MigrationStatus(ctx)
	if err != nil {
		return nil, "", err
	}
	if !st.Current() {
		return nil, "", fmt.Errorf("the database schema is behind this binary (%d migrations pending): apply them first with entitled migrate up", len(st.Pending))
	}
	org, err := db.Client.Organization.Query().Where(organization.Slug(orgSlug)).Only(tenant.SystemContext(ctx))
	if ent.IsNotFound(err) {
		return nil, "", fmt.Errorf("no organization has the slug %q", orgSlug)
	}
	if err != nil {
		return nil, "", fmt.Errorf("look up organization: %w", err)
	}
	// The new key is published like any other change (it runs no listener).
	feed := changefeed.New(feedConfig(db, Config{Logger: log}, changefeed.Config{}))
	// Its event goes to the organization's webhooks like any other: the
	// outbox rows are written in the key's transaction, and the servers'
	// dispatchers send them (woken by NOTIFY on PostgreSQL, by their poll
	// on SQLite). Queuing needs no master key.
	var hooks *webhooks.Service
	evlog := events.New(db.Dialect, time.Now, func(ctx context.Context, tx events.Tx, e *events.Event) error {
		return hooks.Enqueue(ctx, tx, e)
	})
	hooks = webhooks.New(db, evlog, nil, webhooks.Config{Log: log})
	svc, err := auth.New(db, feed, evlog, time.Now, "")
	if err != nil {
		return nil, "", err
	}
	// The operator acts inside the organization: the event names the
	// operator as the actor.
	opCtx := tenant.NewContext(ctx, tenant.Viewer{OrgID: org.ID, OrgSlug: org.Slug, Scopes: []tenant.Scope{tenant.ScopeAdmin}, Operator: true})
	key, secret, err := svc.CreateAPIKey(opCtx, in)
	if err != nil {
		return nil, "", err
	}
	log.Info("operator action: API key created from the command line",
		"action", "api_key.created", "actor_type", "OPERATOR", "organization", org.Slug,
		"organization_id", org.ID, "key_id", key.ID, "key_name", key.Name, "scopes", key.Scopes)
	return key, secret, nil
}
