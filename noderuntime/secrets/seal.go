package secrets

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/zlayer/zlayer/noderuntime/pki"
	"github.com/zlayer/zlayer/noderuntime/spec"
)

// Sealed is one secret at rest: what may be told of it in the clear, and
// its value sealed with XChaCha20-Poly1305. A node's store file and a
// cluster's state keep the same records, so a single node's secrets move
// into the cluster it starts as they are.
type Sealed struct {
	Size    int       `json:"size"`
	Version int64     `json:"version"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	Nonce   []byte    `json:"nonce"`
	Box     []byte    `json:"box"`
}

// Info is what may be told of r, named name.
func (r Sealed) Info(name string) Info {
	return Info{Name: name, Size: r.Size, Version: r.Version, Created: r.Created, Updated: r.Updated}
}

// Key is a secrets key: 32 random bytes.
type Key []byte

// NewKey makes a key.
func NewKey() (Key, error) {
	k := make(Key, chacha20poly1305.KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("make a secrets key: %w", err)
	}
	return k, nil
}

// ReadKey reads the key file at path (mode 0600 or tighter, see
// pki.ReadPrivate); fs.ErrNotExist when there is none.
func ReadKey(path string) (Key, error) {
	k, err := pki.ReadPrivate(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("read the secrets key: %w", err)
	}
	if len(k) != chacha20poly1305.KeySize {
		return nil, fmt.Errorf("%s holds %d bytes, not a %d-byte key", path, len(k), chacha20poly1305.KeySize)
	}
	return k, nil
}

// WriteKey writes k to path, mode 0600.
func WriteKey(path string, k Key) error {
	if len(k) != chacha20poly1305.KeySize {
		return fmt.Errorf("a secrets key is %d bytes, not %d", chacha20poly1305.KeySize, len(k))
	}
	if err := pki.WriteFile(path, k, 0o600); err != nil {
		return fmt.Errorf("write the secrets key: %w", err)
	}
	return nil
}

// CheckValue is the rule for a secret's name and value.
func CheckValue(name string, value []byte) error {
	if err := spec.CheckName(name); err != nil {
		return fmt.Errorf("secret name: %w", err)
	}
	switch {
	case len(value) == 0:
		return ErrEmpty
	case len(value) > MaxValueBytes:
		return ErrTooLarge
	}
	return nil
}

// aad binds a sealed value to its name and version: a box moved to
// another name, or an old box put back under a newer version, does not open.
func aad(name string, version int64) []byte {
	return []byte("zlayer-secret\x00" + name + "\x00" + strconv.FormatInt(version, 10))
}

// Unseal is the value of rec, named name, under k; ErrWrongKey when k does
// not open it.
func Unseal(k Key, name string, rec Sealed) ([]byte, error) {
	a, err := chacha20poly1305.NewX(k)
	if err != nil {
		return nil, err
	}
	v, err := a.Open(nil, rec.Nonce, rec.Box, aad(name, rec.Version))
	if err != nil {
		return nil, ErrWrongKey
	}
	return v, nil
}

// Seal is the record of name holding value, after old (nil: none yet),
// sealed under k at now. An unchanged value is old itself (changed
// false), so re-running a create rolls nothing; an old record k does not
// open is ErrWrongKey.
func Seal(k Key, name string, old *Sealed, value []byte, now time.Time) (rec Sealed, changed bool, err error) {
	if err := CheckValue(name, value); err != nil {
		return Sealed{}, false, err
	}
	a, err := chacha20poly1305.NewX(k)
	if err != nil {
		return Sealed{}, false, err
	}
	now = now.UTC()
	rec = Sealed{Size: len(value), Version: 1, Created: now, Updated: now}
	if old != nil {
		cur, err := Unseal(k, name, *old)
		if err != nil {
			return Sealed{}, false, err
		}
		if string(cur) == string(value) {
			return *old, false, nil
		}
		rec.Version, rec.Created = old.Version+1, old.Created
	}
	rec.Nonce = make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := rand.Read(rec.Nonce); err != nil {
		return Sealed{}, false, err
	}
	rec.Box = a.Seal(nil, rec.Nonce, value, aad(name, rec.Version))
	return rec, true, nil
}
