package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCAAndServingCert(t *testing.T) {
	dir := t.TempDir()
	ca, created, err := LoadOrCreateCA(dir, "test CA")
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	for f, want := range map[string]os.FileMode{CAKeyFile: 0o600, CACertFile: 0o644, FingerprintFile: 0o644} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want %04o", f, st.Mode(), err, want)
		}
	}
	fp, _ := os.ReadFile(filepath.Join(dir, FingerprintFile))
	if strings.TrimSpace(string(fp)) != Fingerprint(ca.Cert) {
		t.Errorf("fingerprint file %q, want %q", fp, Fingerprint(ca.Cert))
	}
	again, created, err := LoadOrCreateCA(dir, "test CA")
	if err != nil || created || !again.Cert.Equal(ca.Cert) {
		t.Fatalf("reload: %v %v", created, err)
	}

	names := ParseNames("localhost", "127.0.0.1", "::1", "node.example", "node.example")
	if len(names.DNS) != 2 || len(names.IPs) != 2 {
		t.Fatalf("names %+v", names)
	}
	c, err := ServingCert(dir, ca, "node", names)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(filepath.Join(dir, ServerKeyFile)); st.Mode().Perm() != 0o600 {
		t.Errorf("server key mode %v", st.Mode())
	}
	if len(c.Certificate) != 2 {
		t.Errorf("chain of %d certificates, want leaf and CA", len(c.Certificate))
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	for _, name := range []string{"localhost", "127.0.0.1", "::1", "node.example"} {
		if _, err := c.Leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: name}); err != nil {
			t.Errorf("verify %s: %v", name, err)
		}
	}
	if _, err := c.Leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "other.example"}); err == nil {
		t.Error("verified for a name it does not hold")
	}
	// Same names: the same certificate; a new name: a new one.
	same, err := ServingCert(dir, ca, "node", names)
	if err != nil || !same.Leaf.Equal(c.Leaf) {
		t.Errorf("reissued with unchanged names: %v", err)
	}
	more := names
	more.IPs = append(more.IPs, net.ParseIP("10.1.2.3"))
	fresh, err := ServingCert(dir, ca, "node", more)
	if err != nil || fresh.Leaf.Equal(c.Leaf) {
		t.Fatalf("not reissued for a new SAN: %v", err)
	}
	if _, err := fresh.Leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "10.1.2.3"}); err != nil {
		t.Errorf("new SAN: %v", err)
	}
	// Another CA's certificate is replaced.
	other, _ := NewCA("other")
	byOther, err := ServingCert(dir, other, "node", more)
	if err != nil || byOther.Leaf.CheckSignatureFrom(other.Cert) != nil {
		t.Errorf("not reissued by the new CA: %v", err)
	}
	if _, err := tls.LoadX509KeyPair(filepath.Join(dir, ServerCertFile), filepath.Join(dir, ServerKeyFile)); err != nil {
		t.Errorf("saved pair: %v", err)
	}
}

func TestLooseKeyRefused(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := LoadOrCreateCA(dir, "x"); err != nil {
		t.Fatal(err)
	}
	kp := filepath.Join(dir, CAKeyFile)
	if err := os.Chmod(kp, 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := LoadOrCreateCA(dir, "x")
	var lm *LooseModeError
	if !errors.As(err, &lm) || lm.Path != kp || !strings.Contains(err.Error(), "chmod 600 "+kp) {
		t.Errorf("loose CA key: %v", err)
	}
	// A missing key beside an existing certificate is not a first start.
	os.Remove(kp)
	if _, _, err := LoadOrCreateCA(dir, "x"); err == nil || !strings.Contains(err.Error(), "remove") {
		t.Errorf("certificate without key: %v", err)
	}
}

func TestSignCSRAndFingerprints(t *testing.T) {
	ca, _ := NewCA("x")
	key, _ := newKey()
	der, err := x509.CreateCertificateRequest(nil, &x509.CertificateRequest{DNSNames: []string{"evil.example"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, _ := x509.ParseCertificateRequest(der)
	c, err := ca.SignCSR(csr, Request{CommonName: "node-2", DNSNames: []string{"node-2"}, Usage: ClientAuth})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.DNSNames) != 1 || c.DNSNames[0] != "node-2" || c.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth || c.CheckSignatureFrom(ca.Cert) != nil {
		t.Errorf("CSR certificate: %v %v", c.DNSNames, c.ExtKeyUsage)
	}
	fp := Fingerprint(ca.Cert)
	if len(fp) != len("sha256:")+64 {
		t.Errorf("fingerprint %q", fp)
	}
	colons := "SHA256:" + strings.ToUpper(strings.Join(chunks(strings.TrimPrefix(fp, "sha256:")), ":"))
	if got, err := ParseFingerprint(colons); err != nil || got != fp {
		t.Errorf("parse %q: %q %v", colons, got, err)
	}
	for _, bad := range []string{"", "md5:00", "sha256:abc", "sha256:" + strings.Repeat("zz", 32), strings.TrimPrefix(fp, "sha256:")} {
		if _, err := ParseFingerprint(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func chunks(s string) []string {
	var out []string
	for i := 0; i < len(s); i += 2 {
		out = append(out, s[i:i+2])
	}
	return out
}

func TestWriteFileMode(t *testing.T) {
	p := filepath.Join(t.TempDir(), "k")
	if err := WriteFile(p, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
	if b, err := ReadPrivate(p); err != nil || string(b) != "x" {
		t.Errorf("read: %q %v", b, err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(p), ".k.*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestUsage checks each Usage's extended key usages through what crypto/x509
// verification accepts, which is what a TLS peer checks.
func TestUsage(t *testing.T) {
	ca, err := NewCA("x")
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	for _, tc := range []struct {
		usage          Usage
		server, client bool
	}{
		{ServerAuth, true, false},
		{ClientAuth, false, true},
		{ServerAndClientAuth, true, true},
	} {
		c, _, err := ca.Issue(Request{CommonName: "n", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Usage: tc.usage})
		if err != nil {
			t.Fatal(err)
		}
		for eku, want := range map[x509.ExtKeyUsage]bool{x509.ExtKeyUsageServerAuth: tc.server, x509.ExtKeyUsageClientAuth: tc.client} {
			_, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{eku}})
			if (err == nil) != want {
				t.Errorf("usage %d, EKU %d: verify error %v, want valid=%v", tc.usage, eku, err, want)
			}
		}
	}
}
