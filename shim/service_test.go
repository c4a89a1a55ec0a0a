package shim

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	eventstypes "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/v2/core/events"
	"github.com/containerd/containerd/v2/pkg/protobuf"

	"github.com/zlayer/zlayer/shim/exitrecord"
	"github.com/zlayer/zlayer/shim/logfile"
)

type recordingPublisher struct {
	mu     sync.Mutex
	topics []string
	seen   chan events.Event
}

func (p *recordingPublisher) Publish(_ context.Context, topic string, e events.Event) error {
	p.mu.Lock()
	p.topics = append(p.topics, topic)
	p.mu.Unlock()
	p.seen <- e
	return nil
}

func (p *recordingPublisher) Close() error { return nil }

// The exit event waits for the container's last output to reach the log and
// for the record to be written; an OOM event seen before marks the record.
func TestExitEventFollowsRecord(t *testing.T) {
	dir := t.TempDir()
	s := &service{ctx: context.Background(), namespace: "ns", stateDir: dir, containers: map[string]*tracked{}}
	c := &tracked{
		id:        "c1",
		exitRec:   filepath.Join(dir, "exits", "ns", "c1.json"),
		recorded:  make(chan struct{}),
		exited:    make(chan struct{}),
		published: make(chan struct{}),
	}
	lf, err := logfile.Open(filepath.Join(dir, "logs", "ns", "c1.log"), logfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c.log = lf
	out := lf.Stream("stdout")
	c.pumps.Add(1) // a pump still draining the container's output
	s.containers["c1"] = c
	pub := &recordingPublisher{seen: make(chan events.Event, 4)}
	ep := &exitPublisher{Publisher: pub, svc: s}

	if err := ep.Publish(context.Background(), "/tasks/oom", &eventstypes.TaskOOM{ContainerID: "c1"}); err != nil {
		t.Fatal(err)
	}
	<-pub.seen
	at := time.Date(2026, 11, 29, 1, 2, 3, 4, time.UTC)
	if err := ep.Publish(context.Background(), "/tasks/exit", &eventstypes.TaskExit{
		ContainerID: "c1", ID: "c1", Pid: 42, ExitStatus: 137, ExitedAt: protobuf.ToTimestamp(at),
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-pub.seen:
		t.Fatal("exit event forwarded before the output drained")
	case <-time.After(200 * time.Millisecond):
	}
	out.Write([]byte("last words\n"))
	c.pumps.Done()
	select {
	case <-pub.seen:
	case <-time.After(5 * time.Second):
		t.Fatal("exit event never forwarded")
	}
	<-c.published
	rec, err := exitrecord.Read(c.exitRec)
	if err != nil {
		t.Fatal(err)
	}
	if rec.ExitCode != 137 || rec.Signal != "SIGKILL" || !rec.OOMKilled || !rec.ExitedAt.Equal(at) || rec.Pid != 42 {
		t.Errorf("record %+v", rec)
	}
	recs, _ := logfile.Tail(filepath.Join(dir, "logs", "ns", "c1.log"), -1)
	if len(recs) != 1 || recs[0].Log != "last words" {
		t.Errorf("log %+v", recs)
	}
	// Exits of exec processes pass straight through.
	if err := ep.Publish(context.Background(), "/tasks/exit", &eventstypes.TaskExit{ContainerID: "c1", ID: "exec1"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-pub.seen:
	case <-time.After(time.Second):
		t.Fatal("exec exit held back")
	}
}

// A create that fails after the log fifos were made must not leave pumps
// waiting forever for a writer that never comes.
func TestAbortLoggingEndsPumps(t *testing.T) {
	dir := t.TempDir()
	c := &tracked{id: "c2"}
	if err := c.startLogging(context.Background(), dir, filepath.Join(dir, "c2.log"), logfile.Options{}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { c.abortLogging(context.Background()); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("abortLogging hung")
	}
	if !waitGroup(&c.pumps, time.Second) {
		t.Fatal("pumps still running")
	}
	for _, f := range c.fifos {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("fifo %s left behind", f)
		}
	}
}
