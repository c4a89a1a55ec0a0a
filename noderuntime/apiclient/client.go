// Package apiclient talks to a node's API: over its unix socket, or over
// TCP with a bearer token, verifying the node's TLS certificate by a CA
// file or a pinned, remembered fingerprint.
package apiclient

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
)

// Error is an error answer of the API.
type Error struct {
	Status  int
	Code    string
	Message string
	Errors  []apitypes.SpecError
}

func (e *Error) Error() string {
	if e.Code == "invalid_spec" {
		return "invalid spec:\n" + e.Message
	}
	return fmt.Sprintf("%s (%d %s)", e.Message, e.Status, e.Code)
}

// IsNotFound reports a 404 answer.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

type Client struct {
	base  string
	token string
	hc    *http.Client
}

// New makes a client for host with token, trusting an https node by the
// system's roots only; NewWith takes a CA or a fingerprint.
func New(host, token string) (*Client, error) {
	return NewWith(host, Options{Token: token})
}

// NewWith makes a client for host: a unix socket path (or unix://PATH), an
// https:// URL (tcp://HOST:PORT is the same; the node verified as o says),
// or an http:// URL of a node's --insecure-bind.
func NewWith(host string, o Options) (*Client, error) {
	switch {
	case strings.HasPrefix(host, "http://"), strings.HasPrefix(host, "https://"):
		u, err := url.Parse(host)
		if err != nil {
			return nil, fmt.Errorf("node address %q: %w", host, err)
		}
		c := &Client{base: strings.TrimSuffix(u.String(), "/"), token: o.Token, hc: &http.Client{}}
		if u.Scheme == "https" {
			addr := u.Host
			if u.Port() == "" {
				addr = net.JoinHostPort(u.Hostname(), "443")
			}
			cfg, err := tlsConfig(addr, o)
			if err != nil {
				return nil, err
			}
			c.hc.Transport = &http.Transport{TLSClientConfig: cfg, Proxy: http.ProxyFromEnvironment}
		}
		return c, nil
	case strings.HasPrefix(host, "tcp://"):
		// The node's TCP API is TLS.
		return NewWith("https://"+strings.TrimPrefix(host, "tcp://"), o)
	default:
		path := strings.TrimPrefix(host, "unix://")
		tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, "unix", path)
			if err != nil {
				return nil, fmt.Errorf("no node answers on %s (is `zlayer serve` running? set --host or ZLAYER_HOST): %w", path, err)
			}
			return c, nil
		}}
		return &Client{base: "http://zlayer", token: o.Token, hc: &http.Client{Transport: tr}}, nil
	}
}

func (c *Client) do(ctx context.Context, method, path string, body io.Reader, ctype string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	return c.send(req)
}

// send adds the token and turns error answers into *Error.
func (c *Client) send(req *http.Request) (*http.Response, error) {
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.connError(err)
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		e := &Error{Status: resp.StatusCode}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		// net/http's TLS server answers a plain request so.
		if resp.StatusCode == http.StatusBadRequest && strings.Contains(string(b), "HTTP request to an HTTPS server") {
			return nil, fmt.Errorf("the node at %s serves TLS on this port: use %s (with --ca-file or --ca-fingerprint)", c.base, "https://"+strings.TrimPrefix(c.base, "http://"))
		}
		var ae apitypes.Error
		if json.Unmarshal(b, &ae) != nil || ae.Message == "" {
			ae.Code, ae.Message = http.StatusText(resp.StatusCode), strings.TrimSpace(string(b))
		}
		e.Code, e.Message, e.Errors = ae.Code, ae.Message, ae.Errors
		return nil, e
	}
	return resp, nil
}

func (c *Client) json(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	ctype := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body, ctype = bytes.NewReader(b), "application/json"
	}
	resp, err := c.do(ctx, method, path, body, ctype)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// Apply creates or updates a deployment from YAML text; file names it in
