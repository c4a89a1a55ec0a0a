package logfile

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Record is one decoded log line (or piece of one, when Partial).
type Record struct {
	Time    time.Time `json:"time"`
	Stream  string    `json:"stream"`
	Log     string    `json:"log"`
	Partial bool      `json:"partial,omitempty"`
}

// Files lists the log at path and its rotated predecessors that exist,
// oldest first: path.N ... path.1, path.
func Files(path string) ([]string, error) {
	var files []string
	for i := 1; ; i++ {
		_, err := os.Stat(rotated(path, i))
		if errors.Is(err, os.ErrNotExist) {
			// A rotation in progress shifts the names one by one, leaving
			// at most one missing at a time; look past it.
			if _, err := os.Stat(rotated(path, i+1)); err == nil {
				continue
			}
			break
		}
		if err != nil {
			return nil, err
		}
		files = append(files, rotated(path, i))
	}
	for l, r := 0, len(files)-1; l < r; l, r = l+1, r-1 {
		files[l], files[r] = files[r], files[l]
	}
	if _, err := os.Stat(path); err == nil {
		files = append(files, path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	return files, nil
}

// Remove deletes the log at path and all its rotated files, whatever
// MaxFiles was when they were written.
func Remove(path string) error {
	files, err := Files(path)
	if err != nil {
		return err
	}
	var errs []error
	for _, f := range files {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Read calls fn with every record of the log at path, oldest first, across
// rotated files, as written (the pieces of a long line apart). A missing log
// reads as empty. An undecodable line is an error naming its file and line.
func Read(path string, fn func(Record) error) error {
	snap, err := snapshot(path)
	if err != nil {
		return err
	}
	defer closeFiles(snap)
	for _, f := range snap {
		if err := Decode(f, f.Name(), fn); err != nil {
			return err
		}
	}
	return nil
}

// Lines calls fn with the last tail lines of the log (all of them when tail
// < 0), oldest first, across rotated files, with the pieces of a line that
// the writer cut (Partial) joined back up to MaxJoined. A last line the
// writer left unfinished comes out as it is, still marked Partial.
func Lines(path string, tail int, fn func(Record) error) error {
	keep := &ring{n: tail}
	out := keep.add
	if tail < 0 {
		out = fn
	}
	j := newJoiner(out)
	if err := Read(path, j.add); err != nil {
		return err
	}
	if err := j.flush(); err != nil {
		return err
	}
	for _, r := range keep.recs {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// Tail returns the last n lines of the log (all of them when n < 0), as
// Lines gives them.
func Tail(path string, n int) ([]Record, error) {
	var recs []Record
	err := Lines(path, n, func(r Record) error {
		recs = append(recs, r)
		return nil
	})
	return recs, err
}

// Decode reads JSON-lines records from r; name labels errors. A last line
// without its newline is left unread, as the writer has not finished it.
func Decode(r io.Reader, name string, fn func(Record) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if errors.Is(err, io.EOF) && len(line) > 0 {
			// The writer is mid-record; what it has not finished is not a line yet.
			return nil
		}
		if len(line) > 0 {
			var rec Record
			if jerr := json.Unmarshal(line, &rec); jerr != nil {
				return fmt.Errorf("%s:%d: bad log record: %w", name, n, jerr)
			}
			if ferr := fn(rec); ferr != nil {
				return ferr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s:%d: %w", name, n, err)
		}
	}
}

// snapshot opens the log's files, oldest first, such that no name moved
// while they were opened: reading them then sees every record once even
// while the writer rotates.
func snapshot(path string) ([]*os.File, error) {
	for attempt := 0; ; attempt++ {
		snap, ok, err := openSnapshot(path)
		if err != nil || ok {
			return snap, err
		}
		if attempt == 100 {
			return nil, fmt.Errorf("%s: rotated faster than it can be read", path)
		}
		time.Sleep(time.Millisecond)
	}
}

func closeFiles(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}
