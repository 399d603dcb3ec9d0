package webhooks

import (
	"context"
	"slices"
	"strings"
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/dialect"

	"github.com/entitled/entitled/ent"
	"github.com/entitled/entitled/ent/auditevent"
	"github.com/entitled/entitled/ent/predicate"
	"github.com/entitled/entitled/ent/schema/pulid"
	"github.com/entitled/entitled/ent/webhookdelivery"
	"github.com/entitled/entitled/ent/webhookendpoint"
	"github.com/entitled/entitled/internal/apperr"
	"github.com/entitled/entitled/internal/events"
	"github.com/entitled/entitled/internal/platform/store"
	"github.com/entitled/entitled/internal/tenant"
	"github.com/entitled/entitled/internal/validate"
)

// Actions and the resource type of the endpoints' own events.
const (
	resourceType   = "WEBHOOK_ENDPOINT"
	actionCreated  = "webhook_endpoint.created"
	actionUpdated  = "webhook_endpoint.updated"
	actionDeleted  = "webhook_endpoint.deleted"
	actionRotated  = "webhook_endpoint.secret_rotated"
	maxDescription = 1000
	what           = "webhook endpoint"
)

// Created is an endpoint with its signing secret, which only
// createWebhookEndpoint and rotateWebhookSecret show.
type Created struct {
	Endpoint *ent.WebhookEndpoint
	Secret   string
}

// Create registers an endpoint with a new secret.
func (s *Service) Create(ctx context.Context, in ent.CreateWebhookEndpointInput) (*Created, error) {
	if err := s.checkURL(ctx, in.URL); err != nil {
		return nil, err
	}
	types, err := eventTypes("eventTypes", in.EventTypes)
	if err != nil {
		return nil, err
	}
	if err := validate.OptionalText("description", in.Description, maxDescription); err != nil {
		return nil, err
	}
	secret := newSecret()
	id := pulid.New(endpointPrefix)
	sealed, err := s.sealSecret(tenant.FromContext(ctx).OrgID, id, secret)
	if err != nil {
		return nil, err
	}
	var out *ent.WebhookEndpoint
	err = store.WithTx(ctx, s.db.Client, func(tx *ent.Tx) error {
		ep, err := tx.WebhookEndpoint.Create().
			SetID(id).
			SetURL(in.URL).
			SetNillableDescription(in.Description).
			SetEventTypes(types).
			SetNillableEnabled(in.Enabled).
			SetSecret(sealed).
			Save(ctx)
		if err != nil {
			return store.Translate(err, what)
		}
		out = ep
		return s.change(ctx, tx, actionCreated, ep.ID, nil, ep)
	})
	if err != nil {
		return nil, err
	}
	return &Created{Endpoint: out.Unwrap(), Secret: secret}, nil
}

// Update changes an endpoint's URL, filter, description or state.
// Enabling an endpoint clears why it was disabled and its failure count.
func (s *Service) Update(ctx context.Context, id string, in ent.UpdateWebhookEndpointInput) (*ent.WebhookEndpoint, error) {
	if in.URL != nil {
		if err := s.checkURL(ctx, *in.URL); err != nil {
			return nil, err
		}
	}
	if err := validate.OptionalText("description", in.Description, maxDescription); err != nil {
		return nil, err
	}
	set, err := eventTypes("eventTypes", in.EventTypes)
	if err != nil {
		return nil, err
	}
	add, err := eventTypes("appendEventTypes", in.AppendEventTypes)
	if err != nil {
		return nil, err
	}
	var out *ent.WebhookEndpoint
	err = store.WithTx(ctx, s.db.Client, func(tx *ent.Tx) error {
		ep, err := s.lock(ctx, tx, id)
		if err != nil {
			return err
		}
		types := ep.EventTypes
		switch {
		case in.ClearEventTypes:
			types = []string{}
		case in.EventTypes != nil:
			types = set
		}
		for _, t := range add {
			if !slices.Contains(types, t) {
				types = append(slices.Clone(types), t)
			}
		}
		if len(types) > maxEventTypes {
			return apperr.Invalid("appendEventTypes", "would make %d entries; at most %d allowed", len(types), maxEventTypes)
		}
		u := tx.WebhookEndpoint.UpdateOne(ep).SetEventTypes(types)
		if in.URL != nil {
			u.SetURL(*in.URL)
		}
		if in.ClearDescription {
			u.ClearDescription()
		}
		if in.Description != nil {
			u.SetDescription(*in.Description)
		}
		if in.Enabled != nil {
			u.SetEnabled(*in.Enabled)
			if *in.Enabled && !ep.Enabled {
				u.ClearDisabledReason().SetConsecutiveFailures(0)
			}
		}
		after, err := u.Save(ctx)
		if err != nil {
			return store.Translate(err, what)
		}
		out = after
		if after.Enabled && !ep.Enabled {
			// Deliveries that waited while it was off are due again.
			if err := s.queued(ctx, tx); err != nil {
				return err
			}
		}
		return s.change(ctx, tx, actionUpdated, ep.ID, ep, after)
	})
	return store.Unwrap(out, err)
}

