package logfile

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// follower collects what Follow gives, for tests.
type follower struct {
	mu   sync.Mutex
	got  []Record
	done chan error
	stop context.CancelFunc
}

func follow(t *testing.T, path string, tail int) *follower {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	fo := &follower{done: make(chan error, 1), stop: cancel}
	go func() {
		fo.done <- Follow(ctx, path, tail, func(r Record) error {
			fo.mu.Lock()
			fo.got = append(fo.got, r)
			fo.mu.Unlock()
			return nil
		})
	}()
	t.Cleanup(func() { cancel(); <-fo.done })
	return fo
}

// waitFor returns the records once there are at least n (or what came by
// the deadline).
func (fo *follower) waitFor(n int, limit time.Duration) []Record {
	deadline := time.Now().Add(limit)
	for {
		fo.mu.Lock()
		got := append([]Record(nil), fo.got...)
		fo.mu.Unlock()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func logs(recs []Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.Log)
	}
	return out
}

// The pieces of a line longer than MaxLine land in different files when the
// log rotates at every record; Tail joins them and counts whole lines.
func TestTailJoinsPiecesAcrossFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	l, err := Open(path, Options{MaxSize: 1024, MaxFiles: 50})
	if err != nil {
		t.Fatal(err)
	}
	s := l.Stream("stdout")
	long := strings.Repeat("x", 2*MaxLine+100)
	fmt.Fprintf(s, "before\n%s\nafter 1\nafter 2\n", long)
	l.Close()
	files, _ := Files(path)
	if len(files) < 4 {
		t.Fatalf("want the line spread over files, got %d files", len(files))
	}
	recs, err := Tail(path, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || recs[0].Log != long || recs[0].Partial || recs[1].Log != "after 1" || recs[2].Log != "after 2" {
		t.Fatalf("Tail 3 = %d records, first %d bytes, %q", len(recs), len(recs[0].Log), logs(recs[1:]))
	}
	all, _ := Tail(path, -1)
	if len(all) != 4 || all[0].Log != "before" {
		t.Fatalf("Tail -1 = %d lines", len(all))
	}
}

// Pieces of a stdout line interleaved with stderr lines are joined per
// stream; a line over MaxJoined comes out in pieces of MaxJoined.
func TestLinesJoinPerStreamAndBoundTheJoin(t *testing.T) {
	var recs []Record
	j := newJoiner(func(r Record) error { recs = append(recs, r); return nil })
	for _, r := range []Record{
		{Stream: "stdout", Log: "a", Partial: true},
		{Stream: "stderr", Log: "err"},
		{Stream: "stdout", Log: "b", Partial: true},
		{Stream: "stdout", Log: "c"},
	} {
		j.add(r)
	}
	if got := logs(recs); len(got) != 2 || got[0] != "err" || got[1] != "abc" || recs[1].Partial {
		t.Fatalf("joined %q", got)
	}
	recs = nil
	piece := strings.Repeat("y", MaxLine)
	for i := 0; i < 5; i++ {
		j.add(Record{Stream: "stdout", Log: piece, Partial: true})
	}
	j.add(Record{Stream: "stdout", Log: "end"})
	if len(recs) != 2 || len(recs[0].Log) != MaxJoined || !recs[0].Partial || recs[1].Log != piece+"end" || recs[1].Partial {
		t.Fatalf("bounded join gave %d records", len(recs))
	}
	j.add(Record{Stream: "stdout", Log: "no newline", Partial: true})
	j.flush()
	if last := recs[len(recs)-1]; last.Log != "no newline" || !last.Partial {
		t.Fatalf("flush gave %+v", last)
	}
}

// A follower sees a long line whose pieces straddle rotations once, whole,
// and an unfinished last line (the stream ended without a newline) too.
func TestFollowJoinsAcrossRotationAndGivesTheUnfinishedLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	l, err := Open(path, Options{MaxSize: 4096, MaxFiles: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s := l.Stream("stdout")
	fmt.Fprint(s, "old\n")
	fo := follow(t, path, 1)
	if got := fo.waitFor(1, 5*time.Second); len(got) != 1 || got[0].Log != "old" {
		t.Fatalf("history %q", logs(got))
	}
	long := strings.Repeat("z", 3*MaxLine+7)
	fmt.Fprintf(s, "%s\nshort\n", long)
	fmt.Fprint(s, "bye")
	s.Close()
	got := fo.waitFor(4, 10*time.Second)
	if len(got) != 4 || got[1].Log != long || got[1].Partial || got[2].Log != "short" || got[3].Log != "bye" || !got[3].Partial {
		t.Fatalf("followed %d lines: %.40q", len(got), logs(got))
	}
}

// A log removed and written anew (the container created again under its id)
// is followed into the new file.
func TestFollowAcrossRecreation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	l, err := Open(path, Options{MaxSize: 200, MaxFiles: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		fmt.Fprintf(l.Stream("stdout"), "first %d\n", i)
	}
	fo := follow(t, path, 0)
	time.Sleep(300 * time.Millisecond)
	l.Close()
	if err := Remove(path); err != nil {
		t.Fatal(err)
	}
	if files, _ := Files(path); len(files) != 0 {
		t.Fatalf("Remove left %q", files)
	}
	l, err = Open(path, Options{MaxSize: 200, MaxFiles: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fmt.Fprint(l.Stream("stdout"), "second\n")
	if got := fo.waitFor(1, 5*time.Second); len(got) != 1 || got[0].Log != "second" {
		t.Fatalf("after recreation followed %q", logs(got))
	}
}

// Lines read while the writer rotates as fast as it can sees a contiguous
// run of lines: none twice, none skipped between the first and the last.
func TestLinesWhileRotating(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	l, err := Open(path, Options{MaxSize: 512, MaxFiles: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	stop := make(chan struct{})
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		s := l.Stream("stdout")
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			fmt.Fprintf(s, "%d\n", i)
		}
	}()
	defer func() { close(stop); <-wrote }()
	time.Sleep(50 * time.Millisecond)
	for round := 0; round < 200; round++ {
		recs, err := Tail(path, -1)
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i < len(recs); i++ {
			a, _ := strconv.Atoi(recs[i-1].Log)
			b, _ := strconv.Atoi(recs[i].Log)
			if b != a+1 {
				t.Fatalf("round %d: line %d after %d", round, b, a)
			}
		}
	}
}

// A writer stopped in the middle of a rotation (holding the lock) does not
// hang readers: they fall back to comparing names and still read the log.
func TestReadWhileRotationLockHeld(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	l, err := Open(path, Options{MaxSize: 100, MaxFiles: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := 0; i < 6; i++ {
		fmt.Fprintf(l.Stream("stdout"), "%d\n", i)
	}
	held, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := flockFile(held, syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	recs, err := Tail(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 || recs[len(recs)-1].Log != "5" {
		t.Fatalf("read %q with the lock held", logs(recs))
	}
}
