package reconcile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/zlayer/zlayer/noderuntime/spec"
)

var errNoSecrets = errors.New("this node keeps no secrets")

// secret is name's value from the node's store.
func (c *Controller) secret(name string) ([]byte, error) {
	if c.o.Secrets == nil {
		return nil, fmt.Errorf("secret %q: %w", name, errNoSecrets)
	}
	v, _, err := c.o.Secrets.Value(name)
	return v, err
}

// env is s's environment with $S: (secret) and $E: (node environment)
// references replaced by their values.
// The values go only into the container's OCI spec (its process must get
// them); the stored spec and the replica's labels keep the reference.
func (c *Controller) env(s *spec.Service) ([]string, error) {
	env := make([]string, 0, len(s.Env))
	for k, v := range s.Env {
		name, lit := spec.EnvSecret(v)
		if name != "" {
			b, err := c.secret(name)
			if err != nil {
				return nil, fmt.Errorf("env %s: %w", k, err)
			}
			lit = string(b)
		} else {
			// $E: references are read from the node's environment now,
			// when the container is made, as upstream ZLayer does.
			v, err := spec.EnvValue(lit, spec.NodeEnv)
			if err != nil {
				return nil, fmt.Errorf("env %s: %w", k, err)
			}
			lit = v
		}
		env = append(env, k+"="+lit)
	}
	return env, nil
}

func (c *Controller) secretFilesDir(id string) string { return filepath.Join(c.o.SecretsDir, id) }

// secretMounts writes s's file secrets for replica id into the node's
// secrets tmpfs and returns their read-only bind mounts: the values are
// never written to the container's rootfs or to disk.
func (c *Controller) secretMounts(id string, s *spec.Service) ([]specs.Mount, error) {
	if len(s.Secrets) == 0 {
		return nil, nil
	}
	if c.o.SecretsDir == "" {
		return nil, fmt.Errorf("secrets: %w", errNoSecrets)
	}
	dir := c.secretFilesDir(id)
	// A leftover of an earlier attempt holds older values.
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("secrets folder: %w", err)
	}
	var out []specs.Mount
	for i, m := range s.Secrets {
		v, err := c.secret(m.Name)
		if err != nil {
			return nil, err
		}
		p := filepath.Join(dir, strconv.Itoa(i))
		if err := writeSecretFile(p, v, os.FileMode(m.FileMode()), m.UID); err != nil {
			return nil, fmt.Errorf("secret %q: %w", m.Name, err)
		}
		out = append(out, specs.Mount{Type: "bind", Source: p, Destination: m.Path(), Options: []string{"bind", "ro", "nosuid", "nodev", "noexec"}})
	}
	return out, nil
}

// writeSecretFile makes p owned by uid with mode before the value is in it,
// so no one else can read it even for a moment.
func writeSecretFile(p string, v []byte, mode os.FileMode, uid int) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chown(uid, 0); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(v); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (c *Controller) removeSecretFiles(id string) {
	if c.o.SecretsDir != "" {
		_ = os.RemoveAll(c.secretFilesDir(id))
	}
}
