package clusterstate

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zlayer/zlayer/noderuntime/jointoken"
)

// clock is a settable time for the token store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func TestTokensThroughEtcd(t *testing.T) {
	t.Parallel()
	_, ca := member(t)
	c := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s := newState(t).Tokens(ca.Cert, c.now)
	// A second server of the cluster.
	other := newState(t).Tokens(ca.Cert, c.now)

	agent, err := s.Create(jointoken.RoleAgent, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c.add(time.Second)
	server, err := s.Create(jointoken.RoleServer, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []jointoken.Store{s, other} {
		if role, err := st.Verify(agent.Encode(), c.now()); err != nil || role != jointoken.RoleAgent {
			t.Fatalf("agent token: %v %v", role, err)
		}
		if role, err := st.Verify(server.Encode(), c.now()); err != nil || role != jointoken.RoleServer {
			t.Fatalf("server token: %v %v", role, err)
		}
	}

	ctx := testCtx(t, 10*time.Second)
	v, _, found := raw(t, ctx, s.(*tokenStore).s, "tokens/"+agent.ID)
	if !found || strings.Contains(v, agent.Secret) {
		t.Fatalf("tokens/%s: found %v, holds the secret %v", agent.ID, found, strings.Contains(v, agent.Secret))
	}

	wrong := agent
	wrong.Secret = strings.Repeat("a", jointoken.SecretLen)
	if _, err := other.Verify(wrong.Encode(), c.now()); !errors.Is(err, jointoken.ErrUnknown) {
		t.Fatalf("wrong secret: %v, want ErrUnknown", err)
	}
	unknown, _ := jointoken.New(ca.Cert, jointoken.RoleAgent)
	if _, err := other.Verify(unknown.Encode(), c.now()); !errors.Is(err, jointoken.ErrUnknown) {
		t.Fatalf("unknown id: %v, want ErrUnknown", err)
	}
	promoted := agent
	promoted.Role = jointoken.RoleServer
	if _, err := other.Verify(promoted.Encode(), c.now()); !errors.Is(err, jointoken.ErrWrongRole) {
		t.Fatalf("agent token as server: %v, want ErrWrongRole", err)
	}
	foreign := agent
	foreign.CAHash = strings.Repeat("0", 64)
	if _, err := other.Verify(foreign.Encode(), c.now()); !errors.Is(err, jointoken.ErrCAMismatch) {
		t.Fatalf("another cluster's hash: %v, want ErrCAMismatch", err)
	}

	c.add(time.Hour)
	if _, err := other.Verify(agent.Encode(), c.now()); !errors.Is(err, jointoken.ErrExpired) {
		t.Fatalf("agent token after its TTL: %v, want ErrExpired", err)
	}
	if err := s.Revoke(server.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke(server.ID); err != nil {
		t.Fatalf("second revoke: %v", err)
	}
	if _, err := other.Verify(server.Encode(), c.now()); !errors.Is(err, jointoken.ErrRevoked) {
		t.Fatalf("revoked token on the other server: %v, want ErrRevoked", err)
	}
	if err := other.Revoke("zzzzzz"); !errors.Is(err, jointoken.ErrUnknown) {
		t.Fatalf("revoke unknown: %v, want ErrUnknown", err)
	}
	if _, err := s.Create(jointoken.RoleAgent, -time.Second); err == nil {
		t.Fatal("negative TTL accepted")
	}

	list, err := other.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != agent.ID || list[1].ID != server.ID || list[1].Revoked.IsZero() || list[0].Expires.IsZero() || !list[1].Expires.IsZero() {
		t.Fatalf("List: %+v", list)
	}
}
