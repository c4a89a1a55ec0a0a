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
	t, info, err := Issue(s.ca, role, ttl, s.now())
	if err != nil {
		return Token{}, err
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

func (s *FileStore) Verify(token string, now time.Time) (Role, error) {
	t, err := ParseFor(token, s.ca)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.tokens, func(i Info) bool { return i.ID == t.ID })
	if i < 0 {
		return "", ErrUnknown
	}
	return s.tokens[i].Check(t, now)
}

// Issue makes a token for role that expires ttl after now (never when ttl
// is zero) and the record a Store keeps of it. Every Store makes its
// tokens here, so that they all keep the same record.
func Issue(ca *x509.Certificate, role Role, ttl time.Duration, now time.Time) (Token, Info, error) {
	if ttl < 0 {
		return Token{}, Info{}, fmt.Errorf("join token TTL %s: must not be negative", ttl)
	}
	t, err := New(ca, role)
	if err != nil {
		return Token{}, Info{}, err
	}
	info := Info{ID: t.ID, Role: role, SecretSHA256: secretHash(t.Secret), Created: now}
	if ttl > 0 {
		info.Expires = now.Add(ttl)
	}
	return t, info, nil
}

// ParseFor parses a token a joiner sent and checks that it carries the
// hash of ca, the cluster's CA: the first two steps of a Store's Verify.
func ParseFor(token string, ca *x509.Certificate) (Token, error) {
	t, err := Parse(token)
	if err != nil {
		return Token{}, err
	}
	if subtle.ConstantTimeCompare([]byte(t.CAHash), []byte(CAHash(ca))) != 1 {
		return Token{}, ErrCAMismatch
	}
	return t, nil
}

// Check verifies t, parsed by ParseFor, against its record i (the one with
// t's id): the secret before the record's state, so that only a holder of
// the secret learns whether a token is revoked or expired.
func (i Info) Check(t Token, now time.Time) (Role, error) {
	if subtle.ConstantTimeCompare([]byte(secretHash(t.Secret)), []byte(i.SecretSHA256)) != 1 {
		return "", ErrUnknown
	}
	switch {
	case !i.Revoked.IsZero():
		return "", fmt.Errorf("%w: %s", ErrRevoked, i.ID)
	case i.Expired(now):
		return "", fmt.Errorf("%w: %s at %s", ErrExpired, i.ID, i.Expires.UTC().Format(time.RFC3339))
	case t.Role != i.Role:
		return "", fmt.Errorf("%w: %s is a %s token", ErrWrongRole, i.ID, i.Role)
	}
	return i.Role, nil
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
