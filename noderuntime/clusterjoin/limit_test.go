package clusterjoin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/jointoken"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestRefusalsWindow(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)}
	r := newRefusals(clock.now)
	for i := range maxRefusals {
		if d := r.delay("10.0.0.9"); d != 0 {
			t.Fatalf("after %d refusals: wait %s", i, d)
		}
		r.add("10.0.0.9")
		clock.add(time.Second)
	}
	// Five refusals in five seconds: wait until the first is a minute old.
	if d := r.delay("10.0.0.9"); d != refusalWindow-maxRefusals*time.Second {
		t.Errorf("wait %s, want %s", d, refusalWindow-maxRefusals*time.Second)
	}
	if d := r.delay("10.0.0.10"); d != 0 {
		t.Errorf("another IP waits %s", d)
	}
	clock.add(refusalWindow)
	if d := r.delay("10.0.0.9"); d != 0 {
		t.Errorf("a minute later: wait %s", d)
	}
	if n := r.tracked(); n != 0 {
		t.Errorf("an IP whose refusals left the window is still tracked (%d)", n)
	}
}

func TestRefusalsBounded(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)}
	r := newRefusals(clock.now)
	r.limit = 8
	for range maxRefusals {
		r.add("10.9.9.9")
	}
	for i := range 100 {
		r.add(fmt.Sprintf("10.0.%d.%d", i/256, i%256))
		if n := r.tracked(); n > r.limit {
			t.Fatalf("%d IPs tracked, limit %d", n, r.limit)
		}
	}
	// The least recently refused is forgotten first.
	if d := r.delay("10.9.9.9"); d != 0 {
		t.Errorf("the oldest IP is still throttled: %s", d)
	}
	if r.tracked() != r.limit {
		t.Errorf("%d tracked, want %d", r.tracked(), r.limit)
	}
}

func postRaw(t *testing.T, ctx context.Context, ts *testServer, body []byte) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.srv.URL+JoinPath, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return ts.srv.Client().Do(req)
}

func errorBody(t *testing.T, resp *http.Response) apitypes.Error {
	t.Helper()
	defer resp.Body.Close()
	var e apitypes.Error
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatal(err)
	}
	return e
}

// TestThrottleAfterRefusals: after five refused tokens from one IP, its
// next attempt, even with a good token, waits.
func TestThrottleAfterRefusals(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)}
	ts := newTestServer(t, func(a *Authority) { a.Now = clock.now })
	good := ts.token(t, jointoken.RoleAgent, 0).Encode()
	bad, err := jointoken.New(ts.ca.Cert, jointoken.RoleAgent)
	if err != nil {
		t.Fatal(err)
	}
	for range maxRefusals {
		if _, err := join(t, ts, bad.Encode(), agentRequest()); !errors.Is(err, jointoken.ErrUnknown) {
			t.Fatalf("bad token: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = Join(ctx, ts.srv.URL, good, agentRequest())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the sixth attempt was answered (%v); it should wait", err)
	}
	if len(ts.admits()) != 0 {
		t.Error("a throttled attempt was admitted")
	}
	if !strings.Contains(ts.logs.String(), "throttled") {
		t.Errorf("the throttling is not logged:\n%s", ts.logs.String())
	}
	// Once the refusals are a minute old, it is let through.
	clock.add(refusalWindow)
	if _, err := join(t, ts, good, agentRequest()); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func TestBodyLimit(t *testing.T) {
	ts := newTestServer(t, nil)
	body, _ := json.Marshal(apitypes.JoinRequest{Token: "x", CSR: strings.Repeat("a", MaxRequestBytes)})
	resp, err := postRaw(t, context.Background(), ts, body)
	if err != nil {
		t.Fatal(err)
	}
	if e := errorBody(t, resp); resp.StatusCode != http.StatusRequestEntityTooLarge || e.Code != "too_large" {
		t.Errorf("%s %+v, want 413 too_large", resp.Status, e)
	}
	for name, body := range map[string]string{"not JSON": "{", "unknown field": `{"tokn":"x"}`, "two values": `{}{}`} {
		resp, err := postRaw(t, context.Background(), ts, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if e := errorBody(t, resp); resp.StatusCode != http.StatusBadRequest || e.Code != "bad_request" {
			t.Errorf("%s: %s %+v", name, resp.Status, e)
		}
	}
	if len(ts.admits()) != 0 {
		t.Error("a bad body was admitted")
	}
}

// TestInFlightLimit: beyond MaxInFlight joins at once the server answers
// busy, and Join asks again until it is let in.
func TestInFlightLimit(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 2)
	ts := newTestServer(t, func(a *Authority) {
		a.MaxInFlight = 1
		a.Admit = func(ctx context.Context, req Request, role jointoken.Role) (Admission, error) {
			entered <- struct{}{}
			if req.Name == "first" {
				<-release
			}
			return grant, nil
		}
	})
	tok := ts.token(t, jointoken.RoleAgent, 0).Encode()
	errs := make(chan error, 2)
	go func() {
		r := agentRequest()
		r.Name = "first"
		_, err := join(t, ts, tok, r)
		errs <- err
	}()
	<-entered

	// A raw attempt meanwhile is answered busy at once.
	body, _ := json.Marshal(apitypes.JoinRequest{Token: tok})
	resp, err := postRaw(t, context.Background(), ts, body)
	if err != nil {
		t.Fatal(err)
	}
	if e := errorBody(t, resp); resp.StatusCode != http.StatusServiceUnavailable || e.Code != apitypes.JoinBusy || resp.Header.Get("Retry-After") == "" {
		t.Errorf("while full: %s %+v", resp.Status, e)
	}

	// Join retries while busy.
	go func() {
		r := agentRequest()
		r.Name = "second"
		_, err := join(t, ts, tok, r)
		errs <- err
	}()
	for ts.joinPosts.Load() < 3 {
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	for range 2 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if ts.joinPosts.Load() < 4 {
		t.Errorf("only %d join requests: the second Join did not retry", ts.joinPosts.Load())
	}
}

// TestThrottleCountsTokensOnly: a holder of a good token whose requests
// are refused for other reasons is not throttled.
func TestThrottleCountsTokensOnly(t *testing.T) {
	ts := newTestServer(t, nil)
	tok := ts.token(t, jointoken.RoleAgent, 0).Encode()
	bad := agentRequest()
	bad.Name = "Bad_Name"
	for range maxRefusals + 1 {
		if _, err := join(t, ts, tok, bad); err == nil {
			t.Fatal("a bad name was admitted")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := Join(ctx, ts.srv.URL, tok, agentRequest()); err != nil {
		t.Fatalf("throttled after refusals that were not of the token: %v", err)
	}
}
