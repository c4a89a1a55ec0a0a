package console

import (
	"testing"
	"time"
)

func TestSessionsExpireAndCap(t *testing.T) {
	s := NewSessions(time.Hour, 2)
	now := time.Unix(1_000_000, 0)
	s.now = func() time.Time { return now }
	a := s.Open(ScopeAdmin, "admin-token")
	if a.ID == "" || a.CSRF == "" || a.ID == a.CSRF {
		t.Fatalf("session %+v", a)
	}
	if got, ok := s.Get(a.ID); !ok || got.Scope != ScopeAdmin || got.Token() != "admin-token" {
		t.Fatalf("get: %+v %v", got, ok)
	}
	now = now.Add(time.Minute)
	b := s.Open(ScopeRead, "read-token")
	now = now.Add(time.Minute)
	c := s.Open(ScopeRead, "read-token")
	if _, ok := s.Get(a.ID); ok {
		t.Error("the oldest session outlived the cap")
	}
	if _, ok := s.Get(b.ID); !ok {
		t.Error("a session under the cap is gone")
	}
	now = b.Expires
	if _, ok := s.Get(b.ID); ok {
		t.Error("a session is live at its expiry")
	}
	if _, ok := s.Get(c.ID); !ok {
		t.Error("a younger session expired with an older one")
	}
	s.Close(c.ID)
	if _, ok := s.Get(c.ID); ok || s.Len() != 0 {
		t.Errorf("after close: %d sessions", s.Len())
	}
	if _, ok := s.Get(""); ok {
		t.Error("the empty id names a session")
	}
}
