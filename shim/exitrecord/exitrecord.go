// Package exitrecord is how a task's end outlives the shim: when a
// container's init process exits, the shim writes a small JSON file that the
// node reads later, even if it was down at the time.
package exitrecord

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// Record is the content of an exit record file.
type Record struct {
	// ExitCode is the process's exit status; for a process killed by a
	// signal it is 128+signal, as shells and runc report it.
	ExitCode int `json:"exit_code"`
	// ExitedAt is when the shim reaped the process.
	ExitedAt time.Time `json:"exited_at"`
	// Signal names the signal that killed the process ("SIGKILL"), or is
	// empty when it exited by itself.
	Signal string `json:"signal"`
	// OOMKilled is true when the kernel's OOM killer acted in the
	// container's memory cgroup during its life.
	OOMKilled bool   `json:"oom_killed"`
	Pid       int    `json:"pid,omitempty"`
	ID        string `json:"id,omitempty"`
	Namespace string `json:"namespace,omitempty"`
}

// SignalOf gives the name of the signal encoded in an exit status of
// 128+N, as runc reports signalled processes, or "".
func SignalOf(status int) string {
	if status <= 128 || status > 128+64 {
		return ""
	}
	if name := unix.SignalName(unix.Signal(status - 128)); name != "" {
		return name
	}
	return fmt.Sprintf("SIG%d", status-128)
}

// Write stores rec at path so that a reader sees either the previous file or
// the whole new one: a temp file in the same folder, synced, then renamed
// over path, then the folder synced so the rename survives a crash.
func Write(path string, rec Record) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("exit record folder: %w", err)
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	data = append(data, '\n')
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("exit record: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write exit record: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write exit record: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync exit record: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write exit record: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("exit record: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// Read loads the record at path. A missing record is an error satisfying
// errors.Is(err, os.ErrNotExist): the task has not exited, or never ran.
func Read(path string) (Record, error) {
	var rec Record
	data, err := os.ReadFile(path)
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		return rec, fmt.Errorf("%s: bad exit record: %w", path, err)
	}
	return rec, nil
}
