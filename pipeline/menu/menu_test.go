package menu

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
)

func files(t *testing.T, m map[string]string) string {
	dir := t.TempDir()
	for name, body := range m {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestScan(t *testing.T) {
	dir := files(t, map[string]string{
		"ZPipeline.yaml":            "images:\n  a: {file: svc/Dockerfile}\n",
		"svc/Dockerfile":            "FROM busybox\n",
		"web/ZImagefile.web":        "base: busybox\n",
		"odd/Dockerfile.yaml":       "version: \"1\"\nbase: busybox\n", // named like a Dockerfile, is a ZImagefile
		"node_modules/x/Dockerfile": "FROM x\n",
		".git/Dockerfile":           "FROM x\n",
		"a/b/c/d/Dockerfile":        "FROM x\n",
		"README.md":                 "hi",
	})
	got := Scan(dir, 3)
	want := []Item{
		{Pipeline, "ZPipeline.yaml"},
		{ZImagefile, "odd/Dockerfile.yaml"},
		{ZImagefile, "web/ZImagefile.web"},
		{Dockerfile, "svc/Dockerfile"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Scan\n%v\nwant\n%v", got, want)
	}
}

func keys(m *Model, ks ...string) *Model {
	for _, k := range ks {
		var msg tea.KeyMsg
		switch k {
		case "enter":
			msg = tea.KeyMsg{Type: tea.KeyEnter}
		case "down":
			msg = tea.KeyMsg{Type: tea.KeyDown}
		case "tab":
			msg = tea.KeyMsg{Type: tea.KeyTab}
		case "esc":
			msg = tea.KeyMsg{Type: tea.KeyEsc}
		case "space":
			msg = tea.KeyMsg{Type: tea.KeySpace, Runes: []rune{' '}}
		case "ctrl+r":
			msg = tea.KeyMsg{Type: tea.KeyCtrlR}
		default:
			msg = tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
		}
		nm, _ := m.Update(msg)
		m = nm.(*Model)
	}
	return m
}

func TestPickImageAndRun(t *testing.T) {
	dir := files(t, map[string]string{"ZPipeline.yaml": "vars: {V: \"1\"}\nimages:\n  a: {file: svc/Dockerfile}\n", "svc/Dockerfile": "FROM busybox\n"})
	m := New(dir, Scan(dir, 3))
	if v := m.View(); !strings.Contains(v, "pipeline    ZPipeline.yaml") || !strings.Contains(v, "Dockerfile  svc/Dockerfile") {
		t.Fatalf("list view:\n%s", v)
	}
	m = keys(m, "down", "enter", "r/app:1 r/app:latest", "tab", "X=1", "tab", "tab", "space")
	if v := m.View(); !strings.Contains(v, "[x] yes") || !strings.Contains(v, "svc") {
		t.Errorf("form view:\n%s", v)
	}
	m = keys(m, "enter")
	c := m.Choice()
	if c == nil {
		t.Fatalf("no choice; view:\n%s", m.View())
	}
	want := &Choice{Item: Item{Dockerfile, "svc/Dockerfile"}, Context: "svc", Tags: []string{"r/app:1", "r/app:latest"}, Args: []string{"X=1"}, Push: true}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("choice %+v, want %+v", c, want)
	}
}

func TestPickPipelineVars(t *testing.T) {
	dir := files(t, map[string]string{"ZPipeline.yaml": "vars: {V: \"1\", R: reg}\nimages:\n  a: {file: Dockerfile}\n", "Dockerfile": "FROM busybox\n"})
	m := New(dir, Scan(dir, 3))
	m = keys(m, "enter")
	if v := m.View(); !strings.Contains(v, "R=reg V=1") {
		t.Errorf("vars not prefilled:\n%s", v)
	}
	m = keys(m, " W=2", "ctrl+r")
	c := m.Choice()
	if c == nil || !reflect.DeepEqual(c.Vars, []string{"R=reg", "V=1", "W=2"}) || c.Push {
		t.Errorf("choice %+v", c)
	}
}

func TestBadInputStaysInForm(t *testing.T) {
	dir := files(t, map[string]string{"Dockerfile": "FROM busybox\n"})
	m := New(dir, Scan(dir, 3))
	m = keys(m, "enter", "tab", "NOEQUALS", "ctrl+r")
	if m.Choice() != nil || !strings.Contains(m.View(), "want KEY=VALUE") {
		t.Errorf("bad arg accepted; view:\n%s", m.View())
	}
	m = keys(m, "esc", "q")
	if m.Choice() != nil || !m.quit {
		t.Error("q did not quit")
	}
}
