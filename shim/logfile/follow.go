package logfile

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"
)

// partialWait is how long Follow holds the unfinished piece of a line for
// the rest of it before giving it out as it is: the writer cuts only lines
// longer than MaxLine (their pieces follow at once) and the last line of a
// stream that ended without a newline (nothing follows).
const partialWait = time.Second

// Follow calls fn with the last tail lines of the log (all when tail < 0,
// none when 0), then with each new line as it is written, across rotations,
// until ctx ends (it then returns nil) or fn fails. Lines are joined from
// their pieces as Lines joins them. A log that does not exist yet is waited
// for; one removed and written anew (the container created again) is
// followed into its new files.
func Follow(ctx context.Context, path string, tail int, fn func(Record) error) error {
	const poll = 100 * time.Millisecond
	var snap []*os.File
	for {
		var err error
		if snap, err = snapshot(path); err != nil {
			return err
		}
		if len(snap) > 0 {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(poll):
		}
	}
	// History: the rotated files whole, then the current one up to its end
	// now, all from one snapshot so that no file is read twice or skipped.
	keep := &ring{n: tail}
	out := keep.add
	if tail < 0 {
		out = fn
	}
	last := time.Now()
	j := newJoiner(func(r Record) error { return out(r) })
	add := func(r Record) error {
		last = time.Now()
		return j.add(r)
	}
	cur := snap[len(snap)-1]
	err := func() error {
		defer closeFiles(snap[:len(snap)-1])
		for _, f := range snap[:len(snap)-1] {
			if err := Decode(f, f.Name(), add); err != nil {
				return err
			}
		}
		return nil
	}()
	f := cur
	defer func() { f.Close() }()
	if err != nil {
		return err
	}
	fr := &followReader{f: f, name: path}
	if err := fr.drain(add); err != nil {
		return err
	}
	for _, r := range keep.recs {
		if err := fn(r); err != nil {
			return err
		}
	}
	out = fn

	for {
		if err := fr.drain(add); err != nil {
			return err
		}
		next, err := fr.successor(path)
		if err != nil {
			return err
		}
		if next != nil {
			// Rotated: finish the old file, then go on with the one the
			// writer moved to next, not necessarily the newest, so that
			// a file rotated in and out between two polls is read too.
			if err := fr.drain(add); err != nil {
				next.Close()
				return err
			}
			f.Close()
			f = next
			fr = &followReader{f: f, name: next.Name()}
			continue
		}
		if j.holding() && time.Since(last) >= partialWait {
			if err := j.flush(); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(poll):
		}
	}
}

// followReader reads whole records from a file that is still being written,
// holding back a last line that has no newline yet.
type followReader struct {
	f       *os.File
	name    string
	pending []byte
	line    int
}

func (r *followReader) drain(fn func(Record) error) error {
	br := bufio.NewReaderSize(r.f, 64<<10)
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			r.pending = append(r.pending, chunk...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if len(r.pending) > 0 && r.pending[len(r.pending)-1] == '\n' {
			r.line++
			var rec Record
			if jerr := json.Unmarshal(bytes.TrimSpace(r.pending), &rec); jerr != nil {
				return fmt.Errorf("%s:%d: bad log record: %w", r.name, r.line, jerr)
			}
			r.pending = r.pending[:0]
			if ferr := fn(rec); ferr != nil {
				return ferr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
	}
}

// successor opens the file written after the open one, or returns nil
// while the open one is still the current log.
func (r *followReader) successor(path string) (*os.File, error) {
	cur, err := r.f.Stat()
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(path); err == nil && os.SameFile(st, cur) {
		return nil, nil
	}
	// Names shift at every rotation, so pick from a snapshot in which no
	// name moved while the files were being opened.
	for attempt := 0; attempt < 20; attempt++ {
		snap, ok, err := openSnapshot(path)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		next := -1
		for i, f := range snap {
			if st, err := f.Stat(); err == nil && os.SameFile(st, cur) {
				next = i + 1
				break
			}
		}
		if next < 0 {
			if linked(r.f) {
				// Ours still exists under some name: the listing caught a
				// rotation half-way (a name briefly missing). Look again.
				for _, f := range snap {
					f.Close()
				}
				continue
			}
			next = 0 // ours was rotated away entirely: the oldest left follows it
		}
		var pick *os.File
		if next < len(snap) {
			pick = snap[next]
		}
		for _, f := range snap {
			if f != pick {
				f.Close()
			}
		}
		// nil: between the rename and the new file's creation.
		return pick, nil
	}
	return nil, nil // the writer rotates faster than we can look; next poll
}

// openSnapshot opens the log's files oldest first and reports whether every
// name still named the same file after all were open.
func openSnapshot(path string) ([]*os.File, bool, error) {
	if snap, ok, err := lockedSnapshot(path); ok || err != nil {
		return snap, ok, err
	}
	names, err := Files(path)
	if err != nil {
		return nil, false, err
	}
	snap, ok, err := openNames(names)
	if !ok || err != nil {
		return nil, ok, err
	}
	again, err := Files(path)
	if err != nil || len(again) != len(names) {
		closeFiles(snap)
		return nil, false, err
	}
	for i, f := range snap {
		a, err1 := os.Stat(names[i])
		b, err2 := f.Stat()
		if err1 != nil || err2 != nil || !os.SameFile(a, b) {
			closeFiles(snap)
			return nil, false, nil
		}
	}
	return snap, true, nil
}

// linked reports whether the open file still has a name.
func linked(f *os.File) bool {
	st, err := f.Stat()
	if err != nil {
		return false
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	return !ok || sys.Nlink > 0
}
