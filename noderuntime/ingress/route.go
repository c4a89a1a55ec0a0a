// Package ingress is the node's front door: it listens on the ports of
// public endpoints and forwards to the ready replicas behind them. HTTP and
// websocket traffic is routed by host (exact or *.wildcard) and path prefix,
// spread round-robin, retried once on another replica when an idempotent
// request cannot reach its first pick; https terminates TLS with the node's
// certificates (SNI) or self-signed ones kept in the data dir; tcp and udp
// are forwarded at L4. The route table is replaced wholesale by Update, so
// the caller (the node, polling the reconciler) owns the truth about
// readiness.
package ingress

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/zlayer/zlayer/noderuntime/spec"
)

// Protocols an endpoint may use.
const (
	HTTP  = "http"
	HTTPS = "https"
	TCP   = "tcp"
	UDP   = "udp"
)

// Backend is one replica serving an endpoint.
type Backend struct {
	ID   string // replica (container) id, the key Drain uses
	Addr string // host:port the ingress dials
}

// Route is one public endpoint and the replicas ready to serve it. For
// https the ingress terminates TLS and speaks plain HTTP to the replica,
// which sees X-Forwarded-Proto: https.
type Route struct {
	Deployment, Service, Endpoint string
	Protocol                      string
	Port                          int
	Host                          string // exact name, "*.example.com", or empty for any
	Path                          string // prefix; empty means "/"
	Backends                      []Backend
}

func (r Route) key() string {
	return r.Deployment + "/" + r.Service + "/" + r.Endpoint + "@" + strconv.Itoa(r.Port)
}

// Replica is what Routes needs to know about a replica.
type Replica struct {
	ID, Deployment, Service string
	Index                   int
	Addr                    string // IP the replica is reached on
	Ready                   bool
	// Node runs the replica: "" (or the node's own name) for a local one.
	Node string
}

// Routes turns a deployment's public endpoints and its replicas into
// routes. Only ready replicas become backends. A host-network endpoint whose
// port equals its target port is left out: the replica itself owns that port
// on the node, so there is nothing for the ingress to listen on.
func Routes(d *spec.Deployment, replicas []Replica) []Route {
	var out []Route
	for _, name := range d.StartOrder() {
		s := d.Services[name]
		for _, e := range s.Endpoints {
			if e.Expose != "public" {
				continue
			}
			if s.NetworkMode == spec.NetworkHost && e.Port == e.TargetPort {
				continue
			}
			r := Route{Deployment: d.Deployment, Service: name, Endpoint: e.Name, Protocol: e.Protocol,
				Port: e.Port, Host: e.Host, Path: e.Path}
			for _, rep := range replicas {
				if rep.Service == name && rep.Ready && rep.Addr != "" {
					r.Backends = append(r.Backends, Backend{ID: rep.ID, Addr: net.JoinHostPort(rep.Addr, strconv.Itoa(e.TargetPort))})
				}
			}
			out = append(out, r)
		}
	}
	return out
}

// hostMatch reports whether pattern (exact, "*.suffix" or empty) matches
// host (lower case, no port).
func hostMatch(pattern, host string) bool {
	switch {
	case pattern == "":
		return true
	case strings.HasPrefix(pattern, "*."):
		return strings.HasSuffix(host, pattern[1:]) && len(host) > len(pattern)-1
	default:
		return pattern == host
	}
}

// pathMatch reports whether prefix matches path on a segment boundary:
// /api matches /api and /api/x but not /apix.
func pathMatch(prefix, path string) bool {
	if prefix == "" || prefix == "/" {
		return true
	}
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	return len(path) == len(prefix) || strings.HasSuffix(prefix, "/") || path[len(prefix)] == '/'
}

// hostRank orders host patterns: exact names first, then wildcards (longer
// suffixes first), then the catch-all.
func hostRank(h string) (int, int) {
	switch {
	case h == "":
		return 2, 0
	case strings.HasPrefix(h, "*."):
		return 1, -len(h)
	default:
		return 0, 0
	}
}

// sortRoutes puts the most specific route first so the first match wins.
func sortRoutes(rs []*route) {
	sort.SliceStable(rs, func(i, j int) bool {
		a1, a2 := hostRank(rs[i].Host)
		b1, b2 := hostRank(rs[j].Host)
		if a1 != b1 {
			return a1 < b1
		}
		if a2 != b2 {
			return a2 < b2
		}
		return len(rs[i].Path) > len(rs[j].Path)
	})
}

// normHost lower-cases a Host header and drops its port.
func normHost(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// validate rejects routes the ingress cannot serve.
func validate(r Route) error {
	switch r.Protocol {
	case HTTP, HTTPS, TCP, UDP:
	default:
		return fmt.Errorf("route %s: unknown protocol %q", r.key(), r.Protocol)
	}
	if r.Port <= 0 || r.Port > 65535 {
		return fmt.Errorf("route %s: port %d out of range", r.key(), r.Port)
	}
	if r.Path != "" && !strings.HasPrefix(r.Path, "/") {
		return fmt.Errorf("route %s: path %q must start with /", r.key(), r.Path)
	}
	return nil
}
