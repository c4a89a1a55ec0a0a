package apitypes

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestFramesRoundTrip(t *testing.T) {
	var b bytes.Buffer
	big := bytes.Repeat([]byte("x"), MaxFramePayload+10)
	frames := []struct {
		k FrameKind
		p []byte
	}{
		{FrameStdin, []byte("echo hi\r")},
		{FrameResize, []byte(`{"cols":100,"rows":30}`)},
		{FrameStdinClose, nil},
		{FrameStdout, big},
		{FrameExit, []byte(`{"exit_code":3}`)},
	}
	for _, f := range frames {
		if err := WriteFrame(&b, f.k, f.p); err != nil {
			t.Fatal(err)
		}
	}
	read := func() (FrameKind, []byte) {
		t.Helper()
		k, p, err := ReadFrame(&b)
		if err != nil {
			t.Fatal(err)
		}
		return k, p
	}
	for _, f := range frames {
		if f.k == FrameStdout {
			// Split at the limit, kind kept, bytes in order.
			k1, p1 := read()
			k2, p2 := read()
			if k1 != FrameStdout || k2 != FrameStdout || len(p1) != MaxFramePayload || !bytes.Equal(append(p1, p2...), big) {
				t.Fatalf("large payload came back as %d+%d bytes (kinds %d, %d)", len(p1), len(p2), k1, k2)
			}
			continue
		}
		if k, p := read(); k != f.k || !bytes.Equal(p, f.p) {
			t.Errorf("frame %d %q came back as %d %q", f.k, f.p, k, p)
		}
	}
	if _, _, err := ReadFrame(&b); !errors.Is(err, io.EOF) {
		t.Errorf("end of stream: %v, want io.EOF", err)
	}
}

func TestFrameReaderRefusesBrokenStreams(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"cut in the header", []byte{byte(FrameStdout), 0, 0}, io.ErrUnexpectedEOF},
		{"cut in the payload", []byte{byte(FrameStdout), 0, 0, 0, 4, 'a', 'b'}, io.ErrUnexpectedEOF},
		{"claims more than the limit", []byte{byte(FrameStdout), 0xff, 0xff, 0xff, 0xff}, ErrFrameTooLarge},
	}
	for _, c := range cases {
		if _, _, err := ReadFrame(bytes.NewReader(c.in)); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if _, _, err := ReadFrame(bytes.NewReader([]byte{99, 0, 0, 0, 0})); err == nil {
		t.Error("unknown frame kind accepted")
	}
}
