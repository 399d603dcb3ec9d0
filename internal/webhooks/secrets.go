package webhooks

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// endpointPrefix is the endpoints' id prefix (ent/schema/webhook.go): an
// endpoint's id is made before its row, because its sealed secret is
// bound to it.
const endpointPrefix = "whe"

// secretAAD binds a sealed secret to its organization and endpoint, so a
// sealed value copied to another endpoint's row does not open. The
// current and the previous secret share it: rotation moves the stored
// value from one column to the other unopened.
func secretAAD(orgID, endpointID string) []byte {
	return []byte("entitled/webhook-secret/" + orgID + "/" + endpointID)
}

// errNoSealer: a service made without a sealer handles no secret.
var errNoSealer = errors.New("webhook secrets: this process has no master key")

func (s *Service) sealSecret(orgID, endpointID, secret string) (string, error) {
	if s.sealer == nil {
		return "", errNoSealer
	}
	sealed, err := s.sealer.Seal([]byte(secret), secretAAD(orgID, endpointID))
	if err != nil {
		return "", fmt.Errorf("seal the webhook secret: %w", err)
	}
	return sealed, nil
}

// openSecret returns a stored secret in the clear. A row written before
// secrets were sealed holds the secret itself (whsec_...):
// SealStoredSecrets seals those at start, and until then it is used as it
// is.
func (s *Service) openSecret(orgID, endpointID, stored string) (string, error) {
	if strings.HasPrefix(stored, secretPrefix) {
		return stored, nil
	}
	if s.sealer == nil {
		return "", errNoSealer
	}
	plain, err := s.sealer.Open(stored, secretAAD(orgID, endpointID))
	if err != nil {
		return "", fmt.Errorf("webhook endpoint %s: %w", endpointID, err)
	}
	return string(plain), nil
}

// SealStoredSecrets seals the secrets that a release before sealing
// stored in the clear. Each row is updated only while it still holds the
// value read, so replicas starting together, or a rotation in between,
// never lose a secret; it returns how many values it sealed.
func (s *Service) SealStoredSecrets(ctx context.Context) (int, error) {
	type row struct {
		id, org, secret string
		prev            sql.NullString
	}
	rows, err := s.db.SQL.QueryContext(ctx, s.rebind(`SELECT id, organization_id, secret, previous_secret FROM webhook_endpoints
		WHERE secret LIKE $1 OR previous_secret LIKE $1`), secretPrefix+"%")
	if err != nil {
		return 0, fmt.Errorf("find webhook secrets stored in the clear: %w", err)
	}
	var todo []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.org, &r.secret, &r.prev); err != nil {
			rows.Close()
			return 0, fmt.Errorf("find webhook secrets stored in the clear: %w", err)
		}
		todo = append(todo, r)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, fmt.Errorf("find webhook secrets stored in the clear: %w", err)
	}
	sealed := 0
	for _, r := range todo {
		for _, col := range []struct {
			name, value string
		}{{"secret", r.secret}, {"previous_secret", r.prev.String}} {
			if !strings.HasPrefix(col.value, secretPrefix) {
				continue
			}
			v, err := s.sealSecret(r.org, r.id, col.value)
			if err != nil {
				return sealed, err
			}
			res, err := s.db.SQL.ExecContext(ctx, s.rebind(`UPDATE webhook_endpoints SET `+col.name+` = $1
				WHERE id = $2 AND organization_id = $3 AND `+col.name+` = $4`), v, r.id, r.org, col.value)
			if err != nil {
				return sealed, fmt.Errorf("seal the secret of webhook endpoint %s: %w", r.id, err)
			}
			if n, _ := res.RowsAffected(); n == 1 {
				sealed++
			}
		}
	}
	return sealed, nil
}
