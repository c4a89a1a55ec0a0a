package clusterjoin

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/zlayer/zlayer/noderuntime/jointoken"
	"github.com/zlayer/zlayer/noderuntime/pki"
)

// Dir is the identity's folder under the data dir.
const Dir = "cluster"

// Files of the identity folder.
const (
	NodeCertFile = "node.crt" // the node's certificate, then the CA's
	NodeKeyFile  = "node.key" // 0600
	CACertFile   = "ca.crt"
	CAKeyFile    = "ca.key" // servers only, 0600
	IdentityFile = "identity.json"
)

// Identity is a cluster node's name, role and credentials.
type Identity struct {
	Name, Role string
	Cert       *x509.Certificate
	Key        crypto.Signer
	CA         *x509.Certificate
	CAKey      crypto.Signer // servers only: every server can sign
	Servers    []string      // API URLs of the servers, as last known
	Advertise  string        // the node's advertise IP
}

// identityFile is identity.json.
type identityFile struct {
	Name      string   `json:"name"`
	Role      string   `json:"role"`
	ClusterID string   `json:"cluster_id"` // jointoken.CAHash of the CA
	Servers   []string `json:"servers"`
	Advertise string   `json:"advertise"`
}

// ClusterID names the cluster: the hash of its CA, as join tokens carry it.
func (id *Identity) ClusterID() string { return jointoken.CAHash(id.CA) }

// ClusterCA is the cluster CA with its key, for a server; nil for an agent.
func (id *Identity) ClusterCA() *pki.CA {
	if id.CAKey == nil {
		return nil
	}
	return &pki.CA{Cert: id.CA, Key: id.CAKey}
}

// NewInitIdentity is the first server's identity: a new key and a
// certificate from ca, which becomes the cluster CA. Its IP SANs are the
// advertise address, loopback and names' IPs; its DNS SANs names' names.
// Servers is left for the caller, who knows the API's port.
func NewInitIdentity(ca *pki.CA, name, advertise string, names pki.Names) (*Identity, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	ip := net.ParseIP(advertise)
	if ip == nil || ip.IsUnspecified() || ip.IsMulticast() {
		return nil, fmt.Errorf("advertise address %q: want the unicast IP other nodes reach this one at", advertise)
	}
	ips := nodeIPs(ip)
	for _, n := range names.IPs {
		if !slices.ContainsFunc(ips, n.Equal) {
			ips = append(ips, n)
		}
	}
	role := string(jointoken.RoleServer)
	cert, key, err := ca.Issue(pki.Request{CommonName: CertName(role, name), DNSNames: names.DNS, IPs: ips, Usage: pki.ServerAndClientAuth})
	if err != nil {
		return nil, err
	}
	return &Identity{Name: name, Role: role, Cert: cert, Key: key, CA: ca.Cert, CAKey: ca.Key, Advertise: advertise}, nil
}

// TLSCertificate is the node's certificate for TLS, serving or as a client:
// the chain is the certificate then the CA, so that a client pinning the
// CA's fingerprint finds it in the handshake.
func (id *Identity) TLSCertificate() (tls.Certificate, error) {
	if id.Cert == nil || id.Key == nil || id.CA == nil {
		return tls.Certificate{}, errors.New("cluster identity: certificate, key or CA missing")
	}
	return tls.Certificate{Certificate: [][]byte{id.Cert.Raw, id.CA.Raw}, PrivateKey: id.Key, Leaf: id.Cert}, nil
}

// Save writes the identity into dir (DATA-DIR/cluster). Each file is
// replaced atomically, and identity.json, which LoadIdentity reads first,
// goes last and is removed first: a crash half way leaves no identity,
// and the node joins anew, rather than a key beside another key's
// certificate.
func (id *Identity) Save(dir string) error {
	if err := id.check(); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cluster identity: %w", err)
	}
	idPath := filepath.Join(dir, IdentityFile)
	if err := os.Remove(idPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cluster identity: %w", err)
	}
	kb, err := pki.EncodeKey(id.Key)
	if err != nil {
		return fmt.Errorf("cluster identity: node key: %w", err)
	}
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{NodeKeyFile, kb, 0o600},
		{NodeCertFile, pki.EncodeCert(id.Cert, id.CA), 0o644},
		{CACertFile, pki.EncodeCert(id.CA), 0o644},
	}
	caKeyPath := filepath.Join(dir, CAKeyFile)
	if id.CAKey != nil {
		cb, err := pki.EncodeKey(id.CAKey)
		if err != nil {
			return fmt.Errorf("cluster identity: CA key: %w", err)
		}
		files = append(files, struct {
			name string
			data []byte
			mode os.FileMode
		}{CAKeyFile, cb, 0o600})
	} else if err := os.Remove(caKeyPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		// An agent holds no CA key; one left from an earlier identity
		// would make LoadIdentity think it a server.
		return fmt.Errorf("cluster identity: %w", err)
	}
	for _, f := range files {
		if err := pki.WriteFile(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return fmt.Errorf("cluster identity: %w", err)
		}
	}
	return id.saveFile(dir)
}

func (id *Identity) saveFile(dir string) error {
	b, err := json.MarshalIndent(identityFile{Name: id.Name, Role: id.Role, ClusterID: id.ClusterID(), Servers: id.Servers, Advertise: id.Advertise}, "", "  ")
	if err != nil {
		return err
	}
	if err := pki.WriteFile(filepath.Join(dir, IdentityFile), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("cluster identity: %w", err)
	}
	return nil
}

