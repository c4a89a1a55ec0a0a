package ingress

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Cert is a certificate from the node config. Hosts lists the names it is
// served for; when empty, the names in the certificate itself are used.
type Cert struct {
	Hosts    []string `yaml:"hosts" json:"hosts,omitempty" doc:"Host names (SNI) the certificate serves."`
	CertFile string   `yaml:"cert" json:"cert" doc:"PEM certificate file."`
	KeyFile  string   `yaml:"key" json:"key" doc:"PEM private key file."`
}

// DefaultName is the self-signed certificate's name for clients that send
// no SNI.
const DefaultName = "zlayer.local"

// CertPEM is a certificate with its key, as PEM: one the cluster shares
// (noderuntime/cluster keeps them in the cluster state). Hosts as in Cert.
type CertPEM struct {
	Hosts     []string
	Cert, Key []byte
}

// SameCerts reports whether a and b hold the same certificates in the
// same order.
func SameCerts(a, b []CertPEM) bool {
	return slices.EqualFunc(a, b, func(x, y CertPEM) bool {
		return slices.Equal(x.Hosts, y.Hosts) && bytes.Equal(x.Cert, y.Cert) && bytes.Equal(x.Key, y.Key)
	})
}

// ReadCerts reads the node config's certificates into PEM, checking that
// each pair loads.
func ReadCerts(certs []Cert) ([]CertPEM, error) {
	var out []CertPEM
	for i, c := range certs {
		cert, err := os.ReadFile(c.CertFile)
		if err != nil {
			return nil, fmt.Errorf("ingress certs[%d]: %w", i, err)
		}
		key, err := os.ReadFile(c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("ingress certs[%d]: %w", i, err)
		}
		if _, err := tls.X509KeyPair(cert, key); err != nil {
			return nil, fmt.Errorf("ingress certs[%d] (%s, %s): %w", i, c.CertFile, c.KeyFile, err)
		}
		out = append(out, CertPEM{Hosts: c.Hosts, Cert: cert, Key: key})
	}
	return out, nil
}

// certStore picks a certificate by SNI: a configured one for the exact name,
// then for its wildcard, else a self-signed one for that name, generated
// once and kept in the data dir. The configured ones are the node's own
// over the cluster's, host by host.
type certStore struct {
	dir string

	// own are the node config's by host; byName is what get reads, own
	// over the cluster's, replaced whole when the cluster's change.
	own    map[string]*tls.Certificate
	byName atomic.Pointer[map[string]*tls.Certificate]

	mu   sync.Mutex
	self map[string]*tls.Certificate
}

func newCertStore(dataDir string, certs []Cert) (*certStore, error) {
	cs := &certStore{own: map[string]*tls.Certificate{}, self: map[string]*tls.Certificate{}}
	if dataDir != "" {
		cs.dir = filepath.Join(dataDir, "ingress", "tls")
	}
	for i, c := range certs {
		kp, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("ingress certs[%d] (%s, %s): %w", i, c.CertFile, c.KeyFile, err)
		}
		if err := addPair(cs.own, &kp, c.Hosts); err != nil {
			return nil, fmt.Errorf("ingress certs[%d] %s: %w", i, c.CertFile, err)
		}
	}
	cs.byName.Store(&cs.own)
	return cs, nil
}

// addPair files kp under each of hosts (by default the names in the
// certificate).
func addPair(m map[string]*tls.Certificate, kp *tls.Certificate, hosts []string) error {
	leaf, err := x509.ParseCertificate(kp.Certificate[0])
	if err != nil {
		return err
	}
	kp.Leaf = leaf
	if len(hosts) == 0 {
		hosts = leaf.DNSNames
		if len(hosts) == 0 && leaf.Subject.CommonName != "" {
			hosts = []string{leaf.Subject.CommonName}
		}
	}
	if len(hosts) == 0 {
		return errors.New("no hosts given and none in the certificate")
	}
	for _, h := range hosts {
		m[strings.ToLower(h)] = kp
	}
	return nil
}

// setShared makes certs (in order: a later one wins a host) the ones
// served besides the node's own. A pair that does not load is left out and
// reported by its hosts (never its contents); the others apply.
func (cs *certStore) setShared(certs []CertPEM) error {
	m := map[string]*tls.Certificate{}
	var errs []error
	for i, c := range certs {
		kp, err := tls.X509KeyPair(c.Cert, c.Key)
		if err == nil {
			err = addPair(m, &kp, c.Hosts)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("cluster certificate %d (hosts %v): %w", i, c.Hosts, err))
		}
	}
	for h, kp := range cs.own {
		m[h] = kp
	}
	cs.byName.Store(&m)
	return errors.Join(errs...)
}

func (cs *certStore) get(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	byName := *cs.byName.Load()
	if c := byName[name]; c != nil {
		return c, nil
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		if c := byName["*"+name[i:]]; c != nil {
			return c, nil
		}
	}
	if name == "" {
		name = DefaultName
	}
	return cs.selfSigned(name)
}

// selfSigned returns the self-signed certificate for name, loading it from
// the data dir or generating and saving it the first time.
func (cs *certStore) selfSigned(name string) (*tls.Certificate, error) {
	if !validName(name) {
		name = DefaultName
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if c := cs.self[name]; c != nil {
		return c, nil
	}
	if len(cs.self) >= maxSelfSigned && name != DefaultName {
		// Clients choose SNI names; do not let them fill the disk.
		cs.mu.Unlock()
		defer cs.mu.Lock()
		return cs.selfSigned(DefaultName)
	}
	var certPath, keyPath string
	if cs.dir != "" {
		certPath, keyPath = filepath.Join(cs.dir, name+".crt"), filepath.Join(cs.dir, name+".key")
		if kp, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil {
			if leaf, err := x509.ParseCertificate(kp.Certificate[0]); err == nil && time.Now().Before(leaf.NotAfter) {
				kp.Leaf = leaf
				cs.self[name] = &kp
				return &kp, nil
			}
		}
	}
	certPEM, keyPEM, err := generate(name)
	if err != nil {
		return nil, err
	}
	kp, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	if cs.dir != "" {
		if err := os.MkdirAll(cs.dir, 0o700); err != nil {
			return nil, err
		}
		if err := errors.Join(os.WriteFile(keyPath, keyPEM, 0o600), os.WriteFile(certPath, certPEM, 0o644)); err != nil {
			return nil, fmt.Errorf("save self-signed certificate: %w", err)
		}
	}
	cs.self[name] = &kp
	return &kp, nil
}

// maxSelfSigned bounds how many names get their own self-signed certificate.
const maxSelfSigned = 256

// validName accepts DNS names only (what may become a file name).
func validName(n string) bool {
	if n == "" || len(n) > 253 || strings.HasPrefix(n, ".") || strings.Contains(n, "..") {
		return false
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

func generate(name string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"ZLayer node (self-signed)"}},
		DNSNames:              []string{name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(397 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), nil
}
