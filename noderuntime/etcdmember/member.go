// Package etcdmember runs the embedded etcd member of a cluster-mode server
// node: a new one-member cluster on the first server, a learner that joins
// the existing cluster and is promoted once it has caught up on the next
// ones, and a restart from the data dir on every later start.
//
// Peers and clients speak mutual TLS with certificates issued from the
// cluster CA (pki.CA) at each start; a client must present a certificate
// from that CA.
package etcdmember

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"

	"github.com/zlayer/zlayer/noderuntime/jointoken"
	"github.com/zlayer/zlayer/noderuntime/pki"
)

// Ports etcd is known by.
const (
	DefaultClientPort = 2379
	DefaultPeerPort   = 2380
)

// Raft timing. k3s's values: etcd's defaults (100 ms / 1 s) make a member
// on a busy small machine miss heartbeats and call elections that stall
// every write, and a cluster of a few nodes gains little from failing over
// faster.
const (
	HeartbeatMs = 500
	ElectionMs  = 5000
)

// Storage settings for a small cluster's state (specs, placements, node
// records: megabytes, not gigabytes).
const (
	// QuotaBackendBytes is etcd's own default, stated so it does not move
	// under an etcd upgrade.
	QuotaBackendBytes = 2 << 30
	// SnapshotCount is how many applied entries trigger a snapshot.
	SnapshotCount = 10000
	// MaxFiles is how many snapshot and WAL files are kept.
	MaxFiles = 5
	// CompactionRetention keeps an hour of history for watchers that
	// reconnect.
	CompactionRetention = "1h"
)

// Config describes the local member.
type Config struct {
	// Dir is the member's folder: etcd's data in Dir/data, the member's
	// certificates in Dir/tls.
	Dir         string
	Name        string
	AdvertiseIP net.IP
	ClientPort  int // DefaultClientPort when 0
	PeerPort    int // DefaultPeerPort when 0
	CA          *pki.CA
	Logger      *slog.Logger // slog.Default() when nil
}

func (c Config) clientPort() int {
	if c.ClientPort == 0 {
		return DefaultClientPort
	}
	return c.ClientPort
}

func (c Config) peerPort() int {
	if c.PeerPort == 0 {
		return DefaultPeerPort
	}
	return c.PeerPort
}

func (c Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.Default()
	}
	return c.Logger
}

// PeerURL is the URL the other members reach this one at.
func (c Config) PeerURL() string {
	return "https://" + net.JoinHostPort(c.AdvertiseIP.String(), strconv.Itoa(c.peerPort()))
}

// ClientURL is the URL clients reach this member at.
func (c Config) ClientURL() string {
	return "https://" + net.JoinHostPort(c.AdvertiseIP.String(), strconv.Itoa(c.clientPort()))
}

func (c Config) dataDir() string { return filepath.Join(c.Dir, "data") }
func (c Config) tlsDir() string  { return filepath.Join(c.Dir, "tls") }

func (c Config) check() error {
	switch {
	case c.Dir == "":
		return errors.New("etcd member: no folder given")
	case c.Name == "":
		return errors.New("etcd member: no name given")
	case c.AdvertiseIP == nil:
		return errors.New("etcd member: no advertise IP given")
	case c.CA == nil:
		return errors.New("etcd member: no cluster CA given")
	}
	return nil
}

// Join is what a learner needs to start: the cluster as it stands with the
// learner added, as AddLearner returns it.
type Join struct {
	// MemberID is the learner's id in the cluster.
	MemberID uint64
	// InitialCluster lists name=peerURL of every member, the learner
	// included.
	InitialCluster string
	// Endpoints are the client URLs of the cluster's voting members,
	// which PromoteWhenCaughtUp asks (a learner serves no member API).
	Endpoints []string
}

