package metrics

import (
	"strings"
	"testing"
	"time"
)

func TestWrite(t *testing.T) {
	r := New()
	r.Help("zlayer_restarts_total", "Replica restarts.")
	r.Add("zlayer_restarts_total", map[string]string{"service": "a\"b"}, 2)
	r.Observe("zlayer_reconcile_duration_seconds", 30*time.Millisecond)
	r.Gauge(func() []Sample {
		return []Sample{{Name: "zlayer_replicas", Labels: map[string]string{"state": "ready"}, Value: 3}}
	})
	r.CounterFunc(func() []Sample {
		return []Sample{
			{Name: "zlayer_ingress_requests_total", Labels: map[string]string{"endpoint": "api", "code": "2xx"}, Value: 7},
			{Name: "zlayer_ingress_requests_total", Labels: map[string]string{"endpoint": "api", "code": "error"}, Value: 1},
		}
	})
	var b strings.Builder
	r.Write(&b)
	out := b.String()
	for _, want := range []string{
		"# HELP zlayer_restarts_total Replica restarts.\n# TYPE zlayer_restarts_total counter\nzlayer_restarts_total{service=\"a\\\"b\"} 2\n",
		"# TYPE zlayer_replicas gauge\nzlayer_replicas{state=\"ready\"} 3\n",
		// Sampled counters are typed as counters, one header for the name.
		"# TYPE zlayer_ingress_requests_total counter\nzlayer_ingress_requests_total{code=\"2xx\",endpoint=\"api\"} 7\nzlayer_ingress_requests_total{code=\"error\",endpoint=\"api\"} 1\n",
		"zlayer_reconcile_duration_seconds_bucket{le=\"0.025\"} 0\n",
		"zlayer_reconcile_duration_seconds_bucket{le=\"0.05\"} 1\n",
		"zlayer_reconcile_duration_seconds_count 1\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
}
