package logger

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/runtime/v2/logging"

	"github.com/zlayer/zlayer/shim/contract"
	"github.com/zlayer/zlayer/shim/logfile"
)

// The logger writes what comes down the container's pipes in the shim's
// format, rotating as its arguments say, and says ready only once the log
// is open.
func TestRunWritesTheShimsFormat(t *testing.T) {
	dir := t.TempDir()
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	cfg := &logging.Config{ID: "c1", Namespace: "ns", Stdout: outR, Stderr: errR}
	var args []string
	for k, v := range contract.LoggerArgs(dir, logfile.Options{MaxSize: 300, MaxFiles: 20}) {
		args = append(args, k, v)
	}
	path := contract.LogPath(dir, "ns", "c1")
	ready := false
	done := make(chan error, 1)
	go func() {
		done <- Run(context.Background(), cfg, args, func() error {
			if _, err := os.Stat(path); err != nil {
				t.Errorf("ready before the log exists: %v", err)
			}
			ready = true
			return nil
		})
	}()
	go func() {
		for i := 0; i < 20; i++ {
			io.WriteString(outW, "line "+strings.Repeat("o", i)+"\n")
		}
		io.WriteString(outW, "no newline")
		outW.Close()
	}()
	io.WriteString(errW, "oops\n")
	errW.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !ready {
		t.Fatal("never said ready")
	}
	if files, _ := logfile.Files(path); len(files) < 3 {
		t.Errorf("did not rotate: %q", files)
	}
	recs, err := logfile.Tail(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	var out, errs []string
	for _, r := range recs {
		if r.Log == "no newline" && !r.Partial {
			t.Errorf("an unfinished last line is not marked partial: %+v", r)
		}
		if r.Stream == "stderr" {
			errs = append(errs, r.Log)
		} else {
			out = append(out, r.Log)
		}
	}
	if len(out) != 21 || out[20] != "no newline" || len(errs) != 1 || errs[0] != "oops" {
		t.Fatalf("stdout %q stderr %q", out, errs)
	}
}

func TestRunRefusesBadArguments(t *testing.T) {
	cfg := &logging.Config{ID: "c1", Namespace: "ns", Stdout: strings.NewReader(""), Stderr: strings.NewReader("")}
	for _, args := range [][]string{
		{"state-dir"},
		{"state-dir", "relative/dir"},
		{"state-dir", "/x", "colour", "blue"},
		{"state-dir", filepath.Join(t.TempDir()), "max-size", "lots"},
		{"state-dir", filepath.Join(t.TempDir()), "max-files", "0"},
	} {
		err := Run(context.Background(), cfg, args, func() error {
			t.Errorf("%q: said ready", args)
			return nil
		})
		if err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}
