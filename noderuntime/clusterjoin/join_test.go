package clusterjoin

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/etcdmember"
	"github.com/zlayer/zlayer/noderuntime/jointoken"
	"github.com/zlayer/zlayer/noderuntime/pki"
)

// testServer is a server's join endpoint: a real CA, a real token store in
// a temp dir, the Authority on an httptest TLS server whose certificate is
// from that CA.
type testServer struct {
	ca        *pki.CA
	storePath string
	store     *jointoken.FileStore
	auth      *Authority
	srv       *httptest.Server
	logs      *syncBuffer

	joinPosts atomic.Int32 // requests that reached the join handler

	mu       sync.Mutex
	admitted []Request
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// grant is what the test cluster's Admit grants every joiner, agents too:
// the Authority must keep the server-only parts from an agent.
var grant = Admission{
	Servers: []string{"https://10.0.0.1:3669"},
	Etcd:    &etcdmember.Join{MemberID: 0xfedcba9876543210, InitialCluster: "s1=https://10.0.0.1:2380,s2=https://10.0.0.2:2380", Endpoints: []string{"https://10.0.0.1:2379"}},
	Secrets: map[string]string{"api_admin_token": "adm1n"},
	Subnet:  "10.244.1.0/24",
}

func newTestServer(t *testing.T, mod func(*Authority)) *testServer {
	t.Helper()
	ca, err := pki.NewCA("test cluster CA")
	if err != nil {
		t.Fatal(err)
	}
	return newTestServerCA(t, ca, ca, mod)
}

// newTestServerCA serves with a certificate from serving, and has the
// Authority hand out the CA ca.
func newTestServerCA(t *testing.T, ca, serving *pki.CA, mod func(*Authority)) *testServer {
	t.Helper()
	ts := &testServer{ca: ca, storePath: filepath.Join(t.TempDir(), "tokens.json"), logs: &syncBuffer{}}
	var err error
	if ts.store, err = jointoken.OpenFile(ts.storePath, ca.Cert, nil); err != nil {
		t.Fatal(err)
	}
	ts.auth = &Authority{
		CA: ca, Tokens: ts.store,
		Log: slog.New(slog.NewTextHandler(ts.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Admit: func(ctx context.Context, req Request, role jointoken.Role) (Admission, error) {
			ts.mu.Lock()
			defer ts.mu.Unlock()
			ts.admitted = append(ts.admitted, req)
			return grant, nil
		},
	}
	if mod != nil {
		mod(ts.auth)
	}
	mux := http.NewServeMux()
	ts.auth.Register(mux)
	cert, key, err := serving.Issue(pki.Request{CommonName: "server", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Usage: pki.ServerAuth})
	if err != nil {
		t.Fatal(err)
	}
	ts.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == JoinPath {
			ts.joinPosts.Add(1)
		}
		mux.ServeHTTP(w, r)
	}))
	ts.srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw, serving.Cert.Raw}, PrivateKey: key}}}
	ts.srv.StartTLS()
	t.Cleanup(ts.srv.Close)
	return ts
}

