// Package cluster makes a node one of a cluster: it bootstraps or joins
// (noderuntime/clusterjoin), runs the embedded etcd member of a server
// (noderuntime/etcdmember) over the cluster's state (noderuntime/clusterstate),
// places replicas from the elected scheduler (noderuntime/schedule), and
// tells the node's own controller which replicas are its to run.
//
// A server talks to etcd; an agent only to a server's API, with its node
// certificate. Every node keeps a copy of the cluster's deployments and of
// its assignments on disk, so a node cut off from the servers, or restarted
// while cut off, goes on running what it ran.
package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/changes"
	"github.com/zlayer/zlayer/noderuntime/clusterjoin"
	"github.com/zlayer/zlayer/noderuntime/clusterstate"
	"github.com/zlayer/zlayer/noderuntime/etcdmember"
	"github.com/zlayer/zlayer/noderuntime/ingress"
	"github.com/zlayer/zlayer/noderuntime/jointoken"
	"github.com/zlayer/zlayer/noderuntime/network"
	"github.com/zlayer/zlayer/noderuntime/pki"
	"github.com/zlayer/zlayer/noderuntime/reconcile"
	"github.com/zlayer/zlayer/noderuntime/secrets"
	"github.com/zlayer/zlayer/noderuntime/spec"
	"github.com/zlayer/zlayer/noderuntime/store"
)

// Defaults of Config.
const (
	DefaultLeaseTTL    = 10 * time.Second
	DefaultClusterCIDR = "10.244.0.0/16"
	DefaultSubnetBits  = 24
	DefaultAPIPort     = 3669
)

// Config is what `zlayer serve --cluster-init` and `zlayer join` say.
type Config struct {
	DataDir string
	// Init makes this node the first server of a new cluster.
	Init bool
	// JoinAPI and JoinToken join an existing cluster (as a server when
	// Server is set; the token's role must agree).
	JoinAPI, JoinToken string
	Server             bool
	NodeName           string            // default: the host name
	Labels             map[string]string // --node-label
	Advertise          string            // IP the other nodes reach this one at (default: the default route's)
	APIPort            int               // of --bind
	EtcdClientPort     int
	EtcdPeerPort       int
	ClusterCIDR        string
	// NetworkMode is the node config's cluster network mode (network.cluster.mode:
	// host-gw, the default, or wireguard), the same on every node;
	// WireGuardPort is its endpoint's UDP port in wireguard mode.
	NetworkMode   string
	WireGuardPort int
	LeaseTTL      time.Duration
	Version       string
	Log           *slog.Logger
	// AdminToken and ReadToken are the node's API tokens. The first server's
	// become the cluster's; a joining server is given the cluster's, which
	// WriteTokens then stores in place of its own.
	AdminToken, ReadToken string
	WriteTokens           func(admin, read string) error
}

// Runtime is a node's part in a cluster, from Prepare until Run returns.
type Runtime struct {
	cfg   Config
	log   *slog.Logger
	dir   string // DATA-DIR/cluster
	id    *clusterjoin.Identity
	name  string
	role  jointoken.Role
	cert  tls.Certificate
	pool  *x509.CertPool
	peers *peerClient

	// Servers only.
	ca     *pki.CA
	member *etcdmember.Member
	etcd   *clientv3.Client
	state  *clusterstate.State
	auth   *clusterjoin.Authority
	// secKey opens the cluster's secrets (nil: this server has no key).
	secKey  secrets.Key
	secrets *clusterstate.Secrets

	place *placement
	feed  changes.Feed
	// fresh is set when this start made the cluster: the node's own
	// deployments move into it and the first join tokens are written.
	fresh bool

	mu      sync.Mutex
	servers []string // API URLs of the servers, for an agent
	pending map[string]string
	live    *clusterstate.Liveness
	ctrl    *reconcile.Controller
	st      *store.Store
	// lastSync is when the node last read its work.
	lastSync time.Time

	// The node's share of the cluster CIDR, and the other nodes' as last
	// read (peerFeed moves on when they change).
	subnet, cidr netip.Prefix
	nodePeers    []network.Peer
	peersKnown   bool
	peerFeed     changes.Feed
	// wgKey is the node's WireGuard key, in wireguard mode.
	wgKey wgtypes.Key
	// The other nodes' replicas as last read (replicaFeed moves on when
	// they change).
	remote      []ingress.Replica
	remoteKnown bool
	replicaFeed changes.Feed
	// ownCerts are the node config's ingress certificates a server
	// shares; clusterCerts the cluster's as last read (replicaFeed moves
	// on when they change too).
	ownCerts     []apitypes.IngressCert
	clusterCerts []ingress.CertPEM
	certsKnown   bool
}

