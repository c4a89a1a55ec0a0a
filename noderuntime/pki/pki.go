// Package pki holds the node's certificates: a CA of its own, the
// certificates it issues (today the API's serving certificate; in cluster
// mode node and client certificates signed from CSRs), their fingerprints,
// and the files they live in, whose keys are kept private (0600) and refused
// when they are not.
package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Validity of what NewCA and Issue make. A serving certificate is renewed at
// start when it has less than RenewBefore left, so a node restarted now and
// then never serves an expired one.
const (
	CAValidity   = 10 * 365 * 24 * time.Hour
	LeafValidity = 365 * 24 * time.Hour
	RenewBefore  = 30 * 24 * time.Hour
)

// CA is a certificate authority with its private key.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// Usage says what an issued certificate is for.
type Usage int

const (
	ServerAuth Usage = iota
	ClientAuth
	// ServerAndClientAuth is a cluster node's certificate: the node serves
	// its API with it and presents it as a client to the other nodes.
	ServerAndClientAuth
)

// extKeyUsages are the extended key usages a certificate for u holds.
func (u Usage) extKeyUsages() []x509.ExtKeyUsage {
	switch u {
	case ClientAuth:
		return []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	case ServerAndClientAuth:
		return []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	return []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
}

// Request describes a certificate to issue.
type Request struct {
	CommonName string
	DNSNames   []string
	IPs        []net.IP
	Usage      Usage
	Validity   time.Duration // LeafValidity when zero
}

func newKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

// NewCA makes a self-signed CA named name.
func NewCA(name string) (*CA, error) {
	key, err := newKey()
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"ZLayer"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

// Sign issues a certificate for pub, e.g. the key of a CSR that the caller
// has checked (cluster mode signs node CSRs this way).
func (ca *CA) Sign(pub crypto.PublicKey, req Request) (*x509.Certificate, error) {
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	validity := req.Validity
	if validity == 0 {
		validity = LeafValidity
	}
	now := time.Now()
	notAfter := now.Add(validity)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: req.CommonName, Organization: []string{"ZLayer"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           req.Usage.extKeyUsages(),
		BasicConstraintsValid: true,
		DNSNames:              req.DNSNames,
		IPAddresses:           req.IPs,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("issue certificate for %s: %w", req.CommonName, err)
	}
	return x509.ParseCertificate(der)
}

// SignCSR issues a certificate for a CSR after checking its signature; the
// names come from req, never from the CSR, so a requester cannot name
// itself anything it likes.
func (ca *CA) SignCSR(csr *x509.CertificateRequest, req Request) (*x509.Certificate, error) {
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("CSR signature: %w", err)
	}
	return ca.Sign(csr.PublicKey, req)
}

// Issue makes a new key and a certificate for it.
func (ca *CA) Issue(req Request) (*x509.Certificate, crypto.Signer, error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	cert, err := ca.Sign(key.Public(), req)
	return cert, key, err
}

// Fingerprint is "sha256:" and the hex SHA-256 of the certificate's DER, as
// the node prints it and the CLI takes it.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ParseFingerprint checks a "sha256:HEX" fingerprint (colons between the
// hex pairs and upper case are accepted) and returns it normalised.
func ParseFingerprint(s string) (string, error) {
	h, ok := strings.CutPrefix(strings.TrimSpace(s), "sha256:")
	if !ok {
		h, ok = strings.CutPrefix(strings.TrimSpace(s), "SHA256:")
	}
	if !ok {
		return "", fmt.Errorf("fingerprint %q: want sha256:HEX", s)
	}
	h = strings.ToLower(strings.ReplaceAll(h, ":", ""))
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("fingerprint %q: want sha256: and 64 hex digits", s)
	}
	return "sha256:" + h, nil
}

// EncodeCert and EncodeKey give the PEM forms written to disk.
func EncodeCert(certs ...*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

func EncodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParseCerts reads every CERTIFICATE block of a PEM file.
func ParseCerts(path string, data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, data = pem.Decode(data)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no PEM certificate in it", path)
	}
	return out, nil
}

