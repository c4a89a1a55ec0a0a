package secrets

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/zlayer/zlayer/noderuntime/pki"
)

func TestRoundTripAndVersions(t *testing.T) {
	dir := t.TempDir()
	s := Open(dir)
	v := []byte("hunter2-the-value")
	i, err := s.Put("db-password", v)
	if err != nil {
		t.Fatal(err)
	}
	if i.Version != 1 || i.Size != len(v) {
		t.Fatalf("info %+v", i)
	}
	got, ver, err := s.Value("db-password")
	if err != nil || !bytes.Equal(got, v) || ver != 1 {
		t.Fatalf("value %q v%d %v", got, ver, err)
	}
	// The same value again is no change; another is a new version.
	if i, _ := s.Put("db-password", v); i.Version != 1 {
		t.Fatalf("same value bumped the version: %+v", i)
	}
	if i, _ := s.Put("db-password", []byte("other")); i.Version != 2 || i.Created.IsZero() || i.Updated.Before(i.Created) {
		t.Fatalf("new value: %+v", i)
	}
	for _, f := range []string{KeyFile, StoreFile} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %o", f, st.Mode().Perm())
		}
	}
	raw, _ := os.ReadFile(filepath.Join(dir, StoreFile))
	if bytes.Contains(raw, v) || bytes.Contains(raw, []byte("other")) {
		t.Fatal("the store file holds a value in the clear")
	}
	l, err := s.List()
	if err != nil || len(l) != 1 || l[0].Name != "db-password" {
		t.Fatalf("list %+v %v", l, err)
	}
	if err := s.Delete("db-password"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Value("db-password"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}

func TestWrongKeyRefused(t *testing.T) {
	dir := t.TempDir()
	s := Open(dir)
	if _, err := s.Put("a", []byte("value")); err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteFile(filepath.Join(dir, KeyFile), bytes.Repeat([]byte{7}, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Value("a"); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("wrong key: %v", err)
	}
	if _, err := s.Put("a", []byte("new")); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("overwrite under a wrong key: %v", err)
	}
	// A missing key is never silently replaced while sealed values exist.
	if err := os.Remove(filepath.Join(dir, KeyFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put("b", []byte("v")); err == nil {
		t.Fatal("a new key was made over existing secrets")
	}
}

func TestSwappedBoxRefused(t *testing.T) {
	dir := t.TempDir()
	s := Open(dir)
	mustPut(t, s, "a", "value-a")
	mustPut(t, s, "b", "value-b")
	f, err := s.load()
	if err != nil {
		t.Fatal(err)
	}
	a := f.Secrets["a"]
	f.Secrets["b"] = a
	if err := s.save(f); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Value("b"); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("a's box under b's name opened: %v", err)
	}
}

func TestLooseModesRefused(t *testing.T) {
	dir := t.TempDir()
	s := Open(dir)
	mustPut(t, s, "a", "v")
	for _, f := range []string{KeyFile, StoreFile} {
		p := filepath.Join(dir, f)
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := s.Value("a")
		var le *pki.LooseModeError
		if !errors.As(err, &le) {
			t.Errorf("%s at 0644: %v", f, err)
		}
		if err := os.Chmod(p, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestBounds(t *testing.T) {
	s := Open(t.TempDir())
	if _, err := s.Put("a", make([]byte, MaxValueBytes+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("too large: %v", err)
	}
	if _, err := s.Put("a", nil); !errors.Is(err, ErrEmpty) {
		t.Fatalf("empty: %v", err)
	}
	if _, err := s.Put("../x", []byte("v")); err == nil {
		t.Fatal("bad name accepted")
	}
	f := storeFile{Secrets: map[string]Sealed{}}
	for i := 0; i < MaxSecrets; i++ {
		f.Secrets[string(rune('a'+i%26))+"x"+string(rune('a'+i/26))] = Sealed{}
	}
	if err := s.save(f); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put("one-more", []byte("v")); !errors.Is(err, ErrTooMany) {
		t.Fatalf("too many: %v", err)
	}
}

func TestEnsureTmpfs(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := filepath.Join(t.TempDir(), RunDirName)
	release, err := EnsureTmpfs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !isTmpfs(dir) {
		t.Fatal("not a tmpfs after EnsureTmpfs")
	}
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
		t.Errorf("mode %o", st.Mode().Perm())
	}
	// Again on the same folder: kept, not stacked.
	again, err := EnsureTmpfs(dir)
	if err != nil {
		t.Fatal(err)
	}
	again()
	if isTmpfs(dir) {
		t.Fatal("still a tmpfs after release")
	}
	release()
}

func mustPut(t *testing.T, s *Store, name, v string) {
	t.Helper()
	if _, err := s.Put(name, []byte(v)); err != nil {
		t.Fatal(err)
	}
}
