package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/zlayer/zlayer/pipeline/schedule"
	"github.com/zlayer/zlayer/pipeline/spec"
)

// EventMsg carries a scheduler event into the model.
type EventMsg schedule.Event

// DoneMsg ends the live view.
type DoneMsg struct {
	Summary *schedule.Summary
	Err     error
}

// TickMsg advances the clock shown for running builds.
type TickMsg time.Time

type row struct {
	name    string
	wave    int
	state   schedule.State
	step    string
	lastLog string
	started time.Time
	ended   time.Time
	digest  string
	err     error
	reason  string
}

// Model is the live view of a pipeline run: each wave with its images, an
// image's current step and elapsed time while it builds, its outcome after.
type Model struct {
	title      string
	waves      [][]string
	rows       map[string]*row
	start      time.Time
	now        time.Time
	done       bool
	cancelling bool
	cancel     func()
	width      int
	frame      int
}

var (
	styleOK    = lipgloss.NewStyle().Foreground(lipgloss.Color("2"))
	styleFail  = lipgloss.NewStyle().Foreground(lipgloss.Color("1")).Bold(true)
	styleDim   = lipgloss.NewStyle().Foreground(lipgloss.Color("8"))
	styleRun   = lipgloss.NewStyle().Foreground(lipgloss.Color("3"))
	styleTitle = lipgloss.NewStyle().Bold(true)
	spinner    = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}
)

// NewModel returns the view for pl; cancel is called when the user presses
// ctrl+c or q.
func NewModel(pl *spec.Pipeline, cancel func()) *Model {
	m := &Model{title: pl.File, rows: map[string]*row{}, start: time.Now(), now: time.Now(), cancel: cancel, width: 100}
	for w, wave := range pl.Waves() {
		var names []string
		for _, im := range wave {
			names = append(names, im.Name)
			m.rows[im.Name] = &row{name: im.Name, wave: w, state: schedule.Queued}
		}
		m.waves = append(m.waves, names)
	}
	return m
}

func tick() tea.Cmd {
	return tea.Tick(120*time.Millisecond, func(t time.Time) tea.Msg { return TickMsg(t) })
}

func (m *Model) Init() tea.Cmd { return tick() }

func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case EventMsg:
		m.apply(schedule.Event(msg))
	case TickMsg:
		m.now = time.Time(msg)
		m.frame++
		if !m.done {
			return m, tick()
		}
	case DoneMsg:
		m.done = true
		m.now = time.Now()
		return m, tea.Quit
	case tea.WindowSizeMsg:
		m.width = msg.Width
	case tea.KeyMsg:
		switch msg.String() {
		case "ctrl+c", "q":
			if !m.cancelling && m.cancel != nil {
				m.cancelling = true
				m.cancel()
			}
		}
	}
	return m, nil
}

func (m *Model) apply(e schedule.Event) {
	r := m.rows[e.Image]
	if r == nil {
		return
	}
	switch e.State {
	case schedule.Building:
		switch {
		case e.Step != "":
			r.step = e.Step
		case e.Log != "":
			r.lastLog = e.Log
		default:
			r.state, r.started = schedule.Building, e.Time
		}
		return
	case schedule.Built, schedule.Failed:
		r.ended = e.Time
	}
	r.state = e.State
	if e.Digest != "" {
		r.digest = e.Digest
	}
	if e.Err != nil {
		r.err = e.Err
	}
	if e.Reason != "" {
		r.reason = e.Reason
	}
}

func (m *Model) counts() (built, building, failed, skipped int) {
	for _, r := range m.rows {
		switch r.state {
		case schedule.Built, schedule.Pushing, schedule.Pushed:
			built++
		case schedule.Building:
			building++
		case schedule.Failed, schedule.PushFailed:
			failed++
		case schedule.Skipped:
			skipped++
		}
	}
	return
}

