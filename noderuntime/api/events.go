package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/zlayer/zlayer/noderuntime/changes"
)

// eventKeepAlive is how often a quiet event stream sends a comment, well
// inside the write timeout and the idle timeouts of proxies on the way.
const eventKeepAlive = 25 * time.Second

// eventGap is the least time between two change events: a burst of
// changes (a scale to many replicas) is one event, as the state the
// client re-reads after it holds all of them.
const eventGap = 200 * time.Millisecond

// events answers GET /v1/events with the change notifications as
// server-sent events: a "change" event carrying the change version at
// once and after every change, for clients (the console) that re-read
// what they show when the node's state moves.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		writeErr(w, 500, "internal", "this connection cannot stream")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	send := func(format string, args ...any) bool {
		s.extendWrite(w)
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return false
		}
		fl.Flush()
		return true
	}
	src := s.changes()
	v := src.Version()
	if !send("retry: 2000\nid: %d\nevent: change\ndata: {\"version\":%d}\n\n", v, v) {
		return
	}
	for {
		ctx, cancel := context.WithTimeout(r.Context(), eventKeepAlive)
		nv, err := changes.Wait(ctx, src, v)
		cancel()
		if r.Context().Err() != nil {
			return
		}
		if err != nil {
			if !send(": keep-alive\n\n") {
				return
			}
			continue
		}
		select {
		case <-time.After(eventGap):
		case <-r.Context().Done():
			return
		}
		v = max(nv, src.Version())
		if !send("id: %d\nevent: change\ndata: {\"version\":%d}\n\n", v, v) {
			return
		}
	}
}

// countRequests counts the API's requests by route pattern, for the
// console's chart of request rates.
func (s *Server) countRequests(h http.Handler) http.Handler {
	if s.Metrics == nil {
		return h
	}
	s.Metrics.Help("zlayer_api_requests_total", "API requests by route.")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		// The mux sets the pattern it matched on r; a request passed to
		// another node (cluster mode) has none here.
		if r.Pattern != "" {
			s.Metrics.Add("zlayer_api_requests_total", map[string]string{"route": r.Pattern}, 1)
		}
	})
}
