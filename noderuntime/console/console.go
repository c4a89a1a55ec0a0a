// Package console serves the node's web console at /ui/ on the TCP API:
// the front end built from ui/ (checked in under dist/ and embedded, so
// that building the binary needs no npm) and the browser's login, which
// trades a token for a session cookie (HttpOnly, Secure, SameSite=Strict)
// kept in a server-side table. API calls from the page carry the cookie;
// writes must also carry the session's CSRF token and come from the
// node's own origin.
package console

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
)

// CookieName is the session cookie.
const CookieName = "zlayer_session"

// CSRFHeader carries the session's CSRF token on writes.
const CSRFHeader = "X-ZLayer-CSRF"

// Prefix is where the console is served.
const Prefix = "/ui/"

// maxLoginBytes bounds a login body: a token and its JSON envelope.
const maxLoginBytes = 4096

// Console is the console's routes and session checks.
type Console struct {
	Sessions *Sessions
	// Check is what a token may do (ScopeNone: nothing).
	Check func(token string) Scope
}

// New is a console with a fresh session table.
func New(check func(token string) Scope) *Console {
	return &Console{Sessions: NewSessions(0, 0), Check: check}
}

// LoginRequest is POST /ui/login's body.
type LoginRequest struct {
	Token string `json:"token"`
}

// SessionInfo is what the page learns of its session: the scope decides
// a read-only console, the CSRF token goes back on every write.
type SessionInfo struct {
	Scope   Scope     `json:"scope"`
	CSRF    string    `json:"csrf"`
	Expires time.Time `json:"expires"`
}

// Public says whether path is the console's, answered without a bearer
// token: the page itself and its login.
func Public(path string) bool {
	return path == "/ui" || strings.HasPrefix(path, Prefix)
}

// Routes adds the console's routes to mux.
func (c *Console) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /ui", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
	})
	mux.Handle("GET /ui/", assets())
	mux.HandleFunc("POST /ui/login", c.login)
	mux.HandleFunc("POST /ui/logout", c.logout)
	mux.HandleFunc("GET /ui/session", c.session)
}

// Session is the live session r's cookie names.
func (c *Console) Session(r *http.Request) (Session, bool) {
	ck, err := r.Cookie(CookieName)
	if err != nil {
		return Session{}, false
	}
	return c.Sessions.Get(ck.Value)
}

// CheckWrite refuses a change asked with a session cookie unless it
// carries the session's CSRF token and comes from the node's own origin.
// SameSite=Strict already keeps the cookie off other sites' requests; the
// two checks hold when that does not (an old browser, a sibling site on
// the same host).
func CheckWrite(r *http.Request, ss Session) error {
	if !equal(r.Header.Get(CSRFHeader), ss.CSRF) {
		return errors.New("a console write needs the session's CSRF token in the " + CSRFHeader + " header")
	}
	return checkOrigin(r)
}

// checkOrigin accepts a request whose Origin is this node as the browser
// reached it. Browsers send Origin on every POST, PUT and DELETE, so a
// missing one is refused too.
func checkOrigin(r *http.Request) error {
	o := r.Header.Get("Origin")
	if o == "" {
		return errors.New("a console write needs an Origin header")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if o != scheme+"://"+r.Host {
		return errors.New("origin " + o + " is not this node's (" + scheme + "://" + r.Host + ")")
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return errors.New("Sec-Fetch-Site " + site + ": a console write must come from the console's own page")
	}
	return nil
}

func writeErr(w http.ResponseWriter, code int, c, msg string) {
	apitypes.WriteJSON(w, code, apitypes.Error{Code: c, Message: msg})
}

// setCookie sets the session cookie (maxAge < 0: removes it). Path=/
// because the page's API calls go to /v1/.
func setCookie(w http.ResponseWriter, id string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: id, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode,
	})
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	// A login from another site would log the browser in to a session of
	// that site's choosing (login CSRF).
	if err := checkOrigin(r); err != nil {
		writeErr(w, 403, "forbidden", err.Error())
		return
	}
	var req LoginRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, maxLoginBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeErr(w, 400, "bad_request", "invalid login body: "+err.Error()+` (want {"token": "..."})`)
		return
	}
	token := strings.TrimSpace(req.Token)
	sc := c.Check(token)
	if sc == ScopeNone {
		writeErr(w, 401, "unauthorized", "that token is neither the node's admin token nor its read token (DATA-DIR/token, DATA-DIR/token.read)")
		return
	}
	ss := c.Sessions.Open(sc, token)
	setCookie(w, ss.ID, int(c.Sessions.TTL/time.Second))
	apitypes.WriteJSON(w, 200, SessionInfo{Scope: ss.Scope, CSRF: ss.CSRF, Expires: ss.Expires})
}

// mustSession is r's session, or false after answering 401.
func (c *Console) mustSession(w http.ResponseWriter, r *http.Request) (Session, bool) {
	ss, ok := c.Session(r)
	if !ok {
		writeErr(w, 401, "unauthorized", "no console session: log in with a token")
	}
	return ss, ok
}

func (c *Console) session(w http.ResponseWriter, r *http.Request) {
	ss, ok := c.mustSession(w, r)
	if !ok {
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	apitypes.WriteJSON(w, 200, SessionInfo{Scope: ss.Scope, CSRF: ss.CSRF, Expires: ss.Expires})
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	ss, ok := c.mustSession(w, r)
	if !ok {
		return
	}
	if err := CheckWrite(r, ss); err != nil {
		writeErr(w, 403, "forbidden", err.Error())
		return
	}
	c.Sessions.Close(ss.ID)
	setCookie(w, "", -1)
	w.WriteHeader(http.StatusNoContent)
}

type tokenKey struct{}

// WithToken is ctx carrying the token of a request's console session, for
// a handler that passes the request on to another node (an agent to a
// server). Only a session whose write passed CheckWrite should be given.
func WithToken(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, tokenKey{}, token)
}

// TokenFrom is the console session's token WithToken put in ctx.
func TokenFrom(ctx context.Context) (string, bool) {
	t, ok := ctx.Value(tokenKey{}).(string)
	return t, ok && t != ""
}
