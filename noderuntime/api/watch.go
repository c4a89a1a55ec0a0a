package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/changes"
)

// MaxWatchWait bounds a long poll's ?wait=; a client waits longer by asking
// again.
const MaxWatchWait = 5 * time.Minute

// watchParams reads ?since=VERSION&wait=DURATION. Without wait the answer is
// immediate; without since it waits for the next change.
func (s *Server) watchParams(w http.ResponseWriter, r *http.Request) (since uint64, wait time.Duration, ok bool) {
	q := r.URL.Query()
	since = s.changes().Version()
	if v := q.Get("since"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			writeErr(w, 400, "bad_request", fmt.Sprintf("since=%q: want the version of an earlier answer's %s header", v, apitypes.VersionHeader))
			return 0, 0, false
		}
		since = n
	}
	if v := q.Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			writeErr(w, 400, "bad_request", fmt.Sprintf("wait=%q: want a duration such as 30s", v))
			return 0, 0, false
		}
		wait = min(d, MaxWatchWait)
	}
	return since, wait, true
}

// awaitChange waits up to wait for the state to move past since, and gives
// the answer a fresh write deadline: the wait is not writing time.
func (s *Server) awaitChange(w http.ResponseWriter, r *http.Request, since uint64, wait time.Duration) {
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	_, _ = changes.Wait(ctx, s.changes(), since)
	s.extendWrite(w)
}

// waitUntil re-checks cond after every change until it holds or ctx ends.
// The version is read before cond looks at the state, so a change between
// the two wakes the next wait at once.
func (s *Server) waitUntil(ctx context.Context, cond func() bool) bool {
	src := s.changes()
	for {
		v := src.Version()
		if cond() {
			return true
		}
		if _, err := changes.Wait(ctx, src, v); err != nil {
			return false
		}
	}
}

func (s *Server) changes() changes.Source {
	if s.Changes != nil {
		return s.Changes
	}
	return s.Controller.Changes()
}

func setVersion(w http.ResponseWriter, v uint64) {
	w.Header().Set(apitypes.VersionHeader, strconv.FormatUint(v, 10))
}