// Delete removes an endpoint and its deliveries.
func (s *Service) Delete(ctx context.Context, id string) (string, error) {
	err := store.WithTx(ctx, s.db.Client, func(tx *ent.Tx) error {
		ep, err := s.lock(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := tx.WebhookEndpoint.DeleteOne(ep).Exec(ctx); err != nil {
			return store.Translate(err, what)
		}
		return s.change(ctx, tx, actionDeleted, ep.ID, ep, nil)
	})
	if err != nil {
		return "", err
	}
	return id, nil
}

// RotateSecret gives an endpoint a new secret; the one it replaces keeps
// signing beside it for SecretOverlap (a second rotation within that
// time retires the oldest at once).
func (s *Service) RotateSecret(ctx context.Context, id string) (*Created, error) {
	secret := newSecret()
	var out *ent.WebhookEndpoint
	err := store.WithTx(ctx, s.db.Client, func(tx *ent.Tx) error {
		ep, err := s.lock(ctx, tx, id)
		if err != nil {
			return err
		}
		sealed, err := s.sealSecret(ep.OrganizationID, ep.ID, secret)
		if err != nil {
			return err
		}
		// The current secret moves as it is stored: both columns are
		// sealed for the same endpoint.
		after, err := tx.WebhookEndpoint.UpdateOne(ep).
			SetPreviousSecret(ep.Secret).
			SetPreviousSecretExpiresAt(s.cfg.Now().UTC().Add(SecretOverlap)).
			SetSecret(sealed).
			Save(ctx)
		if err != nil {
			return store.Translate(err, what)
		}
		out = after
		return s.change(ctx, tx, actionRotated, ep.ID, ep, after)
	})
	if err != nil {
		return nil, err
	}
	return &Created{Endpoint: out.Unwrap(), Secret: secret}, nil
}

// SendTest queues a webhook.test delivery for an endpoint, whatever its
// filter. It is no event of the log: its data names the endpoint.
func (s *Service) SendTest(ctx context.Context, endpointID string) (*ent.WebhookDelivery, error) {
	var out *ent.WebhookDelivery
	err := store.WithTx(ctx, s.db.Client, func(tx *ent.Tx) error {
		ep, err := s.enabled(ctx, tx, endpointID)
		if err != nil {
			return err
		}
		now := s.cfg.Now().UTC().Truncate(time.Microsecond)
		id := events.NewID()
		payload, err := encode(body{Type: TestEventType, Timestamp: now.Format(time.RFC3339Nano), Data: testData{
			ID: id, EndpointID: ep.ID, OccurredAt: now,
			Message: "A test event from entitled: this endpoint receives and verifies deliveries.",
		}})
		if err != nil {
			return err
		}
		d, err := tx.WebhookDelivery.Create().
			SetEndpointID(ep.ID).
			SetEventID(id).
			SetEventType(TestEventType).
			SetPayload(payload).
			SetNextAttemptAt(now).
			Save(ctx)
		if err != nil {
			return store.Translate(err, "webhook delivery")
		}
		out = d
		return s.queued(ctx, tx)
	})
	return store.Unwrap(out, err)
}

// testData is the data of a webhook.test delivery.
type testData struct {
	ID         string    `json:"id"`
	EndpointID string    `json:"endpointID"`
	OccurredAt time.Time `json:"occurredAt"`
	Message    string    `json:"message"`
}

// Retry makes a delivery due now: one more attempt, with the same
// webhook-id, whatever its status (a receiver may have lost a delivery
// it acknowledged). If that attempt fails, the schedule goes on from the
// attempts made so far.
func (s *Service) Retry(ctx context.Context, id string) (*ent.WebhookDelivery, error) {
	var out *ent.WebhookDelivery
	err := store.WithTx(ctx, s.db.Client, func(tx *ent.Tx) error {
		q := tx.WebhookDelivery.Query().Where(webhookdelivery.ID(id))
		if s.db.Dialect == dialect.Postgres {
			q = q.ForUpdate()
		}
		d, err := q.Only(ctx)
		if err != nil {
			return store.Translate(err, "webhook delivery")
		}
		if _, err := s.enabled(ctx, tx, d.EndpointID); err != nil {
			return err
		}
		now := s.cfg.Now().UTC()
		if d.LeaseUntil != nil && d.LeaseUntil.After(now) {
			return apperr.Conflictf("this delivery is being sent now; retry it once the attempt is recorded")
		}
		d, err = tx.WebhookDelivery.UpdateOne(d).
			SetStatus(webhookdelivery.StatusPENDING).
			SetNextAttemptAt(now).
			Save(ctx)
		if err != nil {
			return store.Translate(err, "webhook delivery")
		}
		out = d
		return s.queued(ctx, tx)
	})
	return store.Unwrap(out, err)
}

// Replay queues again, for one endpoint, every event of its organization
// that occurred in [since, until) (until: now) and that its filter takes,
// each with its original id as webhook-id and the body its deliveries
// had. It returns how many it queued: at most MaxReplay per call.
func (s *Service) Replay(ctx context.Context, endpointID string, since time.Time, until *time.Time) (int, error) {
	end := s.cfg.Now()
	if until != nil {
		end = *until
	}
	if err := validate.Time("since", &since); err != nil {
		return 0, err
	}
	if err := validate.Time("until", &end); err != nil {
		return 0, err
	}
	if !since.Before(end) {
		return 0, apperr.Invalid("until", "must be after since")
	}
	// Stored times are UTC (SQLite compares them as text).
	since, end = since.UTC(), end.UTC()
	n := 0
	err := store.WithTx(ctx, s.db.Client, func(tx *ent.Tx) error {
		ep, err := s.enabled(ctx, tx, endpointID)
		if err != nil {
			return err
		}
		q := tx.AuditEvent.Query().Where(auditevent.OccurredAtGTE(since), auditevent.OccurredAtLT(end))
		if p := filter(ep.EventTypes); p != nil {
			q = q.Where(p)
		}
		count, err := q.Clone().Count(ctx)
		if err != nil {
			return store.Translate(err, "events")
		}
		if count > MaxReplay {
			return apperr.Invalid("until", "the range holds %d matching events; replay at most %d at a time (narrow since and until)", count, MaxReplay)
		}
		evs, err := q.Order(ent.Asc(auditevent.FieldSeq)).All(ctx)
		if err != nil {
			return store.Translate(err, "events")
		}
		for _, a := range evs {
			e := fromStored(a)
			payload, err := eventBody(e)
			if err != nil {
				return err
			}
			if err := s.insert(ctx, tx, delivery{org: ep.OrganizationID, endpoint: ep.ID, eventID: e.ID, eventType: e.Action, payload: payload}); err != nil {
				return err
			}
		}
		n = len(evs)
		if n == 0 {
			return nil
		}
		return s.queued(ctx, tx)
	})
	return n, err
}

// filter is the SQL form of an endpoint's filter (nil: every event).
func filter(types []string) predicate.AuditEvent {
	if len(types) == 0 {
		return nil
	}
	var exact []string
	var or []predicate.AuditEvent
	for _, t := range types {
		if prefix, ok := strings.CutSuffix(t, "*"); ok {
			or = append(or, auditevent.ActionHasPrefix(prefix))
		} else {
			exact = append(exact, t)
		}
	}
	if len(exact) > 0 {
		or = append(or, auditevent.ActionIn(exact...))
	}
	return auditevent.Or(or...)
}

// Deliveries pages through an endpoint's deliveries, newest first.
func (s *Service) Deliveries(ctx context.Context, endpointID string, after *entgql.Cursor[string], first *int, before *entgql.Cursor[string], last *int, where *ent.WebhookDeliveryWhereInput) (*ent.WebhookDeliveryConnection, error) {
	exists, err := s.db.Client.WebhookEndpoint.Query().Where(webhookendpoint.ID(endpointID)).Exist(ctx)
	if err != nil {
		return nil, store.Translate(err, what)
	}
	if !exists {
		return nil, apperr.NotFoundf("webhook endpoint not found")
	}
	return s.db.Client.WebhookDelivery.Query().
		Where(webhookdelivery.EndpointID(endpointID)).
		Paginate(ctx, after, first, before, last,
			// IDs sort by creation time.
			ent.WithWebhookDeliveryOrder(&ent.WebhookDeliveryOrder{Direction: entgql.OrderDirectionDesc}),
			ent.WithWebhookDeliveryFilter(where.Filter))
}

// lock reads an endpoint inside tx, holding its row lock on PostgreSQL
// (SQLite transactions hold the write lock already), so that its event's
// before is what the change replaced.
func (s *Service) lock(ctx context.Context, tx *ent.Tx, id string) (*ent.WebhookEndpoint, error) {
	q := tx.WebhookEndpoint.Query().Where(webhookendpoint.ID(id))
	if s.db.Dialect == dialect.Postgres {
		q = q.ForUpdate()
	}
	ep, err := q.Only(ctx)
	if err != nil {
		return nil, store.Translate(err, what)
	}
	return ep, nil
}

// enabled reads an endpoint that must be enabled to be sent to.
func (s *Service) enabled(ctx context.Context, tx *ent.Tx, id string) (*ent.WebhookEndpoint, error) {
	ep, err := tx.WebhookEndpoint.Get(ctx, id)
	if err != nil {
		return nil, store.Translate(err, what)
	}
	if !ep.Enabled {
		return nil, apperr.Conflictf("webhook endpoint %s is disabled; enable it first (updateWebhookEndpoint with enabled: true)", ep.ID)
	}
	return ep, nil
}

// change appends an endpoint's change to the event log, without its
// secrets (events.Snapshot leaves sensitive fields out).
func (s *Service) change(ctx context.Context, tx *ent.Tx, action, id string, before, after *ent.WebhookEndpoint) error {
	c := events.EntityChange(action, resourceType, before, after, func(*ent.WebhookEndpoint) (string, string) { return id, "" })
	_, err := s.events.Append(ctx, tx, c)
	return err
}