// IsMember reports whether dataDir holds a cluster identity: `zlayer
// serve` then starts as the cluster node it was, without flags.
func IsMember(dataDir string) bool {
	_, err := os.Stat(filepath.Join(dataDir, "cluster", "identity.json"))
	return err == nil
}

func (c *Config) fill() error {
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
	if c.ClusterCIDR == "" {
		c.ClusterCIDR = DefaultClusterCIDR
	}
	if c.APIPort == 0 {
		c.APIPort = DefaultAPIPort
	}
	switch c.NetworkMode {
	case "":
		c.NetworkMode = network.ModeHostGW
	case network.ModeHostGW, network.ModeWireGuard:
	default:
		return fmt.Errorf("cluster network mode %q: want %s or %s", c.NetworkMode, network.ModeHostGW, network.ModeWireGuard)
	}
	if c.WireGuardPort == 0 {
		c.WireGuardPort = network.DefaultWireGuardPort
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.NodeName == "" && (c.Init || c.JoinAPI != "") {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("node name: %w (give --node-name)", err)
		}
		c.NodeName = strings.ToLower(strings.Split(h, ".")[0])
	}
	if c.Advertise == "" {
		ip, err := defaultIP()
		if err != nil {
			return fmt.Errorf("advertise address: %w (give --advertise-address)", err)
		}
		c.Advertise = ip
	}
	if c.NodeName != "" && !nodeNameRE.MatchString(c.NodeName) {
		return fmt.Errorf("node name %q: use lower-case letters, digits and '-', starting and ending with a letter or digit, up to 63 characters (give --node-name)", c.NodeName)
	}
	for k, v := range c.Labels {
		if err := spec.CheckNodeLabelKey(k); err != nil {
			return fmt.Errorf("--node-label: %w", err)
		}
		if err := spec.CheckNodeLabelValue(v); err != nil {
			return fmt.Errorf("--node-label %s: %w", k, err)
		}
	}
	if ip, err := netip.ParseAddr(c.Advertise); err != nil || ip.IsUnspecified() {
		return fmt.Errorf("--advertise-address %q: want the IP address other nodes reach this one at", c.Advertise)
	}
	if _, err := netip.ParsePrefix(c.ClusterCIDR); err != nil {
		return fmt.Errorf("--cluster-cidr %q: %w", c.ClusterCIDR, err)
	}
	return nil
}

// nodeNameRE is a DNS label: node names go into certificates and URLs.
var nodeNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// defaultIP is the source address of the route to a public address (no
// packet is sent: a UDP "connection" only picks the route).
func defaultIP() (string, error) {
	conn, err := net.Dial("udp4", "192.0.2.1:9")
	if err != nil {
		return "", err
	}
	defer conn.Close()
	return conn.LocalAddr().(*net.UDPAddr).IP.String(), nil
}

// apiURL is the API address of a node advertising ip.
func apiURL(ip string, port int) string {
	return "https://" + net.JoinHostPort(ip, strconv.Itoa(port))
}

