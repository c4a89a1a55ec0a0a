package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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
