package api

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/zlayer/zlayer/internal/defaults"
)

// Limits bound what one client can hold of the node: time to send a head
// or a body, idle keep-alive time, head size, open connections and body
// sizes. Streaming answers (logs -f, exec, image import) are not cut by the
// write and body timeouts: they extend their own deadlines as data moves,
// so only a stalled peer is dropped.
type Limits struct {
	ReadHeaderTimeout time.Duration // to read a request head (and a TLS handshake)
	BodyTimeout       time.Duration // to read a body; for streamed bodies, between two reads
	WriteTimeout      time.Duration // to write an answer; for streams, per write
	IdleTimeout       time.Duration // keep-alive connection without a request
	MaxHeaderBytes    int
	MaxConns          int   // open TCP connections (all TCP listeners together); the unix socket has its own cap
	MaxSpecBytes      int64 // deployment spec
	MaxJSONBytes      int64 // other JSON bodies (scale, exec)
	MaxImportBytes    int64 // image archive
}

// DefaultLimits are those of a node serving a few operators and their
// automation, not the public.
var DefaultLimits = Limits{
	ReadHeaderTimeout: 10 * time.Second,
	BodyTimeout:       60 * time.Second,
	WriteTimeout:      90 * time.Second,
	IdleTimeout:       120 * time.Second,
	MaxHeaderBytes:    64 << 10,
	MaxConns:          256,
	MaxSpecBytes:      4 << 20,
	MaxJSONBytes:      1 << 20,
	MaxImportBytes:    16 << 30,
}

func (s *Server) limits() Limits { return defaults.Fill(s.Limits, DefaultLimits) }

// withDeadlines gives a request with a body BodyTimeout to send it; the
// readers of the body (readBody, idleReader) lift the deadline once it is
// read, so that a long answer afterwards is not cancelled by it (net/http
// cancels a request whose connection read times out). The write deadline
// is the server's WriteTimeout, extended by streams.
func (s *Server) withDeadlines(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 {
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.limits().BodyTimeout))
		}
		h.ServeHTTP(w, r)
	})
}

// bodyRead lifts the read deadline once a body is read whole.
func bodyRead(w http.ResponseWriter) {
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
}

// extendWrite gives the next write WriteTimeout from now.
func (s *Server) extendWrite(w http.ResponseWriter) {
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.limits().WriteTimeout))
}

// idleReader reads a streamed body (an image, exec's stdin) of any length
// as long as each read brings data within BodyTimeout.
func (s *Server) idleReader(w http.ResponseWriter, r io.ReadCloser) io.ReadCloser {
	return &idleReader{r: r, rc: http.NewResponseController(w), d: s.limits().BodyTimeout}
}

type idleReader struct {
	r  io.ReadCloser
	rc *http.ResponseController
	d  time.Duration
}

func (ir *idleReader) Read(p []byte) (int, error) {
	_ = ir.rc.SetReadDeadline(time.Now().Add(ir.d))
	n, err := ir.r.Read(p)
	if err != nil {
		_ = ir.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

func (ir *idleReader) Close() error { return ir.r.Close() }

// Listeners say where the API listens.
type Listeners struct {
	// Socket is the unix socket, created 0660 (access to it is admin).
	Socket string
	// Bind serves TLS with TLS (required when Bind is set).
	Bind string
	TLS  *tls.Config
	// InsecureBind serves plain HTTP; the token travels in clear text, so
	// it is only for loopback or a network the operator trusts.
	InsecureBind string
}

// TLSConfig is the API's TLS: 1.2 at least (1.3 is preferred by Go's
// negotiation), HTTP/1.1 only, so that every connection has the one set of
// deadlines the handlers extend.
func TLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
	}
}

