package clusterjoin

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/etcdmember"
	"github.com/zlayer/zlayer/noderuntime/jointoken"
	"github.com/zlayer/zlayer/noderuntime/pki"
)

// Limits of what Join reads from a server.
const (
	maxBundleBytes   = 1 << 20
	maxResponseBytes = 1 << 20
	// busyRetry is the pause before asking a busy server again.
	busyRetry = time.Second
)

// RefusedError is a join the server answered with an error. It unwraps to
// the jointoken error its code names (ErrUnknown, ErrRevoked, ...) or to
// ErrNameTaken, so that errors.Is tells the CLI which refusal it was.
type RefusedError struct {
	Status  int
	Code    string
	Message string
	err     error
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("the server refused the join (%d %s): %s", e.Status, e.Code, e.Message)
}

func (e *RefusedError) Unwrap() error { return e.err }

// refusalErrs maps the server's codes back to errors.
var refusalErrs = map[string]error{
	apitypes.JoinTokenMalformed:  jointoken.ErrMalformed,
	apitypes.JoinTokenUnknown:    jointoken.ErrUnknown,
	apitypes.JoinTokenRevoked:    jointoken.ErrRevoked,
	apitypes.JoinTokenExpired:    jointoken.ErrExpired,
	apitypes.JoinTokenWrongRole:  jointoken.ErrWrongRole,
	apitypes.JoinTokenCAMismatch: jointoken.ErrCAMismatch,
	apitypes.JoinNameTaken:       ErrNameTaken,
	apitypes.JoinNetworkMismatch: ErrNetworkMismatch,
}

func newTransport(cfg *tls.Config) *http.Transport {
	return &http.Transport{
		// Nodes reach each other directly: a proxy from the environment
		// would be one more party in the middle.
		Proxy:               nil,
		TLSClientConfig:     cfg,
		TLSHandshakeTimeout: 10 * time.Second,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		ForceAttemptHTTP2:   false,
	}
}

// Join joins the cluster of the server at apiURL (https://HOST:PORT) with
// token, as req says (its Token and CSR are filled in here), and returns
// the node's identity: a key made here that never leaves the node, the
// certificate the server issued for it, the cluster CA (and its key, for a
// server). Nothing secret is sent before the server proved it holds the CA
// the token names. The token's secret is in no error.
func Join(ctx context.Context, apiURL, token string, req Request) (*Result, error) {
	t, err := jointoken.Parse(token)
	if err != nil {
		return nil, err
	}
	base, err := parseAPIURL(apiURL)
	if err != nil {
		return nil, err
	}
	if req.Role == "" {
		req.Role = t.Role
	}
	// The server checks the same; refusing here first sends nothing.
	if err := req.check(t.Role); err != nil {
		return nil, err
	}

	ca, err := fetchCA(ctx, base, t)
	if err != nil {
		return nil, err
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("node key: %w", err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		// Informative only: the server chooses the certificate's names.
		Subject: pkix.Name{CommonName: CertName(string(req.Role), req.Name)},
	}, key)
	if err != nil {
		return nil, fmt.Errorf("certificate request: %w", err)
	}
	body, err := json.Marshal(apitypes.JoinRequest{
		Token: token, CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})),
		Name: req.Name, Role: string(req.Role), Address: req.Address, Labels: req.Labels, PeerURL: req.PeerURL,
		NetworkMode: req.NetworkMode,
	})
	if err != nil {
		return nil, err
	}

	roots := x509.NewCertPool()
	roots.AddCert(ca)
	client := &http.Client{Transport: newTransport(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12})}
	defer client.CloseIdleConnections()
	resp, err := postJoin(ctx, client, base, body)
	if err != nil {
		return nil, err
	}
	id, err := identityFrom(resp, ca, key, req)
	if err != nil {
		return nil, fmt.Errorf("join %s: the server's answer: %w", base.Host, err)
	}
	if len(id.Servers) == 0 {
		id.Servers = []string{base.String()}
	}
	adm := Admission{Servers: id.Servers, Secrets: resp.Secrets, Subnet: resp.Subnet}
	if e := resp.Etcd; e != nil {
		adm.Etcd = &etcdmember.Join{MemberID: e.MemberID, InitialCluster: e.InitialCluster, Endpoints: e.Endpoints}
	}
	return &Result{Identity: *id, Admission: adm}, nil
}

func parseAPIURL(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(s, "/"))
	if err != nil || u.Scheme != "https" || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("server API %q: want https://HOST:PORT", s)
	}
	return u, nil
}

