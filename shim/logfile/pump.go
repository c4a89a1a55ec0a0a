package logfile

import "io"

// Pump copies one stream's output from r into w until r ends, then writes
// out an unfinished last line. A write error (disk full) does not stop it:
// it keeps draining r, since a container stalled on a full disk would be
// worse than the lines lost meanwhile; report hears the first error of each
// run of failures. The error returned is that of the final flush.
func Pump(r io.Reader, w *Stream, report func(error)) error {
	buf := make([]byte, 32<<10)
	failing := false
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				if !failing && report != nil {
					report(err)
				}
				failing = true
			} else {
				failing = false
			}
		}
		if rerr != nil {
			break
		}
	}
	return w.Close()
}
