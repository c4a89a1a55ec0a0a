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
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = "replica" // replaced by the transport
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
			// Connections the fast path handed over mid-stream no longer
			// show their TLS; the route knows what the client spoke.
			if rt, _ := pr.In.Context().Value(ctxKey{}).(*route); rt != nil && rt.Protocol == HTTPS {
				pr.Out.Header.Set("X-Forwarded-Proto", "https")
			}
		},
		Transport:    (*pickTransport)(p),
		ErrorHandler: p.errorHandler,
		// Without a pool every response allocates a fresh 32 KiB buffer.
		BufferPool: &bufferPool{},
	}
	return p
}

type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }

func (p *proxy) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
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
	var tried *backend
	for attempt := 0; attempt < 2; attempt++ {
		b := rt.pick(tried)
		if b == nil {
			if tried != nil {
				break
			}
			return nil, errNoBackend
		}
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
			b.failed(t.g.o.FailTimeout)
			t.g.o.Log.Debug("ingress backend failed", "replica", b.ID, "addr", b.Addr, "err", err)
			if !replayable(req) {
				return nil, err
			}
			tried = b
			continue
		}
		b.succeeded()
		resp.Body = wrapBody(resp.Body, b)
		return resp, nil
	}
	return nil, errors.New("no replica answered")
}

// replayable is whether a request may be sent again to another replica:
// idempotent methods without a body to resend.
func replayable(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
	default:
		return false
	}
	return r.Body == nil || r.Body == http.NoBody
}

// wrapBody releases the backend when the response is done. Upgraded
// connections (websocket) keep their read-write body.
func wrapBody(body io.ReadCloser, b *backend) io.ReadCloser {
	if rwc, ok := body.(io.ReadWriteCloser); ok {
		return &rwBody{ReadWriteCloser: rwc, b: b}
	}
	return &roBody{ReadCloser: body, b: b}
}

type roBody struct {
	io.ReadCloser
	b    *backend
	once sync.Once
}

func (r *roBody) Close() error {
	err := r.ReadCloser.Close()
	r.once.Do(r.b.release)
	return err
}

type rwBody struct {
	io.ReadWriteCloser
	b    *backend
	once sync.Once
}

func (r *rwBody) Close() error {
	err := r.ReadWriteCloser.Close()
	r.once.Do(r.b.release)
	return err
}

// portHandler routes a port's requests by host and path.
type portHandler struct {
	l *listener
	p *proxy
}

func (h portHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := normHost(r.Host)
	for _, rt := range *h.l.routes.Load() {
		if hostMatch(rt.Host, host) && pathMatch(rt.Path, r.URL.Path) {
			h.p.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, rt)))
			return
		}
	}
	http.Error(w, "404 no route for "+host+r.URL.Path, http.StatusNotFound)
}
