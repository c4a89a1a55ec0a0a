package progress

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/zlayer/zlayer/pipeline/schedule"
	"github.com/zlayer/zlayer/pipeline/spec"
)

func pipeline(t *testing.T) *spec.Pipeline {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	body := "images:\n  base: {file: Dockerfile}\n  app: {file: Dockerfile, depends_on: [base]}\n  tool: {file: Dockerfile, depends_on: [base]}\n  top: {file: Dockerfile, depends_on: [app]}\n"
	if err := os.WriteFile(filepath.Join(dir, "ZPipeline.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	pl, err := spec.Load(filepath.Join(dir, "ZPipeline.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return pl
}

func send(m *Model, msgs ...tea.Msg) *Model {
	for _, msg := range msgs {
		nm, _ := m.Update(msg)
		m = nm.(*Model)
	}
	return m
}

func TestModelLifecycle(t *testing.T) {
	pl := pipeline(t)
	cancelled := false
	m := NewModel(pl, func() { cancelled = true })
	t0 := time.Now()
	v := m.View()
	for _, w := range []string{"wave 0", "wave 1", "wave 2", "base", "queued", "0/4 built"} {
		if !strings.Contains(v, w) {
			t.Errorf("initial view lacks %q:\n%s", w, v)
		}
	}
	m = send(m,
		EventMsg{Image: "base", State: schedule.Building, Time: t0},
		EventMsg{Image: "base", State: schedule.Building, Step: "[2/3] RUN make all", Time: t0},
		TickMsg(t0.Add(3*time.Second)),
	)
	v = m.View()
	if !strings.Contains(v, "[2/3] RUN make all") || !strings.Contains(v, "building 3s") || !strings.Contains(v, "1 building") {
		t.Errorf("building view:\n%s", v)
	}
	m = send(m,
		EventMsg{Image: "base", State: schedule.Built, Digest: "sha256:0123456789abcdef0123", Time: t0.Add(4 * time.Second)},
		EventMsg{Image: "app", State: schedule.Building, Time: t0.Add(4 * time.Second)},
		EventMsg{Image: "app", State: schedule.Failed, Err: errors.New("RUN false: exit code 1\nmore"), Time: t0.Add(5 * time.Second)},
		EventMsg{Image: "top", State: schedule.Skipped, Reason: "dependency app failed"},
	)
	v = m.View()
	for _, w := range []string{"✓", "built 4s", "sha256:0123456789ab", "✗", "failed 1s", "RUN false: exit code 1", "skipped", "dependency app failed", "1/4 built", "1 failed", "1 skipped"} {
		if !strings.Contains(v, w) {
			t.Errorf("view lacks %q:\n%s", w, v)
		}
	}
	if strings.Contains(v, "more") {
		t.Errorf("view shows more than the error's first line:\n%s", v)
	}
	m = send(m, tea.KeyMsg{Type: tea.KeyCtrlC})
	if !cancelled || !strings.Contains(m.View(), "cancelling") {
		t.Errorf("ctrl+c did not cancel: %v\n%s", cancelled, m.View())
	}
	_, cmd := m.Update(DoneMsg{})
	if cmd == nil {
		t.Fatal("DoneMsg returned no command")
	}
	if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Error("DoneMsg does not quit")
	}
}

func TestModelTruncatesToWidth(t *testing.T) {
	m := NewModel(pipeline(t), nil)
	m = send(m, tea.WindowSizeMsg{Width: 40, Height: 20},
		EventMsg{Image: "base", State: schedule.Building, Time: time.Now()},
		EventMsg{Image: "base", State: schedule.Building, Step: strings.Repeat("x", 200)})
	for _, l := range strings.Split(m.View(), "\n") {
		if w := len([]rune(stripANSI(l))); w > 40 && strings.Contains(l, "xxx") {
			t.Errorf("line wider than 40: %d %q", w, l)
		}
	}
}

func stripANSI(s string) string {
	var b strings.Builder
	esc := false
	for _, r := range s {
		switch {
		case r == 0x1b:
			esc = true
		case esc && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'):
			esc = false
		case !esc:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestPlain(t *testing.T) {
	pl := pipeline(t)
	var buf bytes.Buffer
	p := &Plain{W: &buf}
	p.Begin(pl)
	t0 := time.Now()
	p.Event(schedule.Event{Image: "base", State: schedule.Building, Time: t0})
	p.Event(schedule.Event{Image: "base", State: schedule.Building, Step: "[1/2] FROM busybox"})
	p.Event(schedule.Event{Image: "base", State: schedule.Building, Log: "hidden"})
	p.Event(schedule.Event{Image: "base", State: schedule.Built, Digest: "sha256:ab", Time: t0.Add(1500 * time.Millisecond)})
	p.Event(schedule.Event{Image: "app", State: schedule.Building, Time: t0})
	p.Event(schedule.Event{Image: "app", State: schedule.Failed, Err: errors.New("step x: exit 1\n  | out"), Time: t0.Add(time.Second)})
	p.Event(schedule.Event{Image: "top", State: schedule.Skipped, Reason: "dependency app failed"})
	sum := &schedule.Summary{Took: 2 * time.Second, Images: []*schedule.ImageResult{
		{Name: "base", State: schedule.Built, Started: t0, Duration: 1500 * time.Millisecond, Result: schedule.Result{Digest: "sha256:ab"}},
		{Name: "app", Wave: 1, State: schedule.Failed, Started: t0, Duration: time.Second},
		{Name: "tool", Wave: 1, State: schedule.Built, Started: t0, Duration: time.Second},
		{Name: "top", Wave: 2, State: schedule.Skipped, Reason: "dependency app failed"},
	}}
	p.End(sum, nil)
	out := buf.String()
	for _, w := range []string{
		"4 images in 3 waves", "wave 1: app, tool", "[base] building", "[base] [1/2] FROM busybox",
		"[base] built in 1.5s sha256:ab", "[app ] FAILED after 1s:\n    step x: exit 1\n      | out",
		"[top ] skipped: dependency app failed", "2 built, 1 failed, 1 skipped",
		"skipped (dependency app failed)",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("plain output lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "hidden") {
		t.Error("log lines printed without Logs")
	}
}
