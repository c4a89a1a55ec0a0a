package apitypes

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Interactive exec: POST .../exec with the ExecRequest in ExecHeader and
// `Connection: Upgrade`, `Upgrade: ExecUpgrade`. The node answers 101 and
// the connection then carries ExecStream frames both ways until the node
// sends FrameExit: stdin, resizes and the end of stdin from the client;
// output and the exit from the node. A dropped connection kills the command.
const ExecUpgrade = "zlayer-exec"

// FrameKind says what an exec stream frame carries.
type FrameKind byte

const (
	FrameStdin      FrameKind = 1 // client: bytes for the command's stdin
	FrameStdinClose FrameKind = 2 // client: no more stdin (empty payload)
	FrameResize     FrameKind = 3 // client: a TermSize (JSON)
	FrameStdout     FrameKind = 4 // node: output (all of it, on a terminal)
	FrameStderr     FrameKind = 5 // node: error output
	FrameExit       FrameKind = 6 // node: an ExecFrame (JSON) with exit_code and error; the last frame
)

// MaxFramePayload bounds one frame: a reader refuses a larger length
// instead of allocating what a broken peer claims.
const MaxFramePayload = 1 << 20

// ErrFrameTooLarge is a frame whose length is over MaxFramePayload.
var ErrFrameTooLarge = errors.New("exec stream frame too large")

// A frame is its kind (1 byte), its payload length (4 bytes, big endian)
// and the payload.
const frameHeader = 5

// WriteFrame writes one frame. Payloads over MaxFramePayload are split
// into several frames of the same kind, so that any write can be framed.
func WriteFrame(w io.Writer, k FrameKind, p []byte) error {
	for {
		n := min(len(p), MaxFramePayload)
		buf := make([]byte, frameHeader+n)
		buf[0] = byte(k)
		binary.BigEndian.PutUint32(buf[1:frameHeader], uint32(n))
		copy(buf[frameHeader:], p[:n])
		if _, err := w.Write(buf); err != nil {
			return err
		}
		p = p[n:]
		if len(p) == 0 {
			return nil
		}
	}
}

// ReadFrame reads one frame. io.EOF means the stream ended between frames;
// a stream cut inside a frame is io.ErrUnexpectedEOF.
func ReadFrame(r io.Reader) (FrameKind, []byte, error) {
	var h [frameHeader]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	k := FrameKind(h[0])
	if k < FrameStdin || k > FrameExit {
		return 0, nil, fmt.Errorf("exec stream: unknown frame kind %d", h[0])
	}
	n := binary.BigEndian.Uint32(h[1:])
	if n > MaxFramePayload {
		return 0, nil, fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	return k, p, nil
}