func (ts *testServer) token(t *testing.T, role jointoken.Role, ttl time.Duration) jointoken.Token {
	t.Helper()
	tok, err := ts.store.Create(role, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (ts *testServer) admits() []Request {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return slices.Clone(ts.admitted)
}

func agentRequest() Request {
	return Request{Name: "agent-1", Role: jointoken.RoleAgent, Address: "10.0.0.7", Labels: map[string]string{"zone": "a", "example.com/disk": "ssd"}}
}

func serverRequest() Request {
	return Request{Name: "server-2", Role: jointoken.RoleServer, Address: "10.0.0.2", PeerURL: "https://10.0.0.2:2380"}
}

func join(t *testing.T, ts *testServer, token string, req Request) (*Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return Join(ctx, ts.srv.URL, token, req)
}

// checkCert asserts what the brief promises of an issued certificate.
func checkCert(t *testing.T, id *Identity, ca *pki.CA, wantCN string, wantIPs ...string) {
	t.Helper()
	c := id.Cert
	if c.Subject.CommonName != wantCN {
		t.Errorf("CN %q, want %q", c.Subject.CommonName, wantCN)
	}
	var ips []string
	for _, ip := range c.IPAddresses {
		ips = append(ips, ip.String())
	}
	if !slices.Equal(ips, wantIPs) {
		t.Errorf("IP SANs %v, want %v", ips, wantIPs)
	}
	if len(c.DNSNames) != 0 {
		t.Errorf("DNS SANs %v: the CSR asked for none and the server adds none", c.DNSNames)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	for _, eku := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{eku}}); err != nil {
			t.Errorf("verify for EKU %d against the cluster CA: %v", eku, err)
		}
	}
	if d := c.NotAfter.Sub(c.NotBefore); d < pki.LeafValidity || d > pki.LeafValidity+2*time.Hour {
		t.Errorf("validity %s, want about %s", d, pki.LeafValidity)
	}
	if !pki.PublicEqual(c.PublicKey, id.Key.Public()) {
		t.Error("the certificate is not for the identity's key")
	}
	if !id.CA.Equal(ca.Cert) {
		t.Error("the identity's CA is not the cluster CA")
	}
}

func TestJoinAgent(t *testing.T) {
	ts := newTestServer(t, nil)
	tok := ts.token(t, jointoken.RoleAgent, time.Hour)
	res, err := join(t, ts, tok.Encode(), agentRequest())
	if err != nil {
		t.Fatal(err)
	}
	id := res.Identity
	checkCert(t, &id, ts.ca, "zlayer-agent:agent-1", "10.0.0.7", "127.0.0.1")
	if id.Name != "agent-1" || id.Role != "agent" || id.Advertise != "10.0.0.7" {
		t.Errorf("identity %s %s %s", id.Name, id.Role, id.Advertise)
	}
	if id.CAKey != nil {
		t.Error("an agent got the CA key")
	}
	if res.Admission.Secrets != nil || res.Admission.Etcd != nil {
		t.Errorf("an agent got server-only grants: secrets %v, etcd %+v", res.Admission.Secrets, res.Admission.Etcd)
	}
	if !slices.Equal(res.Admission.Servers, grant.Servers) || !slices.Equal(id.Servers, grant.Servers) || res.Admission.Subnet != grant.Subnet {
		t.Errorf("admission %+v, identity servers %v", res.Admission, id.Servers)
	}
	adm := ts.admits()
	if len(adm) != 1 {
		t.Fatalf("Admit called %d times", len(adm))
	}
	if a := adm[0]; a.Token != "" || a.Name != "agent-1" || a.Role != jointoken.RoleAgent || a.Address != "10.0.0.7" ||
		a.Labels["example.com/disk"] != "ssd" || !bytes.Contains(a.CSR, []byte("CERTIFICATE REQUEST")) {
		t.Errorf("Admit saw %+v", a)
	}
	if logs := ts.logs.String(); strings.Contains(logs, tok.Secret) || !strings.Contains(logs, tok.ID) {
		t.Errorf("the log must name the token by id and never hold its secret:\n%s", logs)
	}
}

func TestJoinServer(t *testing.T) {
	ts := newTestServer(t, nil)
	res, err := join(t, ts, ts.token(t, jointoken.RoleServer, 0).Encode(), serverRequest())
	if err != nil {
		t.Fatal(err)
	}
	id := res.Identity
	checkCert(t, &id, ts.ca, "zlayer-server:server-2", "10.0.0.2", "127.0.0.1")
	if id.Role != "server" || id.CAKey == nil || !pki.PublicEqual(id.CAKey.Public(), ts.ca.Key.Public()) {
		t.Fatalf("a server joiner must get the CA key: role %s, key %v", id.Role, id.CAKey)
	}
	if res.Admission.Secrets["api_admin_token"] != "adm1n" || !reflect.DeepEqual(res.Admission.Etcd, grant.Etcd) {
		t.Errorf("admission %+v", res.Admission)
	}
	if adm := ts.admits(); len(adm) != 1 || adm[0].PeerURL != "https://10.0.0.2:2380" {
		t.Errorf("Admit saw %+v", adm)
	}
}

