package jointoken

import (
	"crypto/subtle"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/zlayer/zlayer/noderuntime/pki"
)

// Store is what a server keeps of the tokens it made. It is kept this small
// so that an etcd-backed store can take FileStore's place.
type Store interface {
	// Create makes a token for role that expires ttl from now (never when
	// ttl is zero) and returns it whole: this is the only time its secret
	// is seen.
	Create(role Role, ttl time.Duration) (Token, error)
	// Verify checks a token a joiner sent and returns the role it grants.
	Verify(token string, now time.Time) (Role, error)
	// List returns every token's record, revoked and expired ones too.
	List() ([]Info, error)
	// Revoke makes the token named id unusable; its record stays listed.
	Revoke(id string) error
}

// Info is a token's record: everything but the secret, whose hash only is
// kept.
type Info struct {
	ID           string    `json:"id"`
	Role         Role      `json:"role"`
	SecretSHA256 string    `json:"secret_sha256"`
	Created      time.Time `json:"created"`
	Expires      time.Time `json:"expires,omitzero"`
	Revoked      time.Time `json:"revoked,omitzero"`
}

// Expired reports whether the token has expired at now.
func (i Info) Expired(now time.Time) bool {
	return !i.Expires.IsZero() && !now.Before(i.Expires)
}

type fileData struct {
	Version int    `json:"version"`
	Tokens  []Info `json:"tokens"`
}

const fileVersion = 1

// FileStore is a Store in one JSON file, mode 0600, rewritten atomically on
// every change.
type FileStore struct {
	path string
	ca   *x509.Certificate
	now  func() time.Time

	mu     sync.Mutex
	tokens []Info
}

var _ Store = (*FileStore)(nil)

// OpenFile loads the store in path, or starts an empty one when the file
// does not exist yet. ca is the cluster CA whose hash the tokens carry. now
// gives Create's times (time.Now when nil). A file that group or others may
// read is refused (see pki.ReadPrivate): its hashes would let anyone who
// read it try secrets offline.
func OpenFile(path string, ca *x509.Certificate, now func() time.Time) (*FileStore, error) {
	if now == nil {
		now = time.Now
	}
	s := &FileStore{path: path, ca: ca, now: now}
	b, err := pki.ReadPrivate(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("join token store: %w", err)
	}
	var d fileData
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("join token store %s: %w", path, err)
	}
	if d.Version != fileVersion {
		return nil, fmt.Errorf("join token store %s: version %d, this node reads version %d", path, d.Version, fileVersion)
	}
	s.tokens = d.Tokens
	return s, nil
}

// saveLocked writes the store; s.mu is held.
func (s *FileStore) saveLocked(tokens []Info) error {
	b, err := json.MarshalIndent(fileData{Version: fileVersion, Tokens: tokens}, "", "  ")
	if err != nil {
		return err
	}
	if err := pki.WriteFile(s.path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("save join token store: %w", err)
	}
	return nil
}

func (s *FileStore) Create(role Role, ttl time.Duration) (Token, error) {
	if ttl < 0 {
		return Token{}, fmt.Errorf("join token TTL %s: must not be negative", ttl)
	}
	t, err := New(s.ca, role)
	if err != nil {
		return Token{}, err
	}
	now := s.now()
	info := Info{ID: t.ID, Role: role, SecretSHA256: secretHash(t.Secret), Created: now}
	if ttl > 0 {
		info.Expires = now.Add(ttl)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if slices.ContainsFunc(s.tokens, func(i Info) bool { return i.ID == t.ID }) {
		// 2^30 ids make this all but impossible; refusing beats two
		// records one Revoke cannot tell apart.
		return Token{}, fmt.Errorf("join token id %s exists already: create another", t.ID)
	}
	tokens := append(slices.Clone(s.tokens), info)
	if err := s.saveLocked(tokens); err != nil {
		return Token{}, err
	}
	s.tokens = tokens
	return t, nil
}

// Verify checks the token's CA hash and secret before its record's state,
// so that only a holder of the secret learns whether a token is revoked or
// expired.
func (s *FileStore) Verify(token string, now time.Time) (Role, error) {
	t, err := Parse(token)
	if err != nil {
		return "", err
	}
	if subtle.ConstantTimeCompare([]byte(t.CAHash), []byte(CAHash(s.ca))) != 1 {
		return "", ErrCAMismatch
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.tokens, func(i Info) bool { return i.ID == t.ID })
	if i < 0 {
		return "", ErrUnknown
	}
	info := s.tokens[i]
	if subtle.ConstantTimeCompare([]byte(secretHash(t.Secret)), []byte(info.SecretSHA256)) != 1 {
		return "", ErrUnknown
	}
	switch {
	case !info.Revoked.IsZero():
		return "", fmt.Errorf("%w: %s", ErrRevoked, info.ID)
	case info.Expired(now):
		return "", fmt.Errorf("%w: %s at %s", ErrExpired, info.ID, info.Expires.UTC().Format(time.RFC3339))
	case t.Role != info.Role:
		return "", fmt.Errorf("%w: %s is a %s token", ErrWrongRole, info.ID, info.Role)
	}
	return info.Role, nil
}

func (s *FileStore) List() ([]Info, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.tokens), nil
}

func (s *FileStore) Revoke(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.tokens, func(i Info) bool { return i.ID == id })
	if i < 0 {
		return fmt.Errorf("%w: no token with id %q", ErrUnknown, id)
	}
	if !s.tokens[i].Revoked.IsZero() {
		return nil
	}
	tokens := slices.Clone(s.tokens)
	tokens[i].Revoked = s.now()
	if err := s.saveLocked(tokens); err != nil {
		return err
	}
	s.tokens = tokens
	return nil
}
