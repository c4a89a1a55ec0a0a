package logfile

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// Rotation and reading agree through a flock on the current file: the
// writer holds it exclusively while it renames, a reader holds it shared
// while it opens the set. Comparing names before and after opening (the
// fallback below) is enough when rotations are rare, but a container that
// writes as fast as the shim can take, into a small MaxSize, rotates more
// often than a reader can open eight files, and the reader would never see
// a still moment. The lock gives it one. The writer and readers live in
// different processes (shim, node, CLI), so a mutex cannot.

// flockFile applies how (syscall.LOCK_*) to f.
func flockFile(f *os.File, how int) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		for {
			ferr = syscall.Flock(int(fd), how)
			if !errors.Is(ferr, syscall.EINTR) {
				return
			}
		}
	}); err != nil {
		return err
	}
	return ferr
}

// lockWait bounds how long a reader waits for one rotation to finish: a
// writer that is stopped (SIGSTOP, a frozen cgroup) in the middle of one
// must not hang `zlayer logs`; the reader then falls back to comparing names.
const lockWait = 200 * time.Millisecond

// lockedSnapshot opens the log's files, oldest first, while holding the
// current file's rotation lock shared, so that no rename can happen while
// they are opened. ok is false when that could not be had (no current file,
// a rotation between opening and locking it, or a writer that holds the
// lock too long); the caller then falls back to openSnapshot.
func lockedSnapshot(path string) (snap []*os.File, ok bool, err error) {
	cur, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, false, nil
		}
		return nil, false, err
	}
	keep := false
	defer func() {
		if !keep {
			cur.Close()
		}
	}()
	deadline := time.Now().Add(lockWait)
	for {
		err := flockFile(cur, syscall.LOCK_SH|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			// A filesystem without flock: comparing names is all there is.
			return nil, false, nil
		}
		if time.Now().After(deadline) {
			return nil, false, nil
		}
		time.Sleep(50 * time.Microsecond)
	}
	defer flockFile(cur, syscall.LOCK_UN) //nolint:errcheck // closing the file releases it too
	// A rotation may have renamed the file between the open and the lock:
	// then the lock is on a file that is no longer current.
	st, err := os.Stat(path)
	if err != nil {
		return nil, false, nil
	}
	cst, err := cur.Stat()
	if err != nil {
		return nil, false, err
	}
	if !os.SameFile(st, cst) {
		return nil, false, nil
	}
	names, err := Files(path)
	if err != nil {
		return nil, false, err
	}
	if len(names) == 0 || names[len(names)-1] != path {
		// Removed (Remove, not the writer) since the Stat above.
		return nil, false, nil
	}
	snap, ok, err = openNames(names[:len(names)-1])
	if !ok || err != nil {
		return nil, ok, err
	}
	keep = true
	return append(snap, cur), true, nil
}

// openNames opens names in order; ok is false when one has vanished (a
// rotation moved it or Remove deleted it), and then none stays open.
func openNames(names []string) (snap []*os.File, ok bool, err error) {
	snap = make([]*os.File, 0, len(names)+1)
	for _, name := range names {
		f, err := os.Open(name)
		if err != nil {
			closeFiles(snap)
			if errors.Is(err, os.ErrNotExist) {
				return nil, false, nil
			}
			return nil, false, err
		}
		snap = append(snap, f)
	}
	return snap, true, nil
}
