package apiclient

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zlayer/zlayer/noderuntime/api"
	"github.com/zlayer/zlayer/noderuntime/pki"
)

// tlsNode serves /health/live over TLS with a fresh CA's certificate for
// 127.0.0.1, as a node does.
func tlsNode(t *testing.T) (*httptest.Server, *pki.CA, string) {
	dir := t.TempDir()
	ca, _, err := pki.LoadOrCreateCA(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.ServingCert(dir, ca, "node", pki.ParseNames("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	srv.TLS = api.TLSConfig(cert)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, ca, filepath.Join(dir, pki.CACertFile)
}

func get(t *testing.T, url string, o Options) error {
	t.Helper()
	c, err := NewWith(url, o)
	if err != nil {
		return err
	}
	_, err = c.Raw(context.Background(), "/health/live")
	return err
}

func TestTrust(t *testing.T) {
	srv, ca, caFile := tlsNode(t)
	fp := pki.Fingerprint(ca.Cert)
	known := filepath.Join(t.TempDir(), "zlayer", "known_nodes")
	addr := strings.TrimPrefix(srv.URL, "https://")

	// Nothing given or remembered: refused, with what to trust.
	err := get(t, srv.URL, Options{KnownNodes: known})
	var ue *UntrustedError
	if !errors.As(err, &ue) || ue.Fingerprint != fp || !strings.Contains(err.Error(), "--ca-fingerprint "+fp) {
		t.Fatalf("untrusted node: %v", err)
	}
	if err := get(t, srv.URL, Options{CAFile: caFile}); err != nil {
		t.Errorf("--ca-file: %v", err)
	}
	other, _ := pki.NewCA("other")
	otherFile := filepath.Join(t.TempDir(), "other.crt")
	if err := os.WriteFile(otherFile, pki.EncodeCert(other.Cert), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := get(t, srv.URL, Options{CAFile: otherFile}); err == nil {
		t.Error("another CA's file verified the node")
	}
	if err := get(t, srv.URL, Options{CAFingerprint: pki.Fingerprint(other.Cert), KnownNodes: known}); err == nil {
		t.Error("a wrong fingerprint was accepted")
	}
	if _, err := os.Stat(known); err == nil {
		t.Error("a refused node was remembered")
	}
	// Given once, remembered.
	if err := get(t, srv.URL, Options{CAFingerprint: fp, KnownNodes: known}); err != nil {
		t.Fatalf("--ca-fingerprint: %v", err)
	}
	b, _ := os.ReadFile(known)
	if string(b) != addr+" "+fp+"\n" {
		t.Errorf("known nodes: %q", b)
	}
	if st, _ := os.Stat(known); st.Mode().Perm() != 0o600 {
		t.Errorf("known nodes mode %v", st.Mode())
	}
	if err := get(t, srv.URL, Options{KnownNodes: known}); err != nil {
		t.Errorf("remembered: %v", err)
	}
	if err := get(t, "tcp://"+addr, Options{KnownNodes: known}); err != nil {
		t.Errorf("tcp:// is https: %v", err)
	}
	// A fingerprint contradicting the remembered one is refused up front.
	var ce *ChangedError
	if err := get(t, srv.URL, Options{CAFingerprint: pki.Fingerprint(other.Cert), KnownNodes: known}); !errors.As(err, &ce) || ce.Line != 1 {
		t.Errorf("contradicting fingerprint: %v", err)
	}
	// The same address, now served under another CA: a loud refusal.
	if err := os.WriteFile(known, []byte("# nodes\n"+addr+" "+pki.Fingerprint(other.Cert)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = get(t, srv.URL, Options{KnownNodes: known})
	if !errors.As(err, &ce) || ce.Line != 2 || ce.Presented != fp || !strings.Contains(err.Error(), "HAS CHANGED") {
		t.Errorf("changed CA: %v", err)
	}
	// Plain HTTP to the TLS port: a clear error.
	err = get(t, "http://"+addr, Options{})
	if err == nil || !strings.Contains(err.Error(), "serves TLS") {
		t.Errorf("http:// to TLS: %v", err)
	}
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer plain.Close()
	err = get(t, "https://"+strings.TrimPrefix(plain.URL, "http://"), Options{CAFile: caFile})
	if err == nil || !strings.Contains(err.Error(), "does not speak TLS") {
		t.Errorf("https:// to plain: %v", err)
	}
}
