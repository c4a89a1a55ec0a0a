package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/secrets"
)

func TestSecretCreateValueSources(t *testing.T) {
	for _, c := range []struct {
		cmd  SecretCreateCmd
		want string
	}{
		{SecretCreateCmd{Name: "a", Stdin: "hunter2"}, "never given on the command line"},
		{SecretCreateCmd{Name: "a"}, "--from-file FILE or -"},
		{SecretCreateCmd{Name: "a", Stdin: "-", FromFile: "f"}, "not both"},
	} {
		if err := c.cmd.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cmd, err, c.want)
		}
	}
	if err := (&SecretCreateCmd{Name: "a", Stdin: "-"}).Validate(); err != nil {
		t.Errorf("stdin: %v", err)
	}
	f := filepath.Join(t.TempDir(), "v")
	if err := os.WriteFile(f, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if v, err := readSecretValue(f, strings.NewReader("ignored")); err != nil || string(v) != "from-file\n" {
		t.Errorf("file: %q %v", v, err)
	}
	if v, err := readSecretValue("", strings.NewReader("from-stdin")); err != nil || string(v) != "from-stdin" {
		t.Errorf("stdin: %q %v", v, err)
	}
	if _, err := readSecretValue("", strings.NewReader(strings.Repeat("x", secrets.MaxValueBytes+1))); !errors.Is(err, secrets.ErrTooLarge) {
		t.Errorf("too large: %v", err)
	}
	if _, err := readSecretValue("", strings.NewReader("")); !errors.Is(err, secrets.ErrEmpty) {
		t.Errorf("empty: %v", err)
	}
}

func TestPrintSecrets(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var b strings.Builder
	printSecrets(&b, []apitypes.SecretInfo{
		{Name: "db-password", Size: 12, Version: 2, CreatedAt: now.Add(-time.Hour), UpdatedAt: now.Add(-time.Minute), UsedBy: []string{"shop/web", "shop/worker"}},
		{Name: "unused", Size: 3, Version: 1, CreatedAt: now, UpdatedAt: now},
	}, now)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	want := []string{
		"NAME SIZE VERSION CREATED UPDATED USED BY",
		"db-password 12 2 1h0m0s ago 1m0s ago shop/web,shop/worker",
		"unused 3 1 0s ago 0s ago -",
	}
	if len(lines) != len(want) {
		t.Fatalf("secret ls:\n%s", b.String())
	}
	for i, l := range lines {
		if got := strings.Join(strings.Fields(l), " "); got != want[i] {
			t.Errorf("line %d: %q, want %q", i, got, want[i])
		}
	}
}
