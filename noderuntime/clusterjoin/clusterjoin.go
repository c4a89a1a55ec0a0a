// Package clusterjoin is cluster mode's join handshake and the node identity
// it produces.
//
// A joining node holds nothing but a join token (noderuntime/jointoken),
// which carries the hash of the cluster CA. Join fetches the CA bundle from a
// server over TLS it cannot verify yet, pins the one certificate of the
// bundle whose hash the token holds, and only then, over a connection
// verified against that CA alone, sends the token with a CSR for a key made
// on the node. The server's Authority verifies the token, lets the cluster
// code admit the node (Admit), and returns a certificate whose names it
// chose itself: CN CertName(role, name), IP SANs the advertise address and
// loopback, usable as TLS server and client. A server joiner also gets the
// CA key (every server signs) and the cluster's shared secrets.
//
// The identity is kept in DATA-DIR/cluster (Identity.Save, LoadIdentity);
// later starts use it, and the token is needed only to join anew. A server
// renews its own certificate when it nears expiry (Identity.Renew). An
// agent's renewal, which must go through a server, is not built yet.
package clusterjoin

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"

	"github.com/zlayer/zlayer/noderuntime/etcdmember"
	"github.com/zlayer/zlayer/noderuntime/jointoken"
)

// Routes of the join endpoint on a server's API. Both are reached without a
// bearer token: the join token in the body is the credential.
const (
	CAPath   = "/v1/cluster/ca"
	JoinPath = "/v1/cluster/join"
)

// Request is what a node asks to join with (the JSON form is
// apitypes.JoinRequest).
type Request struct {
	// Token is the full join token. Join fills it in; the Authority
	// verifies it, never logs it, and clears it before Admit sees the
	// request.
	Token string
	// CSR is the PEM certificate request for the node's key. Join makes
	// the key and fills it in.
	CSR     []byte
	Name    string         // node name: a DNS label
	Role    jointoken.Role // must be the token's role
	Address string         // the IP the node advertises
	Labels  map[string]string
	PeerURL string // server joiners: their etcd peer URL
	// NetworkMode is the joiner's cluster network mode ("" for host-gw).
	NetworkMode string
}

// Admission is what the cluster code grants a node it admitted, returned to
// the joiner with its certificate.
type Admission struct {
	Servers []string         // API URLs of the servers
	Etcd    *etcdmember.Join // server joiners: how to start the learner
	// Secrets are what every server shares (e.g. the cluster's API admin
	// and read tokens, the key of the cluster's secrets). Server joiners
	// only: the Authority drops them, and Etcd, from an agent's answer.
	Secrets map[string]string
	Subnet  string
}

// Result is what Join returns: the node's new identity (to Save) and what
// it was granted.
type Result struct {
	Identity  Identity
	Admission Admission
}

// Errors a join ends with, for the CLI to explain. Refusals of the token
// wrap jointoken's errors (ErrUnknown, ErrRevoked, ErrExpired,
// ErrWrongRole, ErrMalformed) instead.
var (
	ErrCAMismatch  = errors.New("the server's CA does not match the hash in the token: wrong server or a man in the middle; nothing was sent")
	ErrUnreachable = errors.New("cannot reach the server")
	// ErrNameTaken is for Admit to wrap when another live node has the
	// name; the joiner then gets an error wrapping it.
	ErrNameTaken = errors.New("the node name is taken by another node of the cluster")
	// ErrNetworkMismatch is for Admit to wrap when the joiner's network
	// mode is not the cluster's.
	ErrNetworkMismatch = errors.New("the node's cluster network mode is not the cluster's")
)

// Certificate common names start with the node's role: the role is read
// back from a verified client certificate (PeerOf).
const cnPrefix = "zlayer-"

// CertName is the common name of a node's certificate: "zlayer-server:NAME"
// or "zlayer-agent:NAME".
func CertName(role, name string) string {
	return cnPrefix + role + ":" + name
}

