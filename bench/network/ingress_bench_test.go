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
	"sort"
	"sync"
	"testing"
	"time"

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

// load runs conc keep-alive clients against url for d.
func load(url string, conc int, d time.Duration) result {
	tr := &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc, DisableCompression: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	var mu sync.Mutex
	var lat []time.Duration
	errs := 0
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, 1<<14)
			bad := 0
			for time.Now().Before(deadline) {
				t0 := time.Now()
				resp, err := c.Get(url)
				if err != nil {
					bad++
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					bad++
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			errs += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	r := result{reqs: len(lat), dur: el, errs: errs}
	if len(lat) > 0 {
		r.p50 = lat[len(lat)/2]
		r.p99 = lat[len(lat)*99/100]
	}
	return r
}

func median(rs []result, f func(result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	sort.Float64s(v)
	return v[len(v)/2]
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

func measure(t testing.TB, rounds int, dur time.Duration, conc int) report {
	body := []byte("ok\n")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) })}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	g, err := ingress.New(ingress.Options{ListenHost: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close(context.Background())
	pl, _ := net.Listen("tcp", "127.0.0.1:0")
	port := pl.Addr().(*net.TCPAddr).Port
	pl.Close()
	if err := g.Update([]ingress.Route{{Deployment: "bench", Service: "web", Endpoint: "http", Protocol: ingress.HTTP, Port: port,
		Backends: []ingress.Backend{{ID: "web-1", Addr: ln.Addr().String()}}}}); err != nil {
		t.Fatal(err)
	}
	raddr, stop := relay(t, ln.Addr().String())
	defer stop()
	urls := []string{"http://" + ln.Addr().String() + "/", fmt.Sprintf("http://127.0.0.1:%d/", port), "http://" + raddr + "/"}
	// Warm every path (connections, pools).
	for _, u := range urls {
		load(u, conc, 200*time.Millisecond)
	}
	res := make([][]result, len(urls))
	errs := 0
	for i := range rounds {
		// Rotate which goes first so drift hits all alike.
		for k := range urls {
			j := (i + k) % len(urls)
			r := load(urls[j], conc, dur)
			res[j] = append(res[j], r)
			errs += r.errs
		}
	}
	rps := func(r result) float64 { return r.rps() }
	p99 := func(r result) float64 { return float64(r.p99) }
	return report{
		directRPS: median(res[0], rps), ingressRPS: median(res[1], rps), relayRPS: median(res[2], rps),
		directP99: time.Duration(median(res[0], p99)), ingressP99: time.Duration(median(res[1], p99)), relayP99: time.Duration(median(res[2], p99)),
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
	// 16 clients saturate a small machine (throughput); one client shows
	// the latency the extra hop adds when nothing queues.
	for _, conc := range []int{16, 1} {
		t.Logf("-- %d keep-alive clients --", conc)
		r := measure(t, 5, 2*time.Second, conc)
		r.print(t.Logf)
		if r.errs > 0 {
			t.Fatalf("%d requests failed", r.errs)
		}
	}
}

func BenchmarkIngress(b *testing.B) {
	for range b.N {
		r := measure(b, 3, time.Second, 16)
		r.print(b.Logf)
		b.ReportMetric(r.ingressRPS/r.directRPS, "throughput-ratio")
		b.ReportMetric(r.ingressRPS/r.relayRPS, "ingress/relay")
		b.ReportMetric(float64(r.ingressP99-r.directP99)/float64(time.Millisecond), "added-p99-ms")
	}
}
