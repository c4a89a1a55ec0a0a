// Package discovery lets replicas find each other by name: every bridge
// replica gets its own /etc/hosts (a file the node keeps in its data dir and
// bind-mounts), listing the ready replicas of every service as SERVICE (for
// the replica's own deployment) and SERVICE.DEPLOYMENT (for all). Files are
// rewritten in place, so the bind mount keeps seeing the current content.
package discovery

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// Peer is a replica. Only ready ones are listed in the files; the others
// still tell a replica which deployment it belongs to and its index.
type Peer struct {
	ID, Deployment, Service string
	Index                   int
	IP                      string
	Ready                   bool
}

// self is what a replica's own file needs about it.
type self struct {
	deployment, hostname, ip string
	index                    int
}

// Hosts keeps one hosts file per attached replica.
type Hosts struct {
	dir string

	mu    sync.Mutex
	selfs map[string]self
	peers []Peer // ready, sorted
	all   []Peer
	// extra are the replicas' own entries (a spec's extra_hosts):
	// address, name.
	extra map[string][][2]string
}

// New keeps hosts files in dir.
func New(dir string) *Hosts {
	return &Hosts{dir: dir, selfs: map[string]self{}, extra: map[string][][2]string{}}
}

// SetExtra gives replica id's file entries of its own (address, name),
// written after its own name; Detach forgets them.
func (h *Hosts) SetExtra(id string, entries [][2]string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(entries) == 0 {
		delete(h.extra, id)
		return
	}
	h.extra[id] = entries
}

// Path is replica id's hosts file.
func (h *Hosts) Path(id string) string { return filepath.Join(h.dir, id) }

// Prepare makes sure id's file exists before the container starts (the
// bind mount needs a file), with only the loopback names in it.
func (h *Hosts) Prepare(id, hostname string) error {
	if err := os.MkdirAll(h.dir, 0o755); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, err := os.Stat(h.Path(id)); err == nil {
		return nil
	}
	return writeInPlace(h.Path(id), render(self{hostname: hostname}, h.extra[id], nil))
}

// Attach records a replica's own address and writes its file. An empty
// deployment is learnt from the peers.
func (h *Hosts) Attach(id, deployment, hostname, ip string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := self{deployment: deployment, hostname: hostname, ip: ip}
	for _, p := range h.all {
		if p.ID == id {
			s.deployment, s.index = p.Deployment, p.Index
		}
	}
	h.selfs[id] = s
	if err := os.MkdirAll(h.dir, 0o755); err != nil {
		return err
	}
	return writeInPlace(h.Path(id), render(s, h.extra[id], h.peers))
}

// Detach forgets a replica and removes its file.
func (h *Hosts) Detach(id string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.selfs, id)
	delete(h.extra, id)
	if err := os.Remove(h.Path(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// SetPeers replaces the set of reachable replicas and rewrites the files
// whose content changed.
func (h *Hosts) SetPeers(peers []Peer) error {
	var ps []Peer
	for _, p := range peers {
		if p.Ready {
			ps = append(ps, p)
		}
	}
	sort.Slice(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.Deployment != b.Deployment {
			return a.Deployment < b.Deployment
		}
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		return a.Index < b.Index
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	h.peers = ps
	h.all = append([]Peer(nil), peers...)
	for _, p := range peers {
		if s, ok := h.selfs[p.ID]; ok && (s.deployment != p.Deployment || s.index != p.Index) {
			s.deployment, s.index = p.Deployment, p.Index
			h.selfs[p.ID] = s
		}
	}
	var errs []error
	for id, s := range h.selfs {
		want := render(s, h.extra[id], ps)
		if cur, err := os.ReadFile(h.Path(id)); err == nil && bytes.Equal(cur, want) {
			continue
		}
		if err := writeInPlace(h.Path(id), want); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// render builds a replica's hosts file. A name with several replicas gets
// one line per replica, rotated by the reader's own index so that resolvers
// that take the first match still spread the load.
func render(s self, extra [][2]string, peers []Peer) []byte {
	var b bytes.Buffer
	b.WriteString("# Written by the zlayer node; changes are overwritten.\n")
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	if s.ip != "" && s.hostname != "" {
		fmt.Fprintf(&b, "%s\t%s\n", s.ip, s.hostname)
	} else if s.hostname != "" {
		fmt.Fprintf(&b, "127.0.1.1\t%s\n", s.hostname)
	}
	for _, e := range extra {
		fmt.Fprintf(&b, "%s\t%s\n", e[0], e[1])
	}
	type group struct {
		dep, svc string
		ips      []string
	}
	var groups []*group
	for _, p := range peers {
		if net.ParseIP(p.IP) == nil {
			continue
		}
		if n := len(groups); n == 0 || groups[n-1].dep != p.Deployment || groups[n-1].svc != p.Service {
			groups = append(groups, &group{dep: p.Deployment, svc: p.Service})
		}
		g := groups[len(groups)-1]
		g.ips = append(g.ips, p.IP)
	}
	for _, g := range groups {
		rot := 0
		if len(g.ips) > 0 && s.index > 0 {
			rot = s.index % len(g.ips)
		}
		for i := range g.ips {
			ip := g.ips[(i+rot)%len(g.ips)]
			if g.dep == s.deployment {
				fmt.Fprintf(&b, "%s\t%s %s.%s\n", ip, g.svc, g.svc, g.dep)
			} else {
				fmt.Fprintf(&b, "%s\t%s.%s\n", ip, g.svc, g.dep)
			}
		}
	}
	return b.Bytes()
}

// writeInPlace truncates and rewrites path: a rename would leave a bind
// mount pointing at the old file.
func writeInPlace(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	return errors.Join(err, f.Close())
}