// error positions.
func (c *Client) Apply(ctx context.Context, file, yaml string) (*apitypes.DeploymentStatus, error) {
	var out apitypes.DeploymentStatus
	err := c.json(ctx, "POST", "/v1/deployments", apitypes.ApplyRequest{File: file, Spec: yaml}, &out)
	return &out, err
}

func (c *Client) List(ctx context.Context) ([]apitypes.DeploymentStatus, error) {
	var out []apitypes.DeploymentStatus
	return out, c.json(ctx, "GET", "/v1/deployments", nil, &out)
}

func (c *Client) Get(ctx context.Context, name string) (*apitypes.DeploymentStatus, error) {
	var out apitypes.DeploymentStatus
	return &out, c.json(ctx, "GET", "/v1/deployments/"+url.PathEscape(name), nil, &out)
}

// Watch answers a deployment's status and the change version it reflects.
// With wait > 0 the node first waits, up to wait, for its state to move past
// since (a version from an earlier answer). A node without the watch (an
// older one) answers at once and version 0: the caller paces itself.
func (c *Client) Watch(ctx context.Context, name string, since uint64, wait time.Duration) (*apitypes.DeploymentStatus, uint64, error) {
	path := "/v1/deployments/" + url.PathEscape(name)
	if wait > 0 {
		q := url.Values{}
		q.Set("since", strconv.FormatUint(since, 10))
		q.Set("wait", wait.String())
		path += "?" + q.Encode()
	}
	resp, err := c.do(ctx, "GET", path, nil, "")
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	var out apitypes.DeploymentStatus
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, 0, fmt.Errorf("deployment %s status: %w", name, err)
	}
	var version uint64
	if h := resp.Header.Get(apitypes.VersionHeader); h != "" {
		if version, err = strconv.ParseUint(h, 10, 64); err != nil {
			return nil, 0, fmt.Errorf("deployment %s status: bad %s %q", name, apitypes.VersionHeader, h)
		}
	}
	return &out, version, nil
}

func (c *Client) Delete(ctx context.Context, name string) error {
	return c.json(ctx, "DELETE", "/v1/deployments/"+url.PathEscape(name), nil, nil)
}

func (c *Client) Replicas(ctx context.Context) ([]apitypes.ReplicaStatus, error) {
	var out []apitypes.ReplicaStatus
	return out, c.json(ctx, "GET", "/v1/replicas", nil, &out)
}

func svcPath(dep, svc string) string {
	return "/v1/deployments/" + url.PathEscape(dep) + "/services/" + url.PathEscape(svc)
}

func (c *Client) Scale(ctx context.Context, dep, svc string, n int) (*apitypes.DeploymentStatus, error) {
	var out apitypes.DeploymentStatus
	return &out, c.json(ctx, "POST", svcPath(dep, svc)+"/scale", apitypes.ScaleRequest{Replicas: &n}, &out)
}

// Logs streams log entries to fn until the answer ends (or ctx, when
// following).
func (c *Client) Logs(ctx context.Context, dep, svc string, tail int, follow bool, replica int, fn func(apitypes.LogEntry)) error {
	q := url.Values{}
	q.Set("tail", strconv.Itoa(tail))
	if follow {
		q.Set("follow", "1")
	}
	if replica > 0 {
		q.Set("replica", strconv.Itoa(replica))
	}
	resp, err := c.do(ctx, "GET", svcPath(dep, svc)+"/logs?"+q.Encode(), nil, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	// A joined line is up to logfile.MaxJoined bytes, and JSON escapes
	// may make it six times that.
	sc.Buffer(make([]byte, 64<<10), 8<<20)
	for sc.Scan() {
		var e apitypes.LogEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return fmt.Errorf("log stream: %w", err)
		}
		fn(e)
	}
	if ctx.Err() != nil {
		return nil
	}
	return sc.Err()
}

