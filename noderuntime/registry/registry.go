// Package registry reads the node config file (k3s registries.yaml style:
// mirrors and per-registry configs) and turns it into a containerd resolver.
// Loopback registries (127.0.0.1:5000, localhost, [::1]) use plain HTTP with
// no config, as BuildKit does.
package registry

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/distribution/reference"
	"gopkg.in/yaml.v3"
)

// Config is the node config file. The registries part may be written at the
// top level (as k3s's registries.yaml) or under `registries:`.
type Config struct {
	Registries Registries            `yaml:"registries"`
	Mirrors    map[string]Mirror     `yaml:"mirrors"`
	Configs    map[string]HostConfig `yaml:"configs"`
	// The networking sections, read by noderuntime/network.
	Network yaml.Node `yaml:"network"`
	Ingress yaml.Node `yaml:"ingress"`
}

type Registries struct {
	Mirrors map[string]Mirror     `yaml:"mirrors"`
	Configs map[string]HostConfig `yaml:"configs"`
}

type Mirror struct {
	Endpoint []string `yaml:"endpoint"`
}

type HostConfig struct {
	Auth struct {
		Username string `yaml:"username"`
		Password string `yaml:"password"`
	} `yaml:"auth"`
	TLS struct {
		InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	} `yaml:"tls"`
	PlainHTTP bool `yaml:"plain_http"`
}

// Load reads the config file at path; an empty path is an empty config.
func Load(path string) (*Registries, error) {
	r := &Registries{Mirrors: map[string]Mirror{}, Configs: map[string]HostConfig{}}
	if path == "" {
		return r, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("node config: %w", err)
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && err.Error() != "EOF" {
		return nil, fmt.Errorf("node config %s: %w", path, err)
	}
	for _, m := range []map[string]Mirror{c.Mirrors, c.Registries.Mirrors} {
		for k, v := range m {
			for _, e := range v.Endpoint {
				if u, err := url.Parse(e); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
					return nil, fmt.Errorf("node config %s: mirrors.%s: endpoint %q must be an http:// or https:// URL", path, k, e)
				}
			}
			r.Mirrors[k] = v
		}
	}
	for _, m := range []map[string]HostConfig{c.Configs, c.Registries.Configs} {
		for k, v := range m {
			r.Configs[k] = v
		}
	}
	return r, nil
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
