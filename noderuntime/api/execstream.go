package api

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/reconcile"
)

// isExecUpgrade: the client asks for the interactive exec stream.
func isExecUpgrade(r *http.Request) bool {
	if !strings.EqualFold(r.Header.Get("Upgrade"), apitypes.ExecUpgrade) {
		return false
	}
	for _, v := range r.Header.Values("Connection") {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), "upgrade") {
				return true
			}
		}
	}
	return false
}

// execInteractive answers 101 and runs the command on the hijacked
// connection's frame stream (apitypes.ExecUpgrade). The command lives as
// long as the connection: when it drops, the exec is killed and deleted.
func (s *Server) execInteractive(w http.ResponseWriter, r *http.Request, id string, req apitypes.ExecRequest) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		writeErr(w, 500, "internal", "interactive exec: "+err.Error())
		return
	}
	defer conn.Close()
	// A terminal may sit idle for hours: none of the request's deadlines
	// apply to the session.
	_ = conn.SetDeadline(time.Time{})
	if _, err := io.WriteString(brw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: "+apitypes.ExecUpgrade+"\r\n\r\n"); err != nil {
		return
	}
	if err := brw.Flush(); err != nil {
		return
	}
	// The request's context ends with the hijack's handler, not with the
	// connection: the session has its own, cancelled when reading fails.
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()
	out := &frameConn{w: brw.Writer, conn: conn, timeout: s.limits().WriteTimeout, fail: cancel}
	stdinR, stdinW := io.Pipe()
	resize := make(chan [2]uint16, 1)
	go readClientFrames(brw.Reader, stdinW, resize, cancel)
	eio := reconcile.ExecIO{Stdin: stdinR, Stdout: out.stream(apitypes.FrameStdout), Stderr: out.stream(apitypes.FrameStderr), TTY: req.TTY}
	if req.Size != nil {
		eio.Cols, eio.Rows = req.Size.Cols, req.Size.Rows
	}
	eio.Resize = resize
	code, err := s.Controller.ExecWith(ctx, id, req.Command, eio)
	// Unblocks a stdin copy still waiting for the client.
	_ = stdinR.Close()
	f := apitypes.ExecFrame{ExitCode: &code}
	if err != nil {
		f.Error = err.Error()
	}
	b, _ := json.Marshal(f)
	_ = out.write(apitypes.FrameExit, b)
}

// stdinQueue is how many stdin frames wait for a command that is not
// reading them before the connection is no longer read either. Frames go
// to stdin from their own goroutine, so that a command ignoring its stdin
// does not stop the reading that notices a dropped connection; past the
// queue (and the pipes' buffers) reading stops, to bound the node's
// memory, and a drop is then noticed by the next output write.
const stdinQueue = 16

// readClientFrames feeds the client's stdin and resizes to the exec until
// the connection ends, then cancels the session.
func readClientFrames(r *bufio.Reader, stdin *io.PipeWriter, resize chan [2]uint16, cancel func()) {
	defer cancel()
	q := make(chan []byte, stdinQueue)
	defer close(q)
	go func() {
		for p := range q {
			if p == nil {
				_ = stdin.Close()
				continue
			}
			// A write fails once the exec is over; the rest is dropped.
			_, _ = stdin.Write(p)
		}
	}()
	stdinOpen := true
	for {
		k, p, err := apitypes.ReadFrame(r)
		if err != nil {
			// Also ends a write blocked on a command that never read.
			_ = stdin.CloseWithError(io.ErrUnexpectedEOF)
			return
		}
		switch k {
		case apitypes.FrameStdin:
			if stdinOpen && len(p) > 0 {
				q <- p
			}
		case apitypes.FrameStdinClose:
			if stdinOpen {
				q <- nil // after the data before it
				stdinOpen = false
			}
		case apitypes.FrameResize:
			var sz apitypes.TermSize
			if json.Unmarshal(p, &sz) == nil && sz.Cols > 0 && sz.Rows > 0 {
				// Only the latest size matters: a stale one is dropped.
				select {
				case <-resize:
				default:
				}
				resize <- [2]uint16{sz.Cols, sz.Rows}
			}
		}
	}
}

// frameConn writes frames from the exec's output copiers, one at a time.
// Each write gets the API's write timeout, as the NDJSON streams' do: a
// client that stops reading fails the output, and the session with it.
type frameConn struct {
	mu      sync.Mutex
	w       *bufio.Writer
	conn    net.Conn
	timeout time.Duration
	fail    func() // ends the session
}

func (f *frameConn) write(k apitypes.FrameKind, p []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	_ = f.conn.SetWriteDeadline(time.Now().Add(f.timeout))
	err := apitypes.WriteFrame(f.w, k, p)
	if err == nil {
		err = f.w.Flush()
	}
	if err != nil {
		f.fail()
	}
	return err
}

func (f *frameConn) stream(k apitypes.FrameKind) io.Writer {
	return frameStream{f, k}
}

type frameStream struct {
	f *frameConn
	k apitypes.FrameKind
}

func (s frameStream) Write(p []byte) (int, error) {
	if err := s.f.write(s.k, p); err != nil {
		return 0, err
	}
	return len(p), nil
}
