// Package secrets keeps a node's secrets: small values encrypted at rest
// with XChaCha20-Poly1305 under a key kept in its own file, apart from the
// store, so a copy of the store alone (a backup, the bbolt file, a stray
// log) tells nothing of the values.
package secrets

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/zlayer/zlayer/noderuntime/pki"
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
	// (or cluster's) key, a replaced key file, or a tampered record.
	ErrWrongKey = errors.New("the secrets key does not open this secret")
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

type storeFile struct {
	Secrets map[string]Sealed `json:"secrets"`
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

// KeyPath is where the store's key is.
func (s *Store) KeyPath() string { return s.keyPath }

// key reads the key, making it when create is set and there is none.
func (s *Store) key(create bool) (Key, error) {
	k, err := ReadKey(s.keyPath)
	if errors.Is(err, fs.ErrNotExist) && create {
		if k, err = NewKey(); err != nil {
			return nil, err
		}
		return k, WriteKey(s.keyPath, k)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read the secrets key: %w", err)
	}
	return k, err
}

func (s *Store) load() (storeFile, error) {
	f := storeFile{Secrets: map[string]Sealed{}}
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
		f.Secrets = map[string]Sealed{}
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

// Put sets name to value, making it or replacing its value, and returns
// what is now known of it. An unchanged value keeps its version, so
// re-running a create rolls nothing.
func (s *Store) Put(name string, value []byte) (Info, error) {
	if err := CheckValue(name, value); err != nil {
		return Info{}, err
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
	var prev *Sealed
	if exists {
		prev = &old
	}
	rec, changed, err := Seal(k, name, prev, value, s.now())
	if err != nil {
		return Info{}, s.wrongKey(name, err)
	}
	if !changed {
		return rec.Info(name), nil
	}
	f.Secrets[name] = rec
	if err := s.save(f); err != nil {
		return Info{}, fmt.Errorf("save secret %q: %w", name, err)
	}
	return rec.Info(name), nil
}

// wrongKey says which files to look at when the key does not open a value.
func (s *Store) wrongKey(name string, err error) error {
	if errors.Is(err, ErrWrongKey) {
		return fmt.Errorf("secret %q: %w (wrong or replaced %s, or a tampered %s)", name, err, KeyFile, StoreFile)
	}
	return err
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
	v, err := Unseal(k, name, rec)
	return v, rec.Version, s.wrongKey(name, err)
}

// Sealed is every secret as kept at rest, by name: what moves into a
// cluster this node starts, still sealed under the key in KeyPath.
func (s *Store) Sealed() (map[string]Sealed, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.load()
	return f.Secrets, err
}

// Versions maps every secret's name to its version.
func (s *Store) Versions() (map[string]int64, error) {
	l, err := s.List()
	if err != nil {
		return nil, err
	}
	return VersionsOf(l), nil
}

// VersionsOf maps the name of every secret of l to its version.
func VersionsOf(l []Info) map[string]int64 {
	out := make(map[string]int64, len(l))
	for _, i := range l {
		out[i.Name] = i.Version
	}
	return out
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
		out = append(out, r.Info(n))
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
