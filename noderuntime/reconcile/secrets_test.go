package reconcile

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/zlayer/zlayer/noderuntime/secrets"
	"github.com/zlayer/zlayer/noderuntime/spec"
)

func TestSecretEnvAndFiles(t *testing.T) {
	data := t.TempDir()
	st := secrets.Open(data)
	if _, err := st.Put("db-password", []byte("s3cret-value")); err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(t.TempDir(), "run")
	c := New(Options{Secrets: st, SecretsDir: run})
	mode := 0o440
	s := &spec.Service{
		Env:     map[string]string{"DB": "$S:db-password", "LIT": "$$S:db-password", "P": "x"},
		Secrets: []spec.SecretMount{{Name: "db-password"}, {Name: "db-password", Target: "/etc/db", Mode: &mode, UID: os.Getuid()}},
	}
	env, err := c.env(s)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(env)
	if want := []string{"DB=s3cret-value", "LIT=$S:db-password", "P=x"}; !slices.Equal(env, want) {
		t.Fatalf("env %q, want %q", env, want)
	}
	ms, err := c.secretMounts("dep-web-0", s)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Destination != "/run/secrets/db-password" || ms[1].Destination != "/etc/db" || !slices.Contains(ms[0].Options, "ro") {
		t.Fatalf("mounts %+v", ms)
	}
	for i, m := range ms {
		b, err := os.ReadFile(m.Source)
		if err != nil || string(b) != "s3cret-value" {
			t.Fatalf("mount %d source: %q %v", i, b, err)
		}
		fi, _ := os.Stat(m.Source)
		if want := []os.FileMode{0o400, 0o440}[i]; fi.Mode().Perm() != want {
			t.Errorf("mount %d mode %o, want %o", i, fi.Mode().Perm(), want)
		}
	}
	c.removeSecretFiles("dep-web-0")
	if _, err := os.Stat(filepath.Join(run, "dep-web-0")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("files left after removal: %v", err)
	}
	// A secret gone from the store fails the replica, naming it.
	if _, err := c.env(&spec.Service{Env: map[string]string{"X": "$S:gone"}}); !errors.Is(err, secrets.ErrNotFound) {
		t.Fatalf("missing secret: %v", err)
	}
	if _, err := New(Options{}).env(s); !errors.Is(err, errNoSecrets) {
		t.Fatalf("no store: %v", err)
	}
}
