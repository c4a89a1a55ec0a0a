// Package logfile writes a container's stdout and stderr as JSON lines, one
// record per line of output, into a file that rotates by size. The shim owns
// the writer; the node (and anyone else) reads the files with Scan.
//
// A record is {"time": RFC3339Nano, "stream": "stdout"|"stderr", "log": text}.
// "log" holds the line without its trailing newline. A line longer than
// MaxLine, or one cut short by the end of the stream, is written in pieces
// marked "partial": true on every piece but the last of a line, so a reader
// can join them back.
package logfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
)

// Defaults when the container's annotations say nothing.
const (
	DefaultMaxSize  = 10 << 20
	DefaultMaxFiles = 3
	// MaxLine bounds the memory one stream may hold for an unfinished line.
	MaxLine = 256 << 10
)

// Options tune rotation.
type Options struct {
	// MaxSize is the size at which the current file is rotated. A single
	// record larger than MaxSize still goes out whole, alone in its file.
	MaxSize int64
	// MaxFiles counts the current file and its rotated predecessors
	// (name.log, name.log.1, ... name.log.(MaxFiles-1)).
	MaxFiles int
	// Now stamps records; tests pin it. Nil means time.Now.
	Now func() time.Time
}

// File is one container's log, shared by its streams. Records from different
// streams never interleave inside a line.
type File struct {
	path string
	opts Options

	mu   sync.Mutex
	f    *os.File
	size int64
	kept int   // rotated files that exist: name.log.1 .. name.log.kept
	err  error // set once closed
}

// Open opens (appending to) or creates the log at path, creating its folder.
func Open(path string, opts Options) (*File, error) {
	if opts.MaxSize <= 0 {
		opts.MaxSize = DefaultMaxSize
	}
	if opts.MaxFiles <= 0 {
		opts.MaxFiles = DefaultMaxFiles
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("log folder: %w", err)
	}
	l := &File{path: path, opts: opts}
	// Count the rotated files an earlier shim left, dropping those beyond
	// MaxFiles (it may have been lowered since).
	for i := 1; ; i++ {
		if _, err := os.Stat(rotated(path, i)); err != nil {
			break
		}
		if i < opts.MaxFiles {
			l.kept = i
		} else if err := os.Remove(rotated(path, i)); err != nil {
			return nil, fmt.Errorf("drop old log: %w", err)
		}
	}
	if err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *File) open() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("stat log: %w", err)
	}
	l.f, l.size = f, st.Size()
	return nil
}

// Path is the current (newest) file.
func (l *File) Path() string { return l.path }

// Close flushes nothing (writes are not buffered) and closes the file.
func (l *File) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	if l.err == nil {
		l.err = os.ErrClosed
	}
	return err
}

// writeRecords appends already-encoded records (each ending in '\n'), in
// order, rotating between records so that no record is split across files.
// sizes gives the length of each record in buf.
func (l *File) writeRecords(buf []byte, sizes []int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	if l.f == nil {
		// A rotation failed half-way (disk full); try again to go on.
		if err := l.open(); err != nil {
			return err
		}
	}
	start, end := 0, 0
	for _, n := range sizes {
		if l.size+int64(end-start+n) > l.opts.MaxSize && l.size+int64(end-start) > 0 {
			if err := l.write(buf[start:end]); err != nil {
				return err
			}
			start = end
			if l.size > 0 {
				if err := l.rotate(); err != nil {
					return err
				}
			}
		}
		end += n
	}
	return l.write(buf[start:end])
}

func (l *File) write(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	n, err := l.f.Write(b)
	if err != nil && n > 0 {
		// A short write (disk full) leaves half a record, onto which the
		// next record would be glued into one undecodable line: cut it
		// off, so that the file keeps whole records only.
		if terr := l.f.Truncate(l.size); terr == nil {
			n = 0
		}
	}
	l.size += int64(n)
	if err != nil {
		return fmt.Errorf("write log: %w", err)
	}
	return nil
}

// rotate shifts name.log.i to name.log.i+1, dropping the oldest, and starts
// a fresh name.log. Renames are atomic, so a reader sees every line once.
func (l *File) rotate() error {
	// Readers open the set under this lock (rotlock.go), so the file stays
	// open, locked, until every name has moved; closing it releases the lock.
	// A filesystem without flock leaves readers comparing names instead.
	old := l.f
	l.f = nil
	_ = flockFile(old, syscall.LOCK_EX)
	if err := l.shift(); err != nil {
		old.Close()
		return err
	}
	if err := old.Close(); err != nil {
		return fmt.Errorf("close log for rotation: %w", err)
	}
	return l.open()
}