// AddLearner adds the member name at peerURL as a learner to the cluster cli
// talks to. etcd allows one learner at a time: servers join one by one.
//
// etcd refuses a member change until the leader has been connected to a
// quorum for five seconds (its strict reconfiguration check), as just after
// an earlier server's promotion; AddLearner asks again until etcd agrees or
// ctx ends.
func AddLearner(ctx context.Context, cli *clientv3.Client, name, peerURL string) (*Join, error) {
	var resp *clientv3.MemberAddResponse
	err := retry(ctx, func(ctx context.Context) error {
		var err error
		resp, err = cli.MemberAddAsLearner(ctx, []string{peerURL})
		return err
	}, rpctypes.ErrUnhealthy, rpctypes.ErrMemberNotEnoughStarted)
	if err != nil {
		return nil, fmt.Errorf("add etcd learner %s at %s: %w", name, peerURL, err)
	}
	j := &Join{MemberID: resp.Member.ID}
	var cluster []string
	for _, m := range resp.Members {
		mname := m.Name
		if m.ID == resp.Member.ID {
			mname = name
		}
		if mname == "" {
			// A member added but not started yet has no name; it is
			// another server's join under way, which etcd's one-learner
			// limit makes impossible beside ours.
			return nil, fmt.Errorf("add etcd learner %s: member %x at %v has not started yet", name, m.ID, m.PeerURLs)
		}
		for _, u := range m.PeerURLs {
			cluster = append(cluster, mname+"="+u)
		}
		if !m.IsLearner {
			j.Endpoints = append(j.Endpoints, m.ClientURLs...)
		}
	}
	j.InitialCluster = strings.Join(cluster, ",")
	return j, nil
}

// Member is a running embedded etcd member.
type Member struct {
	cfg       Config
	etcd      *embed.Etcd
	join      *Join
	stopOnce  sync.Once
	lg        *slog.Logger
	clientTLS *tls.Config
}

// hasData reports whether dir holds a member's WAL already, which makes the
// start a restart: etcd then reads the cluster from its own data and
// ignores the initial-cluster settings.
func hasData(dataDir string) bool {
	_, err := os.Stat(filepath.Join(dataDir, "member", "wal"))
	return err == nil
}

// Start starts the member and returns once it is ready to serve. With data
// in cfg.Dir it restarts that member and join is ignored; without, join nil
// makes a new one-member cluster and a Join from AddLearner joins an
// existing one as a learner (then call PromoteWhenCaughtUp).
func Start(ctx context.Context, cfg Config, join *Join) (*Member, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	lg := cfg.logger().With("etcd_member", cfg.Name)
	ec, err := cfg.embedConfig()
	if err != nil {
		return nil, err
	}
	mode := "new cluster"
	switch {
	case hasData(ec.Dir):
		mode = "restart"
		join = nil
	case join != nil:
		mode = "join as learner"
		ec.ClusterState = embed.ClusterStateFlagExisting
		ec.InitialCluster = join.InitialCluster
	}
	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("start etcd member %s (%s): %w", cfg.Name, mode, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("etcd member %s (%s): %w", cfg.Name, mode, err)
	case <-ctx.Done():
		e.Close()
		return nil, fmt.Errorf("etcd member %s (%s) not ready: %w", cfg.Name, mode, ctx.Err())
	}
	ctls, err := ClientTLS(cfg.CA, cfg.Name+"-client")
	if err != nil {
		e.Close()
		return nil, err
	}
	lg.Info("etcd member started", "mode", mode, "id", e.Server.MemberID().String(), "client_url", cfg.ClientURL(), "peer_url", cfg.PeerURL())
	return &Member{cfg: cfg, etcd: e, join: join, lg: lg, clientTLS: ctls}, nil
}

