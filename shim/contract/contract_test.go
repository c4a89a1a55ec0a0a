package contract

import (
	"strings"
	"testing"

	"github.com/zlayer/zlayer/shim/logfile"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1048576": 1 << 20, "512k": 512 << 10, "10m": 10 << 20, "10MiB": 10 << 20, "1g": 1 << 30, "2 MB": 2 << 20, "1.5k": 1536, "100b": 100} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "abc", "10x", "0", "-5", "m", "99999999999g", "1e30", "NaN"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) succeeded", in)
		}
	}
}

func TestLogOptions(t *testing.T) {
	o, err := LogOptions(nil)
	if err != nil || o.MaxSize != 10<<20 || o.MaxFiles != 3 {
		t.Fatalf("defaults = %+v, %v", o, err)
	}
	o, err = LogOptions(map[string]string{LogMaxSizeAnnotation: "4k", LogMaxFilesAnnotation: "5"})
	if err != nil || o.MaxSize != 4096 || o.MaxFiles != 5 {
		t.Fatalf("got %+v, %v", o, err)
	}
	_, err = LogOptions(map[string]string{LogMaxFilesAnnotation: "0"})
	if err == nil || !strings.Contains(err.Error(), LogMaxFilesAnnotation) {
		t.Errorf("max-files 0: %v", err)
	}
	_, err = LogOptions(map[string]string{LogMaxSizeAnnotation: "lots"})
	if err == nil || !strings.Contains(err.Error(), LogMaxSizeAnnotation) {
		t.Errorf("bad size: %v", err)
	}
}

func TestPaths(t *testing.T) {
	t.Setenv(StateDirEnv, "")
	if StateDir() != "/var/lib/zlayer/containers" {
		t.Errorf("default state dir %q", StateDir())
	}
	t.Setenv(StateDirEnv, "/x")
	if got := LogPath(StateDir(), "ns", "c"); got != "/x/logs/ns/c.log" {
		t.Errorf("LogPath = %q", got)
	}
	if got := ExitPath(StateDir(), "ns", "c"); got != "/x/exits/ns/c.json" {
		t.Errorf("ExitPath = %q", got)
	}
}

// The logger gets its arguments as name value pairs in whatever order
// containerd iterates the URI's query; they read back to what was given.
func TestLoggerArgsRoundTrip(t *testing.T) {
	in := logfile.Options{MaxSize: 4096, MaxFiles: 7}
	m := LoggerArgs("/var/lib/zlayer/containers", in)
	for round := 0; round < 5; round++ {
		var args []string
		for k, v := range m {
			args = append(args, k, v)
		}
		dir, out, err := ParseLoggerArgs(args)
		if err != nil || dir != "/var/lib/zlayer/containers" || out.MaxSize != in.MaxSize || out.MaxFiles != in.MaxFiles {
			t.Fatalf("ParseLoggerArgs(%q) = %q %+v %v", args, dir, out, err)
		}
	}
}
