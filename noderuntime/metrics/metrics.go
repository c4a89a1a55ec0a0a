// Package metrics keeps the node's counters and histograms and writes them
// in the Prometheus text exposition format; the few series the node needs do
// not justify a client library.
package metrics

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

type Registry struct {
	mu       sync.Mutex
	counters map[string]*series
	hists    map[string]*hist
	sampled  []sampler
	help     map[string]string
}

// Sample is one gauge value with its labels.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// sampler is a function read at every scrape and the type its samples
// are written as.
type sampler struct {
	typ string
	f   func() []Sample
}

type series struct {
	name   string
	labels map[string]string
	value  float64
}

type hist struct {
	name    string
	buckets []float64
	counts  []uint64
	sum     float64
	count   uint64
}

var defaultBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

func New() *Registry {
	return &Registry{counters: map[string]*series{}, hists: map[string]*hist{}, help: map[string]string{}}
}

// Help sets a metric's HELP text.
func (r *Registry) Help(name, text string) {
	r.mu.Lock()
	r.help[name] = text
	r.mu.Unlock()
}

func key(name string, labels map[string]string) string {
	return name + "{" + fmtLabels(labels) + "}"
}

func fmtLabels(labels map[string]string) string {
	keys := slices.Sorted(maps.Keys(labels))
	parts := make([]string, len(keys))
	for i, k := range keys {
		v := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(labels[k])
		parts[i] = k + `="` + v + `"`
	}
	return strings.Join(parts, ",")
}

// Add increments a counter.
func (r *Registry) Add(name string, labels map[string]string, v float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := key(name, labels)
	s := r.counters[k]
	if s == nil {
		s = &series{name: name, labels: labels}
		r.counters[k] = s
	}
	s.value += v
}

// Observe records a duration in a histogram (seconds).
func (r *Registry) Observe(name string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.hists[name]
	if h == nil {
		h = &hist{name: name, buckets: defaultBuckets, counts: make([]uint64, len(defaultBuckets))}
		r.hists[name] = h
	}
	s := d.Seconds()
	for i, b := range h.buckets {
		if s <= b {
			h.counts[i]++
		}
	}
	h.sum += s
	h.count++
}

// Gauge registers a function sampled at every scrape.
func (r *Registry) Gauge(f func() []Sample) { r.sample("gauge", f) }

// CounterFunc registers a function sampled at every scrape whose samples
// are counters kept elsewhere (the ingress counts its requests itself, on
// its hot path, without the registry's lock).
func (r *Registry) CounterFunc(f func() []Sample) { r.sample("counter", f) }

func (r *Registry) sample(typ string, f func() []Sample) {
	r.mu.Lock()
	r.sampled = append(r.sampled, sampler{typ: typ, f: f})
	r.mu.Unlock()
}

func num(v float64) string {
	if math.IsInf(v, 1) {
		return "+Inf"
	}
	return fmt.Sprintf("%g", v)
}

// Write prints every metric in the text format.
func (r *Registry) Write(w io.Writer) {
	r.mu.Lock()
	sampled := append([]sampler(nil), r.sampled...)
	r.mu.Unlock()
	type typedSample struct {
		Sample
		typ string
	}
	var samples []typedSample
	for _, sm := range sampled {
		for _, s := range sm.f() {
			samples = append(samples, typedSample{s, sm.typ})
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	typed := map[string]bool{}
	header := func(name, typ string) {
		if typed[name] {
			return
		}
		typed[name] = true
		if h := r.help[name]; h != "" {
			fmt.Fprintf(w, "# HELP %s %s\n", name, h)
		}
		fmt.Fprintf(w, "# TYPE %s %s\n", name, typ)
	}
	// Stable: a sampler's series of one name keep their order.
	sort.SliceStable(samples, func(i, j int) bool { return samples[i].Name < samples[j].Name })
	for _, s := range samples {
		header(s.Name, s.typ)
		fmt.Fprintf(w, "%s%s %s\n", s.Name, braces(s.Labels), num(s.Value))
	}
	keys := slices.Sorted(maps.Keys(r.counters))
	for _, k := range keys {
		s := r.counters[k]
		header(s.name, "counter")
		fmt.Fprintf(w, "%s%s %s\n", s.name, braces(s.labels), num(s.value))
	}
	names := slices.Sorted(maps.Keys(r.hists))
	for _, n := range names {
		h := r.hists[n]
		header(n, "histogram")
		for i, b := range h.buckets {
			fmt.Fprintf(w, "%s_bucket{le=\"%s\"} %d\n", n, num(b), h.counts[i])
		}
		fmt.Fprintf(w, "%s_bucket{le=\"+Inf\"} %d\n%s_sum %s\n%s_count %d\n", n, h.count, n, num(h.sum), n, h.count)
	}
}

func braces(labels map[string]string) string {
	if len(labels) == 0 {
		return ""
	}
	return "{" + fmtLabels(labels) + "}"
}
