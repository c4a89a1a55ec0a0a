package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
)

// execPeer is the node's end of the exec stream, as the protocol has it
// (the node itself needs containerd; integration/node drives it): it
// answers each stdin frame at once with "got:" and the data, reports
// resizes, and exits with 3 at the end of stdin.
func execPeer(t *testing.T, seen chan<- apitypes.ExecRequest) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req apitypes.ExecRequest
		_ = json.Unmarshal([]byte(r.Header.Get(apitypes.ExecHeader)), &req)
		seen <- req
		if r.Header.Get("Upgrade") != apitypes.ExecUpgrade || r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "no upgrade", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n", apitypes.ExecUpgrade)
		_ = brw.Flush()
		send := func(k apitypes.FrameKind, p string) {
			_ = apitypes.WriteFrame(brw, k, []byte(p))
			_ = brw.Flush()
		}
		for {
			k, p, err := apitypes.ReadFrame(brw)
			if err != nil {
				return
			}
			switch k {
			case apitypes.FrameStdin:
				send(apitypes.FrameStdout, "got:"+string(p))
			case apitypes.FrameResize:
				send(apitypes.FrameStderr, "size:"+string(p))
			case apitypes.FrameStdinClose:
				send(apitypes.FrameExit, `{"exit_code":3}`)
				return
			}
		}
	})
}

// peerClient is a client with token of a server that is execPeer.
func peerClient(t *testing.T, token string) (*Client, <-chan apitypes.ExecRequest) {
	seen := make(chan apitypes.ExecRequest, 1)
	srv := httptest.NewServer(execPeer(t, seen))
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, token)
	if err != nil {
		t.Fatal(err)
	}
	return c, seen
}

// lineWriter hands each write to the test.
type lineWriter chan string

func (l lineWriter) Write(p []byte) (int, error) { l <- string(p); return len(p), nil }

func TestExecInteractiveStreamsBothWays(t *testing.T) {
	c, seen := peerClient(t, "tok")
	inR, inW := io.Pipe()
	out, errs := make(lineWriter, 8), make(lineWriter, 8)
	resize := make(chan apitypes.TermSize)
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, err := c.ExecInteractive(context.Background(), "shop", "web", 2, []string{"sh"},
			ExecStreams{Stdin: inR, Stdout: out, Stderr: errs, TTY: true, Size: &apitypes.TermSize{Cols: 80, Rows: 24}, Resize: resize})
		done <- result{code, err}
	}()
	if req := <-seen; !req.TTY || req.Size == nil || *req.Size != (apitypes.TermSize{Cols: 80, Rows: 24}) || req.Replica != 2 || req.Command[0] != "sh" {
		t.Fatalf("request: %+v", req)
	}
	recv := func(ch lineWriter, want string) {
		t.Helper()
		select {
		case got := <-ch:
			if got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no %q", want)
		}
	}
	// Each keystroke is answered while stdin is still open: nothing waits
	// for the end of the input.
	for _, key := range []string{"l", "s", "\r"} {
		_, _ = io.WriteString(inW, key)
		recv(out, "got:"+key)
	}
	resize <- apitypes.TermSize{Cols: 100, Rows: 30}
	recv(errs, `size:{"cols":100,"rows":30}`)
	_ = inW.Close()
	r := <-done
	if r.err != nil || r.code != 3 {
		t.Errorf("exit: %d %v, want 3", r.code, r.err)
	}
}

func TestExecInteractiveRefusedAnswer(t *testing.T) {
	c, _ := peerClient(t, "wrong")
	_, err := c.ExecInteractive(context.Background(), "shop", "web", 0, []string{"sh"}, ExecStreams{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}})
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
		t.Errorf("refused upgrade: %v, want the 400 as an *Error", err)
	}
}