// Serve runs the API on its listeners until ctx ends.
func (s *Server) Serve(ctx context.Context, ls Listeners) error {
	lim := s.limits()
	ul, err := listenUnix(ls.Socket, 0o660)
	if err != nil {
		return err
	}
	newServer := func(h http.Handler) *http.Server {
		return &http.Server{
			Handler:           s.withDeadlines(h),
			ReadHeaderTimeout: lim.ReadHeaderTimeout,
			WriteTimeout:      lim.WriteTimeout,
			IdleTimeout:       lim.IdleTimeout,
			MaxHeaderBytes:    lim.MaxHeaderBytes,
			// HTTP/1.1 only, on TLS too (see TLSConfig).
			TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		}
	}
	servers := []*http.Server{newServer(s.Handler(false))}
	listeners := []net.Listener{limitListener(ul, newSem(lim.MaxConns))}
	closeAll := func() {
		for _, l := range listeners {
			l.Close()
		}
	}
	tcpSem := newSem(lim.MaxConns)
	if ls.Bind != "" {
		if ls.TLS == nil {
			closeAll()
			return errors.New("the TLS listener needs a certificate")
		}
		tl, err := net.Listen("tcp", ls.Bind)
		if err != nil {
			closeAll()
			return fmt.Errorf("listen %s: %w", ls.Bind, err)
		}
		servers = append(servers, newServer(s.Handler(true)))
		listeners = append(listeners, tls.NewListener(limitListener(tl, tcpSem), ls.TLS))
	}
	if ls.InsecureBind != "" {
		pl, err := net.Listen("tcp", ls.InsecureBind)
		if err != nil {
			closeAll()
			return fmt.Errorf("listen %s: %w", ls.InsecureBind, err)
		}
		servers = append(servers, newServer(s.Handler(true)))
		listeners = append(listeners, limitListener(pl, tcpSem))
	}
	errc := make(chan error, len(servers))
	for i, srv := range servers {
		go func() { errc <- srv.Serve(listeners[i]) }()
	}
	s.Log.Info("API listening", "socket", ls.Socket, "bind_tls", ls.Bind, "insecure_bind", ls.InsecureBind, "max_conns", lim.MaxConns)
	if ls.Bind != "" {
		s.Log.Info("web console", "url", "https://"+consoleHost(ls.Bind)+"/ui/")
	}
	if ls.InsecureBind != "" {
		if host, _, _ := net.SplitHostPort(ls.InsecureBind); !isLoopback(host) {
			s.Log.Warn("WARNING: the API serves plain HTTP on a non-loopback address: tokens and specs travel in clear text and can be stolen or changed on the way; use --bind (TLS) instead",
				"insecure_bind", ls.InsecureBind)
		}
	}
	var first error
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			first = err
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for _, srv := range servers {
		_ = srv.Shutdown(sctx)
	}
	_ = os.Remove(ls.Socket)
	return first
}

// consoleHost is bind as a browser would reach it: a wildcard address is
// the node's loopback there.
func consoleHost(bind string) string {
	host, port, err := net.SplitHostPort(bind)
	if err != nil {
		return bind
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// listenUnix binds socket with mode from the moment it is reachable: it
// is bound in a fresh 0700 folder beside the socket (no one else can
// connect through it), given its mode there, then renamed into place. No
// umask is touched (it is process-wide and would race other goroutines).
func listenUnix(socket string, mode os.FileMode) (net.Listener, error) {
	dir := filepath.Dir(socket)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if c, err := net.DialTimeout("unix", socket, 200*time.Millisecond); err == nil {
		c.Close()
		return nil, fmt.Errorf("another node already serves on %s", socket)
	}
	tmpDir, err := os.MkdirTemp(dir, ".zlayer-sock-")
	if err != nil {
		return nil, fmt.Errorf("socket folder in %s: %w", dir, err)
	}
	defer os.RemoveAll(tmpDir)
	tmp := filepath.Join(tmpDir, "s")
	l, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", socket, err)
	}
	ul := l.(*net.UnixListener)
	// The path changes by the rename; Serve removes the socket itself.
	ul.SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, mode); err != nil {
		ul.Close()
		return nil, fmt.Errorf("chmod %s: %w", socket, err)
	}
	if err := os.Rename(tmp, socket); err != nil {
		ul.Close()
		return nil, fmt.Errorf("put the socket in place at %s: %w", socket, err)
	}
	return ul, nil
}

// sem counts open connections.
type sem chan struct{}

func newSem(n int) sem { return make(sem, n) }

// limitListener serves at most cap(s) connections at once: a connection
// over the cap waits, unserved, until one closes, and the listener accepts
// no other meanwhile, so the rest wait in the kernel's backlog instead of
// costing the node goroutines and buffers (as HAProxy's maxconn does). The
// slot is taken after Accept, not before, so that listeners sharing s do
// not each hold one while idle.
func limitListener(l net.Listener, s sem) net.Listener {
	return &limited{Listener: l, sem: s, done: make(chan struct{})}
}

type limited struct {
	net.Listener
	sem       sem
	closeOnce sync.Once
	done      chan struct{}
}

func (l *limited) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		c.Close()
		return nil, net.ErrClosed
	}
	return &limitedConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limited) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