func (m *Model) View() string {
	var b strings.Builder
	built, building, failed, skipped := m.counts()
	fmt.Fprintf(&b, "%s  %d/%d built · %d building · %d failed · %d skipped · %s\n",
		styleTitle.Render(m.title), built, len(m.rows), building, failed, skipped, Duration(m.now.Sub(m.start)))
	nameW := 4
	for n := range m.rows {
		if len(n) > nameW {
			nameW = len(n)
		}
	}
	for w, names := range m.waves {
		fmt.Fprintf(&b, "%s\n", styleDim.Render(fmt.Sprintf("wave %d", w)))
		for _, n := range names {
			b.WriteString(m.line(m.rows[n], nameW))
			b.WriteByte('\n')
		}
	}
	if m.cancelling && !m.done {
		b.WriteString(styleFail.Render("cancelling: waiting for running builds to stop…") + "\n")
	} else if !m.done {
		b.WriteString(styleDim.Render("ctrl+c to cancel") + "\n")
	}
	return b.String()
}

func (m *Model) line(r *row, nameW int) string {
	name := fmt.Sprintf("%-*s", nameW, r.name)
	var icon, status, detail string
	switch r.state {
	case schedule.Queued:
		icon, status = styleDim.Render("·"), styleDim.Render("queued")
	case schedule.Building:
		icon = styleRun.Render(spinner[m.frame%len(spinner)])
		status = styleRun.Render("building " + Duration(m.now.Sub(r.started)))
		detail = r.step
		if detail == "" {
			detail = "starting"
		}
	case schedule.Built:
		icon, status, detail = styleOK.Render("✓"), styleOK.Render("built "+Duration(r.ended.Sub(r.started))), short(r.digest)
	case schedule.Pushing:
		icon, status, detail = styleRun.Render(spinner[m.frame%len(spinner)]), styleRun.Render("pushing"), short(r.digest)
	case schedule.Pushed:
		icon, status, detail = styleOK.Render("✓"), styleOK.Render("pushed"), short(r.digest)
	case schedule.Failed, schedule.PushFailed:
		icon, status = styleFail.Render("✗"), styleFail.Render(r.state.String())
		if r.state == schedule.Failed {
			status = styleFail.Render("failed " + Duration(r.ended.Sub(r.started)))
		}
		detail = firstLine(errText(r.err))
	case schedule.Skipped:
		icon, status, detail = styleDim.Render("–"), styleDim.Render("skipped"), r.reason
	}
	line := fmt.Sprintf("  %s %s  %s  %s", icon, name, status, detail)
	return truncate(line, m.width)
}

func short(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// truncate keeps lines within the terminal so the view does not wrap and
// scroll; styles are escape sequences, so measure printed width.
func truncate(s string, width int) string {
	if width <= 0 || lipgloss.Width(s) <= width {
		return s
	}
	runes := []rune(s)
	for len(runes) > 0 && lipgloss.Width(string(runes)) > width-1 {
		runes = runes[:len(runes)-1]
	}
	return string(runes) + "…"
}

// TUI is the live Display. Begin starts the view; End waits for it to close
// and prints the failures in full and the summary below it.
type TUI struct {
	Out    io.Writer
	In     io.Reader
	Cancel func()

	prog *tea.Program
	wg   sync.WaitGroup
}

func (t *TUI) Begin(pl *spec.Pipeline) {
	opts := []tea.ProgramOption{tea.WithOutput(t.Out)}
	if t.In != nil {
		opts = append(opts, tea.WithInput(t.In))
	}
	// The program handles ctrl+c as a key so the run is cancelled cleanly.
	t.prog = tea.NewProgram(NewModel(pl, t.Cancel), opts...)
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		_, _ = t.prog.Run()
	}()
}

func (t *TUI) Event(e schedule.Event) { t.prog.Send(EventMsg(e)) }

func (t *TUI) End(sum *schedule.Summary, err error) {
	t.prog.Send(DoneMsg{Summary: sum, Err: err})
	t.wg.Wait()
	if sum == nil {
		return
	}
	for _, r := range sum.Images {
		if (r.State == schedule.Failed || r.State == schedule.PushFailed) && r.Err != nil {
			fmt.Fprintf(t.Out, "\n%s %s:\n%s\n", styleFail.Render(r.Name), r.State, indent(errText(r.Err), "    "))
		}
	}
	WriteSummary(t.Out, sum)
}
