package signing

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"entgo.io/ent/dialect"
)

// MasterKeyEnv is the variable holding the master key: base64 of 32 bytes
// (e.g. `openssl rand -base64 32`).
const MasterKeyEnv = "ENTITLED_MASTER_KEY"

// MasterKeySize is the master key's length in bytes (AES-256).
const MasterKeySize = 32

// masterKeyFileSuffix names the key file made beside a SQLite database.
const masterKeyFileSuffix = ".master-key"

// MasterKey encrypts secrets at rest (signing keys' private halves,
// webhook secrets). It never prints itself.
type MasterKey struct {
	k   [MasterKeySize]byte
	set bool
}

// ParseMasterKey reads a master key: base64 (standard or URL alphabet,
// padded or not) of exactly 32 bytes.
func ParseMasterKey(s string) (MasterKey, error) {
	s = strings.TrimSpace(s)
	var raw []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err = enc.DecodeString(s); err == nil {
			break
		}
	}
	if err != nil {
		return MasterKey{}, errors.New("not base64")
	}
	if len(raw) != MasterKeySize {
		return MasterKey{}, fmt.Errorf("%d bytes, want %d (e.g. openssl rand -base64 32)", len(raw), MasterKeySize)
	}
	var m MasterKey
	copy(m.k[:], raw)
	m.set = true
	return m, nil
}

// GenerateMasterKey makes a random master key.
func GenerateMasterKey() (MasterKey, error) {
	var m MasterKey
	if _, err := io.ReadFull(rand.Reader, m.k[:]); err != nil {
		return MasterKey{}, fmt.Errorf("generate master key: %w", err)
	}
	m.set = true
	return m, nil
}

// Encode is the key as ENTITLED_MASTER_KEY takes it (standard base64).
func (m MasterKey) Encode() string { return base64.StdEncoding.EncodeToString(m.k[:]) }

// IsZero reports an unset key.
func (m MasterKey) IsZero() bool { return !m.set }

// String, GoString, Format and LogValue render "[master key]": the key
// itself is never printed or logged.
func (m MasterKey) String() string { return "[master key]" }

// GoString is String.
func (m MasterKey) GoString() string { return m.String() }

// Format renders every verb as String.
func (m MasterKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, m.String()) }

// LogValue is String.
func (m MasterKey) LogValue() slog.Value { return slog.StringValue(m.String()) }

// LoadMasterKey returns the master key of a server whose database has the
// given dialect (store.DB.Dialect) and location (store.DB.Location: the
// SQLite file's absolute path, or ":memory:"):
//
//   - ENTITLED_MASTER_KEY (value) when set; malformed, an error naming it;
//   - else on SQLite, the key in the 0600 file beside the database
//     (<database>.master-key), created with a fresh key on the first start
//     and logged with where it is (an in-memory database gets a key for
//     this process only);
//   - else (PostgreSQL) an error naming the variable: several replicas
//     must share one key, so none is made up.
func LoadMasterKey(value, dbDialect, location string, log *slog.Logger) (MasterKey, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if strings.TrimSpace(value) != "" {
		m, err := ParseMasterKey(value)
		if err != nil {
			return MasterKey{}, fmt.Errorf("%s: %w", MasterKeyEnv, err)
		}
		return m, nil
	}
	if dbDialect != dialect.SQLite {
		return MasterKey{}, fmt.Errorf("%s is not set: on PostgreSQL the server needs it to encrypt signing keys and webhook secrets at rest "+
			"(base64 of 32 random bytes, the same for every replica, e.g. openssl rand -base64 32)", MasterKeyEnv)
	}
	if location == "" || location == ":memory:" || strings.HasPrefix(location, "file::memory:") {
		log.Warn("no " + MasterKeyEnv + " and an in-memory database: encrypting secrets at rest with a key for this process only")
		return GenerateMasterKey()
	}
	return keyFile(location+masterKeyFileSuffix, log)
}

