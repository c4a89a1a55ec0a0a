// Package health runs a replica's health check (tcp connect, http GET, or a
// command run inside the replica) on its schedule and reports transitions.
package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/zlayer/zlayer/noderuntime/spec"
)

// ExecFunc runs cmd inside the replica and returns its exit code.
type ExecFunc func(ctx context.Context, cmd []string) (int, error)

// Check runs c once. Addresses are on the node's loopback because the
// replica shares the node's network (host mode); with bridge networking the
// caller passes the replica's address.
func Check(ctx context.Context, c spec.Check, addr string, exec ExecFunc) error {
	if addr == "" {
		addr = "127.0.0.1"
	}
	switch c.Type {
	case "tcp":
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(addr, strconv.Itoa(c.Port)))
		if err != nil {
			return err
		}
		return conn.Close()
	case "http":
		url := fmt.Sprintf("http://%s%s", net.JoinHostPort(addr, strconv.Itoa(c.Port)), c.Path)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if c.ExpectStatus != 0 {
			if resp.StatusCode != c.ExpectStatus {
				return fmt.Errorf("GET %s: status %d, want %d", url, resp.StatusCode, c.ExpectStatus)
			}
		} else if resp.StatusCode >= 400 {
			return fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
		}
		return nil
	case "command":
		if exec == nil {
			return errors.New("command checks need exec")
		}
		cmd := []string(c.Command)
		if len(cmd) == 1 {
			cmd = []string{"/bin/sh", "-c", cmd[0]}
		}
		code, err := exec(ctx, cmd)
		if err != nil {
			return err
		}
		if code != 0 {
			return fmt.Errorf("%v exited %d", cmd, code)
		}
		return nil
	}
	return fmt.Errorf("unknown check type %q", c.Type)
}

// Status is what a prober reports.
type Status struct {
	Healthy   bool
	LastError string
	Checked   time.Time
}

// Run probes until ctx ends, calling report on every change of health. The
// first success marks the replica healthy at once (readiness should not wait
// an interval); it becomes unhealthy after Retries consecutive failures once
// start_grace has passed.
func Run(ctx context.Context, h *spec.Health, addr string, exec ExecFunc, report func(Status)) {
	start := time.Now()
	interval := h.Interval.D()
	// Until the first success, poll faster than the interval so a ready
	// replica is noticed quickly.
	fast := min(interval, 250*time.Millisecond)
	healthy, known := false, false
	failures := 0
	for {
		cctx, cancel := context.WithTimeout(ctx, h.Timeout.D())
		err := Check(cctx, h.Check, addr, exec)
		cancel()
		if ctx.Err() != nil {
			return
		}
		now := time.Now()
		if err == nil {
			failures = 0
			if !healthy || !known {
				healthy, known = true, true
				report(Status{Healthy: true, Checked: now})
			}
		} else {
			failures++
			inGrace := now.Sub(start) < h.StartGrace.D()
			if !inGrace && failures >= h.Retries && (healthy || !known) {
				healthy, known = false, true
				report(Status{Healthy: false, LastError: err.Error(), Checked: now})
			}
		}
		wait := interval
		if !healthy {
			wait = fast
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}