// refused asserts a join was refused with an error wrapping want, and that
// the refusal wrote nothing: Admit was not called and the token store is
// as it was.
func refused(t *testing.T, ts *testServer, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want one wrapping %q", err, want)
	}
	if adm := ts.admits(); len(adm) != 0 {
		t.Errorf("Admit was called for a refused join: %+v", adm)
	}
}

func TestJoinTokenRefusals(t *testing.T) {
	created := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	later := created.Add(2 * time.Hour)
	for _, tc := range []struct {
		name  string
		token func(t *testing.T, ts *testServer) string
		req   Request
		want  error
		posts int32 // requests that reach the join endpoint
	}{
		{"bad format", func(t *testing.T, ts *testServer) string { return "K10abc::agent.abcdef.x" }, agentRequest(), jointoken.ErrMalformed, 0},
		{"unknown", func(t *testing.T, ts *testServer) string {
			tok, err := jointoken.New(ts.ca.Cert, jointoken.RoleAgent) // never stored
			if err != nil {
				t.Fatal(err)
			}
			return tok.Encode()
		}, agentRequest(), jointoken.ErrUnknown, 1},
		{"wrong secret", func(t *testing.T, ts *testServer) string {
			tok := ts.token(t, jointoken.RoleAgent, 0)
			tok.Secret = strings.Repeat("a", jointoken.SecretLen)
			return tok.Encode()
		}, agentRequest(), jointoken.ErrUnknown, 1},
		{"revoked", func(t *testing.T, ts *testServer) string {
			tok := ts.token(t, jointoken.RoleAgent, 0)
			if err := ts.store.Revoke(tok.ID); err != nil {
				t.Fatal(err)
			}
			return tok.Encode()
		}, agentRequest(), jointoken.ErrRevoked, 1},
		{"expired", func(t *testing.T, ts *testServer) string {
			return ts.token(t, jointoken.RoleAgent, time.Hour).Encode() // made at created, checked at later
		}, agentRequest(), jointoken.ErrExpired, 1},
		{"token edited to another role", func(t *testing.T, ts *testServer) string {
			tok := ts.token(t, jointoken.RoleAgent, 0)
			tok.Role = jointoken.RoleServer
			return tok.Encode()
		}, serverRequest(), jointoken.ErrWrongRole, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, func(a *Authority) { a.Now = func() time.Time { return later } })
			// The store's clock: tokens are made at created.
			store, err := jointoken.OpenFile(ts.storePath, ts.ca.Cert, func() time.Time { return created })
			if err != nil {
				t.Fatal(err)
			}
			ts.store, ts.auth.Tokens = store, store
			token := tc.token(t, ts)
			before, _ := os.ReadFile(ts.storePath)
			_, err = join(t, ts, token, tc.req)
			refused(t, ts, err, tc.want)
			if after, _ := os.ReadFile(ts.storePath); !bytes.Equal(before, after) {
				t.Error("a refused join changed the token store")
			}
			if n := ts.joinPosts.Load(); n != tc.posts {
				t.Errorf("%d requests reached the join endpoint, want %d", n, tc.posts)
			}
			if tc.posts > 0 {
				var re *RefusedError
				if !errors.As(err, &re) || re.Status != http.StatusForbidden {
					t.Errorf("want a 403 RefusedError, got %#v", err)
				}
			}
			if p, perr := jointoken.Parse(token); perr == nil && strings.Contains(err.Error(), p.Secret) {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
}

// TestJoinRequestRefusals: a request the server would refuse is refused
// by Join before anything is sent, and by the server when sent anyway.
func TestJoinRequestRefusals(t *testing.T) {
	agent := func(mod func(*Request)) Request { r := agentRequest(); mod(&r); return r }
	server := func(peer string) Request { r := serverRequest(); r.PeerURL = peer; return r }
	for _, tc := range []struct {
		name  string
		token jointoken.Role
		req   Request
		msg   string
	}{
		{"name with upper case", jointoken.RoleAgent, agent(func(r *Request) { r.Name = "Agent-1" }), "node name"},
		{"name too long", jointoken.RoleAgent, agent(func(r *Request) { r.Name = strings.Repeat("a", 64) }), "node name"},
		{"name ending in a dash", jointoken.RoleAgent, agent(func(r *Request) { r.Name = "agent-" }), "node name"},
		{"address not an IP", jointoken.RoleAgent, agent(func(r *Request) { r.Address = "node.example" }), "advertise address"},
		{"unspecified address", jointoken.RoleAgent, agent(func(r *Request) { r.Address = "0.0.0.0" }), "advertise address"},
		{"agent with a peer URL", jointoken.RoleAgent, agent(func(r *Request) { r.PeerURL = "https://10.0.0.7:2380" }), "peer URL"},
		{"label key with a space", jointoken.RoleAgent, agent(func(r *Request) { r.Labels = map[string]string{"a b": "c"} }), "label key"},
		{"label value too long", jointoken.RoleAgent, agent(func(r *Request) { r.Labels = map[string]string{"a": strings.Repeat("v", 64)} }), "label a value"},
		{"no peer URL", jointoken.RoleServer, server(""), "peer URL"},
		{"peer URL over http", jointoken.RoleServer, server("http://10.0.0.2:2380"), "peer URL"},
		{"peer URL by name", jointoken.RoleServer, server("https://s2.example:2380"), "peer URL"},
		{"peer URL on another address", jointoken.RoleServer, server("https://10.0.0.3:2380"), "advertise address"},
		{"peer URL without port", jointoken.RoleServer, server("https://10.0.0.2"), "peer URL"},
		{"another role than the token's", jointoken.RoleAgent, serverRequest(), "for role agent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, nil)
			tok := ts.token(t, tc.token, 0).Encode()
			_, err := join(t, ts, tok, tc.req)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Join: error %v, want one about %q", err, tc.msg)
			}
			if n := ts.joinPosts.Load(); n != 0 {
				t.Errorf("Join sent %d requests it knew would be refused", n)
			}
			status, e := rawJoin(t, ts, tok, tc.req)
			want, code := http.StatusBadRequest, "bad_request"
			if errors.Is(err, jointoken.ErrWrongRole) {
				want, code = http.StatusForbidden, apitypes.JoinTokenWrongRole
			}
			if status != want || e.Code != code || !strings.Contains(e.Message, tc.msg) {
				t.Errorf("server: %d %+v, want %d %s about %q", status, e, want, code, tc.msg)
			}
			refused(t, ts, err, err)
		})
	}
}