func (c Config) embedConfig() (*embed.Config, error) {
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("etcd member folder: %w", err)
	}
	tlsFiles, err := c.writeCerts()
	if err != nil {
		return nil, err
	}
	peerURL, err := url.Parse(c.PeerURL())
	if err != nil {
		return nil, err
	}
	clientURL, err := url.Parse(c.ClientURL())
	if err != nil {
		return nil, err
	}
	ec := embed.NewConfig()
	ec.Name = c.Name
	ec.Dir = c.dataDir()
	ec.ListenPeerUrls = []url.URL{*peerURL}
	ec.AdvertisePeerUrls = []url.URL{*peerURL}
	ec.ListenClientUrls = []url.URL{*clientURL}
	ec.AdvertiseClientUrls = []url.URL{*clientURL}
	ec.ListenMetricsUrls = nil
	ec.PeerTLSInfo = tlsFiles
	ec.ClientTLSInfo = tlsFiles
	ec.TickMs = HeartbeatMs
	ec.ElectionMs = ElectionMs
	ec.QuotaBackendBytes = QuotaBackendBytes
	ec.SnapshotCount = SnapshotCount
	ec.MaxSnapFiles = MaxFiles
	ec.MaxWalFiles = MaxFiles
	ec.AutoCompactionMode = embed.CompactorModePeriodic
	ec.AutoCompactionRetention = CompactionRetention
	// The gateway is etcd's HTTP/JSON front; nothing of ZLayer uses it.
	ec.EnableGRPCGateway = false
	// Two clusters started from two CAs can never take each other's peers
	// for their own.
	ec.InitialClusterToken = "zlayer-" + jointoken.CAHash(c.CA.Cert)[:16]
	// Overridden for a join; ignored by etcd on a restart.
	ec.InitialCluster = c.Name + "=" + c.PeerURL()
	ec.Logger = "zap"
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zapLogger(c.logger().With("etcd_member", c.Name)))
	return ec, nil
}

// Files of the member's tls folder.
const (
	caFile         = "ca.crt"
	serverCertFile = "server.crt"
	serverKeyFile  = "server.key"
	clientCertFile = "client.crt"
	clientKeyFile  = "client.key"
)

// writeCerts issues the member's certificates from the CA, new at every
// start so that they follow the CA and the advertise IP without renewal
// logic of their own. The server certificate serves both the peer and the
// client port; the client certificate is what the member presents to its
// peers. Both name the advertise IP: etcd checks a peer's client
// certificate against the address it connects from.
func (c Config) writeCerts() (transport.TLSInfo, error) {
	dir := c.tlsDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return transport.TLSInfo{}, fmt.Errorf("etcd member tls folder: %w", err)
	}
	ips := []net.IP{c.AdvertiseIP}
	if !c.AdvertiseIP.IsLoopback() {
		ips = append(ips, net.IPv4(127, 0, 0, 1))
	}
	if err := pki.WriteFile(filepath.Join(dir, caFile), pki.EncodeCert(c.CA.Cert), 0o644); err != nil {
		return transport.TLSInfo{}, err
	}
	for _, f := range []struct {
		cert, key string
		usage     pki.Usage
	}{{serverCertFile, serverKeyFile, pki.ServerAuth}, {clientCertFile, clientKeyFile, pki.ClientAuth}} {
		cert, key, err := c.CA.Issue(pki.Request{CommonName: c.Name, DNSNames: []string{"localhost"}, IPs: ips, Usage: f.usage})
		if err != nil {
			return transport.TLSInfo{}, fmt.Errorf("etcd member certificate: %w", err)
		}
		kb, err := pki.EncodeKey(key)
		if err != nil {
			return transport.TLSInfo{}, err
		}
		if err := pki.WriteFile(filepath.Join(dir, f.key), kb, 0o600); err != nil {
			return transport.TLSInfo{}, err
		}
		if err := pki.WriteFile(filepath.Join(dir, f.cert), pki.EncodeCert(cert), 0o644); err != nil {
			return transport.TLSInfo{}, err
		}
	}
	return transport.TLSInfo{
		CertFile:       filepath.Join(dir, serverCertFile),
		KeyFile:        filepath.Join(dir, serverKeyFile),
		ClientCertFile: filepath.Join(dir, clientCertFile),
		ClientKeyFile:  filepath.Join(dir, clientKeyFile),
		TrustedCAFile:  filepath.Join(dir, caFile),
		ClientCertAuth: true,
	}, nil
}

// ClientTLS is a TLS client configuration for the cluster's etcd: it
// trusts only the cluster CA and presents a client certificate named cn,
// issued from it in memory.
func ClientTLS(ca *pki.CA, cn string) (*tls.Config, error) {
	cert, key, err := ca.Issue(pki.Request{CommonName: cn, Usage: pki.ClientAuth})
	if err != nil {
		return nil, fmt.Errorf("etcd client certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		RootCAs:      pool,
		Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}},
	}, nil
}

