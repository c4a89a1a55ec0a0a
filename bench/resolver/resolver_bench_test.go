// Benchmark of the node's DNS server against a stock resolver (Debian's
// unbound) serving the same names as local data on the same machine: one
// load generator (closed loop: each client sends its next query when the
// last is answered) alternates between the two, and the run prints answers
// per second, p50 and p99 of each and their ratios. Loopback only, a fixed
// number of rounds of fixed duration; bench/dns.sh installs unbound.
//
//	ZLAYER_BENCH=1 go test -count=1 -run '^TestBenchDNS$' -v ./bench/resolver
package resolver

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zlayer/zlayer/bench/loadrun"
	"github.com/zlayer/zlayer/noderuntime/nameserver"
)

// The zone: deployments x services x replicas, as a mid-sized cluster.
const (
	deployments = 20
	services    = 5
	replicas    = 3
)

type result struct {
	answers int
	dur     time.Duration
	p50     time.Duration
	p99     time.Duration
	errs    int
}

func (r result) qps() float64 { return float64(r.answers) / r.dur.Seconds() }

// load runs conc clients, each on its own UDP socket, asking random names
// of names (type A) at addr for d.
func load(addr string, names []string, conc int, d time.Duration) result {
	m := loadrun.Run(conc, d, func(w int, _, deadline time.Time) ([]time.Duration, int) {
		c, err := net.Dial("udp", addr)
		if err != nil {
			return nil, 1
		}
		defer c.Close()
		co := &dns.Conn{Conn: c}
		rng := rand.New(rand.NewPCG(uint64(w), 7))
		mine := make([]time.Duration, 0, 1<<15)
		bad := 0
		m := new(dns.Msg)
		for time.Now().Before(deadline) {
			m.SetQuestion(names[rng.IntN(len(names))], dns.TypeA)
			m.Id = uint16(rng.Uint32())
			t0 := time.Now()
			_ = c.SetDeadline(t0.Add(time.Second))
			if err := co.WriteMsg(m); err != nil {
				bad++
				continue
			}
			r, err := co.ReadMsg()
			if err != nil || r.Id != m.Id || r.Rcode != dns.RcodeSuccess || len(r.Answer) != replicas {
				bad++
				continue
			}
			mine = append(mine, time.Since(t0))
		}
		return mine, bad
	})
	return result{answers: m.OK, dur: m.Dur, p50: m.P50, p99: m.P99, errs: m.Errs}
}

// zone is the services both servers answer and the names asked.
func zone() ([]nameserver.Service, []string, []string) {
	var svcs []nameserver.Service
	var names, localData []string
	for d := range deployments {
		for s := range services {
			svc := nameserver.Service{Deployment: fmt.Sprintf("dep%d", d), Name: fmt.Sprintf("svc%d", s),
				Ports: []nameserver.Port{{Name: "http", Proto: "tcp", Port: 8080}}}
			name := fmt.Sprintf("svc%d.dep%d.zlayer.internal.", s, d)
			for r := range replicas {
				a := netip.AddrFrom4([4]byte{10, 244, byte(d), byte(s*replicas + r + 2)})
				svc.Replicas = append(svc.Replicas, nameserver.Replica{ID: fmt.Sprintf("dep%d-svc%d-%d-aaaaaaaa", d, s, r+1), Addr: a, Ready: true})
				localData = append(localData, fmt.Sprintf("  local-data: \"%s 1 IN A %s\"", name, a))
			}
			svcs = append(svcs, svc)
			names = append(names, name)
		}
	}
	return svcs, names, localData
}

func freePort(t *testing.T) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

