package ingress

import (
	"bytes"
	"crypto/tls"
	"strings"
	"testing"
)

// TestClusterCerts: the cluster's certificates are served for their hosts,
// a later one winning a host two name; the node's own win over them; one
// that does not load is reported by its hosts, never its key, and the
// others still apply; dropping them falls back to self-signed.
func TestClusterCerts(t *testing.T) {
	own := writeCert(t, t.TempDir(), "a.example.com")
	ownPEM, err := ReadCerts([]Cert{own})
	if err != nil || len(ownPEM) != 1 {
		t.Fatalf("ReadCerts: %v", err)
	}
	g := newIngress(t, Options{DataDir: t.TempDir(), Certs: []Cert{own}})
	pem := func(name string) CertPEM {
		c, k, err := generate(name)
		if err != nil {
			t.Fatal(err)
		}
		return CertPEM{Cert: c, Key: k}
	}
	shadowed, first, later := pem("a.example.com"), pem("c.example.com"), pem("c.example.com")
	wild := pem("w.example.org")
	wild.Hosts = []string{"*.example.org"}
	bad := CertPEM{Hosts: []string{"bad.example.com"}, Cert: first.Cert, Key: []byte("-----BEGIN EC PRIVATE KEY-----\nc2VjcmV0\n-----END EC PRIVATE KEY-----\n")}
	err = g.SetClusterCerts([]CertPEM{shadowed, first, later, wild, bad})
	if err == nil || !strings.Contains(err.Error(), "bad.example.com") || strings.Contains(err.Error(), "c2VjcmV0") {
		t.Fatalf("bad certificate: err %v, want it named by its hosts without its key", err)
	}
	served := func(name string) []byte {
		c, err := g.certs.get(&tls.ClientHelloInfo{ServerName: name})
		if err != nil {
			t.Fatal(err)
		}
		return c.Certificate[0]
	}
	leaf := func(p CertPEM) []byte {
		kp, err := tls.X509KeyPair(p.Cert, p.Key)
		if err != nil {
			t.Fatal(err)
		}
		return kp.Certificate[0]
	}
	if !bytes.Equal(served("a.example.com"), leaf(ownPEM[0])) {
		t.Error("a.example.com: the node's own certificate lost to the cluster's")
	}
	if !bytes.Equal(served("c.example.com"), leaf(later)) {
		t.Error("c.example.com: not the later of the cluster's two")
	}
	if !bytes.Equal(served("x.example.org"), leaf(wild)) {
		t.Error("x.example.org: the cluster's wildcard not served")
	}
	if err := g.SetClusterCerts(nil); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(served("c.example.com"), leaf(later)) {
		t.Error("c.example.com still served after the cluster's certificates went")
	}
	if !bytes.Equal(served("a.example.com"), leaf(ownPEM[0])) {
		t.Error("a.example.com: the node's own certificate went with the cluster's")
	}
}
