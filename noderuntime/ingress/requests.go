package ingress

import "sync/atomic"

// Classes of a request's outcome, as the requests counter labels them:
// the replica's status class, or ClassError when the ingress could not get
// a whole answer from any replica (it answered 502/503 itself, or the
// response was cut short).
const (
	Class1xx   = "1xx"
	Class2xx   = "2xx"
	Class3xx   = "3xx"
	Class4xx   = "4xx"
	Class5xx   = "5xx"
	ClassError = "error"
)

// classes are the labels of requestCounts' slots, in order.
var classes = [...]string{Class1xx, Class2xx, Class3xx, Class4xx, Class5xx, ClassError}

const errorSlot = len(classes) - 1

// requestCounts counts one route's requests by outcome. A route's versions
// across updates share it, so the counts survive route table changes; the
// request path adds to it without a lookup, a label or an allocation.
type requestCounts [len(classes)]atomic.Uint64

// status counts a response from a replica.
func (c *requestCounts) status(code int) {
	i := code/100 - 1
	if i < 0 || i >= errorSlot {
		i = errorSlot // not HTTP: the fast path refuses such a response anyway
	}
	c[i].Add(1)
}

// failed counts a request no replica answered completely.
func (c *requestCounts) failed() { c[errorSlot].Add(1) }

// RouteRequests is the count of one route's requests of one class.
type RouteRequests struct {
	Deployment, Service, Endpoint string
	Class                         string // Class1xx ... ClassError
	Count                         uint64
}

// Requests reports the http and https routes' request counts by class
// (classes with none left out), for the node's metrics.
func (g *Ingress) Requests() []RouteRequests {
	g.mu.Lock()
	ls := make([]*listener, 0, len(g.listeners))
	for _, l := range g.listeners {
		ls = append(ls, l)
	}
	g.mu.Unlock()
	var out []RouteRequests
	for _, l := range ls {
		if l.proto != HTTP && l.proto != HTTPS {
			continue
		}
		for _, rt := range *l.routes.Load() {
			for i := range rt.reqs {
				if n := rt.reqs[i].Load(); n > 0 {
					out = append(out, RouteRequests{Deployment: rt.Deployment, Service: rt.Service, Endpoint: rt.Endpoint, Class: classes[i], Count: n})
				}
			}
		}
	}
	return out
}
