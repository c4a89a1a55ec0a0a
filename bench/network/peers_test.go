// The ingress against the proxies a user would put in front of a service
// instead: HAProxy and nginx (Debian's, configs haproxy.cfg and nginx.conf
// beside this file), all three in front of the same small-response Go
// replica, each in its own process. Four cases (HTTP/1.1 keep-alive small
// responses, HTTPS TLS 1.3 keep-alive small, a 1 MiB body, a new connection
// per request), each loaded by wrk and by the Go load generator, rounds
// alternated between the peers so all see the same machine. Printed per
// case: throughput, p99 and the proxy's own CPU time per request, and the
// ingress's ratio to the best peer. CPU per request is the figure that
// holds on a loaded machine; throughput and p99 move with the load.
//
//	ZLAYER_BENCH=1 go test -count=1 -run '^TestBenchPeers$' -v ./bench/network
//
// ZLAYER_BENCH_BASE=BIN adds the ingress of another build (a change's
// effect, in the same run).
// With ZLAYER_BENCH_PROFILE=DIR the run also writes the ingress's CPU and
// allocation profiles under load and, when strace is installed, counts
// every proxy's syscalls per request. ZLAYER_BENCH_CASE=TEXT runs only
// the cases whose names contain TEXT.
package network

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof" // the ingress process's profiles, on a loopback port
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/zlayer/zlayer/bench/loadrun"
	inode "github.com/zlayer/zlayer/integration/node"
	"github.com/zlayer/zlayer/noderuntime/ingress"
	"github.com/zlayer/zlayer/noderuntime/pki"
)

// roleEnv makes the test binary, started again by the bench, serve as the
// replica or as the ingress: separate processes, as the peers are, so no
// one's collector or scheduler runs in another's.
const roleEnv = "ZLAYER_BENCH_ROLE"

func TestMain(m *testing.M) {
	var err error
	switch os.Getenv(roleEnv) {
	case "":
		os.Exit(m.Run())
	case "replica":
		err = runReplica(os.Getenv("BENCH_ADDR"))
	case "ingress":
		err = runIngress()
	default:
		err = fmt.Errorf("unknown %s %q", roleEnv, os.Getenv(roleEnv))
	}
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

// bigBody is the 1 MiB case's response.
var bigBody = bytes.Repeat([]byte("0123456789abcdef"), 1<<16)

func runReplica(addr string) error {
	small := []byte("ok\n")
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(small) })
	mux.HandleFunc("/1m", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(bigBody)))
		_, _ = w.Write(bigBody)
	})
	return (&http.Server{Addr: addr, Handler: mux}).ListenAndServe()
}

// runIngress serves the replica on an http and an https port as `zlayer
// serve` does: the same package, the same soft memory limit serve sets.
func runIngress() error {
	if v := os.Getenv("BENCH_MEMLIMIT"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("BENCH_MEMLIMIT: %w", err)
		}
		debug.SetMemoryLimit(n)
	}
	httpPort, err1 := strconv.Atoi(os.Getenv("BENCH_HTTP_PORT"))
	httpsPort, err2 := strconv.Atoi(os.Getenv("BENCH_HTTPS_PORT"))
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("ingress ports: %w", err)
	}
	g, err := ingress.New(ingress.Options{
		ListenHost: "127.0.0.1", DataDir: os.Getenv("BENCH_DIR"),
		Certs: []ingress.Cert{{Hosts: []string{"127.0.0.1", ingress.DefaultName}, CertFile: os.Getenv("BENCH_CERT"), KeyFile: os.Getenv("BENCH_KEY")}},
	})
	if err != nil {
		return err
	}
	be := []ingress.Backend{{ID: "web-1", Addr: os.Getenv("BENCH_BACKEND")}}
	if err := g.Update([]ingress.Route{
		{Deployment: "bench", Service: "web", Endpoint: "http", Protocol: ingress.HTTP, Port: httpPort, Backends: be},
		{Deployment: "bench", Service: "web", Endpoint: "https", Protocol: ingress.HTTPS, Port: httpsPort, Backends: be},
	}); err != nil {
		return err
	}
	if a := os.Getenv("BENCH_PPROF"); a != "" {
		return http.ListenAndServe(a, nil)
	}
	select {}
}

