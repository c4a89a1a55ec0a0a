package exitrecord

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWriteRead(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ns", "c1.json")
	at := time.Date(2026, 11, 29, 12, 0, 0, 123456789, time.UTC)
	rec := Record{ExitCode: 137, ExitedAt: at, Signal: SignalOf(137), OOMKilled: true, Pid: 42, ID: "c1", Namespace: "ns"}
	if err := Write(path, rec); err != nil {
		t.Fatal(err)
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if !got.ExitedAt.Equal(at) || got.ExitCode != 137 || got.Signal != "SIGKILL" || !got.OOMKilled {
		t.Fatalf("got %+v", got)
	}
	raw, _ := os.ReadFile(path)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"exit_code", "exited_at", "signal", "oom_killed"} {
		if _, ok := m[k]; !ok {
			t.Errorf("record lacks %q: %s", k, raw)
		}
	}
	// Overwrite leaves exactly one file and no temp files behind.
	if err := Write(path, Record{ExitCode: 0, ExitedAt: at}); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("folder holds %d entries, want 1", len(entries))
	}
	if got, _ := Read(path); got.ExitCode != 0 || got.Signal != "" || got.OOMKilled {
		t.Errorf("after overwrite: %+v", got)
	}
}

func TestReadMissing(t *testing.T) {
	_, err := Read(filepath.Join(t.TempDir(), "nope.json"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v", err)
	}
}

func TestSignalOf(t *testing.T) {
	for status, want := range map[int]string{0: "", 3: "", 128: "", 137: "SIGKILL", 143: "SIGTERM", 255: ""} {
		if got := SignalOf(status); got != want {
			t.Errorf("SignalOf(%d) = %q, want %q", status, got, want)
		}
	}
}
