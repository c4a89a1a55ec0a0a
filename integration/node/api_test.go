package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zlayer/zlayer/integration/scenario"
	"github.com/zlayer/zlayer/integration/stack"
	"github.com/zlayer/zlayer/noderuntime/pki"
	"github.com/zlayer/zlayer/noderuntime/reconcile"
)

// apiNode is a node serving its API on TLS and on --insecure-bind, with a
// header timeout and a connection cap, and what its steps learn of it.
type apiNode struct {
	s        *stack.Stack
	n        *Node
	ctx      context.Context
	plain    string // the --insecure-bind address
	maxConns int
	admin    string // tokens
	reader   string
	https    string // https://BIND
	known    string // the CLI's known_nodes file
	hc       *http.Client
	fp       string // the CA's fingerprint, once read
}

// cli runs the CLI with the test's known_nodes file.
func (a *apiNode) cli(args ...string) (string, string, int) {
	return a.n.CLI(append(args, "--known-nodes", a.known)...)
}

// apiSteps run in order on one node: the known_nodes file, the connections
// held and the stopped node carry over from step to step.
var apiSteps = []scenario.Step[*apiNode]{
	nodeStep("socket and secret files have their modes", testAPIFileModes),
	nodeStep("CA fingerprint logged and written", testAPICAFingerprint),
	nodeStep("CLI verifies the node's certificate", testAPICLIVerifiesNode),
	nodeStep("plain HTTP and TLS 1.1 refused on the TLS port", testAPITLSPortRefusesPlain),
	nodeStep("insecure bind still needs the token", testAPIInsecureBindNeedsToken),
	nodeStep("read token only reads", testAPIReadToken),
	nodeStep("header timeout cuts slow heads", testAPIHeaderTimeout),
	nodeStep("connection cap holds", testAPIConnectionCap),
	nodeStep("loose token file refused at start", testAPILooseTokenFile),
}

func (a *apiNode) node() *Node { return a.n }

// The API is not an open door: the TCP API is TLS, verified by the CLI
// (CA file, or a fingerprint given once and remembered), plain HTTP only on
// --insecure-bind, scoped tokens, a header timeout, a connection cap, a
// socket with its final mode, and loose token files refused.
func TestIntegrationNodeAPISecurity(t *testing.T) {
	s := stack.Start(t, stack.Options{Containerd: true, NoBusybox: true})
	plain := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	const maxConns = 4
	n := StartNodeWithArgs(t, s, reconcile.RuntimeRunc, "--insecure-bind", plain,
		"--api-header-timeout", "1s", "--api-max-conns", fmt.Sprint(maxConns))
	a := &apiNode{s: s, n: n, ctx: context.Background(), plain: plain, maxConns: maxConns,
		https: "https://" + n.Bind, known: filepath.Join(s.Dir, "cfg", "known_nodes"),
		hc: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Minute}}
	a.admin, a.reader = n.Token(false), n.Token(true)
	if a.admin == a.reader || len(a.reader) != 64 {
		t.Fatalf("tokens: admin %q read %q", a.admin, a.reader)
	}
	scenario.Run(t, a, apiSteps)
}

// testAPIFileModes: the socket has its final mode as soon as the API
// answers, and the private folder it was bound in is gone.
func testAPIFileModes(t *testing.T, a *apiNode) {
	n := a.n
	if st, err := os.Lstat(n.Socket); err != nil || st.Mode()&os.ModeSocket == 0 || st.Mode().Perm() != 0o660 {
		t.Errorf("API socket: %v %v", st.Mode(), err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(n.Socket), ".zlayer-sock-*")); len(left) > 0 {
		t.Errorf("socket folders left: %v", left)
	}
	for _, f := range []string{"token", "token.read", "tls/ca.key", "tls/server.key"} {
		if st, err := os.Stat(filepath.Join(n.Dir, f)); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", f, st.Mode(), err)
		}
	}
}

// testAPICAFingerprint: the CA fingerprint is logged at start and written
// beside the CA.
func testAPICAFingerprint(t *testing.T, a *apiNode) {
	n := a.n
	fpb, err := os.ReadFile(filepath.Join(n.Dir, "tls", "ca.fingerprint"))
	if err != nil {
		t.Fatal(err)
	}
	a.fp = strings.TrimSpace(string(fpb))
	if _, err := pki.ParseFingerprint(a.fp); err != nil {
		t.Fatal(err)
	}
	if log := n.Log(); !strings.Contains(log, "API TLS CA fingerprint") || !strings.Contains(log, a.fp) {
		t.Errorf("serve did not log the CA fingerprint %s", a.fp)
	}
}

