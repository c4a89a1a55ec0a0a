package logfile

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	l, err := Open(path, Options{MaxSize: 300, MaxFiles: 30})
	if err != nil {
		t.Fatal(err)
	}
	s := l.Stream("stdout")
	for i := 0; i < 40; i++ {
		fmt.Fprintf(s, "line %d\n", i)
	}
	l.Close()
	recs, err := Tail(path, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || recs[0].Log != "line 37" || recs[2].Log != "line 39" {
		t.Fatalf("Tail 3 = %+v", recs)
	}
	all, _ := Tail(path, -1)
	if len(all) != 40 {
		t.Fatalf("Tail -1 gave %d records", len(all))
	}
	if none, _ := Tail(path, 0); len(none) != 0 {
		t.Fatalf("Tail 0 gave %d", len(none))
	}
}

// A follower started on a log with history gets the last lines, then every
// line written afterwards, in order, while the writer rotates quickly.
func TestFollowAcrossRotations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	l, err := Open(path, Options{MaxSize: 2048, MaxFiles: 1000})
	if err != nil {
		t.Fatal(err)
	}
	s := l.Stream("stdout")
	for i := 0; i < 10; i++ {
		fmt.Fprintf(s, "old %d\n", i)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var got []string
	done := make(chan error, 1)
	go func() {
		done <- Follow(ctx, path, 2, func(r Record) error {
			mu.Lock()
			got = append(got, r.Log)
			mu.Unlock()
			return nil
		})
	}()
	time.Sleep(200 * time.Millisecond)
	const n = 1000
	for i := 0; i < n; i++ {
		fmt.Fprintf(s, "new %d\n", i)
		if i%100 == 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		c := len(got)
		mu.Unlock()
		if c >= n+2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	l.Close()
	if len(got) != n+2 {
		t.Fatalf("followed %d records, want %d", len(got), n+2)
	}
	if got[0] != "old 8" || got[1] != "old 9" {
		t.Errorf("history = %q", got[:2])
	}
	for i := 0; i < n; i++ {
		if want := fmt.Sprintf("new %d", i); got[i+2] != want {
			t.Fatalf("record %d = %q, want %q", i+2, got[i+2], want)
		}
	}
}

func TestFollowWaitsForTheLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "later.log")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	gotOne := make(chan string, 1)
	go Follow(ctx, path, -1, func(r Record) error {
		select {
		case gotOne <- r.Log:
		default:
		}
		return nil
	})
	time.Sleep(150 * time.Millisecond)
	l, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fmt.Fprint(l.Stream("stderr"), "hello\n")
	select {
	case s := <-gotOne:
		if s != "hello" {
			t.Errorf("got %q", s)
		}
	case <-ctx.Done():
		t.Fatal("Follow never saw the record")
	}
}