// Dial makes an etcd client to endpoints with tlsConf (see ClientTLS),
// logging to lg.
func Dial(tlsConf *tls.Config, lg *slog.Logger, endpoints ...string) (*clientv3.Client, error) {
	if lg == nil {
		lg = slog.Default()
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		TLS:         tlsConf.Clone(),
		DialTimeout: 10 * time.Second,
		Logger:      zapLogger(lg),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client to %s: %w", strings.Join(endpoints, ","), err)
	}
	return cli, nil
}

// Client is a new client to the local member; the caller closes it.
func (m *Member) Client() (*clientv3.Client, error) {
	return Dial(m.clientTLS, m.lg, m.cfg.ClientURL())
}

// ID is the member's id in the cluster.
func (m *Member) ID() uint64 { return uint64(m.etcd.Server.MemberID()) }

// IsLeader reports whether the member leads the cluster now.
func (m *Member) IsLeader() bool {
	return m.etcd.Server.Leader() == m.etcd.Server.MemberID()
}

// Err reports an error that stopped the member's servers after Start.
func (m *Member) Err() <-chan error { return m.etcd.Err() }

// PromoteWhenCaughtUp makes the learner this member joined as a voting
// member. etcd refuses to promote a learner that has not caught up with
// the leader's log, so it asks again until etcd agrees or ctx ends. A
// member that is a voter already (a restart after the promotion) is done.
func (m *Member) PromoteWhenCaughtUp(ctx context.Context) error {
	if !m.etcd.Server.IsLearner() {
		return nil
	}
	if m.join == nil || len(m.join.Endpoints) == 0 {
		return fmt.Errorf("promote etcd member %s: it is a learner but was not started with a Join naming the cluster's endpoints", m.cfg.Name)
	}
	cli, err := Dial(m.clientTLS, m.lg, m.join.Endpoints...)
	if err != nil {
		return err
	}
	defer cli.Close()
	err = retry(ctx, func(ctx context.Context) error {
		_, err := cli.MemberPromote(ctx, m.ID())
		if err != nil && rpctypes.ErrorDesc(err) == rpctypes.ErrMemberNotLearner.Error() {
			return nil
		}
		return err
	}, rpctypes.ErrMemberLearnerNotReady)
	if err != nil {
		return fmt.Errorf("promote etcd member %s: %w", m.cfg.Name, err)
	}
	m.lg.Info("etcd member promoted to voter", "id", m.etcd.Server.MemberID().String())
	return nil
}

// transient are the refusals of a cluster busy electing a leader, worth
// asking again after.
var transient = []error{
	rpctypes.ErrNoLeader,
	rpctypes.ErrLeaderChanged,
	rpctypes.ErrTimeout,
	rpctypes.ErrTimeoutDueToLeaderFail,
	rpctypes.ErrTimeoutDueToConnectionLost,
}

// retry calls call until it succeeds, fails with an error that is neither
// transient nor one of also, or ctx ends; each call has ten seconds.
func retry(ctx context.Context, call func(context.Context) error, also ...error) error {
	wait := 200 * time.Millisecond
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := call(cctx)
		cancel()
		if err == nil {
			return nil
		}
		if !retryable(err, also) || ctx.Err() != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%w (last refusal: %w)", ctx.Err(), err)
			}
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last refusal: %w)", ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

func retryable(err error, also []error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	desc := rpctypes.ErrorDesc(err)
	for _, e := range append(also, transient...) {
		if desc == e.Error() {
			return true
		}
	}
	return false
}

// Stop stops the member (a leader hands its leadership over first) and
// waits until it has; a second call does nothing.
func (m *Member) Stop() {
	m.stopOnce.Do(func() {
		done := make(chan struct{})
		go func() {
			m.etcd.Close()
			close(done)
		}()
		// etcd's graceful stop hands leadership over and drains its servers
		// with its request timeout (15 s with these timings) each, far
		// longer than a node gets to stop (docker stop: 10 s) when the
		// other members are gone. Every commit is in the fsynced WAL, so
		// what is left to do when the process exits first loses nothing.
		select {
		case <-done:
			m.lg.Info("etcd member stopped")
		case <-time.After(StopTimeout):
			m.lg.Warn("etcd member still stopping after "+StopTimeout.String()+" (no quorum to hand leadership to?); the rest ends with the process, its log is on disk",
				"member", m.cfg.Name)
		}
	})
}

// StopTimeout bounds Stop.
const StopTimeout = 4 * time.Second