func testAPICLIVerifiesNode(t *testing.T, a *apiNode) {
	n, cli, https, admin, fp, known := a.n, a.cli, a.https, a.admin, a.fp, a.known
	// --ca-file works.
	if out, errOut, code := cli("status", "--host", https, "--token", admin, "--ca-file", n.CAFile()); code != 0 || !strings.Contains(out, "no deployments") {
		t.Errorf("status with --ca-file: %d %s %s", code, out, errOut)
	}
	// Nothing to trust the node by: refused, with its fingerprint and how.
	_, errOut, code := cli("status", "--host", https, "--token", admin)
	if code == 0 || !strings.Contains(errOut, "not trusted") || !strings.Contains(errOut, "--ca-fingerprint "+fp) {
		t.Errorf("unknown node: exit %d\n%s", code, errOut)
	}
	// Another CA, or a wrong fingerprint: refused, and nothing remembered.
	other, err := pki.NewCA("other")
	if err != nil {
		t.Fatal(err)
	}
	otherFile := filepath.Join(a.s.Dir, "other-ca.crt")
	if err := os.WriteFile(otherFile, pki.EncodeCert(other.Cert), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := cli("status", "--host", https, "--token", admin, "--ca-file", otherFile); code == 0 || !strings.Contains(errOut, "certificate") {
		t.Errorf("another CA accepted: %d %s", code, errOut)
	}
	if _, errOut, code := cli("status", "--host", https, "--token", admin, "--ca-fingerprint", pki.Fingerprint(other.Cert)); code == 0 || !strings.Contains(errOut, "refusing") {
		t.Errorf("wrong fingerprint accepted: %d %s", code, errOut)
	}
	if _, err := os.Stat(known); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused node was remembered: %v", err)
	}
	// A fingerprint given once is remembered for this host:port.
	if out, errOut, code := cli("status", "--host", https, "--token", admin, "--ca-fingerprint", fp); code != 0 || !strings.Contains(out, "no deployments") {
		t.Fatalf("status with --ca-fingerprint: %d %s %s", code, out, errOut)
	}
	if b, _ := os.ReadFile(known); string(b) != n.Bind+" "+fp+"\n" {
		t.Errorf("known nodes: %q", b)
	}
	if out, errOut, code := cli("status", "--host", https, "--token", admin); code != 0 || !strings.Contains(out, "no deployments") {
		t.Errorf("status with the remembered fingerprint: %d %s %s", code, out, errOut)
	}
	// A remembered fingerprint the node no longer matches: a loud error.
	if err := os.WriteFile(known, []byte(n.Bind+" "+pki.Fingerprint(other.Cert)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := cli("status", "--host", https, "--token", admin); code == 0 || !strings.Contains(errOut, "HAS CHANGED") || !strings.Contains(errOut, fp) {
		t.Errorf("changed node: %d %s", code, errOut)
	}
}

// testAPITLSPortRefusesPlain: plain HTTP to the TLS port fails cleanly, in
// the CLI and on the wire; TLS 1.1 is refused.
func testAPITLSPortRefusesPlain(t *testing.T, a *apiNode) {
	n := a.n
	if _, errOut, code := a.cli("status", "--host", "http://"+n.Bind, "--token", a.admin); code == 0 || !strings.Contains(errOut, "serves TLS") {
		t.Errorf("http:// to the TLS port: %d %s", code, errOut)
	}
	if resp, err := a.hc.Get("http://" + n.Bind + "/v1/deployments"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain request to the TLS port: %d", resp.StatusCode)
		}
	}
	if resp, err := tlsClient(n, 0x0302).Get(a.https + "/health/live"); err == nil {
		resp.Body.Close()
		t.Error("TLS 1.1 accepted")
	}
}

// testAPIInsecureBindNeedsToken: --insecure-bind serves plain HTTP, token
// still required.
func testAPIInsecureBindNeedsToken(t *testing.T, a *apiNode) {
	for _, c := range []struct {
		token string
		want  int
	}{{"", 401}, {a.admin, 200}, {a.reader, 200}} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+a.plain+"/v1/deployments", nil)
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := a.hc.Do(req)
		if err != nil {
			t.Fatalf("insecure bind: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("insecure bind, token %q: %d, want %d", c.token, resp.StatusCode, c.want)
		}
	}
}