// shift renames the files one place older, dropping the oldest beyond
// MaxFiles (with one file, the current one is dropped).
func (l *File) shift() error {
	if l.opts.MaxFiles == 1 {
		if err := os.Remove(l.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rotate log: %w", err)
		}
		return nil
	}
	// Only the files that exist are shifted: with a large MaxFiles, trying
	// every name would cost a syscall per slot at each rotation.
	if l.kept >= l.opts.MaxFiles-1 {
		if err := os.Remove(rotated(l.path, l.opts.MaxFiles-1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rotate log: %w", err)
		}
		l.kept = l.opts.MaxFiles - 2
	}
	for i := l.kept; i >= 1; i-- {
		if err := os.Rename(rotated(l.path, i), rotated(l.path, i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rotate log: %w", err)
		}
	}
	if err := os.Rename(l.path, rotated(l.path, 1)); err != nil {
		return fmt.Errorf("rotate log: %w", err)
	}
	l.kept++
	return nil
}

func rotated(path string, i int) string { return path + "." + strconv.Itoa(i) }

// Stream returns the writer for one stream (e.g. "stdout"). Writes may cut
// lines anywhere; Close flushes an unfinished last line as a partial record.
// A Stream is not safe for concurrent use; distinct streams are.
func (l *File) Stream(name string) *Stream {
	return &Stream{file: l, name: name}
}

// Stream turns the bytes of one stream into records.
type Stream struct {
	file    *File
	name    string
	line    []byte    // unfinished line carried between writes
	started time.Time // when its first byte arrived
	out     []byte    // encoded records of one Write, reused
	sizes   []int
	// Lines that begin in one Write share a stamp; format it once.
	stampOf time.Time
	stamp   []byte
}

// Write never keeps p. It returns an error only when the log cannot be
// written; the caller should then stop (the container blocks on its pipe
// rather than losing output silently).
func (s *Stream) Write(p []byte) (int, error) {
	now := s.file.opts.Now()
	s.out, s.sizes = s.out[:0], s.sizes[:0]
	rest := p
	for len(rest) > 0 {
		if len(s.line) == 0 {
			s.started = now
		}
		i := bytes.IndexByte(rest, '\n')
		seg := rest
		if i >= 0 {
			seg = rest[:i]
		}
		if room := MaxLine - len(s.line); len(seg) > room {
			// Too long to hold: write what fits as a partial piece.
			s.line = append(s.line, seg[:room]...)
			rest = rest[room:]
			s.emit(true, now)
			continue
		}
		if i < 0 {
			s.line = append(s.line, seg...)
			break
		}
		rest = rest[i+1:]
		if len(s.line) == 0 {
			s.encode(seg, false)
			continue
		}
		s.line = append(s.line, seg...)
		s.emit(false, now)
	}
	if len(s.sizes) > 0 {
		if err := s.file.writeRecords(s.out, s.sizes); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Close writes out an unfinished last line, marked partial.
func (s *Stream) Close() error {
	if len(s.line) == 0 {
		return nil
	}
	s.out, s.sizes = s.out[:0], s.sizes[:0]
	s.encode(s.line, true)
	s.line = s.line[:0]
	return s.file.writeRecords(s.out, s.sizes)
}

// emit encodes the carried line; a partial piece keeps its cut at a rune
// boundary so that each piece is valid UTF-8 on its own where the input was.
func (s *Stream) emit(partial bool, now time.Time) {
	line := s.line
	var carry []byte
	if partial && len(line) > utf8.UTFMax {
		cut := len(line)
		for k := 1; k < utf8.UTFMax && cut-k > 0; k++ {
			if utf8.RuneStart(line[cut-k]) {
				if !utf8.FullRune(line[cut-k:]) {
					cut -= k
				}
				break
			}
		}
		if cut < len(line) && cut > 0 {
			carry = append([]byte(nil), line[cut:]...)
			line = line[:cut]
		}
	}
	s.encode(line, partial)
	s.line = append(s.line[:0], carry...)
	s.started = now
}

func (s *Stream) encode(line []byte, partial bool) {
	n := len(s.out)
	s.out = append(s.out, `{"time":"`...)
	if !s.started.Equal(s.stampOf) || s.stamp == nil {
		s.stampOf = s.started
		s.stamp = s.started.UTC().AppendFormat(s.stamp[:0], time.RFC3339Nano)
	}
	s.out = append(s.out, s.stamp...)
	s.out = append(s.out, `","stream":`...)
	s.out = appendJSONString(s.out, []byte(s.name))
	s.out = append(s.out, `,"log":`...)
	s.out = appendJSONString(s.out, line)
	if partial {
		s.out = append(s.out, `,"partial":true`...)
	}
	s.out = append(s.out, "}\n"...)
	s.sizes = append(s.sizes, len(s.out)-n)
}

var _ io.WriteCloser = (*Stream)(nil)
