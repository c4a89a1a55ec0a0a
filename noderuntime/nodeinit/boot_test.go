package nodeinit

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Outside PID 1 Boot must not touch the machine, and must hand back the
// command's exit code.
func TestBootRunsProgramAndReturnsItsExitCode(t *testing.T) {
	if code := Boot("/nonexistent", []string{"sh", "-c", "exit 7"}, quietLog()); code != 7 {
		t.Fatalf("exit code %d, want 7", code)
	}
}

func TestBootReportsKilledChildAs128PlusSignal(t *testing.T) {
	if code := Boot("/nonexistent", []string{"sh", "-c", "kill -KILL $$"}, quietLog()); code != 128+9 {
		t.Fatalf("exit code %d, want 137", code)
	}
}

// A SIGTERM to the entrypoint reaches the command, which can then stop
// cleanly (as serve stops containerd), and its exit code is kept.
func TestBootForwardsSIGTERM(t *testing.T) {
	dir := t.TempDir()
	mark := filepath.Join(dir, "got-term")
	script := `trap 'echo term > ` + mark + `; exit 5' TERM; echo ready > ` + filepath.Join(dir, "ready") + `; while :; do sleep 0.05; done`
	done := make(chan int, 1)
	go func() { done <- Boot("/nonexistent", []string{"sh", "-c", script}, quietLog()) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("child never started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case code := <-done:
		if code != 5 {
			t.Fatalf("exit code %d, want 5 from the trap", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("SIGTERM was not forwarded")
	}
	if _, err := os.Stat(mark); err != nil {
		t.Fatalf("trap did not run: %v", err)
	}
}

func TestUnescapeMount(t *testing.T) {
	if got := unescapeMount(`/a\040b`); got != "/a b" {
		t.Fatalf("got %q", got)
	}
}

func TestDelegateControllers(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte("cpu memory pids\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := delegateControllers(root); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(root, "cgroup.subtree_control"))
	if string(b) != "+cpu +memory +pids" {
		t.Fatalf("subtree_control %q", b)
	}
}

func TestEvacuateRootMovesEveryPid(t *testing.T) {
	root := t.TempDir()
	// A plain folder stands in for cgroupfs: the written pid lands in
	// init/cgroup.procs; the root list is emptied by hand as the kernel would.
	if err := os.WriteFile(filepath.Join(root, "cgroup.procs"), []byte(""), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := evacuateRoot(root); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "init")); err != nil {
		t.Fatal("init leaf not created")
	}
}

func TestMountsAtSeesMountsBelow(t *testing.T) {
	// /proc is a mount point on any Linux system, and so is something under /sys or /proc.
	if ok, err := mountsAt("/proc"); err != nil || !ok {
		t.Fatalf("mountsAt(/proc) = %v, %v", ok, err)
	}
	if ok, err := mountsAt("/nonexistent-zlayer-path"); err != nil || ok {
		t.Fatalf("mountsAt(nonexistent) = %v, %v", ok, err)
	}
}
