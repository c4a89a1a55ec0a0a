package clusterstate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zlayer/zlayer/noderuntime/secrets"
)

// secretsPrefix holds the sealed secrets, secrets/sealed/<name>: a folder
// of its own under secrets/, so that no secret's name meets another key
// there (secrets/api, the servers' shared API tokens).
const secretsPrefix = Prefix + "secrets/sealed/"

func secretKey(name string) string { return secretsPrefix + name }

// Secrets are the cluster's secrets, sealed (noderuntime/secrets' records
// and code) under a key that only the servers hold, on their disks and
// never in etcd: the state, a snapshot of it or a stray read of the
// prefix tells nothing of the values. The method set is secrets.Store's.
type Secrets struct {
	s   *State
	key secrets.Key
	now func() time.Time
}

// Secrets is the cluster's secrets under key; now gives the times of a
// change (time.Now when nil).
func (s *State) Secrets(key secrets.Key, now func() time.Time) *Secrets {
	if now == nil {
		now = time.Now
	}
	return &Secrets{s: s, key: key, now: now}
}

// wrongKey explains a record the server's key does not open.
func wrongKey(name string, err error) error {
	if errors.Is(err, secrets.ErrWrongKey) {
		return fmt.Errorf("secret %q: %w (this server's secrets key is not the one the cluster sealed it under, or its record was tampered with)", name, err)
	}
	return err
}

// Put sets name to value (see secrets.Store.Put): a transaction on the
// record as read, so two servers setting one secret at once both make a
// version and none is lost.
func (x *Secrets) Put(name string, value []byte) (secrets.Info, error) {
	ctx, cancel := defaultCtx()
	defer cancel()
	return x.PutCtx(ctx, name, value)
}

// PutCtx is Put with ctx.
func (x *Secrets) PutCtx(ctx context.Context, name string, value []byte) (secrets.Info, error) {
	if err := secrets.CheckValue(name, value); err != nil {
		return secrets.Info{}, err
	}
	var out secrets.Info
	err := update(ctx, x.s, secretKey(name), false, func(rec *secrets.Sealed, found bool) (bool, error) {
		var prev *secrets.Sealed
		if found {
			old := *rec
			prev = &old
		} else {
			resp, err := x.s.cli.Get(ctx, secretsPrefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
			if err != nil {
				return false, err
			}
			if resp.Count >= secrets.MaxSecrets {
				return false, secrets.ErrTooMany
			}
		}
		next, changed, err := secrets.Seal(x.key, name, prev, value, x.now())
		if err != nil {
			return false, wrongKey(name, err)
		}
		*rec, out = next, next.Info(name)
		return changed, nil
	})
	if err != nil {
		if errors.Is(err, secrets.ErrTooMany) || errors.Is(err, secrets.ErrWrongKey) {
			return secrets.Info{}, err
		}
		return secrets.Info{}, fmt.Errorf("save secret %q: %w", name, err)
	}
	return out, nil
}

// Value is name's value and version.
func (x *Secrets) Value(name string) ([]byte, int64, error) {
	ctx, cancel := defaultCtx()
	defer cancel()
	return x.ValueCtx(ctx, name)
}

// ValueCtx is Value with ctx.
func (x *Secrets) ValueCtx(ctx context.Context, name string) ([]byte, int64, error) {
	var rec secrets.Sealed
	found, _, err := x.s.getJSON(ctx, secretKey(name), &rec)
	if err != nil {
		return nil, 0, err
	}
	if !found {
		return nil, 0, fmt.Errorf("secret %q: %w", name, secrets.ErrNotFound)
	}
	v, err := secrets.Unseal(x.key, name, rec)
	return v, rec.Version, wrongKey(name, err)
}

// List is every secret, by name, without values; records that do not
// decode are logged and left out.
func (x *Secrets) List() ([]secrets.Info, error) {
	ctx, cancel := defaultCtx()
	defer cancel()
	return x.ListCtx(ctx)
}

// ListCtx is List with ctx.
func (x *Secrets) ListCtx(ctx context.Context) ([]secrets.Info, error) {
	var out []secrets.Info
	err := x.s.listSecrets(ctx, func(name string, rec secrets.Sealed) { out = append(out, rec.Info(name)) })
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (s *State) listSecrets(ctx context.Context, each func(name string, rec secrets.Sealed)) error {
	return s.listJSON(ctx, secretsPrefix, func(key string, v []byte) error {
		var rec secrets.Sealed
		if err := json.Unmarshal(v, &rec); err != nil {
			return err
		}
		each(strings.TrimPrefix(key, secretsPrefix), rec)
		return nil
	})
}

// Versions maps every secret's name to its version.
func (x *Secrets) Versions() (map[string]int64, error) {
	l, err := x.List()
	if err != nil {
		return nil, err
	}
	return secrets.VersionsOf(l), nil
}

// Delete removes name; secrets.ErrNotFound when there is none.
func (x *Secrets) Delete(name string) error {
	ctx, cancel := defaultCtx()
	defer cancel()
	resp, err := x.s.cli.Delete(ctx, secretKey(name))
	if err != nil {
		return fmt.Errorf("delete secret %q: %w", name, err)
	}
	if resp.Deleted == 0 {
		return fmt.Errorf("secret %q: %w", name, secrets.ErrNotFound)
	}
	return nil
}

// ImportSecrets stores recs, sealed as they are, where no secret of their
// name exists yet: a single node's secrets moving into the cluster it
// starts, whose key is that node's. It returns the names it stored.
func (s *State) ImportSecrets(ctx context.Context, recs map[string]secrets.Sealed) ([]string, error) {
	names := make([]string, 0, len(recs))
	for n := range recs {
		names = append(names, n)
	}
	sort.Strings(names)
	var done []string
	for _, n := range names {
		key := secretKey(n)
		tr, err := s.cli.Txn(ctx).If(absent(key)).Then(clientv3.OpPut(key, mustJSON(recs[n]))).Commit()
		if err != nil {
			return done, fmt.Errorf("import secret %q: %w", n, err)
		}
		if tr.Succeeded {
			done = append(done, n)
		}
	}
	return done, nil
}
