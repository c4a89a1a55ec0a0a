package reconcile

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/zlayer/zlayer/noderuntime/spec"
)

// initRetryWait is the pause between a failed init attempt and the next,
// and between polls within one attempt.
const initRetryWait = 500 * time.Millisecond

// runInit runs s's init steps for replica r before its container is
// made, as upstream ZLayer runs them before the container process: a
// step that fails with on_failure fail fails the replica (its restart
// policy runs); warn logs and goes on; continue goes on.
func (c *Controller) runInit(ctx context.Context, d *spec.Deployment, r *Replica, s *spec.Service) error {
	for _, st := range s.Init.Steps {
		c.mu.Lock()
		r.Message = "init " + st.ID + ": " + describeInit(st)
		c.changed()
		c.mu.Unlock()
		var err error
		for attempt := 0; attempt <= st.Retry; attempt++ {
			if attempt > 0 {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(initRetryWait):
				}
			}
			actx, cancel := context.WithTimeout(ctx, st.Timeout.D())
			err = c.initAttempt(actx, d, st)
			cancel()
			if err == nil || ctx.Err() != nil {
				break
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			switch st.OnFailure {
			case spec.OnTimeoutWarn:
				c.o.Log.Warn("init step failed; going on (on_failure: warn)", "id", r.ID, "step", st.ID, "err", err)
			case spec.OnTimeoutContinue:
			default:
				return fmt.Errorf("init step %s (%s): %w", st.ID, st.Uses, err)
			}
		}
	}
	c.mu.Lock()
	r.Message = ""
	c.changed()
	c.mu.Unlock()
	return nil
}

func describeInit(st spec.InitStep) string {
	if st.Uses == spec.InitWaitHTTP {
		return "waiting for " + st.With["url"]
	}
	return "waiting for " + net.JoinHostPort(st.With["host"], st.With["port"])
}

// initAttempt waits, until ctx ends, for what step st waits for.
func (c *Controller) initAttempt(ctx context.Context, d *spec.Deployment, st spec.InitStep) error {
	var try func() error
	switch st.Uses {
	case spec.InitWaitTCP:
		try = func() error {
			host, err := c.initHost(d, st.With["host"])
			if err != nil {
				return err
			}
			addr := net.JoinHostPort(host, st.With["port"])
			var dl net.Dialer
			conn, err := dl.DialContext(ctx, "tcp", addr)
			if err != nil {
				return err
			}
			return conn.Close()
		}
	case spec.InitWaitHTTP:
		orig, err := url.Parse(st.With["url"])
		if err != nil {
			return err
		}
		want, _ := strconv.Atoi(st.With["expect_status"])
		try = func() error {
			u := *orig
			h, err := c.initHost(d, u.Hostname())
			if err != nil {
				return err
			}
			if p := u.Port(); p != "" {
				u.Host = net.JoinHostPort(h, p)
			} else {
				u.Host = h
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
			if err != nil {
				return err
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if want != 0 && resp.StatusCode != want || want == 0 && (resp.StatusCode < 200 || resp.StatusCode > 399) {
				return fmt.Errorf("%s answered %d", orig, resp.StatusCode)
			}
			return nil
		}
	default:
		return fmt.Errorf("init action %q is not supported by this node", st.Uses)
	}
	for {
		err := try()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %w)", ctx.Err(), err)
		case <-time.After(initRetryWait):
		}
	}
}

// initHost is where an init step's host is reached: a service of d
// (SERVICE or SERVICE.DEPLOYMENT, as replicas name each other) is one of
// its ready replicas' addresses; any other name is looked up as it is.
func (c *Controller) initHost(d *spec.Deployment, host string) (string, error) {
	svc := strings.TrimSuffix(host, "."+d.Deployment)
	if d.Services[svc] == nil {
		return host, nil
	}
	for _, r := range c.serviceReplicas(d.Deployment, svc) {
		c.mu.Lock()
		addr, ready := r.Addr, isReady(r)
		c.mu.Unlock()
		if ready && addr != "" {
			return addr, nil
		}
	}
	// Not the node's resolver: it could know the name as something else.
	return "", fmt.Errorf("no ready replica of %s yet", svc)
}