// ParseKey reads a PEM private key (PKCS#8, EC or RSA); path names where
// it came from in errors.
func ParseKey(path string, data []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(data)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM key in it", path)
	}
	var k any
	var err error
	switch blk.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(blk.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	default:
		return nil, fmt.Errorf("%s: unexpected PEM block %q", path, blk.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: key cannot sign", path)
	}
	return s, nil
}

// LooseModeError says a private file can be read by group or others.
type LooseModeError struct {
	Path string
	Mode os.FileMode
}

func (e *LooseModeError) Error() string {
	return fmt.Sprintf("%s has mode %04o: it holds a secret and must not be readable by group or others (fix: chmod 600 %s)", e.Path, e.Mode.Perm(), e.Path)
}

// ReadPrivate reads a file holding a secret, refusing one that group or
// others may read or write: a key someone else could have read is not a
// secret any more, and silently tightening it would hide that.
func ReadPrivate(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, &LooseModeError{Path: path, Mode: st.Mode()}
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(f); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b.Bytes(), nil
}

// WriteFile writes data to path with mode from the first byte on: it is
// written to a temporary file made with that mode in the same folder, then
// renamed into place, so no reader ever sees a partial file or a looser
// mode.
func WriteFile(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	// CreateTemp makes 0600; Chmod before any data widens it only where
	// asked (a certificate is public).
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Files of a node's TLS folder.
const (
	CACertFile      = "ca.crt"
	CAKeyFile       = "ca.key"
	FingerprintFile = "ca.fingerprint"
	ServerCertFile  = "server.crt"
	ServerKeyFile   = "server.key"
)

// LoadCA reads dir/ca.crt and dir/ca.key; it returns an error wrapping
// os.ErrNotExist when there is no CA yet.
func LoadCA(dir string) (*CA, error) {
	cb, err := os.ReadFile(filepath.Join(dir, CACertFile))
	if err != nil {
		return nil, err
	}
	certs, err := ParseCerts(filepath.Join(dir, CACertFile), cb)
	if err != nil {
		return nil, err
	}
	kp := filepath.Join(dir, CAKeyFile)
	kb, err := ReadPrivate(kp)
	if err != nil {
		return nil, err
	}
	key, err := ParseKey(kp, kb)
	if err != nil {
		return nil, err
	}
	if !PublicEqual(certs[0].PublicKey, key.Public()) {
		return nil, fmt.Errorf("%s does not match the certificate in %s", kp, filepath.Join(dir, CACertFile))
	}
	return &CA{Cert: certs[0], Key: key}, nil
}

// PublicEqual reports whether two public keys are the same key.
func PublicEqual(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}

// Save writes the CA into dir: its key 0600, its certificate and
// fingerprint 0644 (they are what clients are given).
func (ca *CA) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	kb, err := EncodeKey(ca.Key)
	if err != nil {
		return err
	}
	// The key first: a certificate without its key is useless, a key
	// without its certificate is regenerated.
	if err := WriteFile(filepath.Join(dir, CAKeyFile), kb, 0o600); err != nil {
		return err
	}
	if err := WriteFile(filepath.Join(dir, CACertFile), EncodeCert(ca.Cert), 0o644); err != nil {
		return err
	}
	return WriteFile(filepath.Join(dir, FingerprintFile), []byte(Fingerprint(ca.Cert)+"\n"), 0o644)
}

// LoadOrCreateCA returns the CA in dir, making and saving one named name
// when there is none. created reports a new CA.
func LoadOrCreateCA(dir, name string) (ca *CA, created bool, err error) {
	ca, err = LoadCA(dir)
	if err == nil {
		// The fingerprint file is derived: rewrite it if it went missing.
		fp := filepath.Join(dir, FingerprintFile)
		if b, rerr := os.ReadFile(fp); rerr != nil || strings.TrimSpace(string(b)) != Fingerprint(ca.Cert) {
			if err := WriteFile(fp, []byte(Fingerprint(ca.Cert)+"\n"), 0o644); err != nil {
				return nil, false, err
			}
		}
		return ca, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, false, fmt.Errorf("node CA in %s: %w", dir, err)
	}
	// Only a missing certificate means "first start": a certificate whose
	// key is missing is an error (the fingerprint clients trust would
	// change silently otherwise).
	if _, serr := os.Stat(filepath.Join(dir, CACertFile)); serr == nil {
		return nil, false, fmt.Errorf("node CA in %s: %w (remove %s to make a new CA; clients must then trust the new fingerprint)", dir, err, filepath.Join(dir, CACertFile))
	}
	if ca, err = NewCA(name); err != nil {
		return nil, false, err
	}
	if err := ca.Save(dir); err != nil {
		return nil, false, fmt.Errorf("save node CA in %s: %w", dir, err)
	}
	return ca, true, nil
}

