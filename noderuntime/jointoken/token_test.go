package jointoken

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zlayer/zlayer/noderuntime/pki"
)

func newCA(t *testing.T) *pki.CA {
	t.Helper()
	ca, err := pki.NewCA("test cluster")
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func TestNewEncodeParseRoundTrip(t *testing.T) {
	ca := newCA(t)
	for _, role := range []Role{RoleServer, RoleAgent} {
		tok, err := New(ca.Cert, role)
		if err != nil {
			t.Fatal(err)
		}
		s := tok.Encode()
		if !strings.HasPrefix(s, Prefix+CAHash(ca.Cert)+"::"+string(role)+".") {
			t.Fatalf("token %s: unexpected layout", tok)
		}
		got, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(%s): %v", tok, err)
		}
		if got != tok {
			t.Fatalf("Parse gave %+v, want %+v", got, tok)
		}
		if strings.Contains(tok.String(), tok.Secret) {
			t.Fatalf("String() shows the secret: %s", tok.String())
		}
	}
	a, _ := New(ca.Cert, RoleAgent)
	b, _ := New(ca.Cert, RoleAgent)
	if a.Secret == b.Secret || a.ID == b.ID {
		t.Fatalf("two tokens share an id or secret: %s %s", a, b)
	}
	if _, err := New(ca.Cert, "admin"); !errors.Is(err, ErrMalformed) {
		t.Fatalf("New with role admin: %v, want ErrMalformed", err)
	}
}

func TestParseRejectsBadFormats(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	secret := strings.Repeat("s", SecretLen)
	good := Prefix + hash + "::server.abc234." + secret
	if _, err := Parse(good); err != nil {
		t.Fatalf("good token refused: %v", err)
	}
	cases := map[string]string{
		"empty":           "",
		"no prefix":       hash + "::server.abc234." + secret,
		"old prefix":      "K10" + hash + "::server.abc234." + secret,
		"no separator":    Prefix + hash + ":server.abc234." + secret,
		"short hash":      Prefix + hash[:62] + "::server.abc234." + secret,
		"upper hash":      Prefix + strings.ToUpper(hash) + "::server.abc234." + secret,
		"non-hex hash":    Prefix + strings.Repeat("zz", 32) + "::server.abc234." + secret,
		"bad role":        Prefix + hash + "::admin.abc234." + secret,
		"two parts":       Prefix + hash + "::server." + secret,
		"four parts":      Prefix + hash + "::server.abc234." + secret + ".x",
		"short id":        Prefix + hash + "::server.abc23." + secret,
		"upper id":        Prefix + hash + "::server.ABC234." + secret,
		"short secret":    Prefix + hash + "::server.abc234." + secret[1:],
		"long secret":     Prefix + hash + "::server.abc234." + secret + "s",
		"bad secret char": Prefix + hash + "::server.abc234." + secret[1:] + "!",
	}
	for name, s := range cases {
		_, err := Parse(s)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Parse gave %v, want ErrMalformed", name, err)
			continue
		}
		if strings.Contains(err.Error(), "sss") {
			t.Errorf("%s: error echoes the secret: %v", name, err)
		}
	}
}

func TestCheckCA(t *testing.T) {
	ca, other := newCA(t), newCA(t)
	tok, err := New(ca.Cert, RoleAgent)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tok.CheckCAPEM(pki.EncodeCert(other.Cert, ca.Cert))
	if err != nil {
		t.Fatalf("bundle holding the CA: %v", err)
	}
	if !got.Equal(ca.Cert) {
		t.Fatal("CheckCA returned another certificate than the token's CA")
	}
	if _, err := tok.CheckCAPEM(pki.EncodeCert(other.Cert)); !errors.Is(err, ErrCAMismatch) {
		t.Fatalf("another CA: %v, want ErrCAMismatch", err)
	}
	if _, err := tok.CheckCAPEM([]byte("not pem")); !errors.Is(err, ErrCAMismatch) {
		t.Fatalf("no PEM: %v, want ErrCAMismatch", err)
	}
	if _, err := tok.CheckCA(nil); !errors.Is(err, ErrCAMismatch) {
		t.Fatalf("empty bundle: %v, want ErrCAMismatch", err)
	}
}

