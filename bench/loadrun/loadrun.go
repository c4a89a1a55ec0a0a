// Package loadrun is the benches' one load loop: conc workers until a
// deadline, their latencies and failures summed into throughput, p50 and
// p99, so every peer comparison reads its figures the same way.
package loadrun

import (
	"sort"
	"sync"
	"time"
)

// Result is what one run measured.
type Result struct {
	OK, Errs int
	Dur      time.Duration
	P50, P99 time.Duration
}

// PerSecond is the successes per second of the run.
func (r Result) PerSecond() float64 { return float64(r.OK) / r.Dur.Seconds() }

// Worker is one client of a run: numbered w, it works from start until
// deadline and returns the latencies of what succeeded and how many
// failed. A worker owns its own connections, so nothing in it is shared.
type Worker func(w int, start, deadline time.Time) (lat []time.Duration, errs int)

// Run runs conc workers for d and sums them.
func Run(conc int, d time.Duration, worker Worker) Result {
	var mu sync.Mutex
	var lat []time.Duration
	errs := 0
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for w := range conc {
		wg.Go(func() {
			mine, bad := worker(w, start, deadline)
			mu.Lock()
			lat = append(lat, mine...)
			errs += bad
			mu.Unlock()
		})
	}
	wg.Wait()
	r := Result{OK: len(lat), Dur: time.Since(start), Errs: errs}
	r.P50, r.P99 = Percentiles(lat)
	return r
}

// Percentiles sorts lat and returns its p50 and p99 (zero when empty).
func Percentiles(lat []time.Duration) (p50, p99 time.Duration) {
	if len(lat) == 0 {
		return 0, 0
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return lat[len(lat)/2], lat[len(lat)*99/100]
}

// Median is the median of f over xs (the upper one of an even count).
func Median[T any](xs []T, f func(T) float64) float64 {
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	sort.Float64s(v)
	return v[len(v)/2]
}
