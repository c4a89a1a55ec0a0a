package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"sync"
	"time"
)

// Scope is what a session may do; it is the scope of the token that
// opened it, fixed for the session's life.
type Scope string

const (
	ScopeNone  Scope = ""
	ScopeRead  Scope = "read"
	ScopeAdmin Scope = "admin"
)

// Session is one logged-in browser.
type Session struct {
	ID      string
	CSRF    string // sent back by the page in CSRFHeader on every write
	Scope   Scope
	Expires time.Time
	// token opened the session. An agent forwards the session's changes
	// to a server with it, as it forwards a bearer token; it stays in
	// this process's memory, never sent to the browser.
	token string
}

// Token is the token the session was opened with.
func (s Session) Token() string { return s.token }

// Sessions is the server-side session table. It lives in memory only: a
// restarted node logs every browser out, which is the safe side. Its size
// is capped so that logins in a loop cannot grow it without bound; the
// session closest to expiry goes first.
type Sessions struct {
	TTL time.Duration
	Max int
	now func() time.Time

	mu sync.Mutex
	m  map[string]*Session
}

// DefaultTTL is a working day: a console left open overnight asks for the
// token again.
const DefaultTTL = 12 * time.Hour

// DefaultMaxSessions bounds the table; a node has a few operators.
const DefaultMaxSessions = 1024

// NewSessions is an empty table; zero arguments take the defaults.
func NewSessions(ttl time.Duration, max int) *Sessions {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if max <= 0 {
		max = DefaultMaxSessions
	}
	return &Sessions{TTL: ttl, Max: max, now: time.Now, m: map[string]*Session{}}
}

func randomHex(n int) string {
	b := make([]byte, n)
	// crypto/rand.Read never fails on the platforms Go supports (it
	// panics internally rather than returning short).
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Open starts a session of scope, opened with token, and returns it.
func (s *Sessions) Open(sc Scope, token string) Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.pruneLocked(now)
	for len(s.m) >= s.Max {
		var oldest *Session
		for _, v := range s.m {
			if oldest == nil || v.Expires.Before(oldest.Expires) {
				oldest = v
			}
		}
		delete(s.m, oldest.ID)
	}
	ss := &Session{ID: randomHex(32), CSRF: randomHex(32), Scope: sc, Expires: now.Add(s.TTL), token: token}
	s.m[ss.ID] = ss
	return *ss
}

// Get returns the live session id names.
func (s *Sessions) Get(id string) (Session, bool) {
	if id == "" {
		return Session{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.m[id]
	if !ok {
		return Session{}, false
	}
	if !s.now().Before(ss.Expires) {
		delete(s.m, id)
		return Session{}, false
	}
	return *ss, true
}

// Close ends the session id names, if any.
func (s *Sessions) Close(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

// Len is the number of sessions held, expired ones included until the
// next Open prunes them.
func (s *Sessions) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

func (s *Sessions) pruneLocked(now time.Time) {
	for id, v := range s.m {
		if !now.Before(v.Expires) {
			delete(s.m, id)
		}
	}
}

// equal compares two secrets in constant time.
func equal(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
