package node

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/zlayer/zlayer/noderuntime/apiclient"
)

// screen is what a command wrote to its terminal, as the test has read
// it: chunks arrive from the writer on a channel, and only the test's
// goroutine reads them into seen.
type screen struct {
	chunks chan []byte
	seen   []byte
}

func newScreen() *screen { return &screen{chunks: make(chan []byte, 256)} }

// Write hands a copy of p to the test.
func (s *screen) Write(p []byte) (int, error) {
	s.chunks <- append([]byte(nil), p...)
	return len(p), nil
}

// drain takes in what has arrived without waiting.
func (s *screen) drain() string {
	for {
		select {
		case c := <-s.chunks:
			s.seen = append(s.seen, c...)
		default:
			return string(s.seen)
		}
	}
}

// zlayerOnPTY starts the zlayer CLI on a new terminal of 24x80.
func zlayerOnPTY(t *testing.T, n *Node, args ...string) (*exec.Cmd, *os.File, *screen) {
	t.Helper()
	cmd := n.s.Command(context.Background(), filepath.Join(n.s.BinDir, "zlayer"), args...)
	cmd.Env = append(cmd.Env, "ZLAYER_HOST="+n.Socket)
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 80})
	if err != nil {
		t.Fatal(err)
	}
	out := newScreen()
	go func() { _, _ = io.Copy(out, f) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = f.Close()
	})
	return cmd, f, out
}

// expect waits for want on the screen after from bytes of it, and returns
// where it ended.
func expect(t *testing.T, out *screen, from int, want string) int {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		s := out.drain()
		if i := strings.Index(s[from:], want); i >= 0 {
			return from + i + len(want)
		}
		select {
		case c := <-out.chunks:
			out.seen = append(out.seen, c...)
		case <-deadline:
			t.Fatalf("terminal did not show %q in 30s; it shows:\n%q", want, s[from:])
		}
	}
}

// testServeExecTTY: `zlayer exec -it` under a real terminal: typed commands
// run and answer, the replica's terminal follows ours in size, Ctrl-C
// reaches the command, and the shell's exit code is zlayer's.
func testServeExecTTY(t *testing.T, d *serveDay) {
	n := d.n
	cmd, f, out := zlayerOnPTY(t, n, "exec", "-it", "worker", "--replica", "1", "--", "sh")
	typeKeys := func(s string) {
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	// Typing waits for the prompt as a user does: before it, our terminal
	// is not yet raw and the keys would be the local terminal's. The
	// answers are computed, so the echo of what was typed cannot pass for
	// them.
	at := expect(t, out, 0, "/ # ")
	typeKeys("echo hi-$((1+1))\r")
	at = expect(t, out, at, "hi-2")
	typeKeys("stty size\r")
	at = expect(t, out, at, "24 80")
	if err := pty.Setsize(f, &pty.Winsize{Rows: 33, Cols: 101}); err != nil {
		t.Fatal(err)
	}
	// The resize travels on its own (SIGWINCH, then a frame): ask until
	// the replica's terminal has it.
	n.WaitFor("replica terminal resized", 30*time.Second, func() bool {
		typeKeys("stty size\r")
		time.Sleep(200 * time.Millisecond)
		return strings.Contains(out.drain()[at:], "33 101")
	})
	at = len(out.drain())
	typeKeys("sleep 300\r")
	time.Sleep(300 * time.Millisecond)
	typeKeys("\x03")
	typeKeys("echo after-$((2+3))\r")
	at = expect(t, out, at, "after-5")
	typeKeys("exit 3\r")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 3 {
			t.Errorf("zlayer exec -it after exit 3: %v, want exit code 3; terminal:\n%s", err, out.drain())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("zlayer exec -it did not end after exit 3; terminal:\n%s", out.drain()[at:])
	}
}

// testServeExecClientKilled: a client killed mid-session leaves no exec
// process in the replica.
func testServeExecClientKilled(t *testing.T, d *serveDay) {
	n := d.n
	const marker = "sleep\x003607\x00"
	cmd, _, _ := zlayerOnPTY(t, n, "exec", "-it", "worker", "--", "sleep", "3607")
	n.WaitFor("exec process running", 30*time.Second, func() bool { return len(processesWith(marker)) > 0 })
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	n.WaitFor("exec process gone with its client", 30*time.Second, func() bool { return len(processesWith(marker)) == 0 })
}

// testServeExecStreamsOverTCP: -i streams stdin as it is written (the
// second line is written only after the answer to the first came back),
// over the TLS API with the admin token; the read-only token is refused.
func testServeExecStreamsOverTCP(t *testing.T, d *serveDay) {
	n := d.n
	inR, inW := io.Pipe()
	out := newScreen()
	type result struct {
		code int
		err  error
	}
	res := make(chan result, 1)
	ctx, cancel := context.WithTimeout(d.ctx, time.Minute)
	defer cancel()
	go func() {
		code, err := d.tcp.ExecInteractive(ctx, "shop", "worker", 0, []string{"sh", "-c", "read a; echo got-$a; read b; echo got-$b >&2; exit 4"},
			apiclient.ExecStreams{Stdin: inR, Stdout: out, Stderr: out})
		res <- result{code, err}
	}()
	_, _ = io.WriteString(inW, "one\n")
	expect(t, out, 0, "got-one")
	_, _ = io.WriteString(inW, "two\n")
	_ = inW.Close()
	r := <-res
	if seen := out.drain(); r.err != nil || r.code != 4 || !strings.Contains(seen, "got-two") {
		t.Errorf("exec over TCP: code %d err %v output %q", r.code, r.err, seen)
	}
	_, err := n.TCP(n.Token(true)).ExecInteractive(ctx, "shop", "worker", 0, []string{"true"}, apiclient.ExecStreams{Stdout: io.Discard, Stderr: io.Discard})
	var ae *apiclient.Error
	if !errors.As(err, &ae) || ae.Status != 403 {
		t.Errorf("interactive exec with the read-only token: %v, want 403", err)
	}
}

// processesWith lists the PIDs whose command line is cmdline.
func processesWith(cmdline string) []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && string(b) == cmdline {
			out = append(out, e.Name())
		}
	}
	return out
}
