// Package logfile writes a log that rotates by size (name, name.1 ... name.N)
// so a long-running child such as containerd cannot fill the disk.
package logfile

import (
	"fmt"
	"os"
	"sync"
)

type Rotating struct {
	path    string
	maxSize int64
	keep    int

	mu   sync.Mutex
	f    *os.File
	size int64
}

// Open appends to path, rotating when it grows past maxSize and keeping keep
// older files.
func Open(path string, maxSize int64, keep int) (*Rotating, error) {
	r := &Rotating{path: path, maxSize: maxSize, keep: keep}
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Rotating) open() error {
	f, err := os.OpenFile(r.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	r.f, r.size = f, st.Size()
	return nil
}

func (r *Rotating) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return 0, os.ErrClosed
	}
	if r.size > 0 && r.size+int64(len(p)) > r.maxSize {
		if err := r.rotate(); err != nil {
			return 0, err
		}
	}
	n, err := r.f.Write(p)
	r.size += int64(n)
	return n, err
}

func (r *Rotating) rotate() error {
	r.f.Close()
	for i := r.keep - 1; i >= 1; i-- {
		_ = os.Rename(fmt.Sprintf("%s.%d", r.path, i), fmt.Sprintf("%s.%d", r.path, i+1))
	}
	if r.keep > 0 {
		_ = os.Rename(r.path, r.path+".1")
	} else {
		_ = os.Remove(r.path)
	}
	return r.open()
}

func (r *Rotating) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}

// CopyTruncate rotates a file another process appends to (with O_APPEND) when
// it is larger than maxSize: the content moves to path.1 (older ones shift)
// and path is truncated in place, so the writer keeps its descriptor.
func CopyTruncate(path string, maxSize int64, keep int) error {
	st, err := os.Stat(path)
	if err != nil || st.Size() <= maxSize {
		return nil
	}
	for i := keep - 1; i >= 1; i-- {
		_ = os.Rename(fmt.Sprintf("%s.%d", path, i), fmt.Sprintf("%s.%d", path, i+1))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if keep > 0 {
		if err := os.WriteFile(path+".1", data, 0o640); err != nil {
			return err
		}
	}
	return os.Truncate(path, 0)
}