// keyFile reads the master key file at path, creating it when absent. Two
// processes starting at once agree on one key: the file is written whole
// under a temporary name and linked into place only if none is there.
func keyFile(path string, log *slog.Logger) (MasterKey, error) {
	if m, err := readKeyFile(path, log); err == nil || !errors.Is(err, os.ErrNotExist) {
		return m, err
	}
	m, err := GenerateMasterKey()
	if err != nil {
		return MasterKey{}, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*") // mode 0600
	if err != nil {
		return MasterKey{}, fmt.Errorf("create master key file beside the database: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.WriteString(m.Encode() + "\n")
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return MasterKey{}, fmt.Errorf("write master key file %s: %w", tmp.Name(), werr)
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return MasterKey{}, fmt.Errorf("master key file %s: %w", tmp.Name(), err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return readKeyFile(path, log) // another process made it first
		}
		return MasterKey{}, fmt.Errorf("create master key file %s: %w", path, err)
	}
	log.Warn("no "+MasterKeyEnv+": created a master key for secrets at rest in a file beside the database; back it up with the database "+
		"(without it, signing keys and webhook secrets cannot be read) or set "+MasterKeyEnv+" to its content",
		"file", path)
	return m, nil
}

func readKeyFile(path string, log *slog.Logger) (MasterKey, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return MasterKey{}, err
		}
		return MasterKey{}, fmt.Errorf("read master key file: %w", err)
	}
	m, err := ParseMasterKey(string(raw))
	if err != nil {
		return MasterKey{}, fmt.Errorf("master key file %s: %w", path, err)
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		log.Warn("the master key file is readable by others than its owner: chmod 600 it", "file", path, "mode", st.Mode().Perm().String())
	}
	log.Info("master key for secrets at rest read from the file beside the database", "file", path)
	return m, nil
}

// Sealer encrypts secrets at rest with AES-256-GCM under the master key.
// A sealed value is text: "v1." and the unpadded base64url of a random
// 12-byte nonce followed by the ciphertext and its 16-byte tag. The
// associated data binds it to where it is stored (KeyAAD), so a sealed
// value copied to another row does not open.
type Sealer struct {
	aead cipher.AEAD
}

const sealedPrefix = "v1."

// NewSealer returns a sealer under the master key.
func NewSealer(m MasterKey) (*Sealer, error) {
	if m.IsZero() {
		return nil, errors.New("sealer: no master key")
	}
	block, err := aes.NewCipher(m.k[:])
	if err != nil {
		return nil, fmt.Errorf("sealer: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("sealer: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plaintext bound to aad.
func (s *Sealer) Seal(plaintext, aad []byte) (string, error) {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		return "", fmt.Errorf("seal: %w", err)
	}
	out := s.aead.Seal(nonce, nonce, plaintext, aad)
	return sealedPrefix + base64.RawURLEncoding.EncodeToString(out), nil
}

// ErrUnseal is returned (wrapped) when a sealed value does not open: it
// was sealed under another master key (ENTITLED_MASTER_KEY changed, or the
// key file beside the database was lost), for another place (aad), or
// changed.
var ErrUnseal = errors.New("sealed value does not open with this master key")

// Open decrypts a sealed value bound to aad.
func (s *Sealer) Open(sealed string, aad []byte) ([]byte, error) {
	rest, ok := strings.CutPrefix(sealed, sealedPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: not a sealed value (no %q prefix)", ErrUnseal, sealedPrefix)
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(raw) < s.aead.NonceSize()+s.aead.Overhead() {
		return nil, fmt.Errorf("%w: malformed", ErrUnseal)
	}
	n := s.aead.NonceSize()
	out, err := s.aead.Open(nil, raw[:n], raw[n:], aad)
	if err != nil {
		return nil, fmt.Errorf("%w (another master key, another row, or changed)", ErrUnseal)
	}
	return out, nil
}

// KeyAAD is the associated data a signing key is sealed with: its
// organization and kid.
func KeyAAD(orgID, kid string) []byte { return []byte("entitled/signing-key/" + orgID + "/" + kid) }

// SealKey seals a key's private half (its 32-byte seed) for storage.
func (s *Sealer) SealKey(k *Key, aad []byte) (string, error) {
	return s.Seal(k.priv.Seed(), aad)
}

// OpenKey opens a sealed key; kid must be the one it was stored under.
func (s *Sealer) OpenKey(sealed, kid string, aad []byte) (*Key, error) {
	seed, err := s.Open(sealed, aad)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", kid, err)
	}
	k, err := fromSeed(seed)
	if err != nil {
		return nil, err
	}
	if k.kid != kid {
		return nil, fmt.Errorf("signing key %s: the sealed key is %s", kid, k.kid)
	}
	return k, nil
}