// fetchCA gets the server's CA bundle over TLS that verifies nothing yet
// and returns the one certificate of it whose hash the token carries.
func fetchCA(ctx context.Context, base *url.URL, t jointoken.Token) (*x509.Certificate, error) {
	// No verification: the bundle is checked against the token's hash
	// instead, and nothing secret travels on this connection.
	client := &http.Client{Transport: newTransport(&tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12})} //nolint:gosec // see above
	defer client.CloseIdleConnections()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, base.String()+CAPath, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("%w at %s: %w", ErrUnreachable, base.Host, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBundleBytes))
	if err != nil {
		return nil, fmt.Errorf("%w at %s: reading its CA bundle: %w", ErrUnreachable, base.Host, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("join %s: GET %s answered %s: is it a ZLayer cluster server?", base.Host, CAPath, resp.Status)
	}
	ca, err := t.CheckCAPEM(b)
	if err != nil {
		return nil, fmt.Errorf("join %s: %w", base.Host, ErrCAMismatch)
	}
	return ca, nil
}

// postJoin sends the join request, again while the server is busy.
func postJoin(ctx context.Context, client *http.Client, base *url.URL, body []byte) (*apitypes.JoinResponse, error) {
	for {
		hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, base.String()+JoinPath, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		hreq.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(hreq)
		if err != nil {
			var uerr x509.UnknownAuthorityError
			var herr x509.HostnameError
			switch {
			case errors.As(err, &herr):
				return nil, fmt.Errorf("join %s: its certificate does not name %s (it names %s): give an address it names, or add this one to its --tls-san",
					base.Host, base.Hostname(), strings.Join(certNames(herr.Certificate), ", "))
			case errors.As(err, &uerr):
				// The bundle held the token's CA, but the server's
				// certificate is not from it: someone in the middle
				// who copied the real CA into its bundle.
				return nil, fmt.Errorf("join %s: its TLS certificate is not from the CA the token names: %w", base.Host, ErrCAMismatch)
			}
			return nil, fmt.Errorf("%w at %s: %w", ErrUnreachable, base.Host, err)
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("%w at %s: reading its answer: %w", ErrUnreachable, base.Host, err)
		}
		if resp.StatusCode == http.StatusOK {
			var jr apitypes.JoinResponse
			if err := json.Unmarshal(b, &jr); err != nil {
				return nil, fmt.Errorf("join %s: the answer is not a join response: %w", base.Host, err)
			}
			return &jr, nil
		}
		var ae apitypes.Error
		if json.Unmarshal(b, &ae) != nil || ae.Code == "" {
			return nil, fmt.Errorf("join %s: answered %s", base.Host, resp.Status)
		}
		if ae.Code == apitypes.JoinBusy {
			if err := wait(ctx, busyRetry); err != nil {
				return nil, fmt.Errorf("join %s: %s: %w", base.Host, ae.Message, err)
			}
			continue
		}
		return nil, &RefusedError{Status: resp.StatusCode, Code: ae.Code, Message: ae.Message, err: refusalErrs[ae.Code]}
	}
}

// identityFrom checks the server's answer against what was asked and makes
// the node's identity of it.
func identityFrom(resp *apitypes.JoinResponse, ca *x509.Certificate, key crypto.Signer, req Request) (*Identity, error) {
	certs, err := pki.ParseCerts("certificate", []byte(resp.Certificate))
	if err != nil {
		return nil, err
	}
	cert := certs[0]
	if !pki.PublicEqual(cert.PublicKey, key.Public()) {
		return nil, errors.New("the certificate is not for this node's key")
	}
	if err := cert.CheckSignatureFrom(ca); err != nil {
		return nil, fmt.Errorf("the certificate is not from the cluster CA: %w", err)
	}
	if want := CertName(string(req.Role), req.Name); cert.Subject.CommonName != want {
		return nil, fmt.Errorf("the certificate names %q, want %q", cert.Subject.CommonName, want)
	}
	id := &Identity{Name: req.Name, Role: string(req.Role), Cert: cert, Key: key, CA: ca, Servers: resp.Servers, Advertise: req.Address}
	if resp.CAKey != "" {
		if req.Role != jointoken.RoleServer {
			return nil, errors.New("it sent the CA key to an agent")
		}
		caKey, err := pki.ParseKey("CA key", []byte(resp.CAKey))
		if err != nil {
			return nil, err
		}
		if !pki.PublicEqual(ca.PublicKey, caKey.Public()) {
			return nil, errors.New("the CA key does not match the cluster CA")
		}
		id.CAKey = caKey
	} else if req.Role == jointoken.RoleServer {
		return nil, errors.New("no CA key for a server joiner")
	}
	return id, nil
}

func certNames(c *x509.Certificate) []string {
	names := append([]string(nil), c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	return names
}
