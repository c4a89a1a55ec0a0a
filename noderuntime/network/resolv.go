package network

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Resolver is what a service asks of its replicas' resolv.conf; the zero
// value takes the node's defaults.
type Resolver struct {
	// Nameservers replace the node's DNS server (a spec's explicit name
	// servers); the service names then resolve through the hosts file only.
	Nameservers []string
}

// UseNameserver has replicas created from now on resolve through the
// node's DNS server at the gateway, with domain (e.g. zlayer.internal) in
// their search list.
func (b *Bridge) UseNameserver(domain string) { b.dnsDomain = domain }

func (b *Bridge) resolvPath(id string) string { return filepath.Join(b.dir, "resolv", id+".conf") }

// resolvConf writes replica id's resolv.conf, mounted at creation: see
// renderResolv. It is written in place, as the hosts files are, so that a
// rewrite reaches the bind mount.
func (b *Bridge) resolvConf(id, deployment string, want Resolver) (string, error) {
	host, _ := os.ReadFile("/etc/resolv.conf")
	gw := ""
	if b.dnsDomain != "" {
		gw = b.gw.String()
	}
	data := renderResolv(host, gw, b.dnsDomain, deployment, want)
	path := b.resolvPath(id)
	if cur, err := os.ReadFile(path); err == nil && bytes.Equal(cur, data) {
		return path, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	return path, errors.Join(err, f.Close())
}

// renderResolv is a replica's resolver config, built from the node's
// (host). The name servers are, in order of precedence: the service's own
// (want), the node's DNS server at gw (when it runs: domain set), or the
// node's minus loopback ones (unreachable from a replica's namespace; a
// replica left with none still resolves its peers through the hosts file).
// With the node's DNS server, the search list starts with
// DEPLOYMENT.DOMAIN and DOMAIN, so SERVICE and SERVICE.DEPLOYMENT resolve
// even where a resolver only asks fully qualified names, then the node's
// own search domains. ndots stays at its default (1): SERVICE.DEPLOYMENT
// goes straight to the node's server, which answers it as it is.
func renderResolv(host []byte, gw, domain, deployment string, want Resolver) []byte {
	var servers, search, other []string
	for _, line := range strings.Split(string(host), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && f[0] == "nameserver":
			if ip := net.ParseIP(f[1]); ip != nil && !ip.IsLoopback() {
				servers = append(servers, f[1])
			}
		case len(f) >= 1 && (f[0] == "search" || f[0] == "domain"):
			// The last of search and domain wins, as in resolv.conf(5).
			search = slices.Clone(f[1:])
		case strings.TrimSpace(line) != "":
			other = append(other, line)
		}
	}
	own := domain != "" && len(want.Nameservers) == 0
	switch {
	case len(want.Nameservers) > 0:
		servers = want.Nameservers
	case own:
		servers = []string{gw}
		var ours []string
		if deployment != "" {
			ours = append(ours, deployment+"."+domain)
		}
		search = append(append(ours, domain), slices.DeleteFunc(search, func(s string) bool { return slices.Contains(ours, s) || s == domain })...)
	}
	var b bytes.Buffer
	b.WriteString("# Written by the zlayer node; changes are overwritten.\n")
	for _, s := range servers {
		b.WriteString("nameserver " + s + "\n")
	}
	if len(search) > 0 {
		b.WriteString("search " + strings.Join(search, " ") + "\n")
	}
	for _, l := range other {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.Bytes()
}
