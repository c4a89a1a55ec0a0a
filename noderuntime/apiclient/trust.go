package apiclient

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/zlayer/zlayer/noderuntime/pki"
)

// Options say how to reach and trust a node over https.
type Options struct {
	Token string
	// CAFile holds the PEM CA the node's certificate must chain to (the
	// node's DATA-DIR/tls/ca.crt).
	CAFile string
	// CAFingerprint ("sha256:HEX") names a certificate of the node's chain,
	// usually its CA; once it has verified a node, it is remembered in
	// KnownNodes for that host:port.
	CAFingerprint string
	// KnownNodes maps host:port to fingerprint, as ssh's known_hosts does;
	// empty: nothing remembered.
	KnownNodes string
}

// UntrustedError is a node whose certificate nothing given or remembered
// vouches for. Fingerprint is what the node presents (its CA when it sends
// one): the operator checks it against the node before trusting it.
type UntrustedError struct {
	Addr        string
	Fingerprint string
	KnownNodes  string
	Reason      error
}

func (e *UntrustedError) Error() string {
	where := ""
	if e.KnownNodes != "" {
		where = " (it is then remembered in " + e.KnownNodes + ")"
	}
	return fmt.Sprintf("the node at %s is not trusted: %v\n"+
		"It presents the CA fingerprint %s. Check it against the node: `zlayer serve` logs it at start (\"API TLS CA fingerprint\") "+
		"and writes it to DATA-DIR/tls/ca.fingerprint (in a zlayer-node container: docker exec NODE cat /var/lib/zlayer/tls/ca.fingerprint).\n"+
		"If it matches, run again with --ca-fingerprint %s%s, or with --ca-file pointing to a copy of DATA-DIR/tls/ca.crt.",
		e.Addr, e.Reason, e.Fingerprint, e.Fingerprint, where)
}

// ChangedError is a node that no longer presents the fingerprint
// remembered for it: either someone is in the middle, or its CA was
// replaced. It is never accepted silently.
type ChangedError struct {
	Addr, Remembered, Presented string
	File                        string
	Line                        int
}

func (e *ChangedError) Error() string {
	return fmt.Sprintf("WARNING: THE IDENTITY OF THE NODE AT %s HAS CHANGED!\n"+
		"%s:%d remembers %s, the node now presents %s.\n"+
		"Someone may be intercepting the connection, or the node's CA was replaced. "+
		"If you know it was, check the new fingerprint against the node, delete line %d of %s and run again with --ca-fingerprint.",
		e.Addr, e.File, e.Line, e.Remembered, e.Presented, e.Line, e.File)
}

// known is one remembered host:port.
type known struct {
	fp   string
	line int
}

func readKnown(path, addr string) (known, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return known{}, nil
	}
	if err != nil {
		return known{}, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if len(fields) != 2 {
			return known{}, fmt.Errorf("%s:%d: want \"HOST:PORT sha256:HEX\"", path, n)
		}
		if fields[0] != addr {
			continue
		}
		fp, err := pki.ParseFingerprint(fields[1])
		if err != nil {
			return known{}, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		return known{fp: fp, line: n}, nil
	}
	return known{}, sc.Err()
}

func remember(path, addr, fp string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(f, "%s %s\n", addr, fp); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// tlsConfig verifies the node at addr (host:port) as o says: a CA file;
// else a fingerprint given or remembered; else the system's roots, and
// failing those an *UntrustedError carrying what the node presents.
func tlsConfig(addr string, o Options) (*tls.Config, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("node address %q: %w", addr, err)
	}
	if o.CAFile != "" && o.CAFingerprint != "" {
		return nil, errors.New("give --ca-file or --ca-fingerprint, not both")
	}
	var roots *x509.CertPool // nil: the system's
	if o.CAFile != "" {
		b, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		certs, err := pki.ParseCerts(o.CAFile, b)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		roots = x509.NewCertPool()
		for _, c := range certs {
			roots.AddCert(c)
		}
	}
	var given, pinned string
	var rec known
	if o.CAFingerprint != "" {
		if given, err = pki.ParseFingerprint(o.CAFingerprint); err != nil {
			return nil, err
		}
	}
	if o.CAFile == "" && o.KnownNodes != "" {
		if rec, err = readKnown(o.KnownNodes, addr); err != nil {
			return nil, fmt.Errorf("known nodes: %w", err)
		}
		if rec.fp != "" && given != "" && rec.fp != given {
			return nil, &ChangedError{Addr: addr, Remembered: rec.fp, Presented: given + " (given with --ca-fingerprint)", File: o.KnownNodes, Line: rec.line}
		}
	}
	pinned = given
	if pinned == "" {
		pinned = rec.fp
	}
	var once sync.Once
	verify := func(cs tls.ConnectionState) error {
		chain := cs.PeerCertificates
		if len(chain) == 0 {
			return errors.New("the node sent no certificate")
		}
		leaf, presented := chain[0], pki.Fingerprint(chain[len(chain)-1])
		if pinned == "" || roots != nil {
			inter := x509.NewCertPool()
			for _, c := range chain[1:] {
				inter.AddCert(c)
			}
			_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: host})
			if err != nil && roots == nil {
				return &UntrustedError{Addr: addr, Fingerprint: presented, KnownNodes: o.KnownNodes, Reason: err}
			}
			if err != nil {
				return fmt.Errorf("the node at %s is not vouched for by %s: %w", addr, o.CAFile, err)
			}
			return nil
		}
		at := -1
		for i, c := range chain {
			if pki.Fingerprint(c) == pinned {
				at = i
			}
		}
		if at < 0 {
			if given == "" {
				return &ChangedError{Addr: addr, Remembered: pinned, Presented: presented, File: o.KnownNodes, Line: rec.line}
			}
			return fmt.Errorf("the node at %s presents %s, not the fingerprint %s given with --ca-fingerprint: refusing it", addr, presented, given)
		}
		// A pinned CA still has to vouch for the leaf and its name; a
		// pinned leaf is the node itself.
		if at > 0 {
			root := x509.NewCertPool()
			root.AddCert(chain[at])
			inter := x509.NewCertPool()
			for _, c := range chain[1:at] {
				inter.AddCert(c)
			}
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: root, Intermediates: inter, DNSName: host}); err != nil {
				return fmt.Errorf("the node at %s: its certificate does not verify against the pinned CA %s: %w", addr, pinned, err)
			}
		}
		if given != "" && rec.fp == "" && o.KnownNodes != "" {
			var rerr error
			once.Do(func() { rerr = remember(o.KnownNodes, addr, given) })
			if rerr != nil {
				return fmt.Errorf("remember %s in %s: %w", addr, o.KnownNodes, rerr)
			}
		}
		return nil
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: host,
		// Verification is ours (verify), since a pinned fingerprint is
		// not a root Go's verifier knows; it is never skipped.
		InsecureSkipVerify: true,
		VerifyConnection:   verify,
	}, nil
}
