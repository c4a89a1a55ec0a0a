package logfile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func readAll(t *testing.T, path string) []Record {
	t.Helper()
	var recs []Record
	if err := Read(path, func(r Record) error { recs = append(recs, r); return nil }); err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestPartialWritesJoinIntoOneLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	clock := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	l, err := Open(path, Options{Now: func() time.Time { clock = clock.Add(time.Millisecond); return clock }})
	if err != nil {
		t.Fatal(err)
	}
	out := l.Stream("stdout")
	for _, chunk := range []string{"hel", "lo wor", "ld\nsecond", " line\n", "", "third\nfour", "th"} {
		if _, err := out.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	l.Close()
	recs := readAll(t, path)
	want := []Record{
		{Stream: "stdout", Log: "hello world"},
		{Stream: "stdout", Log: "second line"},
		{Stream: "stdout", Log: "third"},
		{Stream: "stdout", Log: "fourth", Partial: true},
	}
	if len(recs) != len(want) {
		t.Fatalf("got %d records %+v, want %d", len(recs), recs, len(want))
	}
	for i := range want {
		if recs[i].Log != want[i].Log || recs[i].Stream != want[i].Stream || recs[i].Partial != want[i].Partial {
			t.Errorf("record %d = %+v, want %+v", i, recs[i], want[i])
		}
	}
	// A line is stamped when its first byte arrived: "hello world" began with
	// the first write, at the first tick.
	if got, want := recs[0].Time, time.Date(2026, 1, 2, 3, 4, 5, 1006000, time.UTC); !got.Equal(want) {
		t.Errorf("first line stamped %v, want %v", got, want)
	}
	if !recs[1].Time.After(recs[0].Time) {
		t.Errorf("times not increasing: %v then %v", recs[0].Time, recs[1].Time)
	}
}

func TestRecordFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	l, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := l.Stream("stderr")
	in := "quote\" back\\ tab\t cr\r bell\x07 bad\xff utf8 é \u2028 end\n"
	if _, err := s.Write([]byte(in)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, raw)
	}
	if len(m) != 3 {
		t.Errorf("keys = %v, want time, stream, log", m)
	}
	if _, err := time.Parse(time.RFC3339Nano, m["time"].(string)); err != nil {
		t.Errorf("time: %v", err)
	}
	want := "quote\" back\\ tab\t cr\r bell\x07 bad\ufffd utf8 é \u2028 end"
	if m["log"] != want || m["stream"] != "stderr" {
		t.Errorf("got %q %q, want %q", m["stream"], m["log"], want)
	}
	if bytes.Count(raw, []byte("\n")) != 1 {
		t.Errorf("record is not one line: %q", raw)
	}
}