// check verifies the parts of an identity belong together.
func (id *Identity) check() error {
	if id.Cert == nil || id.Key == nil || id.CA == nil {
		return errors.New("cluster identity: certificate, key or CA missing")
	}
	if _, err := jointoken.ParseRole(id.Role); err != nil {
		return fmt.Errorf("cluster identity: %w", err)
	}
	if err := CheckName(id.Name); err != nil {
		return fmt.Errorf("cluster identity: %w", err)
	}
	if !pki.PublicEqual(id.Cert.PublicKey, id.Key.Public()) {
		return errors.New("cluster identity: the node key does not match its certificate")
	}
	if err := id.Cert.CheckSignatureFrom(id.CA); err != nil {
		return fmt.Errorf("cluster identity: the node certificate is not from the cluster CA: %w", err)
	}
	if want := CertName(id.Role, id.Name); id.Cert.Subject.CommonName != want {
		return fmt.Errorf("cluster identity: the node certificate names %q, want %q", id.Cert.Subject.CommonName, want)
	}
	switch {
	case id.CAKey != nil && !pki.PublicEqual(id.CA.PublicKey, id.CAKey.Public()):
		return errors.New("cluster identity: the CA key does not match the CA")
	case id.Role == string(jointoken.RoleServer) && id.CAKey == nil:
		return errors.New("cluster identity: a server without the CA key")
	case id.Role == string(jointoken.RoleAgent) && id.CAKey != nil:
		return errors.New("cluster identity: an agent must not hold the CA key")
	}
	return nil
}

// LoadIdentity reads the identity in dir. It returns an error wrapping
// os.ErrNotExist when there is none (the node has not joined), and refuses
// key files group or others may read (see pki.ReadPrivate).
func LoadIdentity(dir string) (*Identity, error) {
	b, err := os.ReadFile(filepath.Join(dir, IdentityFile))
	if err != nil {
		return nil, fmt.Errorf("cluster identity: %w", err)
	}
	var f identityFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("cluster identity %s: %w", filepath.Join(dir, IdentityFile), err)
	}
	id := &Identity{Name: f.Name, Role: f.Role, Servers: f.Servers, Advertise: f.Advertise}
	if id.Key, err = readKey(filepath.Join(dir, NodeKeyFile)); err != nil {
		return nil, err
	}
	if id.Cert, err = readCert(filepath.Join(dir, NodeCertFile)); err != nil {
		return nil, err
	}
	if id.CA, err = readCert(filepath.Join(dir, CACertFile)); err != nil {
		return nil, err
	}
	if f.Role == string(jointoken.RoleServer) {
		if id.CAKey, err = readKey(filepath.Join(dir, CAKeyFile)); err != nil {
			return nil, err
		}
	}
	if id.ClusterID() != f.ClusterID {
		return nil, fmt.Errorf("cluster identity: %s holds the CA of cluster %s, %s names cluster %s",
			filepath.Join(dir, CACertFile), id.ClusterID(), filepath.Join(dir, IdentityFile), f.ClusterID)
	}
	if err := id.check(); err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, dir)
	}
	return id, nil
}

// incomplete is the error of a file of the identity that cannot be read.
// A missing one makes the identity broken, not absent: only an absent
// identity.json means "not joined" (Save writes it last), so that error
// does not wrap os.ErrNotExist.
func incomplete(dir string, err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cluster identity is incomplete: %v (remove %s to join anew)", err, filepath.Join(dir, IdentityFile)) //nolint:errorlint // not wrapped on purpose: see above
	}
	return fmt.Errorf("cluster identity: %w", err)
}

func readKey(path string) (crypto.Signer, error) {
	b, err := pki.ReadPrivate(path)
	if err != nil {
		return nil, incomplete(filepath.Dir(path), err)
	}
	return pki.ParseKey(path, b)
}

func readCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, incomplete(filepath.Dir(path), err)
	}
	certs, err := pki.ParseCerts(path, b)
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}

// Renew issues the node a new certificate for the same key, names and role
// when the current one has less than pki.RenewBefore left, signed with the
// CA key a server holds, and rewrites node.crt in dir (one atomic
// replacement: the key does not change). It reports whether it renewed.
//
// An agent holds no CA key: its renewal must go through a server, which is
// not built yet (TODO: a renew endpoint beside the join one, authenticated
// by the node's still valid client certificate).
func (id *Identity) Renew(dir string) (bool, error) {
	if time.Until(id.Cert.NotAfter) > pki.RenewBefore {
		return false, nil
	}
	ca := id.ClusterCA()
	if ca == nil {
		return false, fmt.Errorf("cluster identity: the certificate of agent %s expires at %s and an agent cannot renew it itself yet: join it anew",
			id.Name, id.Cert.NotAfter.UTC().Format(time.RFC3339))
	}
	cert, err := ca.Sign(id.Key.Public(), pki.Request{
		CommonName: CertName(id.Role, id.Name),
		DNSNames:   id.Cert.DNSNames,
		IPs:        id.Cert.IPAddresses,
		Usage:      pki.ServerAndClientAuth,
	})
	if err != nil {
		return false, fmt.Errorf("cluster identity: renew: %w", err)
	}
	if err := pki.WriteFile(filepath.Join(dir, NodeCertFile), pki.EncodeCert(cert, id.CA), 0o644); err != nil {
		return false, fmt.Errorf("cluster identity: renew: %w", err)
	}
	id.Cert = cert
	return true, nil
}
