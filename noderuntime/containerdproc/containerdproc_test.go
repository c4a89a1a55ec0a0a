package containerdproc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRenderDefaultAndUserTemplate(t *testing.T) {
	dir := t.TempDir()
	p, err := Render(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p.Config)
	cfg := string(b)
	for _, want := range []string{
		"version = 4", "root = '" + filepath.Join(dir, "containerd", "root") + "'",
		"'io.containerd.grpc.v1.cri'", "'io.containerd.nri.v1.nri'", "'io.containerd.podsandbox.controller.v1.podsandbox'",
		"address = '" + p.Socket + "'", "socket_dir = '" + filepath.Join(dir, "containerd", "s") + "'",
		"imports = ['" + p.DropIns + "/*.toml']",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
	if err := os.WriteFile(p.Template, []byte("version = 4\nroot = '{{.Root}}'\n# mine\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Render(dir); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(p.Config)
	if !strings.Contains(string(b), "# mine") || !strings.Contains(string(b), p.Root) {
		t.Errorf("user template not used: %s", b)
	}
	if err := os.WriteFile(p.Template, []byte("{{.Nope"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Render(dir); err == nil || !strings.Contains(err.Error(), p.Template) {
		t.Errorf("bad template: %v", err)
	}
}

func TestLongDataDirKeepsSocketShort(t *testing.T) {
	p := PathsFor("/" + strings.Repeat("d", 120))
	if len(p.Socket) > 100 || !strings.HasPrefix(p.Socket, "/run/zlayer/") {
		t.Errorf("socket %s", p.Socket)
	}
}
