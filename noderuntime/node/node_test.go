package node

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeInstall writes an executable "zlayer" into a temp folder and returns
// the folder and its path.
func fakeInstall(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	exe := filepath.Join(dir, "zlayer")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, exe
}

func writeShim(t *testing.T, dir, body string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, ShimName)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// shimV prints what the real shim's -v prints.
const shimV = `echo 'containerd-shim-zlayer-v1:'; echo '  Version:  v1.2.3'; echo '  Go version: go1'`

func TestLeanShimChoice(t *testing.T) {
	ctx := context.Background()

	t.Run("none beside", func(t *testing.T) {
		_, exe := fakeInstall(t)
		if got, err := leanShim(ctx, exe, ShimName, "v1.2.3"); got != "" || err != nil {
			t.Errorf("got %q, %v; want the face, no warning", got, err)
		}
	})
	t.Run("same version", func(t *testing.T) {
		dir, exe := fakeInstall(t)
		p := writeShim(t, dir, shimV, 0o755)
		if got, err := leanShim(ctx, exe, ShimName, "v1.2.3"); got != p || err != nil {
			t.Errorf("got %q, %v; want %s", got, err, p)
		}
	})
	t.Run("found from a link to the executable", func(t *testing.T) {
		dir, exe := fakeInstall(t)
		p := writeShim(t, dir, shimV, 0o755)
		other := t.TempDir()
		link := filepath.Join(other, "zlayer-runtime")
		if err := os.Symlink(exe, link); err != nil {
			t.Fatal(err)
		}
		if got, err := leanShim(ctx, link, ShimName, "v1.2.3"); got != p || err != nil {
			t.Errorf("got %q, %v; want %s", got, err, p)
		}
	})
	t.Run("other version", func(t *testing.T) {
		dir, exe := fakeInstall(t)
		writeShim(t, dir, shimV, 0o755)
		if got, err := leanShim(ctx, exe, ShimName, "v1.2.4"); got != "" || err == nil {
			t.Errorf("got %q, %v; want the face and a warning", got, err)
		}
	})
	t.Run("face link", func(t *testing.T) {
		dir, exe := fakeInstall(t)
		if err := os.Symlink("zlayer", filepath.Join(dir, ShimName)); err != nil {
			t.Fatal(err)
		}
		if got, err := leanShim(ctx, exe, ShimName, "v1.2.3"); got != "" || err != nil {
			t.Errorf("got %q, %v; want the face, no warning", got, err)
		}
	})
	t.Run("not executable", func(t *testing.T) {
		dir, exe := fakeInstall(t)
		writeShim(t, dir, shimV, 0o644)
		if got, err := leanShim(ctx, exe, ShimName, "v1.2.3"); got != "" || err == nil {
			t.Errorf("got %q, %v; want the face and a warning", got, err)
		}
	})
	t.Run("fails", func(t *testing.T) {
		dir, exe := fakeInstall(t)
		writeShim(t, dir, "echo broken >&2; exit 1", 0o755)
		if got, err := leanShim(ctx, exe, ShimName, "v1.2.3"); got != "" || err == nil {
			t.Errorf("got %q, %v; want the face and a warning", got, err)
		}
	})
	t.Run("hangs", func(t *testing.T) {
		dir, exe := fakeInstall(t)
		writeShim(t, dir, "sleep 30", 0o755)
		ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		t0 := time.Now()
		got, err := leanShim(ctx, exe, ShimName, "v1.2.3")
		if got != "" || err == nil {
			t.Errorf("got %q, %v; want the face and a warning", got, err)
		}
		if d := time.Since(t0); d > 10*time.Second {
			t.Errorf("waited %v for a hung shim", d)
		}
	})
}

func TestLoadTokenDefaultPathIsCreatedThenReused(t *testing.T) {
	def := filepath.Join(t.TempDir(), "token")
	path, tok, err := loadToken("", def, "API token")
	if err != nil {
		t.Fatal(err)
	}
	if path != def || tok == "" {
		t.Fatalf("loadToken = %q, %q; want the default path and a new token", path, tok)
	}
	_, again, err := loadToken("", def, "API token")
	if err != nil || again != tok {
		t.Fatalf("second load = %q, %v; want the same token %q", again, err, tok)
	}
}

func TestLoadTokenGivenFileWins(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "mine")
	if err := os.WriteFile(file, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path, tok, err := loadToken(file, filepath.Join(dir, "token"), "API token")
	if err != nil || path != file || tok != "secret" {
		t.Fatalf("loadToken = %q, %q, %v; want %q, secret", path, tok, err, file)
	}
}

func TestLoadTokenErrorNamesTheToken(t *testing.T) {
	file := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := loadToken(file, "", "API read token")
	if err == nil || !strings.HasPrefix(err.Error(), "API read token: token file "+file+" is empty") {
		t.Fatalf("error %v, want it to start with the token's name", err)
	}
}