// parseCertName reverses CertName for the two roles.
func parseCertName(cn string) (role, name string, ok bool) {
	rest, ok := strings.CutPrefix(cn, cnPrefix)
	if !ok {
		return "", "", false
	}
	role, name, ok = strings.Cut(rest, ":")
	if !ok || CheckName(name) != nil {
		return "", "", false
	}
	if _, err := jointoken.ParseRole(role); err != nil {
		return "", "", false
	}
	return role, name, true
}

// PeerOf names the node at the other end of a TLS connection from its
// verified client certificate. It trusts whatever the handshake verified
// the certificate against, so the listener's ClientCAs must be the cluster
// CA alone.
func PeerOf(state *tls.ConnectionState) (role, name string, ok bool) {
	if state == nil || len(state.VerifiedChains) == 0 || len(state.VerifiedChains[0]) == 0 {
		return "", "", false
	}
	return parseCertName(state.VerifiedChains[0][0].Subject.CommonName)
}

// A node name is a DNS label in lower case: it ends up in certificate
// names, etcd keys and host names.
var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

const maxNameLen = 63

// CheckName is the rule for node names.
func CheckName(name string) error {
	if len(name) > maxNameLen || !nameRE.MatchString(name) {
		return fmt.Errorf("node name %q: use lowercase letters, digits and '-' (not first or last), up to %d characters", name, maxNameLen)
	}
	return nil
}

// Label keys and values: the characters of Kubernetes' label rules, which
// node_selector matches against; what a label may hold is kept small and
// printable since it is shown in `zlayer nodes`.
var (
	labelKeyRE   = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$`)
	labelValueRE = regexp.MustCompile(`^([A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?)?$`)
)

const (
	maxLabels      = 64
	maxLabelKey    = 253
	maxLabelValue  = 63
	maxPeerURLSize = 256
)

// check validates what the joiner says about itself; the token was
// verified before and granted role.
func (r Request) check(role jointoken.Role) error {
	if r.Role != role {
		return fmt.Errorf("%w: the token is for role %s, the node asks to join as %q", jointoken.ErrWrongRole, role, r.Role)
	}
	if err := CheckName(r.Name); err != nil {
		return err
	}
	ip := net.ParseIP(r.Address)
	if ip == nil || ip.IsUnspecified() || ip.IsMulticast() {
		return fmt.Errorf("advertise address %q: want the unicast IP other nodes reach this one at", r.Address)
	}
	if len(r.Labels) > maxLabels {
		return fmt.Errorf("%d labels: at most %d", len(r.Labels), maxLabels)
	}
	for k, v := range r.Labels {
		if len(k) > maxLabelKey || !labelKeyRE.MatchString(k) {
			return fmt.Errorf("label key %q: letters, digits, '.', '_', '-', '/' (starting and ending with a letter or digit), up to %d characters", k, maxLabelKey)
		}
		if len(v) > maxLabelValue || !labelValueRE.MatchString(v) {
			return fmt.Errorf("label %s value %q: letters, digits, '.', '_', '-' (starting and ending with a letter or digit), up to %d characters", k, v, maxLabelValue)
		}
	}
	switch role {
	case jointoken.RoleServer:
		return checkPeerURL(r.PeerURL, ip)
	default:
		if r.PeerURL != "" {
			return fmt.Errorf("peer URL %q: only a server joiner runs an etcd member", r.PeerURL)
		}
	}
	return nil
}

// checkPeerURL wants the peer URL on the advertise address: the server's
// etcd certificates name that address only.
func checkPeerURL(s string, advertise net.IP) error {
	if s == "" {
		return errors.New("a server joiner must give its etcd peer URL")
	}
	u, err := url.Parse(s)
	if err != nil || len(s) > maxPeerURLSize || u.Scheme != "https" || u.Hostname() == "" || u.Port() == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("peer URL %q: want https://IP:PORT", s)
	}
	if !net.ParseIP(u.Hostname()).Equal(advertise) {
		return fmt.Errorf("peer URL %q: its host must be the advertise address %s (etcd checks a peer's certificate against its IP)", s, advertise)
	}
	return nil
}
