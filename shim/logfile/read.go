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

// Read calls fn with every record of the log at path, oldest first, across
// rotated files. A missing log reads as empty. An undecodable line is an
// error naming its file and line.
func Read(path string, fn func(Record) error) error {
	files, err := Files(path)
	if err != nil {
		return err
	}
	for _, name := range files {
		f, err := os.Open(name)
		if errors.Is(err, os.ErrNotExist) {
			continue // rotated away while we read
		}
		if err != nil {
			return err
		}
		err = Decode(f, name, fn)
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
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