// Prepare makes the node a cluster member before it serves: it loads the
// identity a restart finds, or makes the first server's, or joins with the
// token; a server then starts its etcd member. Nothing is written when a
// join is refused.
func Prepare(ctx context.Context, cfg Config) (*Runtime, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	rt := &Runtime{cfg: cfg, log: cfg.Log.With("component", "cluster"), dir: filepath.Join(cfg.DataDir, "cluster"),
		pending: map[string]string{}}
	id, err := clusterjoin.LoadIdentity(rt.dir)
	var join *etcdmember.Join
	var joinedSubnet string
	switch {
	case err == nil:
		if cfg.JoinToken != "" || cfg.Init {
			rt.log.Info("this node is a cluster member already: starting with its identity, the join flags are not needed again",
				"name", id.Name, "role", id.Role)
		}
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("cluster identity in %s: %w", rt.dir, err)
	case cfg.Init:
		if err := os.MkdirAll(rt.dir, 0o700); err != nil {
			return nil, err
		}
		if err := rt.initSecretsKey(); err != nil {
			return nil, err
		}
		if id, err = rt.initIdentity(); err != nil {
			return nil, err
		}
		rt.fresh = true
	case cfg.JoinAPI != "":
		if id, join, joinedSubnet, err = rt.join(ctx); err != nil {
			return nil, err
		}
	default:
		return nil, errors.New("not a cluster member: give --cluster-init, or join with `zlayer join --api URL --token T`")
	}
	rt.id, rt.name, rt.role = id, id.Name, jointoken.Role(id.Role)
	// The certificate names the node and its address: a restart is that
	// node, whatever the defaults of this start say.
	if cfg.NodeName != id.Name && cfg.NodeName != "" {
		rt.log.Warn("--node-name differs from this member's name; keeping the member's", "member", id.Name, "flag", cfg.NodeName)
	}
	rt.cfg.NodeName = id.Name
	if id.Advertise != "" {
		rt.cfg.Advertise = id.Advertise
	}
	if err := rt.keepLabels(); err != nil {
		return nil, err
	}
	rt.place = newPlacement(filepath.Join(rt.dir, "assigned.json"), rt.name)
	rt.servers = append([]string(nil), id.Servers...)
	if rt.cert, err = id.TLSCertificate(); err != nil {
		return nil, err
	}
	rt.pool = x509.NewCertPool()
	rt.pool.AddCert(id.CA)
	rt.peers = newPeerClient(rt.cert, rt.pool)
	if err := rt.place.load(); err != nil {
		rt.log.Warn("the saved assignments cannot be read; waiting for the servers' (nothing runs until then)", "err", err)
	}
	if rt.cfg.NetworkMode == network.ModeWireGuard {
		if rt.wgKey, err = network.LoadOrCreateWireGuardKey(filepath.Join(rt.dir, "wg.key")); err != nil {
			return nil, err
		}
	}
	if rt.role == jointoken.RoleServer {
		if err := rt.startServer(ctx, join); err != nil {
			return nil, err
		}
		if err := rt.checkNetwork(ctx); err != nil {
			rt.Close()
			return nil, err
		}
	}
	if err := rt.loadSubnet(ctx, joinedSubnet); err != nil {
		rt.Close()
		return nil, err
	}
	return rt, nil
}

