package api

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"github.com/zlayer/zlayer/noderuntime/pki"
)

// TLSDir is where the node keeps its CA and serving certificate, under the
// data dir.
const TLSDir = "tls"

// TLSFiles name a certificate and key given by the operator
// (--tls-cert/--tls-key); empty, the node uses its own CA.
type TLSFiles struct {
	Cert, Key string
	SANs      []string // names beyond the node's own (--tls-san)
}

// ServingTLS returns the TCP API's TLS config. Without files given, the
// node's own CA in DATA-DIR/tls is made at first start and issues a serving
// certificate for the node's names (renewed when a name is new or it nears
// expiry). Either way the fingerprint clients pin is logged: the CA's, or
// the top of the given chain.
func ServingTLS(dataDir string, f TLSFiles, log *slog.Logger) (*tls.Config, error) {
	if (f.Cert == "") != (f.Key == "") {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	if f.Cert != "" {
		c, err := pki.LoadKeyPair(f.Cert, f.Key)
		if err != nil {
			return nil, fmt.Errorf("API TLS: %w", err)
		}
		top, err := x509.ParseCertificate(c.Certificate[len(c.Certificate)-1])
		if err != nil {
			return nil, fmt.Errorf("API TLS: %s: %w", f.Cert, err)
		}
		log.Info("API TLS certificate", "cert", f.Cert, "fingerprint", pki.Fingerprint(top))
		return TLSConfig(c), nil
	}
	dir := filepath.Join(dataDir, TLSDir)
	host, _ := os.Hostname()
	if host == "" {
		host = "zlayer-node"
	}
	ca, created, err := pki.LoadOrCreateCA(dir, "ZLayer node CA "+host)
	if err != nil {
		return nil, fmt.Errorf("API TLS: %w", err)
	}
	c, err := pki.ServingCert(dir, ca, host, pki.NodeNames(f.SANs...))
	if err != nil {
		return nil, fmt.Errorf("API TLS: %w", err)
	}
	// The line operators copy the fingerprint from (docker logs NODE).
	log.Info("API TLS CA fingerprint", "fingerprint", pki.Fingerprint(ca.Cert),
		"ca", filepath.Join(dir, pki.CACertFile), "new", created, "sans", slices.Concat(c.Leaf.DNSNames, ipStrings(c.Leaf)))
	return TLSConfig(c), nil
}

func ipStrings(c *x509.Certificate) []string {
	var out []string
	for _, ip := range c.IPAddresses {
		out = append(out, ip.String())
	}
	return out
}