// clock is a settable time for the store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func openStore(t *testing.T, path string, ca *pki.CA, c *clock) *FileStore {
	t.Helper()
	s, err := OpenFile(path, ca.Cert, c.now)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStoreCreateVerifyExpireRevoke(t *testing.T) {
	ca := newCA(t)
	c := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	path := filepath.Join(t.TempDir(), "tokens.json")
	s := openStore(t, path, ca, c)

	agent, err := s.Create(RoleAgent, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	server, err := s.Create(RoleServer, 0)
	if err != nil {
		t.Fatal(err)
	}
	if role, err := s.Verify(agent.Encode(), c.now()); err != nil || role != RoleAgent {
		t.Fatalf("agent token: %v %v", role, err)
	}
	if role, err := s.Verify(server.Encode(), c.now()); err != nil || role != RoleServer {
		t.Fatalf("server token: %v %v", role, err)
	}

	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), agent.Secret) || strings.Contains(string(raw), server.Secret) {
		t.Fatal("the store file holds a secret")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("store file mode %04o, want 0600", st.Mode().Perm())
	}

	wrongSecret := agent
	wrongSecret.Secret = strings.Repeat("a", SecretLen)
	if _, err := s.Verify(wrongSecret.Encode(), c.now()); !errors.Is(err, ErrUnknown) {
		t.Fatalf("wrong secret: %v, want ErrUnknown", err)
	}
	unknown, _ := New(ca.Cert, RoleAgent)
	if _, err := s.Verify(unknown.Encode(), c.now()); !errors.Is(err, ErrUnknown) {
		t.Fatalf("unknown id: %v, want ErrUnknown", err)
	}
	promoted := agent
	promoted.Role = RoleServer
	if _, err := s.Verify(promoted.Encode(), c.now()); !errors.Is(err, ErrWrongRole) {
		t.Fatalf("agent token as server: %v, want ErrWrongRole", err)
	}
	otherCluster := agent
	otherCluster.CAHash = CAHash(newCA(t).Cert)
	if _, err := s.Verify(otherCluster.Encode(), c.now()); !errors.Is(err, ErrCAMismatch) {
		t.Fatalf("other cluster's hash: %v, want ErrCAMismatch", err)
	}
	if _, err := s.Verify("ZL10nonsense", c.now()); !errors.Is(err, ErrMalformed) {
		t.Fatalf("nonsense: %v, want ErrMalformed", err)
	}

	c.add(time.Hour)
	if _, err := s.Verify(agent.Encode(), c.now()); !errors.Is(err, ErrExpired) {
		t.Fatalf("agent token after its TTL: %v, want ErrExpired", err)
	}
	if _, err := s.Verify(server.Encode(), c.now().Add(100*365*24*time.Hour)); err != nil {
		t.Fatalf("token without TTL a century later: %v", err)
	}

	if err := s.Revoke(server.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(server.Encode(), c.now()); !errors.Is(err, ErrRevoked) {
		t.Fatalf("revoked token: %v, want ErrRevoked", err)
	}
	if err := s.Revoke("zzzzzz"); !errors.Is(err, ErrUnknown) {
		t.Fatalf("revoke unknown: %v, want ErrUnknown", err)
	}
	if _, err := s.Create(RoleAgent, -time.Second); err == nil {
		t.Fatal("negative TTL accepted")
	}

	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != agent.ID || list[1].ID != server.ID || list[1].Revoked.IsZero() || list[0].Expires.IsZero() || !list[1].Expires.IsZero() {
		t.Fatalf("List: %+v", list)
	}
}

func TestStoreReloadsFromDisk(t *testing.T) {
	ca := newCA(t)
	c := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	path := filepath.Join(t.TempDir(), "tokens.json")
	s := openStore(t, path, ca, c)
	kept, err := s.Create(RoleAgent, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	gone, err := s.Create(RoleServer, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke(gone.ID); err != nil {
		t.Fatal(err)
	}

	r := openStore(t, path, ca, c)
	if role, err := r.Verify(kept.Encode(), c.now()); err != nil || role != RoleAgent {
		t.Fatalf("reloaded store, kept token: %v %v", role, err)
	}
	if _, err := r.Verify(gone.Encode(), c.now()); !errors.Is(err, ErrRevoked) {
		t.Fatalf("reloaded store, revoked token: %v, want ErrRevoked", err)
	}
	if _, err := r.Verify(kept.Encode(), c.now().Add(2*time.Hour)); !errors.Is(err, ErrExpired) {
		t.Fatalf("reloaded store, expiry: %v, want ErrExpired", err)
	}
	list, _ := r.List()
	if len(list) != 2 || !list[0].Created.Equal(c.now()) {
		t.Fatalf("reloaded List: %+v", list)
	}

	// The store is bound to its cluster's CA: another CA's store finds the
	// token's hash wrong.
	o := openStore(t, path, newCA(t), c)
	if _, err := o.Verify(kept.Encode(), c.now()); !errors.Is(err, ErrCAMismatch) {
		t.Fatalf("store opened with another CA: %v, want ErrCAMismatch", err)
	}
}

func TestStoreRefusesLooseOrBadFile(t *testing.T) {
	ca := newCA(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "tokens.json")
	s := openStore(t, path, ca, &clock{t: time.Unix(0, 0)})
	if _, err := s.Create(RoleAgent, 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	var loose *pki.LooseModeError
	if _, err := OpenFile(path, ca.Cert, nil); !errors.As(err, &loose) {
		t.Fatalf("0644 store: %v, want LooseModeError", err)
	}

	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFile(bad, ca.Cert, nil); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("truncated store: %v, want an error naming %s", err, bad)
	}
	future := filepath.Join(dir, "future.json")
	if err := os.WriteFile(future, []byte(`{"version":2,"tokens":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFile(future, ca.Cert, nil); err == nil || !strings.Contains(err.Error(), "version 2") {
		t.Fatalf("version 2 store: %v, want a version error", err)
	}
}