// Exec runs cmd in a replica (0: any running one) and returns its exit code.
func (c *Client) Exec(ctx context.Context, dep, svc string, replica int, cmd []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	b, _ := json.Marshal(apitypes.ExecRequest{Command: cmd, Replica: replica})
	var resp *http.Response
	var err error
	if stdin == nil {
		resp, err = c.do(ctx, "POST", svcPath(dep, svc)+"/exec", bytes.NewReader(b), "application/json")
	} else {
		// The input is read to its end and sent whole: a request body still
		// being written while the answer streams back is not dependable
		// through every proxy, and piped input is the common case.
		data, rerr := io.ReadAll(stdin)
		if rerr != nil {
			return -1, rerr
		}
		req, rerr := http.NewRequestWithContext(ctx, http.MethodPost, c.base+svcPath(dep, svc)+"/exec", bytes.NewReader(data))
		if rerr != nil {
			return -1, rerr
		}
		req.Header.Set(apitypes.ExecHeader, string(b))
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err = c.send(req)
	}
	if err != nil {
		return -1, err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var f apitypes.ExecFrame
		if err := dec.Decode(&f); err != nil {
			return -1, fmt.Errorf("exec stream ended early: %w", err)
		}
		switch {
		case f.ExitCode != nil:
			if f.Error != "" {
				return *f.ExitCode, errors.New(f.Error)
			}
			return *f.ExitCode, nil
		case f.Stream == apitypes.StreamStderr:
			_, _ = io.WriteString(stderr, f.Data) // the exit code is still the answer
		default:
			_, _ = io.WriteString(stdout, f.Data)
		}
	}
}

// Import uploads an image tar; name names an image the archive leaves
// unnamed.
func (c *Client) Import(ctx context.Context, r io.Reader, name string) ([]apitypes.ImportedImage, error) {
	path := "/v1/images/import"
	if name != "" {
		path += "?name=" + url.QueryEscape(name)
	}
	resp, err := c.do(ctx, "POST", path, r, "application/x-tar")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out []apitypes.ImportedImage
	return out, json.NewDecoder(resp.Body).Decode(&out)
}

// Raw GETs path (for /metrics and health).
func (c *Client) Raw(ctx context.Context, path string) (string, error) {
	resp, err := c.do(ctx, "GET", path, nil, "")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// ResolveService finds the deployment of a service named "SVC" or
// "DEPLOYMENT/SVC"; dep, when set, picks the deployment.
func (c *Client) ResolveService(ctx context.Context, name, dep string) (string, string, error) {
	if d, s, ok := strings.Cut(name, "/"); ok {
		return d, s, nil
	}
	if dep != "" {
		return dep, name, nil
	}
	list, err := c.List(ctx)
	if err != nil {
		return "", "", err
	}
	var found []string
	for _, d := range list {
		for _, s := range d.Services {
			if s.Name == name {
				found = append(found, d.Name)
			}
		}
	}
	switch len(found) {
	case 0:
		return "", "", fmt.Errorf("no deployment on the node has a service %q", name)
	case 1:
		return found[0], name, nil
	}
	return "", "", fmt.Errorf("service %q is in several deployments (%s): name one with -d or DEPLOYMENT/SERVICE", name, strings.Join(found, ", "))
}

// connError makes the failures a user can act on plain: trust errors as
// they are (not behind "Get URL:"), and a TLS client meeting plain HTTP.
func (c *Client) connError(err error) error {
	var ue *UntrustedError
	var ce *ChangedError
	var rh tls.RecordHeaderError
	switch {
	case errors.As(err, &ue):
		return ue
	case errors.As(err, &ce):
		return ce
	case errors.As(err, &rh), errors.Is(err, http.ErrSchemeMismatch):
		return fmt.Errorf("the node at %s does not speak TLS on this port (plain HTTP of --insecure-bind? then use %s): %w", c.base, "http://"+strings.TrimPrefix(c.base, "https://"), err)
	}
	return err
}

// CloseIdleConnections closes kept-alive connections to the node, which
// otherwise hold a slot of its connection cap until its idle timeout.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }
