package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/reconcile"
	"github.com/zlayer/zlayer/shim/logfile"
)

func entryOf(rs reconcile.ReplicaStatus, r logfile.Record) apitypes.LogEntry {
	return apitypes.LogEntry{Replica: rs.Replica, ID: rs.ID, Time: r.Time, Stream: r.Stream, Log: r.Log, Partial: r.Partial}
}

// logs answers GET .../logs?tail=N&follow=1&replica=R with the replicas'
// lines as JSON lines, read by shim/logfile (the format both runtimes write)
// across rotated files.
func (s *Server) logs(w http.ResponseWriter, r *http.Request) {
	rec, svc := s.service(w, r)
	if rec == nil {
		return
	}
	q := r.URL.Query()
	tail := -1
	if v := q.Get("tail"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeErr(w, 400, "bad_request", "tail must be a number")
			return
		}
		tail = n
	}
	only, _ := strconv.Atoi(q.Get("replica"))
	follow := q.Get("follow") == "1" || q.Get("follow") == "true"
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	// A follower may wait for hours between lines: every write gets its own
	// write deadline instead of the server's one for the whole answer.
	out := &logWriter{enc: json.NewEncoder(w), extend: func() { s.extendWrite(w) }}
	out.fl, _ = w.(http.Flusher)
	if !follow {
		for _, rs := range s.replicasOf(rec.Name, svc, only) {
			err := logfile.Lines(s.Controller.LogPath(rs.ID), tail, func(lr logfile.Record) error {
				return out.write(entryOf(rs, lr))
			})
			if err != nil {
				s.Log.Warn("reading a replica's log", "id", rs.ID, "err", err)
				if out.failed() {
					return
				}
			}
		}
		out.flush()
		return
	}
	s.followLogs(r.Context(), out, rec.Name, svc, only, tail)
}

// followLogs follows every replica of the service, starting on those that
// appear meanwhile (from their first line) and stopping on those that go.
func (s *Server) followLogs(ctx context.Context, out *logWriter, dep, svc string, only, tail int) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	followers := map[string]context.CancelFunc{}
	update := func(n int) {
		seen := map[string]bool{}
		for _, rs := range s.replicasOf(dep, svc, only) {
			seen[rs.ID] = true
			if followers[rs.ID] != nil {
				continue
			}
			fctx, fcancel := context.WithCancel(ctx)
			followers[rs.ID] = fcancel
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := logfile.Follow(fctx, s.Controller.LogPath(rs.ID), n, func(lr logfile.Record) error {
					return out.write(entryOf(rs, lr))
				})
				if out.failed() {
					cancel() // the client has gone
				} else if err != nil {
					s.Log.Warn("following a replica's log", "id", rs.ID, "err", err)
				}
			}()
		}
		for id, fcancel := range followers {
			if !seen[id] {
				fcancel()
				delete(followers, id)
			}
		}
	}
	// Replicas come and go with the controller's changes; the version is
	// read before each look, so one starting during it is not missed.
	src := s.changes()
	v := src.Version()
	update(tail)
	flush := time.NewTicker(100 * time.Millisecond)
	defer flush.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-flush.C:
			out.flush()
		case <-src.After(v):
			v = src.Version()
			update(-1) // new since the request: all of it is news
		}
	}
}

// logWriter serialises the entries of concurrent followers onto one answer.
type logWriter struct {
	mu     sync.Mutex
	enc    *json.Encoder
	fl     http.Flusher
	extend func()
	dirty  bool
	err    error
}

func (l *logWriter) write(e apitypes.LogEntry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	l.extend()
	l.err = l.enc.Encode(e)
	l.dirty = true
	return l.err
}

func (l *logWriter) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dirty && l.fl != nil && l.err == nil {
		l.extend()
		l.fl.Flush()
	}
	l.dirty = false
}

func (l *logWriter) failed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err != nil
}