// start runs cmd until the test ends, then stops it by its PID.
func start(t testing.TB, name string, cmd *exec.Cmd, logDir string) int {
	out, err := os.Create(filepath.Join(logDir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	pid := cmd.Process.Pid
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); out.Close(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(pid, syscall.SIGKILL)
			<-exited
		}
	})
	return pid
}

// waitListening waits for each of addrs to accept, else fails with the
// logs of the processes started in dir.
func waitListening(t testing.TB, dir string, addrs ...string) {
	deadline := time.Now().Add(20 * time.Second)
	for _, a := range addrs {
		for {
			c, err := net.Dial("tcp", a)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
				var b strings.Builder
				for _, l := range logs {
					out, _ := os.ReadFile(l)
					fmt.Fprintf(&b, "== %s\n%s", filepath.Base(l), out)
				}
				t.Fatalf("nothing listens on %s: %v\n%s", a, err, b.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// selfSigned issues a certificate for 127.0.0.1 from a fresh CA (pki's
// ECDSA keys, the node's own kind) and writes it as cert and key files and
// both in one file (HAProxy's crt).
func selfSigned(t testing.TB, dir string) (certFile, keyFile, both string) {
	ca, err := pki.NewCA("bench")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pki.ServingCert(dir, ca, ingress.DefaultName, pki.ParseNames(ingress.DefaultName, "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, both = filepath.Join(dir, pki.ServerCertFile), filepath.Join(dir, pki.ServerKeyFile), filepath.Join(dir, "both.pem")
	c, err1 := os.ReadFile(certFile)
	k, err2 := os.ReadFile(keyFile)
	if err := errors.Join(err1, err2, os.WriteFile(both, append(c, k...), 0o600)); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, both
}

// peer is one proxy in front of the replica.
type peer struct {
	name              string
	base              bool // the ingress from ZLAYER_BENCH_BASE, not a peer
	pid               int
	httpURL, httpsURL string
}

type confVars struct {
	Dir, Backend, CertFile, KeyFile, CertPEM string
	HTTPPort, HTTPSPort                      int
}

func render(t testing.TB, tmpl, out string, v confVars) {
	tp, err := template.ParseFiles(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tp.Execute(&b, v); err != nil {
		t.Fatalf("%s: %v", tmpl, err)
	}
	if err := os.WriteFile(out, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// startPeers starts the replica and the three proxies in front of it.
func startPeers(t testing.TB) []peer {
	for _, bin := range []string{"haproxy", "nginx", "wrk"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not installed (bench/network.sh installs it from Debian)", bin)
		}
	}
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	backend := fmt.Sprintf("127.0.0.1:%d", inode.FreePort(t))
	rep := exec.Command(self)
	rep.Env = append(os.Environ(), roleEnv+"=replica", "BENCH_ADDR="+backend)
	start(t, "replica", rep, dir)
	waitListening(t, dir, backend)
	certFile, keyFile, both := selfSigned(t, dir)

	var peers []peer
	ports := func() (int, int) { return inode.FreePort(t), inode.FreePort(t) }
	urls := func(p peer, h, s int) peer {
		p.httpURL, p.httpsURL = fmt.Sprintf("http://127.0.0.1:%d", h), fmt.Sprintf("https://127.0.0.1:%d", s)
		return p
	}

	ingressCmd := func(bin string, h, s int) *exec.Cmd {
		c := exec.Command(bin)
		c.Env = append(os.Environ(), roleEnv+"=ingress", "BENCH_BACKEND="+backend, "BENCH_DIR="+dir,
			"BENCH_CERT="+certFile, "BENCH_KEY="+keyFile, fmt.Sprintf("BENCH_HTTP_PORT=%d", h), fmt.Sprintf("BENCH_HTTPS_PORT=%d", s),
			// serve's soft limit (cmd/zlayer/serve.go), unless the run asks for another.
			"BENCH_MEMLIMIT="+envOr("ZLAYER_BENCH_MEMLIMIT", strconv.Itoa(32<<20)))
		return c
	}
	h, s := ports()
	ing := ingressCmd(self, h, s)
	pprofAddr := ""
	if os.Getenv("ZLAYER_BENCH_PROFILE") != "" {
		pprofAddr = fmt.Sprintf("127.0.0.1:%d", inode.FreePort(t))
		ing.Env = append(ing.Env, "BENCH_PPROF="+pprofAddr)
	}
	peers = append(peers, urls(peer{name: "zlayer", pid: start(t, "ingress", ing, dir)}, h, s))
	waitListening(t, dir, fmt.Sprintf("127.0.0.1:%d", h), fmt.Sprintf("127.0.0.1:%d", s))
	profileAddr = pprofAddr

	h, s = ports()
	v := confVars{Dir: dir, Backend: backend, CertFile: certFile, KeyFile: keyFile, CertPEM: both, HTTPPort: h, HTTPSPort: s}
	render(t, "haproxy.cfg", filepath.Join(dir, "haproxy.cfg"), v)
	peers = append(peers, urls(peer{name: "haproxy", pid: start(t, "haproxy", exec.Command("haproxy", "-db", "-f", filepath.Join(dir, "haproxy.cfg")), dir)}, h, s))
	waitListening(t, dir, fmt.Sprintf("127.0.0.1:%d", h), fmt.Sprintf("127.0.0.1:%d", s))

	h, s = ports()
	v.HTTPPort, v.HTTPSPort = h, s
	render(t, "nginx.conf", filepath.Join(dir, "nginx.conf"), v)
	peers = append(peers, urls(peer{name: "nginx", pid: start(t, "nginx", exec.Command("nginx", "-p", dir, "-c", filepath.Join(dir, "nginx.conf")), dir)}, h, s))
	waitListening(t, dir, fmt.Sprintf("127.0.0.1:%d", h), fmt.Sprintf("127.0.0.1:%d", s))

	// A change's effect, measured in the same run: the ingress as built
	// from another commit (`go test -c -o BIN ./bench/network` there).
	if base := os.Getenv("ZLAYER_BENCH_BASE"); base != "" {
		h, s = ports()
		peers = append(peers, urls(peer{name: "zl-base", base: true, pid: start(t, "ingress-base", ingressCmd(base, h, s), dir)}, h, s))
		waitListening(t, dir, fmt.Sprintf("127.0.0.1:%d", h), fmt.Sprintf("127.0.0.1:%d", s))
	}
	return peers
}

var profileAddr string

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// procTree is pid and its children (nginx's workers).
func procTree(pid int) []int {
	pids := []int{pid}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid)); err == nil {
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				pids = append(pids, n)
			}
		}
	}
	return pids
}

// procCPU is the CPU time a process and its children (nginx's workers)
// have used so far.
func procCPU(pid int) time.Duration {
	var total time.Duration
	for _, p := range procTree(pid) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		// Fields after the command's closing parenthesis: utime is the
		// 12th, stime the 13th; clock ticks are 100 a second on Linux.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		total += time.Duration(u+s) * 10 * time.Millisecond
	}
	return total
}

// benchCase is one kind of load.
type benchCase struct {
	name  string
	path  string
	tls   bool
	close bool // a new connection per request
}

// selected is cases, or those whose names contain ZLAYER_BENCH_CASE.
func selected() []benchCase {
	var out []benchCase
	for _, c := range cases {
		if strings.Contains(c.name, os.Getenv("ZLAYER_BENCH_CASE")) {
			out = append(out, c)
		}
	}
	return out
}

var cases = []benchCase{
	{name: "HTTP/1.1 keep-alive, small", path: "/"},
	{name: "HTTPS TLS 1.3 keep-alive, small", path: "/", tls: true},
	{name: "HTTP/1.1 keep-alive, 1 MiB body", path: "/1m"},
	{name: "HTTP/1.1 new connection per request, small", path: "/", close: true},
}

func (c benchCase) url(p peer) string {
	if c.tls {
		return p.httpsURL + c.path
	}
	return p.httpURL + c.path
}

var (
	wrkRPS = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkP99 = regexp.MustCompile(`(?m)^\s+99%\s+([0-9.]+)(us|ms|s)\b`)
	wrkN   = regexp.MustCompile(`(?m)^\s+(\d+) requests in`)
	wrkBad = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkErr = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// wrk runs Debian's wrk (2 threads, conc connections) for d.
func wrk(c benchCase, url string, conc int, d time.Duration) (result, error) {
	args := []string{"-t2", fmt.Sprintf("-c%d", conc), fmt.Sprintf("-d%ds", int(d.Seconds())), "--latency"}
	if c.close {
		args = append(args, "-H", "Connection: close")
	}
	out, err := exec.Command("wrk", append(args, url)...).CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("wrk %s: %w\n%s", url, err, out)
	}
	var r result
	r.dur = d
	m := wrkN.FindSubmatch(out)
	p := wrkP99.FindSubmatch(out)
	if m == nil || p == nil || wrkRPS.FindSubmatch(out) == nil {
		return result{}, fmt.Errorf("wrk %s: unreadable output\n%s", url, out)
	}
	r.reqs, _ = strconv.Atoi(string(m[1]))
	v, _ := strconv.ParseFloat(string(p[1]), 64)
	r.p99 = time.Duration(v * float64(map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[string(p[2])]))
	if b := wrkBad.FindSubmatch(out); b != nil {
		r.errs, _ = strconv.Atoi(string(b[1]))
	}
	if e := wrkErr.FindSubmatch(out); e != nil {
		// Connect, write and timeout errors are failures; read errors are
		// not counted: wrk reports a server's close after a
		// Connection: close response as one.
		for _, i := range []int{1, 3, 4} {
			n, _ := strconv.Atoi(string(e[i]))
			r.errs += n
		}
	}
	return r, nil
}

// goLoad is the Go load generator on the case's transport.
func goLoad(c benchCase, url string, conc int, d time.Duration) result {
	tr := &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc, DisableCompression: true, DisableKeepAlives: c.close}
	if c.tls {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}
	}
	return loadWith(tr, url, conc, 0, d)
}

// sample is one round of one peer under one generator.
type sample struct {
	result
	cpuPerReq time.Duration
}

type peerStats struct{ rps, p99, cpu float64 }

func medians(ss []sample) peerStats {
	rs := make([]result, len(ss))
	cpu := make([]float64, len(ss))
	for i, s := range ss {
		rs[i] = s.result
		cpu[i] = float64(s.cpuPerReq)
	}
	sort.Float64s(cpu)
	return peerStats{
		rps: loadrun.Median(rs, func(r result) float64 { return r.rps() }),
		p99: loadrun.Median(rs, func(r result) float64 { return float64(r.p99) }),
		cpu: cpu[len(cpu)/2],
	}
}

// TestBenchPeers is the comparison as a test, for bench/network.sh: it
// runs only with ZLAYER_BENCH=1 and asserts nothing about time, only that
// no request failed.
func TestBenchPeers(t *testing.T) {
	if os.Getenv("ZLAYER_BENCH") == "" {
		t.Skip("set ZLAYER_BENCH=1 to run")
	}
	peers := startPeers(t)
	rounds, _ := strconv.Atoi(envOr("ZLAYER_BENCH_ROUNDS", "3"))
	dur := 2 * time.Second
	const conc = 16
	la, _ := os.ReadFile("/proc/loadavg")
	t.Logf("load average at start: %s", strings.TrimSpace(string(la)))
	gens := []struct {
		name string
		run  func(c benchCase, url string) (result, error)
	}{
		{"wrk", func(c benchCase, url string) (result, error) { return wrk(c, url, conc, dur) }},
		{"go", func(c benchCase, url string) (result, error) { return goLoad(c, url, conc, dur), nil }},
	}
	for _, c := range selected() {
		for _, p := range peers {
			if _, err := wrk(c, c.url(p), conc, time.Second); err != nil {
				t.Fatalf("%s warm-up: %v", p.name, err)
			}
		}
		for _, g := range gens {
			res := make([][]sample, len(peers))
			for i := range rounds {
				for k := range peers {
					j := (i + k) % len(peers)
					cpu0 := procCPU(peers[j].pid)
					r, err := g.run(c, c.url(peers[j]))
					if err != nil {
						t.Fatal(err)
					}
					if r.errs > 0 || r.reqs == 0 {
						t.Fatalf("%s %s via %s: %d of %d requests failed", c.name, g.name, peers[j].name, r.errs, r.reqs+r.errs)
					}
					res[j] = append(res[j], sample{result: r, cpuPerReq: (procCPU(peers[j].pid) - cpu0) / time.Duration(r.reqs)})
				}
			}
			printCase(t, c.name+" ("+g.name+", 16 connections)", peers, res)
		}
	}
	la, _ = os.ReadFile("/proc/loadavg")
	t.Logf("load average at end: %s", strings.TrimSpace(string(la)))
	if dir := os.Getenv("ZLAYER_BENCH_PROFILE"); dir != "" {
		profile(t, dir, peers)
	}
}

func printCase(t *testing.T, title string, peers []peer, res [][]sample) {
	t.Logf("-- %s --", title)
	st := make([]peerStats, len(peers))
	for i, p := range peers {
		st[i] = medians(res[i])
		t.Logf("%-8s %8.0f req/s  p99 %9v  proxy CPU %6.1f µs/req", p.name, st[i].rps,
			time.Duration(st[i].p99).Round(time.Microsecond), st[i].cpu/float64(time.Microsecond))
	}
	// The best peer on each measure, as a user would pick.
	best := peerStats{p99: -1, cpu: -1}
	for i, s := range st[1:] {
		if peers[i+1].base {
			t.Logf("zlayer / zl-base: throughput %.2fx, p99 %.2fx, CPU per request %.2fx", st[0].rps/s.rps, st[0].p99/s.p99, st[0].cpu/s.cpu)
			continue
		}
		best.rps = max(best.rps, s.rps)
		if best.p99 < 0 || s.p99 < best.p99 {
			best.p99 = s.p99
		}
		if best.cpu < 0 || s.cpu < best.cpu {
			best.cpu = s.cpu
		}
	}
	t.Logf("zlayer / best peer: throughput %.2fx (goal >= 1.0), p99 %.2fx (goal <= 1.0), CPU per request %.2fx",
		st[0].rps/best.rps, st[0].p99/best.p99, st[0].cpu/best.cpu)
}

// profile writes the ingress's CPU and allocation profiles under the first
// case's load and, with strace, every peer's syscalls per request, and
// each one's context switches per request.
func profile(t *testing.T, dir string, peers []peer) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range selected() {
		for _, p := range peers {
			cs0 := ctxSwitches(p.pid)
			r, err := wrk(c, c.url(p), 16, 3*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s %s: %.1f context switches per request", c.name, p.name, float64(ctxSwitches(p.pid)-cs0)/float64(r.reqs))
		}
	}
	if profileAddr != "" {
		base := "http://" + profileAddr + "/debug/pprof/"
		for _, c := range selected() {
			done := make(chan error, 1)
			go func() { _, err := wrk(c, c.url(peers[0]), 16, 6*time.Second); done <- err }()
			time.Sleep(500 * time.Millisecond)
			slug := strings.NewReplacer(" ", "-", "/", "", ",", "").Replace(c.name)
			fetch(t, base+"profile?seconds=4", filepath.Join(dir, "cpu-"+slug+".pprof"))
			fetch(t, base+"allocs", filepath.Join(dir, "allocs-"+slug+".pprof"))
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := exec.LookPath("strace"); err != nil {
		return
	}
	for _, c := range selected() {
		for _, p := range peers {
			n, r := straceCount(t, c, p, filepath.Join(dir, "strace-"+p.name+".txt"))
			t.Logf("%s %s: %.2f syscalls per request (strace -c -f over %d requests)", c.name, p.name, float64(n)/float64(r), r)
		}
	}
}

func ctxSwitches(pid int) int64 {
	var n int64
	for _, p := range procTree(pid) {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", p))
		for _, f := range tasks {
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			sc := bufio.NewScanner(bytes.NewReader(b))
			for sc.Scan() {
				k, v, ok := strings.Cut(sc.Text(), ":")
				if ok && strings.HasSuffix(k, "ctxt_switches") {
					x, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
					n += x
				}
			}
		}
	}
	return n
}

func fetch(t *testing.T, url, out string) {
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
}

// The total line of strace -c: % time, seconds, usecs/call, calls.
var straceTotal = regexp.MustCompile(`(?m)^100\.00\s+\S+\s+\S+\s+(\d+)`)

// straceCount counts p's syscalls (every thread and worker) while wrk
// sends the case's load, and the requests answered meanwhile.
func straceCount(t *testing.T, c benchCase, p peer, appendTo string) (syscalls, reqs int) {
	out := appendTo + ".tmp"
	args := []string{"-c", "-f", "-o", out}
	for _, pid := range procTree(p.pid) {
		args = append(args, "-p", strconv.Itoa(pid))
	}
	st := exec.Command("strace", args...)
	if err := st.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // attached to every thread
	r, err := wrk(c, c.url(p), 16, 3*time.Second)
	_ = st.Process.Signal(os.Interrupt)
	_ = st.Wait()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	_ = os.Remove(out)
	f, err := os.OpenFile(appendTo, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err == nil {
		fmt.Fprintf(f, "== %s, %d requests ==\n%s\n", c.name, r.reqs, b)
		f.Close()
	}
	m := straceTotal.FindSubmatch(b)
	if m == nil || r.reqs == 0 {
		return 0, 1
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n, r.reqs
}
