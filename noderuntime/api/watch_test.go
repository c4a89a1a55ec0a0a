package api

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/changes"
)

// askedFeed is a real feed that says when a waiter starts waiting on it, so
// a test publishes only once the long poll is known to be blocked.
type askedFeed struct {
	changes.Feed
	asked chan struct{}
}

func (f *askedFeed) After(v uint64) <-chan struct{} {
	ch := f.Feed.After(v)
	select {
	case f.asked <- struct{}{}:
	default:
	}
	return ch
}

type answer struct {
	code    int
	version uint64
	err     error
}

func get(t *testing.T, url string) answer {
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer sekrit")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{err: err}
	}
	resp.Body.Close()
	a := answer{code: resp.StatusCode}
	if h := resp.Header.Get(apitypes.VersionHeader); h != "" {
		a.version, a.err = strconv.ParseUint(h, 10, 64)
	}
	return a
}

// watchedServer serves an API following an askedFeed, with the app
// deployment stored.
func watchedServer(t *testing.T) (*askedFeed, string) {
	s, srv := newServer(t)
	feed := &askedFeed{asked: make(chan struct{}, 1)}
	s.Changes = feed
	if code, _ := do(t, "POST", srv.URL+"/v1/deployments", "sekrit", "application/yaml", appSpec); code != 201 {
		t.Fatalf("apply: %d", code)
	}
	return feed, srv.URL
}

func TestLongPollAnswersAfterChange(t *testing.T) {
	feed, url := watchedServer(t)
	feed.Publish()
	now := get(t, url+"/v1/deployments/app")
	if now.err != nil || now.code != 200 || now.version != 1 {
		t.Fatalf("plain GET: %+v, want 200 at version 1", now)
	}
	done := make(chan answer, 1)
	go func() { done <- get(t, url+"/v1/deployments/app?since=1&wait=5m") }()
	<-feed.asked
	// The poll waits on version 1: nothing can have answered it yet.
	select {
	case a := <-done:
		t.Fatalf("answered before any change: %+v", a)
	default:
	}
	feed.Publish()
	a := <-done
	if a.err != nil || a.code != 200 || a.version != 2 {
		t.Fatalf("after the change: %+v, want 200 at version 2", a)
	}
}

func TestLongPollTimesOutWithSameVersion(t *testing.T) {
	feed, url := watchedServer(t)
	a := get(t, url+"/v1/deployments/app?wait=20ms")
	if a.err != nil || a.code != 200 || a.version != 0 {
		t.Fatalf("timed-out poll: %+v, want 200 at version 0", a)
	}
	select {
	case <-feed.asked:
	default:
		t.Fatal("the poll answered without waiting")
	}
	// A version the node never reached (it restarted since) is answered at
	// once with the current one.
	if a := get(t, url+"/v1/deployments/app?since=99&wait=5m"); a.err != nil || a.code != 200 || a.version != 0 {
		t.Fatalf("stale since: %+v", a)
	}
}

func TestLongPollRefusesBadInputAtOnce(t *testing.T) {
	feed, url := watchedServer(t)
	if a := get(t, url+"/v1/deployments/nope?wait=5m"); a.code != 404 {
		t.Errorf("unknown deployment: %+v, want 404", a)
	}
	for _, q := range []string{"since=x&wait=1s", "since=-1", "wait=soon", "wait=-1s"} {
		if code, m := do(t, "GET", url+"/v1/deployments/app?"+q, "sekrit", "", ""); code != 400 || m["code"] != "bad_request" {
			t.Errorf("%s: %d %v", q, code, m)
		}
	}
	select {
	case <-feed.asked:
		t.Fatal("refused requests waited")
	default:
	}
}
