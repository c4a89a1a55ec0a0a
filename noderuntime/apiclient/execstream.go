package apiclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
)

// ExecStreams are an interactive exec's streams and terminal.
type ExecStreams struct {
	Stdin          io.Reader // nil: the command's stdin is closed at once
	Stdout, Stderr io.Writer // all output goes to Stdout on a terminal
	TTY            bool
	Size           *apitypes.TermSize       // the terminal's first size
	Resize         <-chan apitypes.TermSize // later sizes
}

// ExecInteractive runs cmd in a replica (0: any running one) over the
// upgraded exec stream: stdin is sent as it is read, output arrives as it
// is written, and the exit code is returned. Cancelling ctx drops the
// connection, which kills the command on the node.
func (c *Client) ExecInteractive(ctx context.Context, dep, svc string, replica int, cmd []string, s ExecStreams) (int, error) {
	b, _ := json.Marshal(apitypes.ExecRequest{Command: cmd, Replica: replica, TTY: s.TTY, Size: s.Size})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+svcPath(dep, svc)+"/exec", nil)
	if err != nil {
		return -1, err
	}
	req.Header.Set(apitypes.ExecHeader, string(b))
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", apitypes.ExecUpgrade)
	resp, err := c.send(req)
	if err != nil {
		return -1, err
	}
	rwc, ok := resp.Body.(io.ReadWriteCloser)
	if resp.StatusCode != http.StatusSwitchingProtocols || !ok {
		resp.Body.Close()
		return -1, fmt.Errorf("interactive exec: the node answered %s instead of switching to %s", resp.Status, apitypes.ExecUpgrade)
	}
	defer rwc.Close()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			rwc.Close()
		case <-done:
		}
	}()
	var mu sync.Mutex
	send := func(k apitypes.FrameKind, p []byte) error {
		mu.Lock()
		defer mu.Unlock()
		return apitypes.WriteFrame(rwc, k, p)
	}
	go sendStdin(s.Stdin, send)
	if s.Resize != nil {
		go func() {
			for {
				select {
				case sz := <-s.Resize:
					b, _ := json.Marshal(sz)
					if send(apitypes.FrameResize, b) != nil {
						return
					}
				case <-done:
					return
				}
			}
		}()
	}
	for {
		k, p, err := apitypes.ReadFrame(rwc)
		if err != nil {
			if ctx.Err() != nil {
				return -1, ctx.Err()
			}
			return -1, fmt.Errorf("exec stream ended early: %w", err)
		}
		switch k {
		case apitypes.FrameStdout:
			_, _ = s.Stdout.Write(p) // the exit code is still the answer
		case apitypes.FrameStderr:
			_, _ = s.Stderr.Write(p)
		case apitypes.FrameExit:
			var f apitypes.ExecFrame
			if err := json.Unmarshal(p, &f); err != nil || f.ExitCode == nil {
				return -1, fmt.Errorf("exec stream: bad exit frame %q", p)
			}
			if f.Error != "" {
				return *f.ExitCode, errors.New(f.Error)
			}
			return *f.ExitCode, nil
		}
	}
}

// sendStdin sends r as it is read (a keystroke is a frame), then the end
// of stdin.
func sendStdin(r io.Reader, send func(apitypes.FrameKind, []byte) error) {
	if r != nil {
		buf := make([]byte, 32<<10)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				if send(apitypes.FrameStdin, buf[:n]) != nil {
					return
				}
			}
			if err != nil {
				break
			}
		}
	}
	_ = send(apitypes.FrameStdinClose, nil)
}
