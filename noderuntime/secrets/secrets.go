// Package secrets keeps a node's secrets: small values encrypted at rest
// with XChaCha20-Poly1305 under a key kept in its own file, apart from the
// store, so a copy of the store alone (a backup, the bbolt file, a stray
// log) tells nothing of the values.
package secrets

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/zlayer/zlayer/noderuntime/pki"
	"github.com/zlayer/zlayer/noderuntime/spec"
)

const (
	// KeyFile and StoreFile are the key and the sealed values, in the
	// node's data dir.
	KeyFile   = "secrets.key"
	StoreFile = "secrets.json"
	// MaxValueBytes bounds one value: secrets are passwords, tokens and
	// certificates, not files to ship (and they live in memory and tmpfs).
	MaxValueBytes = 64 << 10
	// MaxSecrets bounds how many a node keeps, so the store stays small
	// enough to rewrite whole on every change.
	MaxSecrets = 256
)

var (
	ErrNotFound = errors.New("no such secret")
	ErrTooLarge = fmt.Errorf("a secret's value is at most %d bytes", MaxValueBytes)
	ErrTooMany  = fmt.Errorf("a node keeps at most %d secrets", MaxSecrets)
	ErrEmpty    = errors.New("a secret's value must not be empty")
	// ErrWrongKey is a sealed value the key does not open: another node's
	// key, a replaced key file, or a tampered store.
	ErrWrongKey = errors.New("the secrets key does not open this secret (wrong or replaced " + KeyFile + ", or a tampered " + StoreFile + ")")
)

// Info is what may be told of a secret: never its value.
type Info struct {
	Name string
	Size int
	// Version grows by one on every change of the value; replicas carry
	// it in their spec hash, so a new value rolls them.
	Version int64
	Created time.Time
	Updated time.Time
}

type sealed struct {
	Size    int       `json:"size"`
	Version int64     `json:"version"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	Nonce   []byte    `json:"nonce"`
	Box     []byte    `json:"box"`
}

type storeFile struct {
	Secrets map[string]sealed `json:"secrets"`
}

// Store is the secrets of one node's data dir. It is safe for concurrent use.
type Store struct {
	keyPath, path string
	mu            sync.Mutex
	now           func() time.Time
}

// Open is the store in dataDir; nothing is read or made until used.
func Open(dataDir string) *Store {
	return &Store{keyPath: filepath.Join(dataDir, KeyFile), path: filepath.Join(dataDir, StoreFile), now: time.Now}
}

// key reads the key, making it when create is set and there is none.
func (s *Store) key(create bool) ([]byte, error) {
	k, err := pki.ReadPrivate(s.keyPath)
	if errors.Is(err, fs.ErrNotExist) && create {
		k = make([]byte, chacha20poly1305.KeySize)
		if _, err := rand.Read(k); err != nil {
			return nil, fmt.Errorf("make the secrets key: %w", err)
		}
		if err := pki.WriteFile(s.keyPath, k, 0o600); err != nil {
			return nil, fmt.Errorf("write the secrets key: %w", err)
		}
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the secrets key: %w", err)
	}
	if len(k) != chacha20poly1305.KeySize {
		return nil, fmt.Errorf("%s holds %d bytes, not a %d-byte key", s.keyPath, len(k), chacha20poly1305.KeySize)
	}
	return k, nil
}

func (s *Store) load() (storeFile, error) {
	f := storeFile{Secrets: map[string]sealed{}}
	b, err := pki.ReadPrivate(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return f, fmt.Errorf("read the secrets store: %w", err)
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("read %s: %w", s.path, err)
	}
	if f.Secrets == nil {
		f.Secrets = map[string]sealed{}
	}
	return f, nil
}

func (s *Store) save(f storeFile) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return err
	}
	return pki.WriteFile(s.path, b, 0o600)
}

// aad binds a sealed value to its name and version: a box moved to
// another name, or an old box put back under a newer version, does not open.
func aad(name string, version int64) []byte {
	return []byte("zlayer-secret\x00" + name + "\x00" + strconv.FormatInt(version, 10))
}

// Put sets name to value, making it or replacing its value, and returns
// what is now known of it. An unchanged value keeps its version, so
// re-running a create rolls nothing.
func (s *Store) Put(name string, value []byte) (Info, error) {
	if err := spec.CheckName(name); err != nil {
		return Info{}, fmt.Errorf("secret name: %w", err)
	}
	switch {
	case len(value) == 0:
		return Info{}, ErrEmpty
	case len(value) > MaxValueBytes:
		return Info{}, ErrTooLarge
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.load()
	if err != nil {
		return Info{}, err
	}
	old, exists := f.Secrets[name]
	if !exists && len(f.Secrets) >= MaxSecrets {
		return Info{}, ErrTooMany
	}
	k, err := s.key(len(f.Secrets) == 0)
	if err != nil {
		return Info{}, err
	}
	a, err := chacha20poly1305.NewX(k)
	if err != nil {
		return Info{}, err
	}
	if exists {
		cur, err := open(a, name, old)
		if err != nil {
			return Info{}, err
		}
		if string(cur) == string(value) {
			return info(name, old), nil
		}
	}
	now := s.now().UTC()
	rec := sealed{Size: len(value), Version: old.Version + 1, Created: now, Updated: now}
	if exists {
		rec.Created = old.Created
	}
	rec.Nonce = make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := rand.Read(rec.Nonce); err != nil {
		return Info{}, err
	}
	rec.Box = a.Seal(nil, rec.Nonce, value, aad(name, rec.Version))
	f.Secrets[name] = rec
	if err := s.save(f); err != nil {
		return Info{}, fmt.Errorf("save secret %q: %w", name, err)
	}
	return info(name, rec), nil
}

func open(a interface {
	Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
}, name string, rec sealed) ([]byte, error) {
	v, err := a.Open(nil, rec.Nonce, rec.Box, aad(name, rec.Version))
	if err != nil {
		return nil, fmt.Errorf("secret %q: %w", name, ErrWrongKey)
	}
	return v, nil
}

func info(name string, r sealed) Info {
	return Info{Name: name, Size: r.Size, Version: r.Version, Created: r.Created, Updated: r.Updated}
}

// Value is name's value and version.
func (s *Store) Value(name string) ([]byte, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.load()
	if err != nil {
		return nil, 0, err
	}
	rec, ok := f.Secrets[name]
	if !ok {
		return nil, 0, fmt.Errorf("secret %q: %w", name, ErrNotFound)
	}
	k, err := s.key(false)
	if err != nil {
		return nil, 0, err
	}
	a, err := chacha20poly1305.NewX(k)
	if err != nil {
		return nil, 0, err
	}
	v, err := open(a, name, rec)
	return v, rec.Version, err
}

// Versions maps every secret's name to its version.
func (s *Store) Versions() (map[string]int64, error) {
	l, err := s.List()
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(l))
	for _, i := range l {
		out[i.Name] = i.Version
	}
	return out, nil
}

// List is every secret, by name, without values.
func (s *Store) List() ([]Info, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.load()
	if err != nil {
		return nil, err
	}
	out := make([]Info, 0, len(f.Secrets))
	for n, r := range f.Secrets {
		out = append(out, info(n, r))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Delete removes name.
func (s *Store) Delete(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.load()
	if err != nil {
		return err
	}
	if _, ok := f.Secrets[name]; !ok {
		return fmt.Errorf("secret %q: %w", name, ErrNotFound)
	}
	delete(f.Secrets, name)
	return s.save(f)
}
