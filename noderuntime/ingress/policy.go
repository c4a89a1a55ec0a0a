package ingress

// The rules both HTTP paths (the fast path in h1.go and net/http's in
// http.go) apply: which route a request takes, what the replica learns
// about the client, and when a request may go to another replica. Each rule
// is written once here, so the two paths cannot drift apart.

import (
	"net/netip"
	"path"
	"strings"
)

// match returns the first (most specific) route of the listener for host
// (normalised by normHost) and path (clean, as cleanPath makes it), or nil.
func (l *listener) match(host, path string) *route {
	for _, rt := range *l.routes.Load() {
		if hostMatch(rt.Host, host) && pathMatch(rt.Path, path) {
			return rt
		}
	}
	return nil
}

// cleanPath is the path routing sees and the replica gets: the decoded path
// with dot segments resolved and repeated slashes collapsed, a trailing
// slash kept. "/api/../admin", "//api" and "/api%2f..%2fadmin" (decoded by
// then) are routed, and forwarded, as "/admin", "/api" and "/admin": a
// replica never sees a path that routing would have sent elsewhere.
func cleanPath(p string) string {
	if isCleanPath(p) {
		return p
	}
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	c := path.Clean(p)
	if p[len(p)-1] == '/' && c != "/" {
		c += "/"
	}
	return c
}

// isCleanPath reports whether cleanPath leaves p as it is, without
// allocating: it starts with a slash and has no empty, "." or ".." segment
// (a trailing slash aside).
func isCleanPath[T ~string | ~[]byte](p T) bool {
	if len(p) == 0 || p[0] != '/' {
		return false
	}
	start := 1
	for i := 1; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		switch n := i - start; {
		case n == 0 && i < len(p), n == 1 && p[start] == '.', n == 2 && p[start] == '.' && p[start+1] == '.':
			return false
		}
		start = i + 1
	}
	return true
}

// trustedSet is the node config's trusted_proxies: peers whose
// X-Forwarded-* headers are kept (and appended to) rather than replaced.
type trustedSet []netip.Prefix

// trusts reports whether the peer address ip (as net.SplitHostPort gives
// it) is a trusted proxy.
func (t trustedSet) trusts(ip string) bool {
	if len(t) == 0 {
		return false
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwarded is what a replica is told about the client, as the headers
// X-Forwarded-For, X-Forwarded-Host and X-Forwarded-Proto.
//
// From a client that is not a trusted proxy, whatever it sent in those
// headers (and in Forwarded) is dropped and replaced: For is the peer
// address, Host the request's Host, Proto what the client spoke to the
// ingress. From a trusted proxy, its For list is kept and the peer is
// appended (as nginx's realip and HAProxy's forwardfor do), and its Host
// and Proto, when given, are passed on: it saw the client, the ingress
// only saw the proxy. Forwarded (RFC 7239) is always dropped; the node
// speaks the X-Forwarded-* dialect only.
type forwarded struct {
	priorFor []byte // kept X-Forwarded-For values, comma-joined; empty when replaced
	host     []byte
	proto    []byte
}

var (
	protoHTTP  = []byte("http")
	protoHTTPS = []byte("https")
)

// forwardedFor decides the forwarded values. in holds the client's own
// X-Forwarded-* values (only read when trusted), host the request's Host.
func forwardedFor(trusted bool, in forwarded, host []byte, https bool) forwarded {
	out := forwarded{host: host, proto: protoHTTP}
	if https {
		out.proto = protoHTTPS
	}
	if !trusted {
		return out
	}
	out.priorFor = in.priorFor
	if len(in.host) > 0 {
		out.host = in.host
	}
	// A scheme is one of two words; anything else is not passed on.
	switch {
	case asciiEqualFold(in.proto, "http"):
		out.proto = protoHTTP
	case asciiEqualFold(in.proto, "https"):
		out.proto = protoHTTPS
	}
	return out
}

// joinValues joins repeated header values as one comma-separated list.
func joinValues(vs []string) []byte {
	return []byte(strings.Join(vs, ", "))
}

// attempts walks a route's replicas for one request: the first pick, then
// at most one other replica. A request goes to the other replica when the
// first could not be connected to (nothing was sent), or when it may have
// been sent but is replayable (idempotent, no body).
type attempts struct {
	rt         *route
	replayable bool
	b          *backend // the replica of the current attempt
	moved      bool
}

// first picks the replica of the first attempt (nil: none is ready).
func (a *attempts) first() *backend {
	a.b = a.rt.pick(nil)
	return a.b
}

// failed marks the current replica failed (for failTimeout) and returns the
// replica to try next, or nil when the request has had its tries. sent says
// whether the request may have reached the replica.
func (a *attempts) failed(g *Ingress, sent bool, err error) *backend {
	a.b.failed(g.o.FailTimeout)
	g.o.Log.Debug("ingress backend failed", "replica", a.b.ID, "addr", a.b.Addr, "err", err)
	if a.moved || (sent && !a.replayable) {
		return nil
	}
	next := a.rt.pick(a.b)
	if next == nil || next == a.b {
		return nil
	}
	a.b, a.moved = next, true
	return next
}

// replayableMethod is whether a request with this method and no body may
// be sent again after it may have reached a replica.
func replayableMethod(m string) bool {
	switch m {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return false
}
