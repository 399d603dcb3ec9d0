// Package changefeed tells every entitled process sharing a database that
// an organization's data changed, so each drops its cached facts. In one
// process it is a direct call; on PostgreSQL it also rides LISTEN/NOTIFY,
// so a change made through one process reaches decisions on the others
// within a second.
package changefeed

import (
	"context"
	"database/sql"
	"log/slog"
	"time"

	"github.com/lib/pq"
)

// Channel is the PostgreSQL notification channel.
const Channel = "entitled_changes"

// Feed publishes changes and delivers them to subscribers.
type Feed struct {
	db       *sql.DB
	dsn      string
	log      *slog.Logger
	onChange func(orgID string)
	onReset  func()
}

// New returns a feed. db and dsn are for PostgreSQL (nil/"" for a
// single-process store). onChange receives each changed organization;
// onReset is called when notifications may have been missed.
func New(db *sql.DB, dsn string, log *slog.Logger, onChange func(orgID string), onReset func()) *Feed {
	return &Feed{db: db, dsn: dsn, log: log, onChange: onChange, onReset: onReset}
}

// Publish announces that an organization changed. Local subscribers hear it
// at once; other processes through PostgreSQL.
func (f *Feed) Publish(orgID string) {
	if orgID == "" {
		f.onReset()
	} else {
		f.onChange(orgID)
	}
	if f.db == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := f.db.ExecContext(ctx, "SELECT pg_notify($1, $2)", Channel, orgID); err != nil {
		f.log.Warn("changefeed: notify failed; other processes see the change when their caches reset", "err", err)
	}
}

// Listen delivers other processes' changes until ctx ends. It is a no-op
// without PostgreSQL.
func (f *Feed) Listen(ctx context.Context) error {
	if f.dsn == "" {
		return nil
	}
	l := pq.NewListener(f.dsn, 100*time.Millisecond, 5*time.Second, func(ev pq.ListenerEventType, err error) {
		switch ev {
		case pq.ListenerEventReconnected, pq.ListenerEventConnectionAttemptFailed:
			// Notifications may have been lost while disconnected.
			f.onReset()
		}
		if err != nil {
			f.log.Warn("changefeed: listener", "event", ev, "err", err)
		}
	})
	if err := l.Listen(Channel); err != nil {
		l.Close()
		return err
	}
	go func() {
		defer l.Close()
		ping := time.NewTicker(30 * time.Second)
		defer ping.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case n := <-l.Notify:
				if n == nil { // reconnected: state unknown
					f.onReset()
					continue
				}
				if n.Extra == "" {
					f.onReset()
				} else {
					f.onChange(n.Extra)
				}
			case <-ping.C:
				_ = l.Ping()
			}
		}
	}()
	return nil
}
