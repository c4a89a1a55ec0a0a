package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
)

// TestMain lets a test run the CLI as a child process: ZLAYER_TEST_ARGS
// holds its arguments (separated by \x1f), or "signals" for a step that
// ignores cancellation.
func TestMain(m *testing.M) {
	switch args := os.Getenv("ZLAYER_TEST_ARGS"); args {
	case "":
		os.Exit(m.Run())
	case "signals":
		ctx, stop := signalContext()
		defer stop()
		fmt.Println("ready")
		<-ctx.Done()
		fmt.Println("cancelled")
		// A step that does not look at ctx: only the second signal ends it.
		select {}
	default:
		os.Exit(run("zlayer", strings.Split(args, "\x1f")))
	}
}

// waits holds each child's exit, reaped once by child's goroutine.
var waits = map[*exec.Cmd]chan error{}

func child(t *testing.T, args string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "ZLAYER_TEST_ARGS="+args)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	waits[cmd] = exited
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	return cmd, bufio.NewScanner(out)
}

// waitExit waits for cmd to end; the bound only keeps a broken build from
// hanging the suite.
func waitExit(t *testing.T, cmd *exec.Cmd) error {
	t.Helper()
	select {
	case err := <-waits[cmd]:
		waits[cmd] <- err // for the cleanup
		return err
	case <-time.After(2 * time.Minute):
		t.Fatal("the process did not end")
		return nil
	}
}

func TestSecondSignalExitsAtOnce(t *testing.T) {
	cmd, out := child(t, "signals")
	for _, want := range []string{"ready", "cancelled"} {
		if !out.Scan() || out.Text() != want {
			t.Fatalf("want %q, got %q", want, out.Text())
		}
		if want == "ready" {
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := waitExit(t, cmd)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGINT {
		t.Fatalf("want death by SIGINT, got %v", err)
	}
}

// `zlayer deploy` waiting for readiness ends on SIGTERM, with status 130.
func TestDeployWaitStopsOnSIGTERM(t *testing.T) {
	waiting := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodGet {
			select {
			case waiting <- struct{}{}:
			default:
			}
		}
		_ = json.NewEncoder(w).Encode(apitypes.DeploymentStatus{Name: "x", Generation: 1,
			Services: []apitypes.ServiceStatus{{Name: "web", Desired: 1, State: apitypes.ServiceProgressing}}})
	}))
	defer srv.Close()
	spec := filepath.Join(t.TempDir(), "d.yaml")
	if err := os.WriteFile(spec, []byte("version: v1\ndeployment: x\nservices:\n  web: {image: busybox}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd, _ := child(t, strings.Join([]string{"deploy", spec, "--host", srv.URL, "--token", "t", "--timeout", "1h"}, "\x1f"))
	select {
	case <-waiting:
	case <-time.After(2 * time.Minute):
		t.Fatal("deploy never polled")
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := waitExit(t, cmd)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("want exit status 130, got %v", err)
	}
}
