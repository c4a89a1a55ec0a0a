package node

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zlayer/zlayer/integration/stack"
	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/reconcile"
	"github.com/zlayer/zlayer/shim/contract"
	"github.com/zlayer/zlayer/shim/logfile"
)

// longLine is longer than the shim's line buffer (logfile.MaxLine), so the
// writer cuts it into partial records that readers must join.
const longLine = 300000

// logsSpec writes enough to rotate a 4 KiB log several times, in phases a
// test starts with exec (so that a follower is in place first): a line in
// two writes, a line longer than the shim's buffer, and, once serve is down,
// more lines.
const logsSpec = `version: v1
deployment: chatty
services:
  writer:
    image: busybox
    command:
      entrypoint:
        - /bin/sh
        - -c
        - |
          trap "exit 0" TERM
          i=0; while [ $i -lt 200 ]; do echo "a $i padding-padding-padding"; i=$((i+1)); done
          while [ ! -e /tmp/go ]; do sleep 0.1; done
          i=0; while [ $i -lt 600 ]; do echo "b $i padding-padding-padding"; i=$((i+1)); done
          printf 'part1 '; sleep 0.5; printf 'part2\n'
          head -c 300000 /dev/zero | tr '\0' x; echo
          echo end
          while [ ! -e /tmp/go2 ]; do sleep 0.1; done
          sleep 2
          i=0; while [ $i -lt 50 ]; do echo "later $i"; i=$((i+1)); done
          echo done
          while true; do sleep 0.2; done
`

// TestIntegrationNodeLogs runs the same chatty replica under both runtimes:
// its log rotates many times (a 4 KiB --log-max-size), yet logs -n N gives
// exactly the last N lines across files, logs -f started before the
// rotations sees every line once and in order, lines written in parts come
// back whole, and lines written while serve is down are there after.
func TestIntegrationNodeLogs(t *testing.T) {
	for _, rt := range []string{reconcile.RuntimeRunc, reconcile.RuntimeZLayer} {
		t.Run(rt, func(t *testing.T) { testLogs(t, rt) })
	}
}

func testLogs(t *testing.T, rt string) {
	t.Setenv("ZLAYER_LOG_MAX_SIZE", "4k")
	t.Setenv("ZLAYER_LOG_MAX_FILES", "100")
	s := stack.Start(t, stack.Options{Containerd: true})
	n := StartNodeWith(t, s, rt)
	ctx := context.Background()
	n.MustCLI("deploy", n.WriteSpec("chatty.yaml", logsSpec), "--no-wait")
	var id string
	n.WaitFor("writer running", 60*time.Second, func() bool {
		rs := n.Replicas("chatty", "writer")
		if len(rs) == 1 && rs[0].State != reconcile.StateCreating && rs[0].PID != 0 {
			id = rs[0].ID
			return true
		}
		return false
	})
	logPath := filepath.Join(n.Dir, "containers", "logs", n.NS, id+".log")
	// serve links runc's logger to the lean build beside zlayer, as it
	// does the shim.
	link, err := filepath.EvalSymlinks(filepath.Join(n.Dir, "bin", contract.LoggerName))
	if lean, _ := filepath.EvalSymlinks(filepath.Join(s.BinDir, contract.LoggerName)); err != nil || link != lean {
		t.Errorf("serve's logger link leads to %q (%v), want %s", link, err, lean)
	}
	n.WaitFor("first phase logged", 20*time.Second, func() bool {
		recs, _ := logfile.Tail(logPath, 1)
		return len(recs) == 1 && strings.HasPrefix(recs[0].Log, "a 199 ")
	})

	// Follow from the last 3 lines of the first phase, then set it going.
	fctx, fcancel := context.WithCancel(ctx)
	defer fcancel()
	var mu sync.Mutex
	var followed []apitypes.LogEntry
	fdone := make(chan error, 1)
	go func() {
		fdone <- n.API.Logs(fctx, "chatty", "writer", 3, true, 0, func(e apitypes.LogEntry) {
			mu.Lock()
			followed = append(followed, e)
			mu.Unlock()
		})
	}()
	got := func() []apitypes.LogEntry {
		mu.Lock()
		defer mu.Unlock()
		return append([]apitypes.LogEntry(nil), followed...)
	}
	n.WaitFor("follower has the history", 10*time.Second, func() bool { return len(got()) >= 3 })
	n.MustCLI("exec", "writer", "--replica", "1", "--", "touch", "/tmp/go")
	n.WaitFor("follower sees the end", 60*time.Second, func() bool {
		f := got()
		return len(f) > 0 && f[len(f)-1].Log == "end"
	})

	want := firstPhase(197, 200)
	for i := 0; i < 600; i++ {
		want = append(want, fmt.Sprintf("b %d padding-padding-padding", i))
	}
	want = append(want, "part1 part2", strings.Repeat("x", longLine), "end")
	checkLines(t, "logs -f", entries(got(), 1), want)
	if files, _ := logfile.Files(logPath); len(files) < 5 {
		t.Errorf("log rotated into %d files, want several", len(files))
	}

	// -n N: exactly the last N lines, across the files.
	out := n.MustCLI("logs", "writer", "--replica", "1", "-n", "605")
	checkLines(t, "logs -n 605", strings.Split(strings.TrimSuffix(out, "\n"), "\n"), want[len(want)-605:])

	// A replica that appears while following is followed from its start.
	n.MustCLI("scale", "writer", "2")
	n.WaitFor("follower sees the new replica", 60*time.Second, func() bool {
		e := entries(got(), 2)
		return len(e) == 200
	})
	checkLines(t, "logs -f of a new replica", entries(got(), 2), firstPhase(0, 200))

	// Lines written while serve is down are there once it is back.
	n.MustCLI("exec", "writer", "--replica", "1", "--", "touch", "/tmp/go2")
	fcancel()
	<-fdone
	n.Kill9()
	// (WaitFor would stop at serve's absence.)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		recs, _ := logfile.Tail(logPath, 1)
		if len(recs) == 1 && recs[0].Log == "done" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing written while serve was down: last %+v", recs)
		}
	}
	n.Start()
	var later []string
	for i := 0; i < 50; i++ {
		later = append(later, fmt.Sprintf("later %d", i))
	}
	later = append(later, "done")
	out = n.MustCLI("logs", "writer", "--replica", "1", "-n", "51")
	checkLines(t, "logs -n 51 after serve was down", strings.Split(strings.TrimSuffix(out, "\n"), "\n"), later)
	n.MustCLI("down", "chatty")
}

// entries are the lines of one replica.
func entries(es []apitypes.LogEntry, replica int) []string {
	var out []string
	for _, e := range es {
		if e.Replica == replica {
			out = append(out, e.Log)
		}
	}
	return out
}

func checkLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	short := func(s string) string {
		if len(s) > 40 {
			return fmt.Sprintf("%s... (%d bytes)", s[:40], len(s))
		}
		return s
	}
	for i := 0; i < len(got) || i < len(want); i++ {
		switch {
		case i >= len(got):
			t.Errorf("%s: %d lines, want %d; missing from %q", what, len(got), len(want), short(want[i]))
			return
		case i >= len(want):
			t.Errorf("%s: %d lines, want %d; extra %q", what, len(got), len(want), short(got[i]))
			return
		case got[i] != want[i]:
			t.Errorf("%s: line %d is %q, want %q", what, i, short(got[i]), short(want[i]))
			return
		}
	}
}

func firstPhase(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("a %d padding-padding-padding", i))
	}
	return out
}