// rawJoin sends req to the server as Join would without Join's own checks.
func rawJoin(t *testing.T, ts *testServer, token string, req Request) (int, apitypes.Error) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(apitypes.JoinRequest{Token: token, CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})),
		Name: req.Name, Role: string(req.Role), Address: req.Address, Labels: req.Labels, PeerURL: req.PeerURL})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := postRaw(t, context.Background(), ts, body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, errorBody(t, resp)
}

// TestJoinOtherCA: a server of another cluster (or one in the middle with
// a CA of its own) is found out before anything is sent to it.
func TestJoinOtherCA(t *testing.T) {
	real := newTestServer(t, nil)
	tok := real.token(t, jointoken.RoleAgent, 0).Encode()
	other := newTestServer(t, nil)
	_, err := join(t, other, tok, agentRequest())
	refused(t, other, err, ErrCAMismatch)
	if n := other.joinPosts.Load(); n != 0 {
		t.Errorf("%d requests reached the other server's join endpoint: the secret was sent", n)
	}
	if strings.Contains(err.Error(), "nothing was sent") == false {
		t.Errorf("error %q should say nothing was sent", err)
	}
}

// TestJoinBundleWithCopiedCA: one in the middle who puts the real CA in
// the bundle it serves still cannot present a certificate from it.
func TestJoinBundleWithCopiedCA(t *testing.T) {
	realCA, err := pki.NewCA("real")
	if err != nil {
		t.Fatal(err)
	}
	mitmCA, err := pki.NewCA("mitm")
	if err != nil {
		t.Fatal(err)
	}
	mitm := newTestServerCA(t, mitmCA, mitmCA, nil)
	tok, err := jointoken.New(realCA.Cert, jointoken.RoleAgent)
	if err != nil {
		t.Fatal(err)
	}
	// Its bundle holds both CAs.
	bundleSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == CAPath {
			_, _ = w.Write(pki.EncodeCert(mitmCA.Cert, realCA.Cert))
			return
		}
		mitm.srv.Config.Handler.ServeHTTP(w, r)
	}))
	bundleSrv.TLS = mitm.srv.TLS
	bundleSrv.StartTLS()
	defer bundleSrv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = Join(ctx, bundleSrv.URL, tok.Encode(), agentRequest())
	refused(t, mitm, err, ErrCAMismatch)
	if n := mitm.joinPosts.Load(); n != 0 {
		t.Errorf("%d requests reached the join endpoint through an unverified connection", n)
	}
}

func TestJoinAdmitRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		want   error
		status int
	}{
		{"name taken", ErrNameTaken, ErrNameTaken, http.StatusConflict},
		{"cluster unavailable", errors.New("etcd: no leader"), nil, http.StatusServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			ts := newTestServer(t, func(a *Authority) {
				a.Admit = func(ctx context.Context, req Request, role jointoken.Role) (Admission, error) {
					calls++
					return Admission{}, tc.err
				}
			})
			_, err := join(t, ts, ts.token(t, jointoken.RoleAgent, 0).Encode(), agentRequest())
			var re *RefusedError
			if !errors.As(err, &re) || re.Status != tc.status || !strings.Contains(re.Message, tc.err.Error()) {
				t.Fatalf("want a %d RefusedError with Admit's error, got %v", tc.status, err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("%v does not wrap %v", err, tc.want)
			}
			if calls != 1 {
				t.Errorf("Admit called %d times", calls)
			}
		})
	}
}

func TestJoinUnreachable(t *testing.T) {
	ts := newTestServer(t, nil)
	tok := ts.token(t, jointoken.RoleAgent, 0).Encode()
	url := ts.srv.URL
	ts.srv.Close()
	_, err := Join(context.Background(), url, tok, agentRequest())
	if !errors.Is(err, ErrUnreachable) {
		t.Errorf("error %v, want ErrUnreachable", err)
	}
	if _, err := Join(context.Background(), "http://127.0.0.1:1", tok, agentRequest()); err == nil || !strings.Contains(err.Error(), "https://") {
		t.Errorf("a plain http URL: %v", err)
	}
}

// TestJoinWrongHostName: a server reached by a name its certificate lacks
// is told apart from an unreachable one, and gets nothing.
func TestJoinWrongHostName(t *testing.T) {
	ts := newTestServer(t, nil)
	tok := ts.token(t, jointoken.RoleAgent, 0).Encode()
	_, port, _ := net.SplitHostPort(ts.srv.Listener.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Join(ctx, "https://localhost:"+port, tok, agentRequest())
	if err == nil || errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "does not name localhost") {
		t.Fatalf("error %v", err)
	}
	if n := ts.joinPosts.Load(); n != 0 {
		t.Errorf("%d join requests reached the server", n)
	}
}
