// Package progress shows a pipeline run: plain lines for logs and CI, or a
// live terminal view of waves and images.
package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/zlayer/zlayer/pipeline/schedule"
	"github.com/zlayer/zlayer/pipeline/spec"
)

// Plain prints one line per change, prefixed with the image name, so
// interleaved builds stay readable in a CI log.
type Plain struct {
	W io.Writer
	// Logs also prints build output lines (RUN stdout and stderr).
	Logs bool

	mu      sync.Mutex
	started map[string]time.Time
	width   int
}

// WriteWaves prints the plan: which images build in which wave.
func WriteWaves(w io.Writer, pl *spec.Pipeline) {
	waves := pl.Waves()
	fmt.Fprintf(w, "pipeline %s: %d images in %d waves\n", pl.File, len(pl.Images), len(waves))
	for i, wave := range waves {
		var names []string
		for _, im := range wave {
			names = append(names, im.Name)
		}
		fmt.Fprintf(w, "  wave %d: %s\n", i, strings.Join(names, ", "))
	}
}

func (p *Plain) Begin(pl *spec.Pipeline) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.started = map[string]time.Time{}
	for _, im := range pl.Images {
		if len(im.Name) > p.width {
			p.width = len(im.Name)
		}
	}
	WriteWaves(p.W, pl)
}

func (p *Plain) Event(e schedule.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	tag := fmt.Sprintf("[%-*s]", p.width, e.Image)
	switch e.State {
	case schedule.Building:
		switch {
		case e.Step != "":
			fmt.Fprintf(p.W, "%s %s\n", tag, e.Step)
		case e.Log != "":
			if p.Logs {
				fmt.Fprintf(p.W, "%s   %s\n", tag, e.Log)
			}
		default:
			p.started[e.Image] = e.Time
			fmt.Fprintf(p.W, "%s building\n", tag)
		}
	case schedule.Built:
		fmt.Fprintf(p.W, "%s built in %s %s\n", tag, Duration(e.Time.Sub(p.started[e.Image])), e.Digest)
	case schedule.Failed:
		fmt.Fprintf(p.W, "%s FAILED after %s:\n%s\n", tag, Duration(e.Time.Sub(p.started[e.Image])), indent(errText(e.Err), "    "))
	case schedule.Skipped:
		fmt.Fprintf(p.W, "%s skipped: %s\n", tag, e.Reason)
	case schedule.Pushing:
		fmt.Fprintf(p.W, "%s pushing\n", tag)
	case schedule.Pushed:
		fmt.Fprintf(p.W, "%s pushed %s\n", tag, e.Digest)
	case schedule.PushFailed:
		fmt.Fprintf(p.W, "%s PUSH FAILED: %s\n", tag, errText(e.Err))
	}
}

func (p *Plain) End(sum *schedule.Summary, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if sum != nil {
		WriteSummary(p.W, sum)
	}
}

// WriteSummary prints every image with its outcome, time and digest.
func WriteSummary(w io.Writer, sum *schedule.Summary) {
	pushFailed := ""
	if n := sum.Count(schedule.PushFailed); n > 0 {
		pushFailed = fmt.Sprintf(", %d push failed", n)
	}
	fmt.Fprintf(w, "\nsummary (%s): %d built, %d failed, %d skipped%s\n", Duration(sum.Took),
		sum.Count(schedule.Built)+sum.Count(schedule.Pushed)+sum.Count(schedule.PushFailed), sum.Count(schedule.Failed), sum.Count(schedule.Skipped), pushFailed)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  IMAGE\tWAVE\tSTATUS\tTIME\tDIGEST")
	for _, r := range sum.Images {
		t, dg := "-", "-"
		if r.State != schedule.Skipped && !r.Started.IsZero() {
			t = Duration(r.Duration)
		}
		if r.Result.Digest != "" {
			dg = r.Result.Digest
		}
		status := r.State.String()
		if r.State == schedule.Skipped && r.Reason != "" {
			status += " (" + r.Reason + ")"
		}
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\n", r.Name, r.Wave, status, t, dg)
	}
	tw.Flush()
}

// Duration prints a duration rounded for people.
func Duration(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	}
	return d.Round(time.Minute).String()
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return strings.TrimSpace(err.Error())
}

func indent(s, pre string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = pre + l
	}
	return strings.Join(lines, "\n")
}
