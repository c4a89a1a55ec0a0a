// Benchmark of the ingress against going to the replica directly: the same
// keep-alive load generator on loopback sends small GETs to a replica
// either straight or through the ingress, alternating so both see the same
// machine, and the run prints throughput and p99 ratios (targets:
// throughput >= 0.85x, added p99 <= 1 ms). Bounded: a fixed number of
// rounds of fixed duration, loopback only.
//
//	ZLAYER_BENCH=1 go test -count=1 -run '^TestBenchIngress$' -v ./bench/network
//	go test -run XXX -bench Ingress ./bench/network
package network

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/zlayer/zlayer/bench/loadrun"
	"github.com/zlayer/zlayer/noderuntime/ingress"
)

type result struct {
	reqs int
	dur  time.Duration
	p50  time.Duration
	p99  time.Duration
	errs int
}

func (r result) rps() float64 { return float64(r.reqs) / r.dur.Seconds() }

// loadAt runs conc keep-alive clients against url for d, each sending its
// next request as soon as the last is answered, or at a fixed total rate
// (requests/s) when rate > 0: then every request has a scheduled time and
// its latency counts from then, so a stall shows in the latencies of the
// requests it delayed (no coordinated omission, as wrk2 measures).
func loadAt(url string, conc int, rate float64, d time.Duration) result {
	return loadWith(&http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc, DisableCompression: true}, url, conc, rate, d)
}

// loadWith is loadAt on the given transport (TLS, no keep-alive).
func loadWith(tr *http.Transport, url string, conc int, rate float64, d time.Duration) result {
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	m := loadrun.Run(conc, d, func(w int, start, deadline time.Time) ([]time.Duration, int) {
		mine := make([]time.Duration, 0, 1<<14)
		bad := 0
		var interval time.Duration
		next := start
		if rate > 0 {
			interval = time.Duration(float64(conc) / rate * float64(time.Second))
			next = start.Add(time.Duration(w) * interval / time.Duration(conc))
		}
		for time.Now().Before(deadline) {
			t0 := time.Now()
			if rate > 0 {
				if next.After(deadline) {
					break
				}
				time.Sleep(time.Until(next))
				t0, next = next, next.Add(interval)
			}
			resp, err := c.Get(url)
			if err != nil {
				bad++
				continue
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				bad++
				continue
			}
			mine = append(mine, time.Since(t0))
		}
		return mine, bad
	})
	return result{reqs: m.OK, dur: m.Dur, p50: m.P50, p99: m.P99, errs: m.Errs}
}

type report struct {
	directRPS, ingressRPS, relayRPS float64
	directP99, ingressP99, relayP99 time.Duration
	errs                            int
}

// relay is the cheapest possible extra hop: bytes copied between the client
// and the replica, no HTTP at all. On a machine where the load generator,
// the hop and the replica share the CPU it bounds what any userspace proxy
// can reach, so the run prints the ingress against it too.
func relay(t testing.TB, backend string) (string, func()) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", backend)
			if err != nil {
				c.Close()
				continue
			}
			copyClose := func(dst, src net.Conn) {
				buf := make([]byte, 16<<10)
				for {
					n, err := src.Read(buf)
					if n > 0 {
						if _, werr := dst.Write(buf[:n]); werr != nil {
							break
						}
					}
					if err != nil {
						break
					}
				}
				dst.Close()
				src.Close()
			}
			go copyClose(u, c)
			go copyClose(c, u)
		}
	}()
	return l.Addr().String(), func() { l.Close(); wg.Wait() }
}

// bench is a replica reached three ways: directly, through the ingress,
// and through the byte relay.
type bench struct {
	urls  [3]string
	close func()
}

