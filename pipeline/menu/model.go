package menu

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/zlayer/zlayer/pipeline/spec"
)

// Choice is what the user asked to run.
type Choice struct {
	Item    Item
	Context string   // build context (images), relative to the folder
	Tags    []string // images
	Args    []string // images: K=V build args
	Vars    []string // pipelines: K=V
	Only    []string // pipelines
	Push    bool
}

type field struct {
	label  string
	input  textinput.Model
	toggle bool // a yes/no field, flipped with space
	on     bool
}

// Model is the menu: pick an item, fill its form, run.
type Model struct {
	dir    string
	items  []Item
	cursor int
	form   []*field
	focus  int
	inForm bool
	note   string
	choice *Choice
	quit   bool
}

var (
	styleTitle = lipgloss.NewStyle().Bold(true)
	styleSel   = lipgloss.NewStyle().Foreground(lipgloss.Color("6")).Bold(true)
	styleDim   = lipgloss.NewStyle().Foreground(lipgloss.Color("8"))
	styleErr   = lipgloss.NewStyle().Foreground(lipgloss.Color("1"))
)

// New returns the menu for the items found in dir.
func New(dir string, items []Item) *Model { return &Model{dir: dir, items: items} }

// Choice returns the user's choice, nil when they quit.
func (m *Model) Choice() *Choice { return m.choice }

func (m *Model) Init() tea.Cmd { return nil }

func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	key, ok := msg.(tea.KeyMsg)
	if !ok {
		if m.inForm && !m.form[m.focus].toggle {
			var cmd tea.Cmd
			m.form[m.focus].input, cmd = m.form[m.focus].input.Update(msg)
			return m, cmd
		}
		return m, nil
	}
	if key.String() == "ctrl+c" {
		m.quit = true
		return m, tea.Quit
	}
	if !m.inForm {
		switch key.String() {
		case "q", "esc":
			m.quit = true
			return m, tea.Quit
		case "up", "k":
			if m.cursor > 0 {
				m.cursor--
			}
		case "down", "j":
			if m.cursor < len(m.items)-1 {
				m.cursor++
			}
		case "enter":
			if len(m.items) > 0 {
				m.openForm(m.items[m.cursor])
				return m, textinput.Blink
			}
		}
		return m, nil
	}
	switch key.String() {
	case "esc":
		m.inForm, m.note = false, ""
		return m, nil
	case "tab", "down":
		m.setFocus(m.focus + 1)
		return m, nil
	case "shift+tab", "up":
		m.setFocus(m.focus - 1)
		return m, nil
	case "ctrl+r":
		return m.submit()
	case "enter":
		if m.focus == len(m.form)-1 {
			return m.submit()
		}
		m.setFocus(m.focus + 1)
		return m, nil
	case " ":
		if f := m.form[m.focus]; f.toggle {
			f.on = !f.on
			return m, nil
		}
	}
	f := m.form[m.focus]
	if f.toggle {
		return m, nil
	}
	var cmd tea.Cmd
	f.input, cmd = f.input.Update(msg)
	return m, cmd
}

func (m *Model) setFocus(i int) {
	if i < 0 {
		i = len(m.form) - 1
	}
	i %= len(m.form)
	for j, f := range m.form {
		if j == i && !f.toggle {
			f.input.Focus()
		} else {
			f.input.Blur()
		}
	}
	m.focus = i
}

func newInput(value, placeholder string) textinput.Model {
	in := textinput.New()
	in.SetValue(value)
	in.Placeholder = placeholder
	in.Prompt = ""
	in.CharLimit = 512
	in.Width = 60
	return in
}

func (m *Model) openForm(it Item) {
	m.inForm, m.note, m.focus = true, "", 0
	if it.Kind == Pipeline {
		vars := ""
		if pl, err := spec.Load(filepath.Join(m.dir, it.Path), nil); err == nil {
			var kv []string
			for k, v := range pl.Vars {
				kv = append(kv, k+"="+v)
			}
			sort.Strings(kv)
			vars = strings.Join(kv, " ")
		} else {
			m.note = err.Error()
		}
		m.form = []*field{
			{label: "vars", input: newInput(vars, "KEY=VALUE …")},
			{label: "only", input: newInput("", "all images (or names, space separated)")},
			{label: "push", toggle: true},
		}
	} else {
		ctx := filepath.Dir(it.Path)
		m.form = []*field{
			{label: "tags", input: newInput("", "name:tag … (space separated)")},
			{label: "build args", input: newInput("", "KEY=VALUE …")},
			{label: "context", input: newInput(ctx, ".")},
			{label: "push", toggle: true},
		}
	}
	m.setFocus(0)
}

func (m *Model) value(label string) string {
	for _, f := range m.form {
		if f.label == label {
			return strings.TrimSpace(f.input.Value())
		}
	}
	return ""
}

func (m *Model) on(label string) bool {
	for _, f := range m.form {
		if f.label == label {
			return f.on
		}
	}
	return false
}

func (m *Model) submit() (tea.Model, tea.Cmd) {
	it := m.items[m.cursor]
	c := &Choice{Item: it, Push: m.on("push")}
	if it.Kind == Pipeline {
		c.Vars = strings.Fields(m.value("vars"))
		c.Only = strings.Fields(m.value("only"))
		if _, err := spec.ParseSets(c.Vars); err != nil {
			m.note = err.Error()
			return m, nil
		}
	} else {
		c.Tags = strings.Fields(m.value("tags"))
		c.Args = strings.Fields(m.value("build args"))
		c.Context = m.value("context")
		if c.Context == "" {
			c.Context = "."
		}
		if c.Push && len(c.Tags) == 0 {
			m.note = "push needs at least one tag"
			return m, nil
		}
		for _, a := range c.Args {
			if !strings.Contains(a, "=") {
				m.note = fmt.Sprintf("build arg %q: want KEY=VALUE", a)
				return m, nil
			}
		}
	}
	m.choice = c
	return m, tea.Quit
}

func (m *Model) View() string {
	if m.choice != nil || m.quit {
		return ""
	}
	var b strings.Builder
	b.WriteString(styleTitle.Render("zlayer") + styleDim.Render(" — build images from "+m.dir) + "\n\n")
	if len(m.items) == 0 {
		b.WriteString("No ZPipeline.yaml, ZImagefile or Dockerfile found here.\n")
		b.WriteString(styleDim.Render("q to quit · zlayer --help for all commands") + "\n")
		return b.String()
	}
	if !m.inForm {
		for i, it := range m.items {
			line := fmt.Sprintf("%-10s  %s", it.Kind, it.Path)
			if i == m.cursor {
				b.WriteString(styleSel.Render("› "+line) + "\n")
			} else {
				b.WriteString("  " + line + "\n")
			}
		}
		b.WriteString("\n" + styleDim.Render("↑/↓ choose · enter select · q quit") + "\n")
		return b.String()
	}
	it := m.items[m.cursor]
	fmt.Fprintf(&b, "%s %s\n\n", styleSel.Render(it.Kind.String()), it.Path)
	for i, f := range m.form {
		marker := "  "
		if i == m.focus {
			marker = styleSel.Render("› ")
		}
		val := f.input.View()
		if f.toggle {
			val = "[ ] no"
			if f.on {
				val = "[x] yes"
			}
		}
		fmt.Fprintf(&b, "%s%-11s %s\n", marker, f.label, val)
	}
	if m.note != "" {
		b.WriteString("\n" + styleErr.Render(m.note) + "\n")
	}
	b.WriteString("\n" + styleDim.Render("tab next field · space toggle · enter on the last field or ctrl+r run · esc back") + "\n")
	return b.String()
}
