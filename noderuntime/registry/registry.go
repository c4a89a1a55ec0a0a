// Package registry turns the node config's registry settings (k3s
// registries.yaml style: mirrors and per-registry configs) into a containerd
// resolver.
// Loopback registries (127.0.0.1:5000, localhost, [::1]) use plain HTTP with
// no config, as BuildKit does.
package registry

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/distribution/reference"
)

// Registries are the registry settings of the node config (read by
// noderuntime/nodeconfig): mirrors and per-registry configs, keyed by
// registry host.
type Registries struct {
	Mirrors map[string]Mirror     `yaml:"mirrors" doc:"Mirrors by registry host (docker.io, ...): tried in order before the registry itself."`
	Configs map[string]HostConfig `yaml:"configs" doc:"Settings by registry host (with port)."`
}

type Mirror struct {
	Endpoint []string `yaml:"endpoint" doc:"Mirror URLs (http:// or https://), tried in order."`
}

type HostConfig struct {
	Auth struct {
		Username string `yaml:"username" doc:"User name."`
		Password string `yaml:"password" doc:"Password or token."`
	} `yaml:"auth" doc:"Credentials for the registry."`
	TLS struct {
		InsecureSkipVerify bool `yaml:"insecure_skip_verify" doc:"Accept any TLS certificate from the registry."`
	} `yaml:"tls" doc:"TLS settings."`
	PlainHTTP bool `yaml:"plain_http" doc:"Talk plain HTTP to the registry (loopback registries always do)."`
}

// IsLoopback reports whether host (with optional port) is this machine.
func IsLoopback(host string) bool {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	h = strings.Trim(h, "[]")
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Hosts returns containerd's registry host list for a reference's host:
// mirrors first, then the registry itself.
func (r *Registries) Hosts(host string) ([]docker.RegistryHost, error) {
	var out []docker.RegistryHost
	mirrors := r.Mirrors[host].Endpoint
	if len(mirrors) == 0 {
		mirrors = r.Mirrors["*"].Endpoint
	}
	for _, e := range mirrors {
		u, err := url.Parse(e)
		if err != nil {
			return nil, err
		}
		path := strings.TrimSuffix(u.Path, "/")
		if path == "" {
			path = "/v2"
		} else if !strings.HasSuffix(path, "/v2") {
			path += "/v2"
		}
		out = append(out, r.host(u.Host, u.Scheme, path, docker.HostCapabilityPull|docker.HostCapabilityResolve))
	}
	upstream := host
	if host == "docker.io" {
		upstream = "registry-1.docker.io"
	}
	scheme := "https"
	if IsLoopback(host) || r.Configs[host].PlainHTTP {
		scheme = "http"
	}
	out = append(out, r.host(upstream, scheme, "/v2", docker.HostCapabilityPull|docker.HostCapabilityResolve|docker.HostCapabilityPush))
	return out, nil
}

func (r *Registries) host(host, scheme, path string, caps docker.HostCapabilities) docker.RegistryHost {
	cfg := r.Configs[host]
	tr := docker.DefaultHTTPTransport(&tls.Config{InsecureSkipVerify: cfg.TLS.InsecureSkipVerify}) //nolint:gosec // opted into by the node config
	client := &http.Client{Transport: tr, Timeout: 10 * time.Minute}
	auth := docker.NewDockerAuthorizer(docker.WithAuthClient(client), docker.WithAuthCreds(func(h string) (string, string, error) {
		c := r.Configs[h]
		return c.Auth.Username, c.Auth.Password, nil
	}))
	return docker.RegistryHost{Client: client, Authorizer: auth, Host: host, Scheme: scheme, Path: path, Capabilities: caps}
}

// Resolver is a containerd resolver honouring the config.
func (r *Registries) Resolver() remotes.Resolver {
	return docker.NewResolver(docker.ResolverOptions{Hosts: r.Hosts})
}

// Normalize turns a short reference (busybox) into its full form
// (docker.io/library/busybox:latest).
func Normalize(ref string) (string, error) {
	n, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", fmt.Errorf("image %q: %w", ref, err)
	}
	return reference.TagNameOnly(n).String(), nil
}