// keepLabels remembers the node's labels: a restart without --node-label
// keeps the ones it had, one with them replaces them.
func (rt *Runtime) keepLabels() error {
	path := filepath.Join(rt.dir, "labels.json")
	if rt.cfg.Labels == nil {
		if err := loadJSON(path, &rt.cfg.Labels); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	return saveJSON(path, rt.cfg.Labels)
}

// initIdentity makes the first server's identity from the node's own CA
// (DATA-DIR/tls), which becomes the cluster's: a client that pinned its
// fingerprint goes on trusting the node.
func (rt *Runtime) initIdentity() (*clusterjoin.Identity, error) {
	ca, _, err := pki.LoadOrCreateCA(filepath.Join(rt.cfg.DataDir, "tls"), "zlayer node CA")
	if err != nil {
		return nil, err
	}
	id, err := clusterjoin.NewInitIdentity(ca, rt.cfg.NodeName, rt.cfg.Advertise, pki.NodeNames(rt.cfg.Advertise))
	if err != nil {
		return nil, err
	}
	id.Servers = []string{apiURL(rt.cfg.Advertise, rt.cfg.APIPort)}
	if err := id.Save(rt.dir); err != nil {
		return nil, err
	}
	rt.log.Info("new cluster: this node is its first server", "name", id.Name, "ca", pki.Fingerprint(ca.Cert))
	return id, nil
}

// join runs the handshake with the server at JoinAPI and keeps the
// identity it gives.
func (rt *Runtime) join(ctx context.Context) (*clusterjoin.Identity, *etcdmember.Join, string, error) {
	role := jointoken.RoleAgent
	if rt.cfg.Server {
		role = jointoken.RoleServer
	}
	req := clusterjoin.Request{Name: rt.cfg.NodeName, Role: role, Address: rt.cfg.Advertise, Labels: rt.cfg.Labels,
		NetworkMode: rt.cfg.NetworkMode}
	if role == jointoken.RoleServer {
		req.PeerURL = rt.memberConfig(nil).PeerURL()
	}
	jctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	res, err := clusterjoin.Join(jctx, rt.cfg.JoinAPI, rt.cfg.JoinToken, req)
	if err != nil {
		// Join's errors name the server and say what was refused.
		return nil, nil, "", err
	}
	id := &res.Identity
	if len(res.Admission.Servers) > 0 {
		id.Servers = res.Admission.Servers
	}
	if role == jointoken.RoleServer {
		admin, read := res.Admission.Secrets[SecretAdminToken], res.Admission.Secrets[SecretReadToken]
		if admin == "" || read == "" || rt.cfg.WriteTokens == nil {
			return nil, nil, "", errors.New("join: the server sent no API tokens for a server node")
		}
		if err := rt.cfg.WriteTokens(admin, read); err != nil {
			return nil, nil, "", fmt.Errorf("join: storing the cluster's API tokens: %w", err)
		}
		rt.cfg.AdminToken, rt.cfg.ReadToken = admin, read
		if err := saveJSON(filepath.Join(rt.dir, "etcd-join.json"), res.Admission.Etcd); err != nil {
			return nil, nil, "", err
		}
		if err := rt.keepJoinedSecretsKey(res.Admission); err != nil {
			return nil, nil, "", err
		}
	}
	if res.Admission.Subnet != "" {
		// Saved ahead of the identity: a node with an identity has its
		// subnet.
		f := subnetFile{Subnet: res.Admission.Subnet, ClusterCIDR: rt.cfg.ClusterCIDR, NetworkMode: rt.cfg.NetworkMode}
		if err := saveJSON(rt.subnetPath(), f); err != nil {
			return nil, nil, "", err
		}
	}
	if err := id.Save(rt.dir); err != nil {
		return nil, nil, "", err
	}
	rt.log.Info("joined the cluster", "name", id.Name, "role", id.Role, "via", rt.cfg.JoinAPI)
	return id, res.Admission.Etcd, res.Admission.Subnet, nil
}

// Secrets a server joiner is given.
const (
	SecretAdminToken = "admin_token"
	SecretReadToken  = "read_token"
)

func (rt *Runtime) memberConfig(ca *pki.CA) etcdmember.Config {
	return etcdmember.Config{
		Dir: filepath.Join(rt.cfg.DataDir, "etcd"), Name: rt.cfg.NodeName, AdvertiseIP: net.ParseIP(rt.cfg.Advertise),
		ClientPort: rt.cfg.EtcdClientPort, PeerPort: rt.cfg.EtcdPeerPort, CA: ca, Logger: rt.log,
	}
}

// startServer starts the etcd member (a learner promoted once caught up
// on a joining server) and the state over it.
func (rt *Runtime) startServer(ctx context.Context, join *etcdmember.Join) error {
	if rt.id.CAKey == nil {
		return errors.New("this server's identity has no CA key")
	}
	rt.ca = &pki.CA{Cert: rt.id.CA, Key: rt.id.CAKey}
	if join == nil {
		// A server that stopped between its join and its member's first
		// start still has the cluster's answer.
		var j etcdmember.Join
		if err := loadJSON(filepath.Join(rt.dir, "etcd-join.json"), &j); err == nil && j.InitialCluster != "" {
			join = &j
		}
	}
	mc := rt.memberConfig(rt.ca)
	mc.Name = rt.name
	m, err := etcdmember.Start(ctx, mc, join)
	if err != nil {
		return err
	}
	rt.member = m
	if err := m.PromoteWhenCaughtUp(ctx); err != nil {
		m.Stop()
		return err
	}
	_ = os.Remove(filepath.Join(rt.dir, "etcd-join.json"))
	cli, err := m.Client()
	if err != nil {
		m.Stop()
		return err
	}
	rt.etcd = cli
	rt.state = clusterstate.New(cli)
	if err := rt.loadSecrets(); err != nil {
		cli.Close()
		m.Stop()
		return err
	}
	rt.auth = &clusterjoin.Authority{CA: rt.ca, Tokens: rt.state.Tokens(rt.ca.Cert, time.Now), Admit: rt.admit, Log: rt.log}
	return nil
}

// Close stops the etcd member. Replicas keep running.
func (rt *Runtime) Close() {
	if rt.etcd != nil {
		rt.etcd.Close()
	}
	if rt.member != nil {
		rt.member.Stop()
	}
}

// Name is the node's name in the cluster.
func (rt *Runtime) Name() string { return rt.name }

// Role is server or agent.
func (rt *Runtime) Role() string { return string(rt.role) }

// ServingTLS is the API's TLS: the node certificate, and client
// certificates of the cluster CA verified when given (nodes forwarding to
// each other; users still present bearer tokens).
func (rt *Runtime) ServingTLS(base *tls.Config) *tls.Config {
	c := base.Clone()
	c.Certificates = []tls.Certificate{rt.cert}
	c.ClientAuth = tls.VerifyClientCertIfGiven
	c.ClientCAs = rt.pool
	return c
}

// CA is the cluster's CA certificate (what clients trust).
func (rt *Runtime) CA() *x509.Certificate { return rt.id.CA }