func setup(t testing.TB) *bench {
	body := []byte("ok\n")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) })}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	g, err := ingress.New(ingress.Options{ListenHost: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	pl, _ := net.Listen("tcp", "127.0.0.1:0")
	port := pl.Addr().(*net.TCPAddr).Port
	pl.Close()
	if err := g.Update([]ingress.Route{{Deployment: "bench", Service: "web", Endpoint: "http", Protocol: ingress.HTTP, Port: port,
		Backends: []ingress.Backend{{ID: "web-1", Addr: ln.Addr().String()}}}}); err != nil {
		t.Fatal(err)
	}
	raddr, stop := relay(t, ln.Addr().String())
	return &bench{
		urls: [3]string{"http://" + ln.Addr().String() + "/", fmt.Sprintf("http://127.0.0.1:%d/", port), "http://" + raddr + "/"},
		close: func() {
			stop()
			g.Close(context.Background())
			srv.Close()
		},
	}
}

// measure loads each path in turn, rounds times for dur, with conc clients
// (at a fixed total rate when rate > 0), and reports the medians.
func (b *bench) measure(rounds int, dur time.Duration, conc int, rate float64) report {
	// Warm every path (connections, pools).
	for _, u := range b.urls {
		loadAt(u, conc, rate, 200*time.Millisecond)
	}
	var res [3][]result
	errs := 0
	for i := range rounds {
		// Rotate which goes first so drift hits all alike.
		for k := range b.urls {
			j := (i + k) % len(b.urls)
			r := loadAt(b.urls[j], conc, rate, dur)
			res[j] = append(res[j], r)
			errs += r.errs
		}
	}
	rps := func(r result) float64 { return r.rps() }
	p99 := func(r result) float64 { return float64(r.p99) }
	return report{
		directRPS: loadrun.Median(res[0], rps), ingressRPS: loadrun.Median(res[1], rps), relayRPS: loadrun.Median(res[2], rps),
		directP99: time.Duration(loadrun.Median(res[0], p99)), ingressP99: time.Duration(loadrun.Median(res[1], p99)), relayP99: time.Duration(loadrun.Median(res[2], p99)),
		errs: errs,
	}
}

func (r report) print(log func(string, ...any)) {
	us := func(d time.Duration) time.Duration { return d.Round(time.Microsecond) }
	log("direct:  %8.0f req/s  p99 %v", r.directRPS, us(r.directP99))
	log("ingress: %8.0f req/s  p99 %v", r.ingressRPS, us(r.ingressP99))
	log("relay:   %8.0f req/s  p99 %v  (bytes copied, no HTTP: the floor of any extra hop)", r.relayRPS, us(r.relayP99))
	log("throughput ratio ingress/direct = %.2fx (target >= 0.85x); relay/direct = %.2fx; ingress/relay = %.2fx",
		r.ingressRPS/r.directRPS, r.relayRPS/r.directRPS, r.ingressRPS/r.relayRPS)
	log("added p99 = %v (target <= 1ms); p99 ratio %.2fx; relay adds %v",
		us(r.ingressP99-r.directP99), float64(r.ingressP99)/float64(r.directP99), us(r.relayP99-r.directP99))
}

// TestBenchIngress is the benchmark as a test, for bench scripts: it only
// runs with ZLAYER_BENCH=1 and asserts nothing about time, only that no
// request failed.
func TestBenchIngress(t *testing.T) {
	if os.Getenv("ZLAYER_BENCH") == "" {
		t.Skip("set ZLAYER_BENCH=1 to run")
	}
	b := setup(t)
	defer b.close()
	// 16 clients saturate a small machine (throughput; the p99 there is
	// mostly queueing); the same clients at a fixed rate well below what
	// every path sustains show the latency the hop adds under load; one
	// client shows it when nothing queues.
	check := func(r report) {
		if r.errs > 0 {
			t.Fatalf("%d requests failed", r.errs)
		}
	}
	t.Log("-- 16 keep-alive clients, as fast as they are answered --")
	r := b.measure(5, 2*time.Second, 16, 0)
	r.print(t.Logf)
	check(r)
	rate := 0.5 * min(r.directRPS, r.ingressRPS, r.relayRPS)
	t.Logf("-- 16 keep-alive clients at a fixed %.0f req/s (half what the slowest path sustains) --", rate)
	rr := b.measure(3, 2*time.Second, 16, rate)
	rr.printLatency(t.Logf)
	check(rr)
	t.Log("-- 1 keep-alive client --")
	r = b.measure(5, 2*time.Second, 1, 0)
	r.print(t.Logf)
	check(r)
}

func (r report) printLatency(log func(string, ...any)) {
	us := func(d time.Duration) time.Duration { return d.Round(time.Microsecond) }
	log("direct p99 %v, ingress p99 %v, relay p99 %v (achieved %.0f / %.0f / %.0f req/s)",
		us(r.directP99), us(r.ingressP99), us(r.relayP99), r.directRPS, r.ingressRPS, r.relayRPS)
	log("added p99 = %v (target <= 1ms); relay adds %v", us(r.ingressP99-r.directP99), us(r.relayP99-r.directP99))
}

func BenchmarkIngress(b *testing.B) {
	bb := setup(b)
	defer bb.close()
	for range b.N {
		r := bb.measure(3, time.Second, 16, 0)
		r.print(b.Logf)
		b.ReportMetric(r.ingressRPS/r.directRPS, "throughput-ratio")
		b.ReportMetric(r.ingressRPS/r.relayRPS, "ingress/relay")
		b.ReportMetric(float64(r.ingressP99-r.directP99)/float64(time.Millisecond), "added-p99-ms")
	}
}