func TestLongLineSplitsIntoPartialPieces(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	l, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := l.Stream("stdout")
	// A multi-byte rune straddles the MaxLine boundary: pieces must cut
	// before it, never through it.
	line := strings.Repeat("a", MaxLine-1) + "€" + strings.Repeat("b", MaxLine) + "\n"
	for i := 0; i < len(line); i += 1000 {
		if _, err := s.Write([]byte(line[i:min(i+1000, len(line))])); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	recs := readAll(t, path)
	if len(recs) < 2 {
		t.Fatalf("got %d records, want the line in pieces", len(recs))
	}
	var joined strings.Builder
	for i, r := range recs {
		if len(r.Log) > MaxLine {
			t.Errorf("piece %d is %d bytes, over MaxLine", i, len(r.Log))
		}
		if r.Partial != (i < len(recs)-1) {
			t.Errorf("piece %d partial=%v", i, r.Partial)
		}
		if strings.ContainsRune(r.Log, '\ufffd') {
			t.Errorf("piece %d cut through a rune", i)
		}
		joined.WriteString(r.Log)
	}
	if joined.String() != strings.TrimSuffix(line, "\n") {
		t.Errorf("joined pieces differ from the line (len %d vs %d)", joined.Len(), len(line)-1)
	}
}

func TestRotationKeepsFilesAndWholeLines(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.log")
	const maxSize, maxFiles = 4096, 3
	l, err := Open(path, Options{MaxSize: maxSize, MaxFiles: maxFiles})
	if err != nil {
		t.Fatal(err)
	}
	s := l.Stream("stdout")
	// Write lines in odd-sized chunks so that line ends and write ends differ.
	var all bytes.Buffer
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&all, "line %05d %s\n", i, strings.Repeat("x", i%37))
	}
	data := all.Bytes()
	for i := 0; i < len(data); i += 333 {
		if _, err := s.Write(data[i:min(i+333, len(data))]); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	files, err := Files(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != maxFiles {
		t.Fatalf("files = %v, want %d", files, maxFiles)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != maxFiles {
		t.Errorf("folder holds %d files, want %d", len(entries), maxFiles)
	}
	for _, f := range files {
		st, _ := os.Stat(f)
		if st.Size() > maxSize {
			t.Errorf("%s is %d bytes, over %d", f, st.Size(), maxSize)
		}
	}
	// What is kept is a contiguous tail of the output, ending at the last
	// line, with no line split or lost in between.
	recs := readAll(t, path)
	if len(recs) == 0 {
		t.Fatal("no records")
	}
	var first int
	fmt.Sscanf(recs[0].Log, "line %d", &first)
	for i, r := range recs {
		want := fmt.Sprintf("line %05d %s", first+i, strings.Repeat("x", (first+i)%37))
		if r.Log != want || r.Partial {
			t.Fatalf("record %d = %q (partial %v), want %q", i, r.Log, r.Partial, want)
		}
	}
	if last := first + len(recs) - 1; last != 1999 {
		t.Errorf("last line %d, want 1999", last)
	}
}

func TestRotationWithOneFileTruncates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	l, err := Open(path, Options{MaxSize: 200, MaxFiles: 1})
	if err != nil {
		t.Fatal(err)
	}
	s := l.Stream("stdout")
	for i := 0; i < 50; i++ {
		fmt.Fprintf(s, "line %d\n", i)
	}
	l.Close()
	files, _ := Files(path)
	if len(files) != 1 {
		t.Fatalf("files = %v", files)
	}
	recs := readAll(t, path)
	if len(recs) == 0 || recs[len(recs)-1].Log != "line 49" {
		t.Fatalf("records = %+v", recs)
	}
}

func TestRecordLargerThanMaxSizeStandsAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	l, err := Open(path, Options{MaxSize: 100, MaxFiles: 5})
	if err != nil {
		t.Fatal(err)
	}
	s := l.Stream("stdout")
	fmt.Fprintf(s, "short\n%s\nafter\n", strings.Repeat("y", 300))
	l.Close()
	recs := readAll(t, path)
	if len(recs) != 3 || recs[1].Log != strings.Repeat("y", 300) || recs[2].Log != "after" {
		t.Fatalf("records = %+v", recs)
	}
	files, _ := Files(path)
	if len(files) != 3 {
		t.Errorf("files = %v, want one per record", files)
	}
}

func TestTwoStreamsAtOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	l, err := Open(path, Options{MaxSize: 64 << 10, MaxFiles: 100})
	if err != nil {
		t.Fatal(err)
	}
	const n = 5000
	var wg sync.WaitGroup
	for _, name := range []string{"stdout", "stderr"} {
		wg.Add(1)
		go func(name string) {
			defer wg.Done()
			s := l.Stream(name)
			var buf bytes.Buffer
			for i := 0; i < n; i++ {
				fmt.Fprintf(&buf, "%s %d\n", name, i)
			}
			data := buf.Bytes()
			// Chunks of 7 bytes cut nearly every line in two.
			for i := 0; i < len(data); i += 7 {
				if _, err := s.Write(data[i:min(i+7, len(data))]); err != nil {
					t.Error(err)
					return
				}
			}
			s.Close()
		}(name)
	}
	wg.Wait()
	l.Close()
	next := map[string]int{}
	for _, r := range readAll(t, path) {
		want := fmt.Sprintf("%s %d", r.Stream, next[r.Stream])
		if r.Log != want || r.Partial {
			t.Fatalf("got %q (partial %v), want %q", r.Log, r.Partial, want)
		}
		next[r.Stream]++
	}
	if next["stdout"] != n || next["stderr"] != n {
		t.Errorf("counts = %v, want %d each", next, n)
	}
}

func TestReopenAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "c.log")
	for i := 0; i < 2; i++ {
		l, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(l.Stream("stdout"), "run %d\n", i)
		l.Close()
	}
	recs := readAll(t, path)
	if len(recs) != 2 || recs[0].Log != "run 0" || recs[1].Log != "run 1" {
		t.Fatalf("records = %+v", recs)
	}
}

func TestDecodeErrorNamesFileAndLine(t *testing.T) {
	err := Decode(strings.NewReader("{\"log\":\"a\"}\nnot json\n"), "x.log", func(Record) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "x.log:2:") {
		t.Fatalf("err = %v, want x.log:2:", err)
	}
	// An unfinished last record is not an error: the writer is mid-line.
	if err := Decode(strings.NewReader("{\"log\":\"a\"}\n{\"lo"), "x.log", func(Record) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkStreamWrite(b *testing.B) {
	l, err := Open(filepath.Join(b.TempDir(), "c.log"), Options{MaxSize: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	s := l.Stream("stdout")
	chunk := bytes.Repeat([]byte("a typical log line of some eighty characters, with a number 1234567890\n"), 56)
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		if _, err := s.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
}

func TestReopenWithFewerFilesDropsExtras(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	write := func(maxFiles, lines int) {
		l, err := Open(path, Options{MaxSize: 100, MaxFiles: maxFiles})
		if err != nil {
			t.Fatal(err)
		}
		s := l.Stream("stdout")
		for i := 0; i < lines; i++ {
			fmt.Fprintf(s, "line %d\n", i)
		}
		l.Close()
	}
	write(6, 40)
	if files, _ := Files(path); len(files) != 6 {
		t.Fatalf("files = %v", files)
	}
	write(3, 0)
	if files, _ := Files(path); len(files) != 3 {
		t.Fatalf("after lowering to 3: %v", files)
	}
	// Rotations after the reopen shift the kept files, never leave gaps.
	write(3, 10)
	files, _ := Files(path)
	if len(files) != 3 {
		t.Fatalf("after more writes: %v", files)
	}
	recs := readAll(t, path)
	if recs[len(recs)-1].Log != "line 9" {
		t.Errorf("last record %q", recs[len(recs)-1].Log)
	}
}

// A write the disk cannot take whole leaves no half record behind: once
// there is room again, the log reads back as whole records.
func TestFullDiskLeavesWholeRecords(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=64k"); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	path := filepath.Join(dir, "c.log")
	l, err := Open(path, Options{MaxSize: 1 << 20, MaxFiles: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s := l.Stream("stdout")
	// Records of 1 KiB do not end on the 4 KiB pages tmpfs allocates, so
	// the write that finds the disk full is a short one.
	line := strings.Repeat("f", 1000) + "\n"
	failed := false
	for i := 0; i < 200 && !failed; i++ {
		_, err := s.Write([]byte(line))
		failed = err != nil
	}
	if !failed {
		t.Fatal("the 64k tmpfs never filled up")
	}
	// Room again: a record goes after the whole ones.
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_REMOUNT, "size=128k"); err != nil {
		t.Fatalf("grow tmpfs: %v", err)
	}
	if _, err := s.Write([]byte("after\n")); err != nil {
		t.Fatal(err)
	}
	recs := readAll(t, path)
	if len(recs) == 0 || recs[len(recs)-1].Log != "after" {
		t.Fatalf("log after a full disk: %d records", len(recs))
	}
}