// Names are the subject alternative names a serving certificate must hold.
type Names struct {
	DNS []string
	IPs []net.IP
}

// ParseNames sorts SAN strings into IPs and DNS names, dropping duplicates.
func ParseNames(sans ...string) Names {
	var n Names
	for _, s := range sans {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if ip := net.ParseIP(s); ip != nil {
			if !slices.ContainsFunc(n.IPs, ip.Equal) {
				n.IPs = append(n.IPs, ip)
			}
		} else if !slices.Contains(n.DNS, strings.ToLower(s)) {
			n.DNS = append(n.DNS, strings.ToLower(s))
		}
	}
	return n
}

// covers reports whether cert names every name of n.
func (n Names) coveredBy(cert *x509.Certificate) bool {
	for _, d := range n.DNS {
		if !slices.Contains(cert.DNSNames, d) {
			return false
		}
	}
	for _, ip := range n.IPs {
		if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

// ServingCert returns the serving certificate in dir (server.crt,
// server.key), issuing a new one from ca when there is none, when it lacks
// one of names, is not signed by ca, or expires within RenewBefore. The
// chain served is the certificate then the CA, so a client that pins the
// CA's fingerprint finds it in the handshake.
func ServingCert(dir string, ca *CA, cn string, names Names) (tls.Certificate, error) {
	cp, kp := filepath.Join(dir, ServerCertFile), filepath.Join(dir, ServerKeyFile)
	if c, err := LoadKeyPair(cp, kp); err == nil {
		leaf := c.Leaf
		if leaf.CheckSignatureFrom(ca.Cert) == nil && names.coveredBy(leaf) && time.Until(leaf.NotAfter) > RenewBefore {
			return c, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return tls.Certificate{}, err
	}
	cert, key, err := ca.Issue(Request{CommonName: cn, DNSNames: names.DNS, IPs: names.IPs, Usage: ServerAuth})
	if err != nil {
		return tls.Certificate{}, err
	}
	kb, err := EncodeKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return tls.Certificate{}, err
	}
	if err := WriteFile(kp, kb, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := WriteFile(cp, EncodeCert(cert, ca.Cert), 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{cert.Raw, ca.Cert.Raw}, PrivateKey: key, Leaf: cert}, nil
}

// LoadKeyPair loads a PEM certificate chain and its key (which must be
// 0600, see ReadPrivate), e.g. from --tls-cert and --tls-key.
func LoadKeyPair(certPath, keyPath string) (tls.Certificate, error) {
	cb, err := os.ReadFile(certPath)
	if err != nil {
		return tls.Certificate{}, err
	}
	kb, err := ReadPrivate(keyPath)
	if err != nil {
		return tls.Certificate{}, err
	}
	c, err := tls.X509KeyPair(cb, kb)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s and %s: %w", certPath, keyPath, err)
	}
	return c, nil
}

// NodeNames are the names a node's API is reached by: localhost and the
// loopback addresses, the hostname, the addresses of the node's interfaces
// (link-local ones excepted: they name no host) and extra (--tls-san).
func NodeNames(extra ...string) Names {
	sans := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil {
		sans = append(sans, h)
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLinkLocalUnicast() && !ipn.IP.IsLinkLocalMulticast() {
				sans = append(sans, ipn.IP.String())
			}
		}
	}
	return ParseNames(append(sans, extra...)...)
}
