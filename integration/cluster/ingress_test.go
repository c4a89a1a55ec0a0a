package cluster

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
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

// writeTestCert writes a self-signed certificate for name and its key into
// dir, and returns the files and the certificate's DER.
func writeTestCert(t *testing.T, dir, name string) (certFile, keyFile string, der []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	if der, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key); err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, der
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
	certFile, keyFile, certDER := writeTestCert(t, s.Dir, "shop.example.com")
	nodes := StartIngressCluster(t, s, "ig", map[string]string{
		"n1": fmt.Sprintf("ingress:\n  certs:\n    - {hosts: [shop.example.com], cert: %s, key: %s}\n", certFile, keyFile),
		"n2": "ingress:\n  prefer_local: false\n",
	})
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

	t.Run("the server's certificate is served by every node's ingress", func(t *testing.T) {
		n1.MustCLI("deploy", n1.WriteSpec("shop.yaml", WhoSpecEndpoint("shop",
			"{name: https, protocol: https, port: 18443, target_port: 8080, host: shop.example.com, expose: public}", 1, "{node: n2}")))
		readyOn(t, n1, "shop", 1)
		for _, name := range IngressNodes {
			var peer []byte
			tc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
				TLSClientConfig: &tls.Config{ServerName: "shop.example.com", InsecureSkipVerify: true,
					VerifyConnection: func(cs tls.ConnectionState) error { peer = cs.PeerCertificates[0].Raw; return nil }}}}
			url := fmt.Sprintf("https://%s/", net.JoinHostPort(nodes[name].NS.IP.String(), "18443"))
			var lastErr error
			defer func() {
				if t.Failed() {
					t.Logf("%s: last error %v", name, lastErr)
				}
			}()
			waitFor(t, name+"'s ingress serving shop.example.com with n1's certificate", 30*time.Second, func() bool {
				peer = nil
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				req.Host = "shop.example.com"
				resp, err := tc.Do(req)
				if lastErr = err; err != nil {
					return false
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					lastErr = fmt.Errorf("status %s", resp.Status)
					return false
				}
				return bytes.Equal(peer, certDER)
			})
		}
	})

	t.Run("kill -9 n3: n1 stops routing to it within seconds, requests keep succeeding", func(t *testing.T) {
		if n3Who == "" {
			t.Skip("web's replica on n3 was not reached")
		}
		ingressFailover(t, n1, 18080, nodes["n3"], n3Who)
	})
}

// ingressFailover kills victim (kill -9 and cut off, as a machine that
// dies) under a load of requests through via's ingress on port, whose
// replica on victim answers victimWho: via stops routing to it within
// seconds of its lease, and the requests keep succeeding meanwhile (the
// ingress retries a replica it cannot reach on another). It returns when
// the victim was killed.
func ingressFailover(t *testing.T, via *Node, port int, victim *Node, victimWho string) time.Time {
	t.Helper()
	c := IngressClient(5 * time.Second)
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
			who, err := Who(c, IngressURL(via, port))
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
	victim.Kill9()
	victim.NS.LinkDown()
	defer victim.NS.LinkUp()

	// Routed to the victim until via drops it: a request that picks the dead
	// replica waits for its dial to time out (then goes elsewhere). A
	// quiet stretch of 3s without one, after the lease, is the route
	// gone.
	var gone time.Duration
	waitFor(t, via.Name+"'s ingress without "+victim.Name+"'s replica", lease+30*time.Second, func() bool {
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
	victimAnswers := 0
	for _, s := range samples {
		if s.err != nil {
			if s.at < 3*time.Second {
				early = append(early, s)
			} else {
				late = append(late, s)
			}
		}
		if s.who == victimWho && s.at > time.Second {
			victimAnswers++
		}
	}
	t.Logf("after kill -9 of %s: %d requests through %s, %d failed in the first 3s, %d later; last slow request ended %s after the kill (lease %s)",
		victim.Name, len(samples), via.Name, len(early), len(late), gone.Round(time.Millisecond), lease)
	for _, s := range late {
		t.Errorf("request at +%s failed: %v", s.at.Round(time.Millisecond), s.err)
	}
	if victimAnswers > 0 {
		t.Errorf("%d answers from %s's replica (%s) after it was cut off", victimAnswers, victim.Name, victimWho)
	}
	if gone > lease+10*time.Second {
		t.Errorf("%s routed to %s's replica until %s after the kill, over lease + 10s", via.Name, victim.Name, gone.Round(time.Millisecond))
	}
	return killed
}