// startUnbound runs unbound in the foreground with the names as local
// data, two threads (the node's server may use both cores too).
func startUnbound(t *testing.T, localData []string) string {
	t.Helper()
	bin, err := exec.LookPath("unbound")
	if err != nil {
		t.Skip("unbound not installed (bench/dns.sh installs it)")
	}
	dir := t.TempDir()
	port := freePort(t)
	conf := fmt.Sprintf(`server:
  interface: 127.0.0.1
  port: %d
  do-daemonize: no
  username: ""
  chroot: ""
  directory: %q
  pidfile: ""
  use-syslog: no
  logfile: ""
  verbosity: 0
  num-threads: 2
  do-ip6: no
  access-control: 127.0.0.0/8 allow
  local-zone: "zlayer.internal." static
%s
remote-control:
  control-enable: no
`, port, dir, strings.Join(localData, "\n"))
	cf := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-d", "-c", cf)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	m := new(dns.Msg)
	m.SetQuestion("svc0.dep0.zlayer.internal.", dns.TypeA)
	for i := 0; ; i++ {
		if r, _, err := c.Exchange(m, addr); err == nil && len(r.Answer) == replicas {
			return addr
		}
		if i > 50 {
			t.Fatal("unbound did not answer")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// serveEnv makes the test binary the node's DNS server for the benchmark
// (TestServeNodeDNS): in a process of its own, as unbound is, so the load
// generator's garbage and goroutines are not the server's.
const serveEnv = "ZLAYER_BENCH_DNS_SERVE"

// TestServeNodeDNS serves the zone on loopback, prints the address, and
// runs until stdin closes; it only does so as startNode's child.
func TestServeNodeDNS(t *testing.T) {
	if os.Getenv(serveEnv) == "" {
		t.Skip("the benchmark's server process")
	}
	svcs, _, _ := zone()
	// The per-source limit is for replicas; the load generator is one
	// source asking far more than any replica should.
	s, err := nameserver.New(nameserver.Options{Upstreams: []string{}, SourceRate: 1 << 30, SourceBurst: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetServices(svcs)
	fmt.Printf("addr %s\n", s.Addrs()[0])
	_, _ = io.Copy(io.Discard, os.Stdin)
	st := s.Stats()
	fmt.Printf("stats answered=%d refused=%d\n", st.Answered, st.Refused)
}

// startNode runs TestServeNodeDNS in a child and returns its address and
// a function that stops it and returns its answer count.
func startNode(t *testing.T) (string, func() string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestServeNodeDNS$", "-test.v")
	cmd.Env = append(os.Environ(), serveEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	var addr string
	for addr == "" && sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "addr "); ok {
			addr = a
		}
	}
	if addr == "" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatal("the node DNS server process printed no address")
	}
	finish := func() string {
		stdin.Close()
		var stats string
		for sc.Scan() {
			if s, ok := strings.CutPrefix(sc.Text(), "stats "); ok {
				stats = s
			}
		}
		_ = cmd.Wait()
		return stats
	}
	var once sync.Once
	var stats string
	stop := func() string {
		once.Do(func() { stats = finish() })
		return stats
	}
	t.Cleanup(func() { stop() })
	return addr, stop
}

// TestBenchDNS runs with ZLAYER_BENCH=1; it asserts that both servers
// answer every query right, nothing about time.
func TestBenchDNS(t *testing.T) {
	if os.Getenv("ZLAYER_BENCH") == "" {
		t.Skip("set ZLAYER_BENCH=1 to run")
	}
	_, names, localData := zone()
	ub := startUnbound(t, localData)
	node, stopNode := startNode(t)
	const rounds, conc = 5, 32
	dur := 3 * time.Second
	var ours, theirs []result
	for range rounds {
		ours = append(ours, load(node, names, conc, dur))
		theirs = append(theirs, load(ub, names, conc, dur))
	}
	for i := range rounds {
		t.Logf("round %d: node %.0f answers/s p99 %s (%d errors) | unbound %.0f answers/s p99 %s (%d errors)", i+1,
			ours[i].qps(), ours[i].p99, ours[i].errs, theirs[i].qps(), theirs[i].p99, theirs[i].errs)
		if ours[i].errs > 0 || theirs[i].errs > 0 {
			t.Errorf("round %d: wrong or missing answers", i+1)
		}
	}
	oq, tq := loadrun.Median(ours, result.qps), loadrun.Median(theirs, result.qps)
	p := func(r result) float64 { return float64(r.p99) }
	p50 := func(r result) float64 { return float64(r.p50) }
	op, tp := loadrun.Median(ours, p), loadrun.Median(theirs, p)
	t.Logf("%d names (%d A records each), %d clients, median of %d rounds of %s", len(names), replicas, conc, rounds, dur)
	t.Logf("node DNS: %.0f answers/s, p50 %s, p99 %s", oq, time.Duration(loadrun.Median(ours, p50)), time.Duration(op))
	t.Logf("unbound:  %.0f answers/s, p50 %s, p99 %s", tq, time.Duration(loadrun.Median(theirs, p50)), time.Duration(tp))
	t.Logf("ratio node/unbound: answers/s %.2fx, p99 %.2fx", oq/tq, op/tp)
	if st := stopNode(); !strings.Contains(st, "refused=0") || strings.Contains(st, "answered=0 ") {
		t.Errorf("node DNS stats: %q", st)
	}
}
