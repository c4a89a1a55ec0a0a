package clusterjoin

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/zlayer/zlayer/noderuntime/jointoken"
	"github.com/zlayer/zlayer/noderuntime/pki"
)

func sameIdentity(t *testing.T, got, want *Identity) {
	t.Helper()
	if got.Name != want.Name || got.Role != want.Role || got.Advertise != want.Advertise || !slices.Equal(got.Servers, want.Servers) {
		t.Errorf("loaded %s %s %s %v, want %s %s %s %v", got.Name, got.Role, got.Advertise, got.Servers, want.Name, want.Role, want.Advertise, want.Servers)
	}
	if !got.Cert.Equal(want.Cert) || !got.CA.Equal(want.CA) || !pki.PublicEqual(got.Key.Public(), want.Key.Public()) {
		t.Error("loaded certificate, CA or key differ from the saved ones")
	}
	if (got.CAKey == nil) != (want.CAKey == nil) || (got.CAKey != nil && !pki.PublicEqual(got.CAKey.Public(), want.CAKey.Public())) {
		t.Errorf("loaded CA key %v, want %v", got.CAKey != nil, want.CAKey != nil)
	}
}

func TestIdentitySaveLoad(t *testing.T) {
	ts := newTestServer(t, nil)
	agent, err := join(t, ts, ts.token(t, jointoken.RoleAgent, 0).Encode(), agentRequest())
	if err != nil {
		t.Fatal(err)
	}
	server, err := join(t, ts, ts.token(t, jointoken.RoleServer, 0).Encode(), serverRequest())
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []*Identity{&agent.Identity, &server.Identity} {
		t.Run(id.Role, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), Dir)
			if _, err := LoadIdentity(dir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("no identity yet: %v, want os.ErrNotExist", err)
			}
			if err := id.Save(dir); err != nil {
				t.Fatal(err)
			}
			want := map[string]os.FileMode{NodeCertFile: 0o644, NodeKeyFile: 0o600, CACertFile: 0o644, IdentityFile: 0o644}
			if id.Role == "server" {
				want[CAKeyFile] = 0o600
			}
			ents, _ := os.ReadDir(dir)
			if len(ents) != len(want) {
				t.Errorf("files %v, want %v", ents, want)
			}
			for f, mode := range want {
				if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Mode().Perm() != mode {
					t.Errorf("%s: %v, want mode %04o", f, err, mode)
				}
			}
			var f identityFile
			b, _ := os.ReadFile(filepath.Join(dir, IdentityFile))
			if err := json.Unmarshal(b, &f); err != nil || f.ClusterID != jointoken.CAHash(ts.ca.Cert) || f.Name != id.Name {
				t.Errorf("identity.json %s: %v", b, err)
			}
			got, err := LoadIdentity(dir)
			if err != nil {
				t.Fatal(err)
			}
			sameIdentity(t, got, id)

			// A key someone else may read is refused, not tightened.
			kp := filepath.Join(dir, NodeKeyFile)
			if err := os.Chmod(kp, 0o640); err != nil {
				t.Fatal(err)
			}
			var lm *pki.LooseModeError
			if _, err := LoadIdentity(dir); !errors.As(err, &lm) || lm.Path != kp {
				t.Errorf("loose node key: %v", err)
			}
			if err := os.Chmod(kp, 0o600); err != nil {
				t.Fatal(err)
			}
			// A missing key is a broken identity, not an absent one.
			os.Remove(kp)
			if _, err := LoadIdentity(dir); err == nil || errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "incomplete") {
				t.Errorf("missing node key: %v", err)
			}
		})
	}
	// A server's loose CA key too.
	dir := t.TempDir()
	if err := server.Identity.Save(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, CAKeyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	var lm *pki.LooseModeError
	if _, err := LoadIdentity(dir); !errors.As(err, &lm) {
		t.Errorf("loose CA key: %v", err)
	}
	// An agent's identity saved over a server's leaves no CA key behind.
	if err := os.Chmod(filepath.Join(dir, CAKeyFile), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := agent.Identity.Save(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, CAKeyFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("CA key left in an agent's identity: %v", err)
	}
	got, err := LoadIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	sameIdentity(t, got, &agent.Identity)
}

func TestIdentityMismatchRefused(t *testing.T) {
	ca, _ := pki.NewCA("a")
	other, _ := pki.NewCA("b")
	id, err := NewInitIdentity(ca, "s1", "10.0.0.1", pki.Names{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := id.Save(dir); err != nil {
		t.Fatal(err)
	}
	// Another cluster's CA in ca.crt: its hash is not identity.json's.
	if err := pki.WriteFile(filepath.Join(dir, CACertFile), pki.EncodeCert(other.Cert), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadIdentity(dir); err == nil || !strings.Contains(err.Error(), "cluster") {
		t.Errorf("CA of another cluster: %v", err)
	}
	bad := *id
	bad.Key = other.Key
	if err := bad.Save(t.TempDir()); err == nil {
		t.Error("saved an identity whose key is not its certificate's")
	}
	bad = *id
	bad.Role = "agent"
	if err := bad.Save(t.TempDir()); err == nil {
		t.Error("saved an agent identity with a server's certificate and the CA key")
	}
}

func TestNewInitIdentity(t *testing.T) {
	ca, err := pki.NewCA("init")
	if err != nil {
		t.Fatal(err)
	}
	names := pki.ParseNames("node-1.example", "192.168.1.5", "127.0.0.1")
	id, err := NewInitIdentity(ca, "node-1", "10.0.0.1", names)
	if err != nil {
		t.Fatal(err)
	}
	checkCertNames(t, id, ca, "zlayer-server:node-1")
	var ips []string
	for _, ip := range id.Cert.IPAddresses {
		ips = append(ips, ip.String())
	}
	if !slices.Equal(ips, []string{"10.0.0.1", "127.0.0.1", "192.168.1.5"}) || !slices.Equal(id.Cert.DNSNames, []string{"node-1.example"}) {
		t.Errorf("SANs %v %v", ips, id.Cert.DNSNames)
	}
	if id.CAKey == nil || id.Role != "server" {
		t.Errorf("the init node is a server with the CA key: %s %v", id.Role, id.CAKey != nil)
	}
	for _, bad := range [][2]string{{"Node_1", "10.0.0.1"}, {"node-1", "::"}, {"node-1", "host"}} {
		if _, err := NewInitIdentity(ca, bad[0], bad[1], pki.Names{}); err == nil {
			t.Errorf("accepted name %q, address %q", bad[0], bad[1])
		}
	}
}

// checkCertNames is checkCert without the SAN list.
func checkCertNames(t *testing.T, id *Identity, ca *pki.CA, cn string) {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	if id.Cert.Subject.CommonName != cn {
		t.Errorf("CN %q, want %q", id.Cert.Subject.CommonName, cn)
	}
	for _, eku := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := id.Cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{eku}}); err != nil {
			t.Errorf("EKU %d: %v", eku, err)
		}
	}
}

func TestRenew(t *testing.T) {
	ca, _ := pki.NewCA("renew")
	id, err := NewInitIdentity(ca, "s1", "10.0.0.1", pki.ParseNames("s1.example"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := id.Save(dir); err != nil {
		t.Fatal(err)
	}
	if renewed, err := id.Renew(dir); err != nil || renewed {
		t.Fatalf("a new certificate was renewed: %v %v", renewed, err)
	}
	// One that expires within RenewBefore, for the same key.
	short, err := ca.Sign(id.Key.Public(), pki.Request{CommonName: id.Cert.Subject.CommonName, DNSNames: id.Cert.DNSNames,
		IPs: id.Cert.IPAddresses, Usage: pki.ServerAndClientAuth, Validity: pki.RenewBefore / 2})
	if err != nil {
		t.Fatal(err)
	}
	id.Cert = short
	if err := id.Save(dir); err != nil {
		t.Fatal(err)
	}
	renewed, err := id.Renew(dir)
	if err != nil || !renewed {
		t.Fatalf("renew: %v %v", renewed, err)
	}
	if !id.Cert.NotAfter.After(short.NotAfter.Add(pki.RenewBefore)) {
		t.Errorf("renewed certificate ends %s, the old one %s", id.Cert.NotAfter, short.NotAfter)
	}
	if !slices.Equal(id.Cert.DNSNames, short.DNSNames) || len(id.Cert.IPAddresses) != len(short.IPAddresses) || id.Cert.Subject.CommonName != short.Subject.CommonName {
		t.Errorf("renewed names %v %v %s", id.Cert.DNSNames, id.Cert.IPAddresses, id.Cert.Subject.CommonName)
	}
	got, err := LoadIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	sameIdentity(t, got, id)

	// An agent cannot renew itself.
	agentCert, agentKey, err := ca.Issue(pki.Request{CommonName: CertName("agent", "a1"), IPs: []net.IP{net.IPv4(10, 0, 0, 9)},
		Usage: pki.ServerAndClientAuth, Validity: pki.RenewBefore / 2})
	if err != nil {
		t.Fatal(err)
	}
	agent := &Identity{Name: "a1", Role: "agent", Cert: agentCert, Key: agentKey, CA: ca.Cert, Advertise: "10.0.0.9"}
	if renewed, err := agent.Renew(t.TempDir()); err == nil || renewed || !strings.Contains(err.Error(), "join it anew") {
		t.Errorf("agent renew: %v %v", renewed, err)
	}
}

// TestPeerOf names the client of a real mutual TLS handshake from its
// certificate, and nothing when there is none.
func TestPeerOf(t *testing.T) {
	ca, _ := pki.NewCA("peer")
	server, err := NewInitIdentity(ca, "s1", "127.0.0.1", pki.Names{})
	if err != nil {
		t.Fatal(err)
	}
	agentCert, agentKey, err := ca.Issue(pki.Request{CommonName: CertName("agent", "a1"), Usage: pki.ServerAndClientAuth})
	if err != nil {
		t.Fatal(err)
	}
	agent := &Identity{Name: "a1", Role: "agent", Cert: agentCert, Key: agentKey, CA: ca.Cert}
	serving, err := server.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		role, name, ok := PeerOf(r.TLS)
		if !ok {
			io.WriteString(w, "-")
			return
		}
		io.WriteString(w, role+" "+name)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{serving}, ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven}
	srv.StartTLS()
	defer srv.Close()

	ask := func(id *Identity) string {
		t.Helper()
		cfg := &tls.Config{RootCAs: pool}
		if id != nil {
			c, err := id.TLSCertificate()
			if err != nil {
				t.Fatal(err)
			}
			cfg.Certificates = []tls.Certificate{c}
		}
		cl := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
		defer cl.CloseIdleConnections()
		resp, err := cl.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := ask(agent); got != "agent a1" {
		t.Errorf("agent's client certificate: %q", got)
	}
	if got := ask(server); got != "server s1" {
		t.Errorf("server's client certificate: %q", got)
	}
	if got := ask(nil); got != "-" {
		t.Errorf("no client certificate: %q", got)
	}
	if _, _, ok := PeerOf(nil); ok {
		t.Error("PeerOf(nil) named a peer")
	}
	// An unverified certificate (PeerCertificates only) names nobody.
	if _, _, ok := PeerOf(&tls.ConnectionState{PeerCertificates: []*x509.Certificate{agentCert}}); ok {
		t.Error("an unverified certificate named a peer")
	}
	for _, cn := range []string{"zlayer-admin:x", "zlayer-agent:", "zlayer-agent:Bad_Name", "agent:a1", "zlayer-agent"} {
		if _, _, ok := parseCertName(cn); ok {
			t.Errorf("CN %q named a peer", cn)
		}
	}
}

func TestIdentityDirIsPrivate(t *testing.T) {
	ca, _ := pki.NewCA("d")
	id, err := NewInitIdentity(ca, "s1", "10.0.0.1", pki.Names{})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), Dir)
	if err := id.Save(dir); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("identity folder: %v %v", st.Mode(), err)
	}
}
