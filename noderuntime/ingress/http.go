package ingress

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"time"
)

type ctxKey struct{}

var errNoBackend = errors.New("no ready replica")

// proxy is the reverse proxy shared by every http(s) port. The route is
// chosen by the port's handler and travels in the request context; the
// transport picks the replica, so a failed dial can be retried elsewhere.
type proxy struct {
	g  *Ingress
	rp *httputil.ReverseProxy
	tr *http.Transport
}

func newProxy(g *Ingress) *proxy {
	p := &proxy{g: g}
	d := &net.Dialer{Timeout: g.o.DialTimeout, KeepAlive: 30 * time.Second}
	p.tr = &http.Transport{
		DialContext:         d.DialContext,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		// Replicas speak plain HTTP/1.1 behind the ingress.
		ForceAttemptHTTP2: false,
		// Pass encodings through as the client negotiated them instead of
		// asking for gzip and inflating it here.
		DisableCompression: true,
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		ModifyResponse: countResponse,
		Transport:      (*pickTransport)(p),
		ErrorHandler:   p.errorHandler,
		// Without a pool every response allocates a fresh 32 KiB buffer.
		BufferPool: &bufferPool{},
	}
	return p
}

// rewrite makes the request the replica gets. ReverseProxy has already
// dropped the client's Forwarded and X-Forwarded-* from Out; forwardedFor
// decides what goes back, as on the fast path.
func (p *proxy) rewrite(pr *httputil.ProxyRequest) {
	rt, _ := pr.In.Context().Value(ctxKey{}).(*route)
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = "replica" // replaced by the transport
	pr.Out.Host = pr.In.Host
	// The replica gets the path routing saw. When cleaning changed
	// nothing, the client's escaping (a%2Fb) is kept as sent.
	if clean := cleanPath(pr.In.URL.Path); clean != pr.In.URL.Path {
		pr.Out.URL.Path, pr.Out.URL.RawPath = clean, ""
	}
	ip, _, err := net.SplitHostPort(pr.In.RemoteAddr)
	if err != nil {
		return // no client address to tell
	}
	h := pr.In.Header
	in := forwarded{priorFor: joinValues(h.Values("X-Forwarded-For")), host: []byte(h.Get("X-Forwarded-Host")), proto: []byte(h.Get("X-Forwarded-Proto"))}
	// Connections the fast path handed over mid-stream no longer show
	// their TLS; the route knows what the client spoke.
	https := pr.In.TLS != nil || (rt != nil && rt.Protocol == HTTPS)
	fw := forwardedFor(p.g.trusted.trusts(ip), in, []byte(pr.In.Host), https)
	xff := ip
	if len(fw.priorFor) > 0 {
		xff = string(fw.priorFor) + ", " + ip
	}
	pr.Out.Header.Set("X-Forwarded-For", xff)
	pr.Out.Header.Set("X-Forwarded-Host", string(fw.host))
	pr.Out.Header.Set("X-Forwarded-Proto", string(fw.proto))
}

type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }

// countResponse counts a replica's answer on its route: ReverseProxy
// calls it once per request that got one (an upgrade's 101 too).
func countResponse(resp *http.Response) error {
	if rt, _ := resp.Request.Context().Value(ctxKey{}).(*route); rt != nil {
		rt.reqs.status(resp.StatusCode)
	}
	return nil
}

func (p *proxy) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	if rt, _ := r.Context().Value(ctxKey{}).(*route); rt != nil {
		rt.reqs.failed()
	}
	if errors.Is(err, errNoBackend) {
		http.Error(w, "503 no ready replica for this route", http.StatusServiceUnavailable)
		return
	}
	if r.Context().Err() != nil {
		return // the client went away
	}
	p.g.o.Log.Debug("ingress proxy", "host", r.Host, "path", r.URL.Path, "err", err)
	http.Error(w, "502 bad gateway", http.StatusBadGateway)
}

// pickTransport chooses a replica for each round trip.
type pickTransport proxy

func (t *pickTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rt, _ := req.Context().Value(ctxKey{}).(*route)
	if rt == nil {
		return nil, errNoBackend
	}
	try := attempts{rt: rt, replayable: replayable(req)}
	for b := try.first(); b != nil; {
		out := *req
		u := *req.URL
		u.Host = b.Addr
		out.URL = &u
		b.acquire()
		resp, err := t.tr.RoundTrip(&out)
		if err != nil {
			b.release()
			if req.Context().Err() != nil {
				return nil, err
			}
			// The Transport closes a request body it could not send, so
			// only a bodiless request that never left counts as unsent.
			b = try.failed(t.g, !isDialError(err) || !noBody(req), err)
			if b == nil {
				return nil, err
			}
			continue
		}
		b.succeeded()
		resp.Body = wrapBody(resp.Body, b)
		return resp, nil
	}
	return nil, errNoBackend
}

func isDialError(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

func noBody(r *http.Request) bool { return r.Body == nil || r.Body == http.NoBody }

// replayable is whether a request may be sent again to another replica:
// idempotent methods without a body to resend.
func replayable(r *http.Request) bool {
	return noBody(r) && replayableMethod(r.Method)
}

// wrapBody releases the backend when the response is done. Upgraded
// connections (websocket) keep their read-write body: ReverseProxy looks
// for an io.ReadWriteCloser to switch protocols.
func wrapBody(body io.ReadCloser, b *backend) io.ReadCloser {
	rb := &releaseBody{ReadCloser: body, b: b}
	if w, ok := body.(io.ReadWriteCloser); ok {
		return rwBody{releaseBody: rb, w: w}
	}
	return rb
}

// releaseBody gives the backend back once, on the first Close.
type releaseBody struct {
	io.ReadCloser
	b    *backend
	once sync.Once
}

func (r *releaseBody) Close() error {
	err := r.ReadCloser.Close()
	r.once.Do(r.b.release)
	return err
}

// rwBody is a releaseBody that also writes, to the upgraded connection.
type rwBody struct {
	*releaseBody
	w io.Writer
}

func (r rwBody) Write(p []byte) (int, error) { return r.w.Write(p) }

// portHandler routes a port's requests by host and path.
type portHandler struct {
	l *listener
	p *proxy
}

func (h portHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host, path := normHost(r.Host), cleanPath(r.URL.Path)
	if rt := h.l.match(host, path); rt != nil {
		h.p.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, rt)))
		return
	}
	http.Error(w, "404 no route for "+host+path, http.StatusNotFound)
}
