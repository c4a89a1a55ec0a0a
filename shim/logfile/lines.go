package logfile

// MaxJoined bounds a line that Lines and Follow join from partial pieces, so
// that a container printing without newlines cannot make a reader hold
// unbounded memory. A longer line comes out in pieces of about this size,
// all but the last marked Partial.
const MaxJoined = 4 * MaxLine

// joiner turns records into lines: the pieces of a line cut by the writer
// (Partial) are joined per stream, as the writer cut them per stream.
type joiner struct {
	out     func(Record) error
	pending map[string]*Record
	order   []string // streams with a pending piece, oldest first
}

func newJoiner(out func(Record) error) *joiner {
	return &joiner{out: out, pending: map[string]*Record{}}
}

func (j *joiner) add(r Record) error {
	p := j.pending[r.Stream]
	if p == nil {
		if !r.Partial {
			return j.out(r)
		}
		j.pending[r.Stream] = &r
		j.order = append(j.order, r.Stream)
		return nil
	}
	// The line keeps the time of its first piece.
	p.Log += r.Log
	p.Partial = r.Partial
	if !r.Partial || len(p.Log) >= MaxJoined {
		return j.emit(r.Stream)
	}
	return nil
}

func (j *joiner) emit(stream string) error {
	p := j.pending[stream]
	delete(j.pending, stream)
	for i, s := range j.order {
		if s == stream {
			j.order = append(j.order[:i], j.order[i+1:]...)
			break
		}
	}
	return j.out(*p)
}

// flush gives out the unfinished lines as they are (still Partial): the
// end of the log, or a writer that has not gone on for a while.
func (j *joiner) flush() error {
	for len(j.order) > 0 {
		if err := j.emit(j.order[0]); err != nil {
			return err
		}
	}
	return nil
}

func (j *joiner) holding() bool { return len(j.order) > 0 }

// ring keeps the last n records given to it (all when n < 0).
type ring struct {
	n    int
	recs []Record
}

func (r *ring) add(rec Record) error {
	if r.n == 0 {
		return nil
	}
	if r.n > 0 && len(r.recs) == r.n {
		copy(r.recs, r.recs[1:])
		r.recs = r.recs[:r.n-1]
	}
	r.recs = append(r.recs, rec)
	return nil
}
