package cluster

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zlayer/zlayer/integration/stack"
)

// whoRow is a row of `zlayer ps -o json` with what a Who answer names.
type whoRow struct {
	Deployment string `json:"deployment"`
	Replica    int    `json:"replica"`
	State      string `json:"state"`
	Node       string `json:"node"`
	Address    string `json:"address"`
}

// whoNode is the node of the replica that gave a Who answer.
func whoNode(rows []whoRow, answer string) string {
	f := strings.Fields(answer)
	if len(f) != 2 {
		return ""
	}
	for _, r := range rows {
		if r.Address == f[0] && strconv.Itoa(r.Replica) == f[1] {
			return r.Node
		}
	}
	return ""
}

// readyOn waits until dep has want ready replicas and returns them.
func readyOn(t *testing.T, via *Node, dep string, want int) []whoRow {
	t.Helper()
	var rows []whoRow
	waitFor(t, fmt.Sprintf("%d ready replicas of %s", want, dep), 120*time.Second, func() bool {
		all, _ := listJSON[whoRow](via, "ps")
		rows = rows[:0]
		for _, r := range all {
			if r.Deployment == dep && r.State == "ready" {
				rows = append(rows, r)
			}
		}
		return len(rows) == want
	})
	return rows
}

func perNodeWho(rows []whoRow) map[string]int {
	m := map[string]int{}
	for _, r := range rows {
		m[r.Node]++
	}
	return m
}

// sample is one request of the load through n1's ingress during the kill.
type sample struct {
	at   time.Duration // since the kill
	took time.Duration
	who  string
	err  error
}

// TestIngress is issue #15's ingress on every node: three nodes (host-gw),
// a bridge service with replicas on n2 and n3 only is reached through n1's
// ingress, both replicas answering; with prefer_local (the default) n1's
// ingress keeps the requests of a service with a replica on n1 to it,
// while n2's (prefer_local: false) spreads over all nodes; a node killed
// (kill -9 and cut off, as a machine that dies) leaves n1's routes within
// seconds of its lease, and the requests keep succeeding meanwhile (the
// ingress retries a replica it cannot reach on another).
func TestIngress(t *testing.T) {
	s := stack.Start(t, stack.Options{})
	nodes := StartIngressCluster(t, s, "ig", map[string]string{"n2": "ingress:\n  prefer_local: false\n"})
	n1 := nodes["n1"]
	c := IngressClient(5 * time.Second)
	// n3Who is the answer of web's replica on n3.
	var n3Who string

	t.Run("n1's ingress reaches the replicas on n2 and n3", func(t *testing.T) {
		n1.MustCLI("deploy", n1.WriteSpec("web.yaml", WhoSpec("web", 18080, 2, "{tier: back}")))
		rows := readyOn(t, n1, "web", 2)
		seen := map[string]bool{}
		answers := map[string]bool{}
		defer func() {
			if t.Failed() {
				t.Logf("answers %v, replicas %+v", answers, rows)
			}
		}()
		waitFor(t, "answers of both replicas through n1", 30*time.Second, func() bool {
			who, err := Who(c, IngressURL(n1, 18080))
			answers[fmt.Sprint(who, err)] = true
			if err == nil {
				seen[whoNode(rows, who)] = true
				if whoNode(rows, who) == "n3" {
					n3Who = who
				}
			}
			return seen["n2"] && seen["n3"]
		})
		if seen["n1"] || seen[""] {
			t.Fatalf("answers from %v, want n2 and n3 only", seen)
		}
	})

	t.Run("prefer_local keeps requests on the node's replica, prefer_local: false spreads", func(t *testing.T) {
		n1.MustCLI("deploy", n1.WriteSpec("near.yaml", WhoSpec("near", 18081, 3, "")))
		rows := readyOn(t, n1, "near", 3)
		per := perNodeWho(rows)
		if per["n1"] == 0 || per["n1"] == 3 {
			t.Fatalf("near placed %v: want a replica on n1 and others elsewhere", per)
		}
		// n2 spreads over every node's replicas, so it has heard of all.
		spread := map[string]bool{}
		waitFor(t, "n2's ingress answered by all three nodes' replicas", 30*time.Second, func() bool {
			who, err := Who(c, IngressURL(nodes["n2"], 18081))
			if err == nil {
				spread[whoNode(rows, who)] = true
			}
			return spread["n1"] && spread["n2"] && spread["n3"]
		})
		for i := range 30 {
			who, err := Who(c, IngressURL(n1, 18081))
			if err != nil {
				t.Fatalf("request %d through n1: %v", i, err)
			}
			if on := whoNode(rows, who); on != "n1" {
				t.Fatalf("request %d through n1 answered by %q on %s, want n1's own replica", i, who, on)
			}
		}
	})

	t.Run("kill -9 n3: n1 stops routing to it within seconds, requests keep succeeding", func(t *testing.T) {
		if n3Who == "" {
			t.Skip("web's replica on n3 was not reached")
		}
		var mu sync.Mutex
		var samples []sample
		var killed time.Time
		stop := make(chan struct{})
		var wg sync.WaitGroup
		// The load: sequential requests as fast as they come, each on a
		// new connection.
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				who, err := Who(c, IngressURL(n1, 18080))
				mu.Lock()
				if !killed.IsZero() {
					samples = append(samples, sample{at: start.Sub(killed), took: time.Since(start), who: who, err: err})
				}
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
		}()
		time.Sleep(time.Second)
		mu.Lock()
		killed = time.Now()
		mu.Unlock()
		n3 := nodes["n3"]
		n3.Kill9()
		n3.NS.LinkDown()
		defer n3.NS.LinkUp()

		// Routed to n3 until n1 drops it: a request that picks the dead
		// replica waits for its dial to time out (then goes elsewhere). A
		// quiet stretch of 3s without one, after the lease, is the route
		// gone.
		var gone time.Duration
		waitFor(t, "n1's ingress without n3's replica", lease+30*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			if len(samples) == 0 {
				return false
			}
			now := samples[len(samples)-1].at
			lastSlow := time.Duration(0)
			for _, s := range samples {
				if s.took > time.Second {
					lastSlow = s.at + s.took
				}
			}
			if now < lease || now-lastSlow < 3*time.Second {
				return false
			}
			gone = lastSlow
			return true
		})
		close(stop)
		wg.Wait()

		var early, late []sample
		n3Answers := 0
		for _, s := range samples {
			if s.err != nil {
				if s.at < 3*time.Second {
					early = append(early, s)
				} else {
					late = append(late, s)
				}
			}
			if s.who == n3Who && s.at > time.Second {
				n3Answers++
			}
		}
		t.Logf("after kill -9 of n3: %d requests, %d failed in the first 3s, %d later; last slow request ended %s after the kill (lease %s)",
			len(samples), len(early), len(late), gone.Round(time.Millisecond), lease)
		for _, s := range late {
			t.Errorf("request at +%s failed: %v", s.at.Round(time.Millisecond), s.err)
		}
		if n3Answers > 0 {
			t.Errorf("%d answers from n3's replica (%s) after it was cut off", n3Answers, n3Who)
		}
		if gone > lease+10*time.Second {
			t.Errorf("n1 routed to n3's replica until %s after the kill, over lease + 10s", gone.Round(time.Millisecond))
		}
	})
}