// testAPIReadToken: the read-only token reads status and metrics, and gets
// 403 on deploy.
func testAPIReadToken(t *testing.T, a *apiNode) {
	n, ctx := a.n, a.ctx
	ro := n.TCP(a.reader)
	if _, err := ro.List(ctx); err != nil {
		t.Errorf("read token, list: %v", err)
	}
	if m, err := ro.Raw(ctx, "/metrics"); err != nil || !strings.Contains(m, "zlayer_") {
		t.Errorf("read token, metrics: %v", err)
	}
	if out, errOut, code := a.cli("status", "--host", a.https, "--token", a.reader, "--ca-file", n.CAFile()); code != 0 || !strings.Contains(out, "no deployments") {
		t.Errorf("status with the read token: %d %s %s", code, out, errOut)
	}
	spec := n.WriteSpec("ro.yaml", "version: v1\ndeployment: ro\nservices:\n  x:\n    image: busybox\n")
	if _, errOut, code := a.cli("deploy", spec, "--no-wait", "--host", a.https, "--token", a.reader, "--ca-file", n.CAFile()); code == 0 || !strings.Contains(errOut, "403") {
		t.Errorf("deploy with the read token: %d %s", code, errOut)
	}
	if list, _ := n.API.List(ctx); len(list) != 0 {
		t.Errorf("the read token deployed: %v", list)
	}
	ro.CloseIdleConnections()
}

// testAPIHeaderTimeout: a client that never finishes its head is cut off by
// the header timeout (1s here): the node closes the connection, on both
// ports.
func testAPIHeaderTimeout(t *testing.T, a *apiNode) {
	for _, addr := range []string{a.plain, a.n.Bind} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if addr == a.plain {
			io.WriteString(c, "GET /v1/deployments HTTP/1.1\r\nHost: x\r\n")
		}
		// A generous bound: only "closed, not still open" is asserted.
		c.SetReadDeadline(time.Now().Add(time.Minute))
		_, err = io.Copy(io.Discard, c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("%s: a slow head was not cut off", addr)
		}
		c.Close()
	}
}

// testAPIConnectionCap: with maxConns connections open (idle keep-alive
// after one request each), the next one is not served until one of them
// closes.
func testAPIConnectionCap(t *testing.T, a *apiNode) {
	maxConns := a.maxConns
	var held []net.Conn
	for i := 0; i < maxConns; i++ {
		c, err := net.Dial("tcp", a.plain)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if code := request(t, c, time.Minute); code != 200 {
			t.Fatalf("held connection %d: %d", i, code)
		}
		held = append(held, c)
	}
	extra, err := net.Dial("tcp", a.plain)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	if code := request(t, extra, 2*time.Second); code != 0 {
		t.Errorf("connection %d served over the cap of %d: %d", maxConns+1, maxConns, code)
	}
	held[0].Close()
	if code := readStatus(t, extra, time.Minute); code != 200 {
		t.Errorf("the waiting connection was not served after one closed: %d", code)
	}
	// The unix socket has its own cap: local admin still works.
	if _, err := a.n.API.List(a.ctx); err != nil {
		t.Errorf("unix socket while TCP is full: %v", err)
	}
	for _, c := range held {
		c.Close()
	}
	extra.Close()
}

// testAPILooseTokenFile: a token file group or others can read is refused
// at start, naming the file and the fix.
func testAPILooseTokenFile(t *testing.T, a *apiNode) {
	n := a.n
	n.Stop()
	tokFile := filepath.Join(n.Dir, "token")
	if err := os.Chmod(tokFile, 0o644); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(a.ctx, 2*time.Minute)
	defer cancel()
	cmd := n.ServeCommand(cctx)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !strings.Contains(string(out), tokFile) || !strings.Contains(string(out), "chmod 600 "+tokFile) {
		t.Errorf("serve with a 0644 token file: %v\n%s", err, out)
	}
	if err := os.Chmod(tokFile, 0o600); err != nil {
		t.Fatal(err)
	}
}

// request sends one GET with the admin-free health path and returns the
// status, 0 when nothing came back within wait.
func request(t *testing.T, c net.Conn, wait time.Duration) int {
	t.Helper()
	if _, err := io.WriteString(c, "GET /health/live HTTP/1.1\r\nHost: node\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	return readStatus(t, c, wait)
}

func readStatus(t *testing.T, c net.Conn, wait time.Duration) int {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return 0
		}
		t.Fatalf("read answer: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
